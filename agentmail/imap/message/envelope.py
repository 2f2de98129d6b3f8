"""ENVELOPE (RFC 3501 7.4.2) computed from a parsed message, the way Dovecot 2.3 writes it.

date, in-reply-to and message-id are the raw header values with line breaks removed (Dovecot's
imap_append_nstring_nolf); the subject and display
names go through Dovecot's "for humans" clean-up (see wire.human); sender and reply-to default to
from. Encoded words are left as they are.
"""

from __future__ import annotations

import re

from ..protocol.response import Raw, Value
from ..protocol.wire import human, nstring, nstring_nolf
from .address import Address, parse_address_list
from .mime import Part, header_values

_STRING_FIELDS = (b"date", b"subject", b"in-reply-to", b"message-id")
_ADDRESS_FIELDS = (b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc")
ENVELOPE_FIELDS = frozenset(_STRING_FIELDS + _ADDRESS_FIELDS)
# one of those fields in a header block whose lines end in CRLF or LF: its name, the first line's
# value after the colon and its blanks (None: a line of just the name, no colon), continuation lines
_ENVELOPE_FIELD = re.compile(
    rb"^(" + b"|".join(re.escape(n) for n in sorted(ENVELOPE_FIELDS)) + rb")"
    rb"(?:[ \t]*:[ \t]*([^\r\n]*)|(?=\r?\n|\Z))((?:\r?\n[ \t][^\r\n]*)*)", re.I | re.M)


# the common "local@domain" address (ASCII atoms only), which parse_address_list turns into
# Address(None, None, local, domain): encoded directly, without the general parser
_ATOM = rb"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_DOT_ATOM = _ATOM + rb"(?:\." + _ATOM + rb")*"
_SIMPLE = re.compile(rb"[ \t]*(" + _DOT_ATOM + rb")@(" + _DOT_ATOM + rb")[ \t\r\n]*")


def _address_bytes(a: Address) -> bytes:
    name = b"NIL" if a.name is None else human(a.name)
    return b"(" + name + b" " + nstring(a.route) + b" " + nstring(a.mailbox) + b" " + nstring(a.host) + b")"


def _addresses(values: list[bytes] | None) -> Value:
    """An address list from the raw values of one or more headers; NIL when it holds no address."""
    if not values:
        return None
    out: list[bytes] = []
    for value in values:
        m = _SIMPLE.fullmatch(value)
        if m is not None:
            out.append(b'(NIL NIL "' + m.group(1) + b'" "' + m.group(2) + b'")')
        else:
            out.extend(_address_bytes(a) for a in parse_address_list(value))
    # Dovecot writes the addresses of a list back to back, without separating spaces
    return Raw(b"(" + b"".join(out) + b")") if out else None


def envelope(part: Part) -> list[Value]:
    """The ENVELOPE of a message (the root part, or the message inside a message/rfc822 part)."""
    return envelope_fields([(f.name.lower(), f.value) for f in part.fields])


def envelope_fields(fields: list[tuple[bytes, bytes]]) -> list[Value]:
    """The ENVELOPE of a message with these (lower-cased name, value) header fields (all it depends
    on; others are ignored), as pre-encoded values."""
    strings: dict[bytes, bytes] = {}
    addrs: dict[bytes, list[bytes]] = {}
    for key, value in fields:
        # Dovecot keeps the last of repeated string headers and joins repeated address headers.
        if key in _STRING_FIELDS:
            strings[key] = value
        elif key in _ADDRESS_FIELDS:
            addrs.setdefault(key, []).append(value)

    def text(name: bytes) -> Value:
        value = strings.get(name)
        return None if value is None else Raw(nstring_nolf(value))

    subject = strings.get(b"subject")
    frm = _addresses(addrs.get(b"from"))
    return [
        text(b"date"),
        None if subject is None else Raw(human(subject)),
        frm,
        _addresses(addrs.get(b"sender")) or frm,
        _addresses(addrs.get(b"reply-to")) or frm,
        _addresses(addrs.get(b"to")),
        _addresses(addrs.get(b"cc")),
        _addresses(addrs.get(b"bcc")),
        text(b"in-reply-to"),
        text(b"message-id"),
    ]


def envelope_bytes(header: bytes) -> bytes:
    """The ENVELOPE of a message with this header block, encoded for the wire (what
    ``encode_value(envelope(parse_message(header)))`` gives, without the MIME parse)."""
    if header.count(b"\r") == header.count(b"\r\n"):  # no lone CR (a line break for parse_header)
        fields = [(m[1].lower(), m[2] + m[3].replace(b"\r\n", b"\n") if m[2] is not None else b"")
                  for m in _ENVELOPE_FIELD.finditer(header)]
    else:
        fields = header_values(header, ENVELOPE_FIELDS)
    items = envelope_fields(fields)
    return b"(" + b" ".join(b"NIL" if v is None else v.data for v in items) + b")"  # type: ignore[union-attr]
