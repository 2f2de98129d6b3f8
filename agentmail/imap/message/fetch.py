"""FETCH data derived from the message bytes: sections, partials, sizes, ENVELOPE, BODYSTRUCTURE.

All functions take the message AS SERVED (CRLF). Section semantics follow RFC 3501 6.4.5 as
Dovecot implements them: a non-multipart part has one sub-part, itself ("1" of a single-part
message is its body, "1.MIME" its header); HEADER/TEXT of a part that is not message/rfc822 are
empty; a part that does not exist is the empty string.
"""

from __future__ import annotations

from ..protocol.fetchatt import FetchAtt, Section
from ..protocol.response import Literal, Value
from .bodystructure import body_structure
from .envelope import envelope
from .mime import Part


def find_part(root: Part, path: tuple[int, ...]) -> Part | None:
    """The part a section path names (Dovecot's imap_msgpart_find): a multipart's n-th child;
    "1" of a non-multipart part is the part itself, and only a message/rfc822 part can be
    descended into further (its numbers then address the encapsulated message)."""
    cur = root
    for i, n in enumerate(path):
        more = i + 1 < len(path)
        if cur.is_multipart:
            if not 1 <= n <= len(cur.children):
                return None
            cur = cur.children[n - 1]
        elif n != 1 or (more and cur.message is None):
            return None
        if more and cur.message is not None:
            cur = cur.message
    return cur


def header_fields(header: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    from .mime import parse_header

    # a client's 8-bit field name comes as surrogate escapes: back to its bytes, which match no real field
    wanted = {n.lower().encode("utf-8", "surrogateescape") for n in names}
    picked = [f.raw for f in parse_header(header) if (f.name.lower() in wanted) != exclude]
    return b"".join(picked) + b"\r\n"


def section_bytes(root: Part, section: Section) -> bytes:
    part = find_part(root, section.part)
    if part is None:
        return b""
    text = section.text
    if text is None:
        if not section.part:
            return part.data[part.start : part.end]
        return part.body
    if text == "MIME":
        return part.header
    if section.part:
        if part.message is None:
            return b""
        part = part.message
    if text == "HEADER":
        return part.header
    if text == "TEXT":
        return part.body
    return header_fields(part.header, section.fields, exclude=text == "HEADER.FIELDS.NOT")


def apply_partial(data: bytes, partial: tuple[int, int] | None) -> bytes:
    if partial is None:
        return data
    origin, count = partial
    return data[origin : origin + count]


def message_item(att: FetchAtt, root: Part) -> Value:
    """The value of a message-derived FETCH item (not FLAGS / UID / INTERNALDATE)."""
    if att.section is not None:
        return Literal(apply_partial(section_bytes(root, att.section), att.partial))
    name = att.name
    if name == "RFC822.SIZE":
        return root.end - root.start
    if name == "ENVELOPE":
        return envelope(root)
    if name == "BODYSTRUCTURE":
        return body_structure(root, True)
    if name == "BODY":
        return body_structure(root, False)
    if name == "RFC822":
        return Literal(root.data[root.start : root.end])
    if name == "RFC822.HEADER":
        return Literal(root.header)
    if name == "RFC822.TEXT":
        return Literal(root.body)
    raise ValueError(f"{name} is not derived from the message bytes")
