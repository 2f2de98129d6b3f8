"""LF-on-disk to CRLF-on-the-wire conversion (Maildir files are stored with LF endings).

Dovecot serves every bare LF as CRLF and keeps existing CRLF pairs; RFC822.SIZE is the size after
conversion (the ``W=`` value in Maildir file names): `agentmail.store.maildir.crlf_size`, which the
store also uses to name files. The opposite direction, for storing, is `agentmail.store.maildir.to_lf`.
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

