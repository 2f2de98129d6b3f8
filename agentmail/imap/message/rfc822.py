"""A small RFC 5322 / RFC 2045 lexer over header values (bytes), modelled on the lexical rules
Dovecot's lib-mail/rfc822-parser.c applies, so that BODYSTRUCTURE and ENVELOPE agree with it.

Everything works on ``bytes``; nothing here decodes charsets.
"""

from __future__ import annotations

# RFC 5322 3.2.3 atext, plus 8-bit bytes (Dovecot accepts them in atoms)
_ATEXT = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
# RFC 2045 5.1 token: any CHAR except SPACE, CTLs and tspecials
_TSPECIALS = frozenset(b'()<>@,;:\\"/[]?=')


def is_atext(b: int) -> bool:
    return b in _ATEXT or b >= 0x80


def is_mime_token_char(b: int) -> bool:
    return (0x20 < b < 0x7F and b not in _TSPECIALS) or b >= 0x80


class Lexer:
    """Cursor over a header value; ``last_comment`` keeps the text of the last comment skipped."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.last_comment: bytes | None = None

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def skip_cfws(self) -> None:
        """Skip folding white space and (nested) comments (RFC 5322 3.2.2)."""
        d = self.data
        while self.pos < len(d):
            b = d[self.pos]
            if b in b" \t\r\n":
                self.pos += 1
            elif b == 0x28:  # "("
                self._comment()
            else:
                return

    def _comment(self) -> None:
        d = self.data
        depth = 0
        out = bytearray()
        while self.pos < len(d):
            b = d[self.pos]
            self.pos += 1
            if b == 0x5C and self.pos < len(d):  # quoted-pair
                out.append(d[self.pos])
                self.pos += 1
                continue
            if b == 0x28:
                depth += 1
                if depth == 1:
                    continue
            elif b == 0x29:
                depth -= 1
                if depth == 0:
                    self.last_comment = bytes(out)
                    return
            if b not in b"\r\n":
                out.append(b)
        self.last_comment = bytes(out)

    def atom(self) -> bytes | None:
        start = self.pos
        d = self.data
        while self.pos < len(d) and is_atext(d[self.pos]):
            self.pos += 1
        return d[start : self.pos] if self.pos > start else None

    def dot_atom(self) -> bytes | None:
        """dot-atom, tolerating obsolete CFWS around dots and empty labels ("a..b")."""
        parts = []
        first = self.atom()
        if first is None:
            return None
        parts.append(first)
        while True:
            save = self.pos
            self.skip_cfws()
            if self.peek() != 0x2E:
                self.pos = save
                break
            self.pos += 1
            self.skip_cfws()
            nxt = self.atom()
            parts.append(nxt or b"")
            if nxt is None:
                break
        return b".".join(parts)

    def mime_token(self) -> bytes | None:
        start = self.pos
        d = self.data
        while self.pos < len(d) and is_mime_token_char(d[self.pos]):
            self.pos += 1
        return d[start : self.pos] if self.pos > start else None

    def quoted_string(self) -> bytes | None:
        """A quoted-string at the cursor, unescaped; CRLF inside (folding) is removed."""
        d = self.data
        if self.peek() != 0x22:
            return None
        self.pos += 1
        out = bytearray()
        while self.pos < len(d):
            b = d[self.pos]
            self.pos += 1
            if b == 0x22:
                return bytes(out)
            if b == 0x5C and self.pos < len(d):
                out.append(d[self.pos])
                self.pos += 1
            elif b in b"\r\n":
                continue
            else:
                out.append(b)
        return bytes(out)  # unterminated: take what there is

    def word(self) -> bytes | None:
        """atom / quoted-string"""
        if self.peek() == 0x22:
            return self.quoted_string()
        return self.atom()

    def value(self) -> bytes | None:
        """RFC 2045 value := token / quoted-string"""
        if self.peek() == 0x22:
            return self.quoted_string()
        return self.mime_token()


def parse_params(lex: Lexer) -> list[tuple[bytes, bytes]]:
    """``*(";" attribute "=" value)`` with RFC 2231 continuations joined the way Dovecot's
    rfc2231-parser does: ``name*0``/``name*1`` become ``name``; when any piece is extended
    (``name*0*``) the result is ``name*`` with the pieces concatenated as they are."""
    raw: list[tuple[bytes, bytes]] = []
    while True:
        lex.skip_cfws()
        if lex.peek() != 0x3B:  # ";"
            break
        lex.pos += 1
        lex.skip_cfws()
        name = lex.mime_token()
        if name is None:
            break
        lex.skip_cfws()
        if lex.peek() != 0x3D:  # "="
            break
        lex.pos += 1
        lex.skip_cfws()
        value = lex.value()
        if value is None:
            break
        raw.append((name, value))
    return _join_rfc2231(raw)


def _join_rfc2231(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    if not any(b"*" in n for n, _ in raw):
        return raw
    out: list[tuple[bytes, bytes]] = []
    pieces: dict[bytes, list[tuple[int, bool, bytes]]] = {}
    order: list[bytes] = []
    for name, value in raw:
        head, star, rest = name.partition(b"*")
        if star and rest.rstrip(b"*").isdigit():
            key = head.lower()
            if key not in pieces:
                pieces[key] = []
                order.append(head)
            pieces[key].append((int(rest.rstrip(b"*")), rest.endswith(b"*"), value))
        else:
            out.append((name, value))
    for head in order:
        parts = sorted(pieces[head.lower()])
        extended = any(ext for _, ext, _ in parts)
        out.append((head + (b"*" if extended else b""), b"".join(v for _, _, v in parts)))
    return out
