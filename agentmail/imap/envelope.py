"""ENVELOPE (RFC 3501 7.4.2) computed from a parsed message, the way Dovecot 2.3 writes it.

date, in-reply-to and message-id are the raw header values with line breaks removed (Dovecot's
imap_append_nstring_nolf); the subject and display
names go through Dovecot's "for humans" clean-up (see wire.human); sender and reply-to default to
from. Encoded words are left as they are.
"""

from __future__ import annotations

from .address import Address, parse_address_list
from .mime import Part
from .response import Human, Raw, Value, encode_value
from .wire import nstring_nolf

_STRING_FIELDS = (b"date", b"subject", b"in-reply-to", b"message-id")
_ADDRESS_FIELDS = (b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc")


def _addresses(addrs: list[Address] | None) -> Value:
    if not addrs:
        return None
    # Dovecot writes the addresses of a list back to back, without separating spaces
    return Raw(b"(" + b"".join(
        encode_value([None if a.name is None else Human(a.name), a.route, a.mailbox, a.host]) for a in addrs
    ) + b")")


def envelope(part: Part) -> list[Value]:
    """The ENVELOPE of a message (the root part, or the message inside a message/rfc822 part)."""
    strings: dict[bytes, bytes] = {}
    addrs: dict[bytes, list[Address]] = {}
    for f in part.fields:
        key = f.name.lower()
        # Dovecot keeps the last of repeated string headers and joins repeated address headers.
        if key in _STRING_FIELDS:
            strings[key] = f.value
        elif key in _ADDRESS_FIELDS:
            addrs.setdefault(key, []).extend(parse_address_list(f.value))
    def text(name: bytes) -> Value:
        value = strings.get(name)
        return None if value is None else Raw(nstring_nolf(value))

    subject = strings.get(b"subject")
    frm = addrs.get(b"from") or None
    return [
        text(b"date"),
        None if subject is None else Human(subject),
        _addresses(frm),
        _addresses(addrs.get(b"sender") or frm),
        _addresses(addrs.get(b"reply-to") or frm),
        _addresses(addrs.get(b"to")),
        _addresses(addrs.get(b"cc")),
        _addresses(addrs.get(b"bcc")),
        text(b"in-reply-to"),
        text(b"message-id"),
    ]
