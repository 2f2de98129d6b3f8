"""Modified UTF-7 for mailbox names (RFC 3501 5.1.3).

Printable US-ASCII except "&" stands for itself; "&" is "&-"; anything else is UTF-16BE in
modified base64 (RFC 2045 base64 with "," instead of "/", no padding) between "&" and "-".
"""

from __future__ import annotations

import base64
import binascii
import re

# RFC 3501 5.1.3: modified BASE64 uses the RFC 2045 alphabet with "," for "/"
_B64 = re.compile(r"[A-Za-z0-9+,]*")


class Utf7Error(ValueError):
    pass


def _itself(name: str) -> bool:
    """Printable US-ASCII without "&": the same in both forms ("INBOX", at every SELECT and STATUS)."""
    return "&" not in name and name.isascii() and name.isprintable()


def encode(name: str) -> str:
    if _itself(name):
        return name
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            raw = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def decode(name: str) -> str:
    """Raise Utf7Error on anything RFC 3501 5.1.3 does not allow (Dovecot refuses those too)."""
    if _itself(name):
        return name
    out: list[str] = []
    i = 0
    n = len(name)
    while i < n:
        ch = name[i]
        if not 0x20 <= ord(ch) <= 0x7E:
            raise Utf7Error(f"non-ASCII character in modified UTF-7 name {name!a}")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise Utf7Error(f"unterminated '&' in {name!a}")
        chunk = name[i + 1 : end]
        i = end + 1
        if not chunk:
            out.append("&")
            continue
        if not _B64.fullmatch(chunk):  # 8-bit, "/", "=" or any other stray byte between & and -
            raise Utf7Error(f"invalid modified base64 in {name!a}")
        b64 = chunk.replace(",", "/")
        try:
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
            text = raw.decode("utf-16-be")
        except (binascii.Error, UnicodeDecodeError):
            raise Utf7Error(f"invalid modified base64 in {name!a}") from None
        if any(0x20 <= ord(c) <= 0x7E for c in text) or encode(text) != "&" + chunk + "-":
            # must be the shortest encoding and must not encode printable ASCII
            raise Utf7Error(f"non-canonical modified UTF-7 in {name!a}")
        out.append(text)
    return "".join(out)
