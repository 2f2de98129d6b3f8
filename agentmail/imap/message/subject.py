"""Header text as SORT and THREAD compare it (RFC 5256 2.1 base subject, RFC 5051 i;unicode-casemap), the way
Dovecot 2.3 computes it, so both servers order a mailbox the same:

* ``decode`` turns RFC 2047 encoded words into text (Dovecot's message-header-decode.c: whitespace between two
  encoded words goes, an unknown charset keeps what is valid UTF-8, bad bytes become U+FFFD once per run);
* ``casemap`` is Dovecot's "decomposed titlecase": each character's simple titlecase mapping, then its
  (compatibility) decomposition, so "é" and "E" + U+0301 compare equal and case never matters;
* ``base_subject`` strips "Re:", "Fwd:", "[list]" blobs, "(fwd)" trailers and "[Fwd: ...]" wrappers
  (RFC 5256 2.1 steps 1-7, with Dovecot's details: one leading space always goes, a blob must be followed
  by at most one space).

Strings compare as Python ``str`` (code point order, which is UTF-8 byte order: Dovecot's ``strcmp``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from functools import lru_cache

_ENCODED_START = b"=?"
_LWSP = frozenset(b" \t\r\n")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_REPLACEMENT = "\ufffd"
_REPLACEMENTS = re.compile("\ufffd{2,}")
_WHITESPACE = re.compile(r"[ \t\r\n]+")


@lru_cache(maxsize=4096)
def _char_casemap(ch: str) -> str:
    title = ch.title()
    if len(title) != 1:  # only the simple (one character) titlecase mapping counts (ß stays ß)
        title = ch
    return unicodedata.normalize("NFKD", title)


def casemap(text: str) -> str:
    """Dovecot's uni_utf8_to_decomposed_titlecase on text already decoded (ASCII: just upper case)."""
    if text.isascii():
        return text.upper()
    return "".join(_char_casemap(ch) for ch in text)


def utf8_text(data: bytes) -> str:
    """Bytes as UTF-8, each run of invalid bytes one U+FFFD (Dovecot adds no second one in a row)."""
    text = data.decode("utf-8", "replace")
    return _REPLACEMENTS.sub(_REPLACEMENT, text) if _REPLACEMENT in text else text


def _q_decode(data: bytes) -> bytes:
    """RFC 2047 4.2 Q encoding: "_" is a space, "=XX" a byte; a broken "=" is skipped."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x5F:
            out.append(0x20)
        elif b == 0x3D:
            pair = data[i + 1 : i + 3]
            if len(pair) == 2 and all(c in _HEX for c in pair):
                out.append(int(pair, 16))
                i += 2
        else:
            out.append(b)
        i += 1
    return bytes(out)


def _b_decode(data: bytes) -> bytes:
    """Base64 up to the first byte that is not part of it (Dovecot shows what it got so far)."""
    m = re.match(rb"[A-Za-z0-9+/]*", data)
    text = m.group(0) if m else b""
    if len(text) % 4 == 1:  # a lone sixth of a byte
        text = text[:-1]
    text += b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return b""


def _charset_text(data: bytes, charset: bytes) -> str:
    name = charset.decode("ascii", "replace").split("*", 1)[0]  # RFC 2231 language suffix
    try:
        codec = codecs.lookup(name)
    except LookupError:
        return utf8_text(data)  # unknown charset: what is valid UTF-8 of it
    if codec.name == "utf-8":
        return utf8_text(data)
    try:
        return data.decode(codec.name, "replace")
    except (UnicodeError, LookupError):
        return utf8_text(data)


def _encoded_word(data: bytes, pos: int) -> tuple[str, int] | None:
    """The encoded word whose "=?" ends at ``pos``: (its text, where it ends), or None when it is not one."""
    marks: list[int] = []
    i = pos
    n = len(data)
    while i < n and len(marks) < 3:
        if data[i] == 0x3F:  # "?"
            marks.append(i)
        i += 1
    if len(marks) < 3 or marks[2] + 1 >= n or data[marks[2] + 1] != 0x3D:
        return None
    charset = data[pos : marks[0]]
    kind = data[marks[0] + 1 : marks[0] + 2].upper()
    text = data[marks[1] + 1 : marks[2]]
    if kind == b"Q":
        raw = _q_decode(text)
    elif kind == b"B":
        raw = _b_decode(text)
    else:
        return None
    return _charset_text(raw, charset), marks[2] + 2


def decode(value: bytes) -> str:
    """A header value with its RFC 2047 encoded words decoded (Dovecot's message_header_decode_utf8): text
    between two encoded words, or before the first one, that is only whitespace is dropped."""
    if _ENCODED_START not in value:
        return utf8_text(value)
    out: list[str] = []
    start = pos = 0
    n = len(value)
    while pos + 1 < n:
        if value[pos] != 0x3D or value[pos + 1] != 0x3F:
            pos += 1
            continue
        plain = value[start:pos]  # what came before goes out first, unless it is only whitespace (even when
        if plain and not all(b in _LWSP for b in plain):  # this turns out to be no encoded word: Dovecot's way)
            out.append(utf8_text(plain))
        word = _encoded_word(value, pos + 2)
        if word is None:  # plain text from here
            start = pos
            pos += 2
            continue
        out.append(word[0])
        start = pos = word[1]
    if start < n:
        out.append(utf8_text(value[start:]))
    return "".join(out)


def _remove_blob(text: str, i: int) -> int | None:
    """After a "[...]" blob at ``i`` and one space after it; None when there is no complete blob there."""
    if i >= len(text) or text[i] != "[":
        return None
    j = i + 1
    while j < len(text) and text[j] not in "[]":
        j += 1
    if j >= len(text) or text[j] != "]":
        return None
    j += 1
    return j + 1 if j < len(text) and text[j] == " " else j


def _remove_leader(text: str, start: int) -> tuple[int, bool, bool]:
    """RFC 5256 2.1 step 3 (subj-leader): (new start, whether anything went, whether it was Re/Fwd)."""
    removed = False
    if start < len(text) and text[start] == " ":
        start += 1
        removed = True
    i = start
    while i < len(text) and text[i] == "[":
        after = _remove_blob(text, i)
        if after is None:
            return start, removed, False
        i = after
    for word in ("RE", "FWD", "FW"):
        if text.startswith(word, i):
            i += len(word)
            break
    else:
        return start, removed, False
    if i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] == "[":
        after = _remove_blob(text, i)
        if after is None:
            return start, removed, False
        i = after
    if i >= len(text) or text[i] != ":":
        return start, removed, False
    return i + 1, True, True


def base_subject(value: bytes) -> tuple[str, bool]:
    """(base subject, whether it was a reply or forward) of a raw Subject value (RFC 5256 2.1), case-mapped."""
    text = _WHITESPACE.sub(" ", casemap(decode(value)))  # step 1
    start, end = 0, len(text)
    reply = False
    while True:
        # step 2: trailers "(FWD)" and spaces
        while end > start:
            if text[end - 1] == " ":
                end -= 1
            elif end - start >= 5 and text.endswith("(FWD)", 0, end):
                end -= 5
                reply = True
            else:
                break
        text = text[:end]
        while True:  # steps 3-5
            start, found, refwd = _remove_leader(text, start)
            reply = reply or refwd
            after = _remove_blob(text, start)  # step 4: a blob, if something is left after it
            if after is not None and after < len(text):
                start = after
                found = True
            if not found:
                break
        # step 6: "[FWD:" ... "]" around the whole, then again from step 2
        if text.startswith("[FWD:", start) and len(text) > start and text.endswith("]"):
            reply = True
            text = text[:-1]
            start += 5
            end = len(text)
            continue
        return text[start:], reply
