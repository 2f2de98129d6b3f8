"""BODY and BODYSTRUCTURE (RFC 3501 7.4.2) the way Dovecot 2.3 (lib-imap/imap-bodystructure.c)
writes them.

* Types and parameters are echoed with the case they were written in; a part without a usable
  Content-Type is "text" "plain"; text/* without a charset parameter gets ("charset" "us-ascii")
  appended; a multipart without a subtype is "x-unknown"; a multipart with no parts is written as
  an empty text/plain part.
* Sizes are octets of the served (CRLF) body; text/* and message/rfc822 carry the number of lines
  (LF count); message/rfc822 also carries the inner ENVELOPE and BODY(STRUCTURE).
* Extension data (BODYSTRUCTURE only): single parts get md5, disposition, language, location;
  multiparts get params, disposition, language, location.
"""

from __future__ import annotations

from ..protocol.response import Raw, Value, encode_value
from ..protocol.wire import nstring_nolf
from .envelope import envelope
from .mime import HeaderField, Part
from .rfc822 import Lexer, parse_params

_EMPTY_TEXT_PLAIN: list[Value] = [b"text", b"plain", [b"charset", b"us-ascii"], None, None, b"7bit", 0, 0]


def _first(part: Part, name: bytes) -> HeaderField | None:
    for f in part.fields:
        if f.name.lower() == name:
            return f
    return None


def _raw_value(part: Part, name: bytes) -> Value:
    f = _first(part, name)
    return None if f is None else Raw(nstring_nolf(f.value))


def _params(params: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]]) -> Value:
    if not params:
        return None
    out: list[Value] = []
    for k, v in params:
        out += [k, v]
    return out


def _disposition(part: Part) -> Value:
    f = _first(part, b"content-disposition")
    if f is None:
        return None
    lex = Lexer(f.value)
    lex.skip_cfws()
    token = lex.mime_token()
    if token is None:
        return None
    return [token, _params(parse_params(lex))]


def _language(part: Part) -> Value:
    f = _first(part, b"content-language")
    if f is None:
        return None
    lex = Lexer(f.value)
    lex.skip_cfws()
    langs: list[Value] = []
    while True:
        atom = lex.atom()
        if atom is None:
            break
        langs.append(Raw(b'"' + atom + b'"'))
        lex.skip_cfws()
        if lex.peek() != 0x2C:
            break
        lex.pos += 1
        lex.skip_cfws()
    return langs or None


def _extension(part: Part) -> list[Value]:
    return [_disposition(part), _language(part), _raw_value(part, b"content-location")]


def body_structure(part: Part, extended: bool = True) -> list[Value]:
    """BODYSTRUCTURE (extended=True) or BODY (extended=False) of a part, as a nested list."""
    if part.is_multipart:
        children = [body_structure(c, extended) for c in part.children] or [list(_EMPTY_TEXT_PLAIN)]
        # body-type-mpart = 1*body SP media-subtype: the parts follow each other without spaces
        out: list[Value] = [Raw(b"".join(encode_value(c) for c in children))]
        ctype = part.content_type
        assert ctype is not None
        out.append(ctype.subtype)
        if extended:
            out.append(_params(ctype.params))
            out += _extension(part)
        return out

    ctype = part.content_type
    if part.message is not None:
        head: list[Value] = [b"message", b"rfc822"]
        text = False
    elif ctype is None:
        head = [b"text", b"plain"]
        text = True
    else:
        head = [ctype.maintype, ctype.subtype]
        text = ctype.maintype.lower() == b"text"
    params = list(ctype.params) if ctype is not None else []
    if text and not any(k.lower() == b"charset" for k, _ in params):
        params.append((b"charset", b"us-ascii"))
    cte = _first(part, b"content-transfer-encoding")
    encoding: Value = b"7bit"
    if cte is not None:
        lex = Lexer(cte.value)
        lex.skip_cfws()
        token = lex.mime_token()
        if token is not None:
            encoding = token
    out = [*head, _params(params), _raw_value(part, b"content-id"),
           _raw_value(part, b"content-description"), encoding, part.body_size]
    if text:
        out.append(part.body_lines)
    elif part.message is not None:
        out += [envelope(part.message), body_structure(part.message, extended), part.body_lines]
    if extended:
        out.append(_raw_value(part, b"content-md5"))
        out += _extension(part)
    return out

