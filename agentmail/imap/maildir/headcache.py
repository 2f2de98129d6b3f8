"""Header-only reads and the ENVELOPE cache of the Maildir backend.

- ENVELOPE, RFC822.HEADER and BODY[HEADER...] need only the header block: ``read_header`` reads a
  file up to its first blank line (8 KiB at first, more only for longer headers) instead of all of it.
- A message's bytes never change in a Maildir (only its name does, with its flags), so its encoded
  ENVELOPE is kept on the cache ``Entry`` (snapshot.py) and follows it through renames; an expunged
  message's entry goes and its envelope with it. The cached envelopes of all mailboxes together
  are bounded by ``Budget`` (least recently used mailboxes are dropped first), so 100,000
  messages' worth (~35 MB) never pushes the server past its memory target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ...store.msgfile import DEFAULT_CAP, open_message
from ..message.crlf import to_crlf
from ..message.mime import header_end

FIRST_READ = 8192
ENTRY_OVERHEAD = 40  # a bytes object's header, roughly (what an envelope costs beyond its length)
BUDGET = 40 * 1024 * 1024


def read_header(path: str, cap: int = DEFAULT_CAP) -> bytes:
    """The header block of the file at ``path`` as served (CRLF), up to and including the blank
    line that ends it (the whole file when there is none), reading no more than needed. The file is
    opened as every message file is (store.msgfile: no links, no FIFOs, at most ``cap`` bytes)."""
    fd, _ = open_message(path, cap)
    with open(fd, "rb", buffering=0) as fh:
        raw = fh.read(FIRST_READ)
        size = FIRST_READ
        while True:
            data = to_crlf(raw)  # a prefix converts to a prefix of the whole file's conversion
            end = header_end(data, 0, len(data))
            if end < len(data):
                return data[:end]
            more = fh.read(size)
            if not more:
                return data
            raw += more
            size *= 2


class Budget:
    """Bytes of cached envelopes across mailboxes; ``over`` tells when to drop some."""

    def __init__(self, limit: int = BUDGET) -> None:
        self.limit = limit
        self.used = 0

    def add(self, data: bytes) -> int:
        cost = len(data) + ENTRY_OVERHEAD
        self.used += cost
        return cost

    def over(self) -> bool:
        return self.used > self.limit

    def evict(self, holders: Iterable[Callable[[], int]]) -> None:
        """Call each holder's drop function (it returns the bytes it freed) until under the limit."""
        for drop in holders:
            if not self.over():
                return
            self.used = max(0, self.used - drop())
