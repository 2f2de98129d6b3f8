"""RFC 5322 3.4 address lists for ENVELOPE, following Dovecot's message-address.c behaviour
with "fill missing" on: a missing local part becomes ``MISSING_MAILBOX``, a missing domain
``MISSING_DOMAIN``; groups become a start marker (NIL NIL "name" NIL) and an end marker
(NIL NIL NIL NIL) (RFC 3501 7.4.2); parsing stops at the first syntax error, keeping what was
parsed before it. Display names stay raw (encoded words are not decoded), as Dovecot sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rfc822 import Lexer, is_atext

MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"


@dataclass(frozen=True)
class Address:
    name: bytes | None
    route: bytes | None
    mailbox: bytes | None
    host: bytes | None


class _Stop(Exception):
    pass


def parse_address_list(value: bytes) -> list[Address]:
    lex = Lexer(value)
    out: list[Address] = []
    try:
        while True:
            lex.skip_cfws()
            if lex.at_end:
                break
            _mailbox_or_group(lex, out)
            lex.skip_cfws()
            if lex.peek() != 0x2C:  # ","
                break
            lex.pos += 1
    except _Stop:
        pass
    return out


def _phrase(lex: Lexer) -> bytes | None:
    """phrase = 1*word, obs-phrase allows "." too; words joined by one space."""
    words: list[bytes] = []
    while True:
        lex.skip_cfws()
        if lex.peek() == 0x22:
            q = lex.quoted_string()
            words.append(q if q is not None else b"")
            continue
        w = lex.atom()
        if w is None:
            if lex.peek() == 0x2E and words:  # obs-phrase "."
                lex.pos += 1
                words[-1] += b"."
                continue
            break
        words.append(w)
    return b" ".join(words) if words else None


def _mailbox_or_group(lex: Lexer, out: list[Address]) -> None:
    start = lex.pos
    lex.last_comment = None
    name = _phrase(lex)
    lex.skip_cfws()
    nxt = lex.peek()
    if nxt == 0x3C:  # "<": name-addr
        out.append(_angle_addr(lex, name))
        return
    if nxt == 0x3A and name is not None:  # ":": group
        lex.pos += 1
        out.append(Address(None, None, name, None))
        while True:
            lex.skip_cfws()
            if lex.at_end or lex.peek() == 0x3B:
                break
            if lex.peek() == 0x2C:
                lex.pos += 1
                continue
            try:
                _mailbox(lex, out)
            except _Stop:
                out.append(Address(None, None, None, None))
                raise
        if lex.peek() == 0x3B:
            lex.pos += 1
        out.append(Address(None, None, None, None))
        return
    lex.pos = start
    _mailbox(lex, out)


def _mailbox(lex: Lexer, out: list[Address]) -> None:
    start = lex.pos
    name = _phrase(lex)
    lex.skip_cfws()
    if lex.peek() == 0x3C:
        out.append(_angle_addr(lex, name))
        return
    lex.pos = start
    lex.last_comment = None
    out.append(_addr_spec(lex, None, None))


SYNTAX_ERROR = b"SYNTAX_ERROR"
INVALID_ROUTE = b"INVALID_ROUTE"


def _angle_addr(lex: Lexer, name: bytes | None) -> Address:
    """``"<" [route ":"] local-part ["@" domain] ">"`` as Dovecot's parse_angle_addr reads it: a route that does
    not end in ":" is ``INVALID_ROUTE`` and the rest is read anyway; anything else broken still gives the
    address, with what was read and the domain ``SYNTAX_ERROR``."""
    lex.pos += 1  # "<"
    lex.skip_cfws()
    route = mailbox = domain = None
    ok = not lex.at_end
    if ok and lex.peek() == 0x40:  # obs-route "@a,@b:"
        hops = _domain_list(lex)
        if hops is not None and lex.peek() == 0x3A:
            lex.pos += 1
            route = hops
        else:
            route = INVALID_ROUTE
            ok = not lex.at_end
        lex.skip_cfws()
        ok = ok and not lex.at_end
    if ok and lex.peek() != 0x3E:  # "<>" has no address at all
        mailbox = _local_part(lex)
        if mailbox is None or lex.at_end:
            ok = False
        elif lex.peek() == 0x40:
            lex.pos += 1
            domain = _strict_domain(lex)
            ok = domain is not None
    if ok and lex.peek() == 0x3E:
        lex.pos += 1
    else:
        domain = SYNTAX_ERROR
    return Address(name, route, mailbox or MISSING_MAILBOX, domain or MISSING_DOMAIN)


def _domain_list(lex: Lexer) -> bytes | None:
    """obs-domain-list ``@a,@b`` (up to the ":"); None when a domain is missing or the input ends."""
    hops: list[bytes] = []
    while True:
        if lex.at_end:
            return None
        if lex.peek() != 0x40:
            return b",".join(hops)
        lex.pos += 1
        dom = _strict_domain(lex)
        if dom is None or lex.at_end:
            return None
        hops.append(b"@" + dom)
        lex.skip_cfws()
        while lex.peek() == 0x2C:  # ","
            lex.pos += 1
            lex.skip_cfws()


def _local_part(lex: Lexer) -> bytes | None:
    """A quoted string, or atoms with any number of dots anywhere (".a", "a..b", "a." are common enough that
    Dovecot takes them); then CFWS. None when there is none."""
    if lex.peek() == 0x22:
        quoted = lex.quoted_string()
        lex.skip_cfws()
        return quoted
    out = bytearray()
    got = False
    while True:
        while lex.peek() == 0x2E:
            out += b"."
            lex.pos += 1
            got = True
        if lex.at_end or lex.peek() == 0x40:
            break
        atom = lex.atom()
        if atom is None:
            return bytes(out) if got else None
        out += atom
        got = True
        lex.skip_cfws()
        if lex.peek() != 0x2E:
            break
    return bytes(out) if got else None


def _strict_domain(lex: Lexer) -> bytes | None:
    """The domain after "@": a domain literal, or atoms joined by dots (each dot followed by an atom); then CFWS."""
    lex.skip_cfws()
    if lex.at_end:
        return None
    if lex.peek() == 0x5B:  # domain-literal
        end = lex.data.find(b"]", lex.pos)
        if end < 0:
            return None
        lit = lex.data[lex.pos : end + 1]
        lex.pos = end + 1
        lex.skip_cfws()
        return lit
    parts: list[bytes] = []
    while True:
        atom = lex.atom()
        if atom is None:
            return None
        parts.append(atom)
        lex.skip_cfws()
        if lex.peek() != 0x2E:
            return b".".join(parts)
        lex.pos += 1
        lex.skip_cfws()


def _domain(lex: Lexer) -> bytes | None:
    lex.skip_cfws()
    if lex.peek() == 0x5B:  # domain-literal
        end = lex.data.find(b"]", lex.pos)
        end = len(lex.data) if end < 0 else end + 1
        lit = lex.data[lex.pos : end]
        lex.pos = end
        return lit
    return lex.dot_atom()


def _addr_spec(lex: Lexer, name: bytes | None, route: bytes | None, in_angle: bool = False) -> Address:
    lex.skip_cfws()
    local_parts: list[bytes] = []
    while True:
        w = lex.word()
        if w is None:
            break
        local_parts.append(w)
        lex.skip_cfws()
        if lex.peek() != 0x2E:
            break
        lex.pos += 1
        lex.skip_cfws()
    mailbox = b".".join(local_parts)
    domain = None
    lex.skip_cfws()
    if lex.peek() == 0x40:
        lex.pos += 1
        domain = _domain(lex)
    if not in_angle:
        lex.skip_cfws()
        if name is None and lex.last_comment is not None:
            name = lex.last_comment
    if not mailbox and domain is None and not in_angle and not lex.at_end and lex.peek() not in (0x2C, 0x3B):
        raise _Stop
    return Address(name, route, mailbox or MISSING_MAILBOX, domain or MISSING_DOMAIN)


_ESCAPED = frozenset(b'"\\\'')


def _maybe_quoted(text: bytes, escape_dot: bool) -> bytes:
    """Dovecot's str_append_maybe_escape: as it is when it is all atoms (and dots), else quoted, escaping
    quotes, backslashes and apostrophes."""
    if all(is_atext(b) or (b == 0x2E and not escape_dot) for b in text):
        return text
    if not any(b in _ESCAPED for b in text):
        return b'"' + text + b'"'
    return b'"' + b"".join(b"\\" + bytes([b]) if b in _ESCAPED else bytes([b]) for b in text) + b'"'


def write_addresses(addresses: list[Address]) -> bytes:
    """An address list written back as Dovecot's message_address_write does: what SEARCH FROM/TO/CC/BCC
    look in (so `<@x>` is found by "missing", a broken address by "syntax")."""
    out = bytearray()
    first, in_group = True, False
    for a in addresses:
        if first:
            first = False
        else:
            out += b", "
        if a.host is None:  # a group's start (its name in mailbox) or end
            if not in_group:
                if a.mailbox:
                    out += a.mailbox if b"=?" in a.mailbox else _maybe_quoted(a.mailbox, True)
                else:
                    out += b'""'
                out += b": "
                first = True
            else:
                if out.endswith(b", "):
                    del out[-2:]
                elif out.endswith(b": "):
                    del out[-1:]
                out += b";"
            in_group = not in_group
            continue
        if a.name is not None:
            out += a.name if b"=?" in a.name else _maybe_quoted(a.name, True)
        if a.route or a.mailbox or a.host:
            if a.name:
                out += b" "
            out += b"<"
            if a.route:
                out += a.route + b":"
            out += _maybe_quoted(a.mailbox, False) if a.mailbox else b'""'
            if a.host:
                out += b"@" + a.host
            out += b">"
    return bytes(out)
