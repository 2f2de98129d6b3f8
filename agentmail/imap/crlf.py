"""LF-on-disk to CRLF-on-the-wire conversion (Maildir files are stored with LF endings).

Dovecot serves every bare LF as CRLF and keeps existing CRLF pairs; RFC822.SIZE is the size after
conversion (the ``W=`` value in Maildir file names).
"""

from __future__ import annotations

import re

_BARE_LF = re.compile(rb"(?<!\r)\n")


def to_crlf(data: bytes) -> bytes:
    """Lone LF becomes CRLF; an existing CRLF is kept; a lone CR is left alone."""
    if b"\n" not in data:
        return data
    if b"\r" not in data:
        return data.replace(b"\n", b"\r\n")
    return _BARE_LF.sub(b"\r\n", data)


def crlf_size(data: bytes) -> int:
    """len(to_crlf(data)) without building the converted copy."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def to_lf(data: bytes) -> bytes:
    """CRLF to LF, for storing an APPENDed message the Maildir way."""
    return data.replace(b"\r\n", b"\n")
