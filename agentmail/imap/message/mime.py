"""A byte-exact MIME splitter (RFC 2045/2046) over a message AS SERVED (CRLF line endings).

The stdlib ``email`` package re-serialises what it parses; IMAP needs exact byte ranges for
BODY[section] and exact sizes for BODYSTRUCTURE, so this module only records offsets into the
original bytes. Part boundaries follow RFC 2046 5.1.1: the CRLF before a boundary line belongs to
the boundary, not to the part before it; a line matching an enclosing multipart's boundary also
ends the inner parts (as in Dovecot's message-parser).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .rfc822 import Lexer, parse_params


@dataclass(frozen=True)
class HeaderField:
    name: bytes  # as written, LWSP before the colon removed
    value: bytes  # leading LWSP after the colon removed, unfolded (see parse_header)
    raw: bytes  # the whole field as served, continuation lines and final CRLF included


# one field: a line (ended by CRLF, LF or a lone CR, as bytes.splitlines) and its continuation
# lines; never the blank line that ends a header
_FIELD = re.compile(rb"(?!\r\n|\n)([^\r\n]*)(?:\r\n|\r|\n|\Z)((?:[ \t][^\r\n]*(?:\r\n|\r|\n|\Z))*)")


def parse_header(block: bytes) -> list[HeaderField]:
    """Split a header block (which may include its terminating blank line) into fields.

    ``value`` mimics Dovecot's ``full_value`` on an LF-stored Maildir file: the first line's text
    after the colon (leading blanks stripped) and each continuation line (kept with its leading
    blank), joined by a bare LF; the line endings themselves are not part of the value.
    """
    fields: list[HeaderField] = []
    pos, end = 0, len(block)
    match = _FIELD.match
    while pos < end:
        m = match(block, pos)
        if m is None:
            break  # the blank line
        pos = m.end()
        first, conts = m.group(1), m.group(2)
        name, colon, value = first.partition(b":")
        if not colon:
            fields.append(HeaderField(first, b"", m.group(0)))
            continue
        value = value.lstrip(b" \t")
        if conts:
            value = b"\n".join([value, *conts.splitlines()])
        fields.append(HeaderField(name.rstrip(b" \t"), value, m.group(0)))
    return fields


def header_values(block: bytes, wanted: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
    """(lower-cased name, value) of the fields named in ``wanted``, as ``parse_header`` gives them,
    without building the other fields."""
    out: list[tuple[bytes, bytes]] = []
    pos, end = 0, len(block)
    match = _FIELD.match
    while pos < end:
        m = match(block, pos)
        if m is None:
            break
        pos = m.end()
        first = m.group(1)
        name, colon, value = first.partition(b":")
        key = name.rstrip(b" \t").lower() if colon else first.lower()
        if key in wanted:
            if not colon:
                out.append((key, b""))
                continue
            value = value.lstrip(b" \t")
            conts = m.group(2)
            if conts:
                value = b"\n".join([value, *conts.splitlines()])
            out.append((key, value))
    return out


def header_end(data: bytes, start: int, end: int) -> int:
    """Offset just after the blank line ending the header that starts at ``start`` (or ``end``)."""
    pos = start
    while pos < end:
        nl = data.find(b"\n", pos, end)
        if nl < 0:
            return end
        line = data[pos : nl + 1]
        if line in (b"\n", b"\r\n"):
            return nl + 1
        pos = nl + 1
    return end


@dataclass(frozen=True)
class ContentType:
    maintype: bytes  # as written (case kept, Dovecot echoes it)
    subtype: bytes
    params: tuple[tuple[bytes, bytes], ...]

    def is_(self, maintype: str, subtype: str | None = None) -> bool:
        if self.maintype.lower() != maintype.encode():
            return False
        return subtype is None or self.subtype.lower() == subtype.encode()

    def param(self, name: str) -> bytes | None:
        for k, v in self.params:
            if k.lower() == name.encode():
                return v
        return None


def parse_content_type(value: bytes) -> ContentType | None:
    """RFC 2045 5.1; None when it does not parse (the part then counts as text/plain)."""
    lex = Lexer(value)
    lex.skip_cfws()
    main = lex.mime_token()
    if main is None:
        return None
    lex.skip_cfws()
    if lex.peek() != 0x2F:  # "/"
        return None
    lex.pos += 1
    lex.skip_cfws()
    sub = lex.mime_token()
    if sub is None:
        return None
    return ContentType(main, sub, tuple(parse_params(lex)))


@dataclass
class Part:
    """One MIME entity: offsets into ``data`` (the whole served message)."""

    data: bytes = field(repr=False)
    start: int
    body_start: int
    end: int
    fields: list[HeaderField]
    content_type: ContentType | None  # None: no (parsable) Content-Type
    default_rfc822: bool = False  # inside multipart/digest the default type is message/rfc822
    children: list[Part] = field(default_factory=list)  # multipart only
    message: Part | None = None  # message/rfc822 only: the encapsulated message
    is_multipart: bool = False
    close_end: int | None = None  # multipart only: end of a close-delimiter line lacking its LF

    @property
    def header(self) -> bytes:
        return self.data[self.start : self.body_start]

    @property
    def body(self) -> bytes:
        return self.data[self.body_start : self.end]

    @property
    def body_size(self) -> int:
        return self.end - self.body_start

    @property
    def body_lines(self) -> int:
        return self.data.count(b"\n", self.body_start, self.end)

    @property
    def is_rfc822(self) -> bool:
        return self.message is not None

    def field(self, name: str) -> HeaderField | None:
        key = name.lower().encode("utf-8", "surrogateescape")  # SEARCH HEADER names come from the client
        for f in self.fields:
            if f.name.lower() == key:
                return f
        return None


_MAX_DEPTH = 50  # a hostile message cannot make us recurse without bound


def parse_message(data: bytes) -> Part:
    """Parse a whole message (CRLF bytes) into its part tree."""
    return _parse_part(data, 0, len(data), [], False, 0)


def _parse_part(data: bytes, start: int, end: int, bounds: list[bytes], digest: bool, depth: int) -> Part:
    body_start = header_end(data, start, end)
    fields = parse_header(data[start:body_start])
    ctype: ContentType | None = None
    for f in fields:
        lname = f.name.lower()
        if lname == b"content-type" and ctype is None:
            ctype = parse_content_type(f.value)
    part = Part(data, start, body_start, end, fields, ctype, default_rfc822=digest and ctype is None)
    if depth >= _MAX_DEPTH:
        return part
    if ctype is not None and ctype.is_("multipart"):
        boundary = ctype.param("boundary")
        if boundary:
            part.is_multipart = True
            part.children, part.close_end = _split_multipart(
                data, body_start, end, [boundary, *bounds], ctype.is_("multipart", "digest"), depth)
    elif (ctype is not None and ctype.is_("message", "rfc822")) or part.default_rfc822:
        # Dovecot parses the body as a message whatever its Content-Transfer-Encoding says
        part.message = _parse_part(data, body_start, end, bounds, False, depth + 1)
    return part


def _boundary_at(data: bytes, pos: int, end: int, bounds: list[bytes]) -> int | None:
    """Index into bounds of the boundary whose delimiter line starts at ``pos``, if any."""
    if not data.startswith(b"--", pos):
        return None
    for i, b in enumerate(bounds):
        if data.startswith(b, pos + 2) and pos + 2 + len(b) <= end:
            return i
    return None


def _header_unterminated(part: Part) -> bool:
    """The header ran to the end of the part without a blank line."""
    return part.body_start == part.end and not part.header.endswith((b"\n\r\n", b"\n\n")) and (
        part.header not in (b"\r\n", b"\n"))


def _fix_swallowed_crlf(child: Part, boundary_line: int) -> None:
    """Dovecot reads header lines and delimiter lines with their CRLF, so when the last thing
    before a boundary is an unterminated header line or an inner close delimiter, that CRLF is
    not given to the boundary (RFC 2046 5.1.1 would) but stays in the part."""
    deepest = child
    while deepest.message is not None:
        deepest = deepest.message
    if deepest.is_multipart and deepest.close_end == deepest.end:
        child.end = boundary_line
    elif _header_unterminated(deepest):
        if deepest is child:
            child.body_start = boundary_line
        child.end = boundary_line


def _split_multipart(data: bytes, start: int, end: int, bounds: list[bytes], digest: bool,
                     depth: int) -> tuple[list[Part], int | None]:
    """Children of a multipart body in [start, end); bounds[0] is this multipart's boundary.
    Also returns where the close-delimiter line ends (None if there is none)."""
    children: list[Part] = []
    part_start: int | None = None  # start of the child being collected
    pos = start
    while pos < end:
        nl = data.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        which = _boundary_at(data, pos, end, bounds)
        if which is not None:
            if part_start is not None:
                # the CRLF (or LF) before the boundary line belongs to the delimiter
                part_end = pos
                if part_end > part_start and data[part_end - 1] == 0x0A:
                    part_end -= 1
                    if part_end > part_start and data[part_end - 1] == 0x0D:
                        part_end -= 1
                child = _parse_part(data, part_start, max(part_start, part_end), bounds, digest, depth + 1)
                _fix_swallowed_crlf(child, pos)
                children.append(child)
                part_start = None
            if which != 0:
                return children, None  # an enclosing multipart's boundary ends this one
            closing = data.startswith(b"--", pos + 2 + len(bounds[0]))
            if closing:
                # only a close line cut off by the region end (no LF of its own) matters
                return children, (line_end if nl < 0 else None)
            part_start = line_end
        pos = line_end
    if part_start is not None:
        children.append(_parse_part(data, part_start, end, bounds, digest, depth + 1))
    return children, None
