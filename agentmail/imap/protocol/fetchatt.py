"""FETCH attribute objects (RFC 3501 6.4.5 / 9 fetch-att) and their parser."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ImapBad
from .lexer import Reader

# RFC 3501 6.4.5 macros
MACROS: dict[str, tuple[str, ...]] = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}

SIMPLE = frozenset({
    "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE", "RFC822.TEXT",
    "BODY", "BODYSTRUCTURE", "UID", "MODSEQ",  # MODSEQ: RFC 7162 3.1.4
})

SECTION_TEXTS = ("HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT", "MIME")


@dataclass(frozen=True)
class Section:
    """``[part.part.TEXT]``: part numbers (1-based) then an optional section-text."""

    part: tuple[int, ...] = ()
    text: str | None = None  # HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME or None
    fields: tuple[str, ...] = ()  # for HEADER.FIELDS(.NOT)

    def __str__(self) -> str:
        spec = ".".join(str(n) for n in self.part)
        if self.text:
            spec = f"{spec}.{self.text}" if spec else self.text
            if self.text.startswith("HEADER.FIELDS"):
                spec += " (" + " ".join(f.upper() for f in self.fields) + ")"
        return spec


@dataclass(frozen=True)
class FetchAtt:
    name: str  # upper case: FLAGS, UID, ..., BODY (with section) ...
    section: Section | None = None  # set for BODY[...] / BODY.PEEK[...]
    partial: tuple[int, int] | None = None  # <origin.count>
    peek: bool = False

    @property
    def response_name(self) -> str:
        """The name the FETCH response carries (RFC 3501 7.4.2: partials echo only the origin)."""
        if self.section is None:
            return self.name
        out = f"BODY[{self.section}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out

    @property
    def sets_seen(self) -> bool:
        """BODY[...] without .PEEK, RFC822 and RFC822.TEXT set \\Seen (RFC 3501 6.4.5)."""
        return (self.section is not None and not self.peek) or self.name in ("RFC822", "RFC822.TEXT")


def parse_fetch_atts(r: Reader) -> tuple[FetchAtt, ...]:
    """fetch-att list, a single fetch-att, or a macro (RFC 3501 6.4.5)."""
    if r.peek() == "(":
        r.expect("(")
        atts: list[FetchAtt] = []
        while True:
            atts.append(_fetch_att(r))
            if r.peek() == ")":
                r.expect(")")
                break
            r.space()
        return tuple(atts)
    save = r.pos
    word = r.atom_until("[").upper()
    if word in MACROS:
        return tuple(FetchAtt(n) for n in MACROS[word])
    r.pos = save
    return (_fetch_att(r),)


def _fetch_att(r: Reader) -> FetchAtt:
    word = r.atom_until("[").upper()
    if word in ("BODY", "BODY.PEEK") and r.peek() == "[":
        section = _section(r)
        partial = None
        if r.peek() == "<":
            r.expect("<")
            origin = r.number()
            r.expect(".")
            count = r.nz_number()
            r.expect(">")
            partial = (origin, count)
        return FetchAtt("BODY", section, partial, peek=word == "BODY.PEEK")
    if word in SIMPLE:
        return FetchAtt(word)
    if word in MACROS:
        raise ImapBad(f"FETCH macro {word} cannot be combined with other items")
    raise ImapBad(f"Unknown FETCH attribute {word or r.rest_preview()!r}")


def _section(r: Reader) -> Section:
    r.expect("[")
    parts: list[int] = []
    text: str | None = None
    fields: tuple[str, ...] = ()
    while r.peek() not in ("]", None):
        if r.peek_digit():
            n = r.nz_number()
            parts.append(n)
            if r.peek() == ".":
                r.expect(".")
                continue
            break
        word = r.atom_until("]").upper()
        if word not in SECTION_TEXTS:
            raise ImapBad(f"Invalid BODY[] section {word!r}")
        if word == "MIME" and not parts:
            raise ImapBad("BODY[MIME] needs a part number (RFC 3501 6.4.5)")
        text = word
        if word.startswith("HEADER.FIELDS"):
            r.space()
            r.expect("(")
            names = [r.astring()]
            while r.peek() == " ":
                r.space()
                names.append(r.astring())
            r.expect(")")
            fields = tuple(names)
        break
    r.expect("]")
    return Section(tuple(parts), text, fields)
