"""Low-level IMAP string encodings shared by responses and FETCH data.

The quoting rules copy Dovecot's (lib-imap/imap-quote.c, 2.3) so that ENVELOPE and BODYSTRUCTURE
come out byte for byte the same:

* ``nstring``: NIL, else a quoted string, switching to a literal when the value holds CR, LF,
  8-bit bytes or more than four quoted-specials (RFC 3501 section 4.3: quoted strings may not
  contain CR/LF or 8-bit characters).
* ``human``: Dovecot's "string for humans", used for the subject and address display names:
  runs of whitespace (SP, TAB, CR, LF) collapse to one space, leading and trailing whitespace is
  dropped, NUL becomes 0x80; if anything had to change, or there is a quote, backslash or 8-bit
  byte, the result is sent as a literal.
* ``astring``: an atom when every byte is an ATOM-CHAR or "]" (RFC 3501 section 9, ASTRING-CHAR),
  never the atom NIL (which would read as nil).
"""

from __future__ import annotations

import re

# RFC 3501 section 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials
# / resp-specials.
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
QUOTED_MAX_ESCAPES = 4
_HUMAN_PLAIN = re.compile(rb'[^\t\r\n"\\\x00\x80-\xff]+')
_PLAIN = re.compile(rb'[^"\\\r\n\x80-\xff]*')  # nothing to escape, nothing that needs a literal


def is_atom_char(b: int) -> bool:
    return 0x20 < b < 0x7F and b not in _ATOM_SPECIALS


def is_astring_char(b: int) -> bool:
    return is_atom_char(b) or b == 0x5D  # "]"


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def quoted(data: bytes) -> bytes:
    """A quoted string; the caller guarantees there is no CR, LF or 8-bit byte."""
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def nstring(data: bytes | str | None) -> bytes:
    if data is None:
        return b"NIL"
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if _PLAIN.fullmatch(data):  # the common case, without a loop over the bytes
        return b'"' + data + b'"'
    escapes = 0
    for b in data:
        if b in (0x22, 0x5C):
            escapes += 1
            if escapes > QUOTED_MAX_ESCAPES:
                return literal(data)
        elif b in (0x0D, 0x0A) or b >= 0x80:
            return literal(data)
    return quoted(data)


def nstring_nolf(data: bytes | None) -> bytes:
    """nstring after removing CR/LF: a line break followed by a non-blank becomes a space."""
    if data is None or (b"\r" not in data and b"\n" not in data):
        return nstring(data)
    out = bytearray()
    n = len(data)
    for i, b in enumerate(data):
        if b not in (0x0D, 0x0A):
            out.append(b)
        elif i + 1 < n and data[i + 1] not in b" \t\r\n":
            out.append(0x20)
    return nstring(bytes(out))


def human(data: bytes) -> bytes:
    """Dovecot's imap_append_string_for_humans (see the module docstring)."""
    ws = b" \t\r\n"
    if _HUMAN_PLAIN.fullmatch(data):
        # fast path when no run of spaces and no leading/trailing space either
        if b"  " not in data and data[0] != 0x20 and data[-1] != 0x20:
            return b'"' + data + b'"'
    out = bytearray()
    pending_space = False
    for b in data:
        if b in ws:
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(0x20)
            pending_space = False
        out.append(0x80 if b == 0 else b)
    if not out:
        return b'""'
    return literal(bytes(out))


def astring(data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if data and data.upper() != b"NIL" and all(is_astring_char(b) for b in data):
        return data
    return nstring(data)
