"""A message file as the Maildir cache keeps it: its `Entry`, made from the name (sizes from `,S=`/`,W=`, read only
when the name has no `W=`), or skipped when it is not a message this server serves (store/msgfile.py)."""

from __future__ import annotations

import os

from ...store.maildir import INFO_SEP, crlf_size, name_sizes
from ...store.msgfile import NotAMessage, read_message, report_odd
from .snapshot import Entry, sys_intern


def new_entry(folder: str, cap: int, odd: set[str], uid: int, sub: str, base: str, info: str | None,
              mtime: float | None = None) -> Entry | None:
    """The entry of `folder/sub/base[:2,info]`, or None when it went away or is skipped (logged once; a file too big
    to serve goes into `odd`, so the next listing does not look at it again)."""
    filename = base if info is None else base + INFO_SEP + info
    path = os.path.join(folder, sub, filename)
    size, vsize = name_sizes(base)
    if size is not None and size > cap:  # too big to serve, and its name says so: no need to look
        skip(odd, base, NotAMessage(path, f"{size} bytes by its name, over the {cap}-byte read limit", oversize=True))
        return None
    if vsize is None:  # no W= in the name: read the file (no stat otherwise: mtime is read lazily)
        try:
            vsize = crlf_size(read_message(path, cap))
        except FileNotFoundError:
            return None  # gone again (moved by another reader); found at the next scan
        except NotAMessage as exc:
            skip(odd, base, exc)
            return None
    return Entry(uid, base, sys_intern(sub), info, vsize, mtime)


def skip(odd: set[str], base: str, exc: NotAMessage) -> None:
    report_odd(exc.path, exc.why)
    if exc.oversize:
        odd.add(base)  # not read again at each scan (a link or FIFO costs nothing: the listing skips it)
