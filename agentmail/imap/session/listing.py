"""Mailbox names: decoding a client's name (modified UTF-7, RFC 3501 5.1.3), and LIST / LSUB pattern matching
(RFC 3501 6.3.8): "*" matches anything, "%" anything but the hierarchy delimiter; the reference name is prepended
to the pattern (RFC 3501 6.3.8, 5258 3)."""

from __future__ import annotations

from collections.abc import Sequence

from ..protocol import utf7
from ..protocol.errors import ImapNo
from .backend import DELIMITER, MailboxInfo

_STAR, _PERCENT = "*", "%"


def decode_mailbox(name: str) -> str:
    """A mailbox name as the client sent it (modified UTF-7) decoded; NO [CANNOT] when it is not valid."""
    try:
        return utf7.decode(name)
    except utf7.Utf7Error as err:
        raise ImapNo(f"Invalid mailbox name: {err}", "CANNOT") from None


class Pattern:
    """A LIST pattern compiled for matching in time linear in the name (times the pattern length
    over the machine word): a bit-parallel NFA ("shift-and"), one bit per pattern position, so no
    input can make it backtrack. ``re`` took exponential time on ``****************Z`` and held the
    GIL all along, freezing every client of the server (issue 8).

    Runs of wildcards collapse first (``**``, ``*%`` and ``%*`` are ``*``; ``%%`` is ``%``), so a
    wildcard is never followed by another and the empty-match closure is one shift."""

    __slots__ = ("_chars", "_star", "_wild", "_accept", "_literals")

    def __init__(self, reference: str, pattern: str) -> None:
        full = reference + pattern
        tokens: list[str] = []
        for ch in full:
            if ch in (_STAR, _PERCENT) and tokens and tokens[-1] in (_STAR, _PERCENT):
                tokens[-1] = _STAR if _STAR in (ch, tokens[-1]) else _PERCENT
            else:
                tokens.append(ch)
        # INBOX is case-insensitive (RFC 3501 5.1), as a whole first level only
        inbox = full[:5].upper() == "INBOX" and (len(full) == 5 or full[5] in (DELIMITER, _STAR, _PERCENT))
        self._chars: dict[str, int] = {}
        self._star = pct = 0
        self._literals = 0
        for i, tok in enumerate(tokens):
            bit = 1 << i
            if tok == _STAR:
                self._star |= bit
            elif tok == _PERCENT:
                pct |= bit
            else:
                self._literals += 1
                for ch in ({tok.upper(), tok.lower()} if inbox and i < 5 else (tok,)):
                    self._chars[ch] = self._chars.get(ch, 0) | bit
        self._wild = self._star | pct
        self._accept = 1 << len(tokens)

    def match(self, name: str) -> bool:
        if len(name) < self._literals:  # each literal takes one character: also bounds the work
            return False
        chars, star, wild = self._chars, self._star, self._wild
        state = 1 | ((1 & wild) << 1)
        for ch in name:
            if ch == DELIMITER:
                state = ((state & chars.get(ch, 0)) << 1) | (state & star)
            else:
                state = ((state & chars.get(ch, 0)) << 1) | (state & wild)
            if not state:
                return False
            state |= (state & wild) << 1
        return bool(state & self._accept)


def pattern_regex(reference: str, pattern: str) -> Pattern:
    """The matcher for a reference and a pattern (the name is historical: it is no regex)."""
    return Pattern(reference, pattern)


def parents(boxes: Sequence[MailboxInfo]) -> set[str]:
    """Every name that has a child among ``boxes``: one pass, so LIST is not quadratic in mailboxes."""
    out: set[str] = set()
    for b in boxes:
        name = b.name
        while (cut := name.rfind(DELIMITER)) > 0:
            name = name[:cut]
            if name in out:
                break
            out.add(name)
    return out


def list_attributes(box: MailboxInfo, all_boxes: Sequence[MailboxInfo], special_use: bool = True,
                    having_children: set[str] | None = None) -> list[str]:
    """``having_children`` is ``parents(all_boxes)``, when the caller lists many boxes."""
    if having_children is not None:
        children = box.name in having_children
    else:
        prefix = box.name + DELIMITER
        children = any(b.name.startswith(prefix) for b in all_boxes)
    attrs = ["\\HasChildren" if children else "\\HasNoChildren"]
    if not box.selectable:
        attrs.insert(0, "\\Noselect")
    if special_use:
        attrs += list(box.special_use)
    return attrs


def with_parents(boxes: Sequence[MailboxInfo]) -> list[MailboxInfo]:
    """Add \\Noselect placeholders for missing parents (e.g. "Agents" above "Agents/bob")."""
    names = {b.name for b in boxes}
    out = list(boxes)
    for b in boxes:
        parts = b.name.split(DELIMITER)
        for i in range(1, len(parts)):
            parent = DELIMITER.join(parts[:i])
            if parent not in names:
                names.add(parent)
                out.append(MailboxInfo(parent, selectable=False, read_only=True))
    return sorted(out, key=lambda b: order(b.name))


def order(name: str) -> tuple[bool, str]:
    """LIST order: INBOX first, then by name."""
    return (name != "INBOX", name)


def lsub_entries(subscribed: Sequence[str], boxes: Sequence[MailboxInfo],
                 regexes: Sequence[Pattern]) -> list[tuple[tuple[str, ...], str]]:
    """(attributes, name) for LSUB (RFC 3501 6.3.9), as Dovecot answers: the subscribed names the patterns
    match, with their special-use attribute (nothing more, even when the mailbox is gone); and a parent the
    pattern matches while a "%" hides its subscribed child, \\Noselect (unless subscribed itself)."""
    special = {b.name: b.special_use for b in boxes if b.selectable}
    subs = set(subscribed)

    def match(name: str) -> bool:
        return any(rx.match(name) for rx in regexes)

    out: dict[str, tuple[str, ...]] = {}
    for name in subscribed:
        if match(name):
            out[name] = special.get(name, ())
            continue
        parts = name.split(DELIMITER)
        for i in range(len(parts) - 1, 0, -1):
            parent = DELIMITER.join(parts[:i])
            if parent not in subs and match(parent):
                out.setdefault(parent, ("\\Noselect",))
                break
    return [(out[n], n) for n in sorted(out, key=order)]
