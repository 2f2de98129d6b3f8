"""What a mailbox cache hands the session: immutable snapshots over messages kept in UID order.

- ``Entry`` is one message as the cache knows it (UID, base name, new/ or cur/, info letters, CRLF size, and, once
  asked for, the INTERNALDATE and the encoded ENVELOPE) and its mod-sequence (RFC 7162, modseq.py). A rename gives a
  new ``Entry``; the old one stays with the snapshots that hold it.
- ``Ordered`` keeps the messages of a mailbox as three parallel sequences in UID order (UIDs, entries, flag sets).
  A snapshot takes them as they are; the first change after that copies them (copy-on-write, a memcpy: ~0.1 ms at
  100,000 messages), so a FETCH or SEARCH that is half-way keeps its view, and a change costs no Python per message.
- ``MessageList`` is the snapshot (``MailboxState.messages``). Besides the ``Sequence`` of ``MessageInfo`` built on
  demand, it answers what SELECT, STATUS and the session's change report need without walking every message (see
  imap/session/views.py, where each has a plain fallback): the client's view as two lists copied at C speed, the
  UNSEEN count, the total size, the first unseen message, and which UIDs changed since an older snapshot (the cache
  logs every UID it adds, removes or re-flags with a serial number).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from typing import Protocol, TypeVar, overload

from ...store.maildir import INFO_SEP
from ..session.backend import MessageInfo

T = TypeVar("T")
SEEN = "\\Seen"
CHUNK = 512  # messages per chunk of the ordered lists (a change copies one chunk)
LOG_MAX = 65_536  # changes remembered for diffs; an older snapshot is diffed by walking every message



def find(firsts: list[int], chunks: list[list[int]], uid: int) -> tuple[int, int]:
    """(chunk, position) of ``uid`` in UID chunks whose first UIDs are ``firsts``; (-1, -1) when absent."""
    k = bisect_right(firsts, uid) - 1
    if k >= 0:
        chunk = chunks[k]
        j = bisect_left(chunk, uid)
        if j < len(chunk) and chunk[j] == uid:
            return k, j
    return -1, -1

class Entry:
    __slots__ = ("uid", "base", "sub", "info", "size", "mtime", "env", "modseq")

    def __init__(self, uid: int, base: str, sub: str, info: str | None, size: int, mtime: float | None,
                 env: bytes | None = None, modseq: int = 0) -> None:
        self.uid = uid
        self.base = base
        self.sub = sub  # "new" or "cur"
        self.info = info  # the letters after ":2,", None when the name has no info part
        self.size = size  # CRLF size (RFC822.SIZE)
        self.mtime = mtime  # INTERNALDATE; None until first asked for (a stat per file is the cold scan's cost)
        self.env = env  # the encoded ENVELOPE (headcache.py), None until first fetched
        # RFC 7162 mod-sequence (modseq.py): set once, before any snapshot holds the entry; a change of flags makes
        # a new entry with a new one
        self.modseq = modseq

    @property
    def filename(self) -> str:
        return self.base if self.info is None else self.base + INFO_SEP + self.info

    def moved(self, sub: str, info: str | None) -> Entry:
        return Entry(self.uid, self.base, sys_intern(sub), info and sys_intern(info), self.size, self.mtime,
                     self.env, self.modseq)


def sys_intern(text: str) -> str:
    return text if len(text) > 8 else INTERN.setdefault(text, text)


INTERN: dict[str, str] = {}  # the short info strings ("S", "RS", ...) and "new"/"cur": shared, not per message


class Ordered:
    """The messages in UID order, in chunks of about ``CHUNK``: per chunk a list of UIDs, of entries and of flag
    sets, side by side, and the first UID of each chunk. A snapshot takes the chunk lists as they are; a change
    after that copies only the top-level lists and the one chunk it touches (copy-on-write), so new mail, a flag
    change or an expunge costs O(CHUNK + messages / CHUNK), not O(messages), and no snapshot ever changes."""

    __slots__ = ("uc", "ec", "fc", "firsts", "n", "_top_shared", "_owned")

    def __init__(self, entries: Sequence[Entry] = (), flags: Sequence[frozenset[str]] = ()) -> None:
        self.ec: list[list[Entry]] = [list(entries[i:i + CHUNK]) for i in range(0, len(entries), CHUNK)]
        self.fc: list[list[frozenset[str]]] = [list(flags[i:i + CHUNK]) for i in range(0, len(flags), CHUNK)]
        self.uc: list[list[int]] = [[e.uid for e in chunk] for chunk in self.ec]
        self.firsts = [chunk[0] for chunk in self.uc]
        self.n = len(entries)
        self._top_shared = False
        self._owned = {id(chunk) for kind in (self.uc, self.ec, self.fc) for chunk in kind}

    def __len__(self) -> int:
        return self.n

    def share(self) -> tuple[list[list[int]], list[list[Entry]], list[list[frozenset[str]]], list[int]]:
        """The chunk lists for a snapshot: from now on the next change copies what it touches."""
        self._top_shared = True
        self._owned.clear()
        return self.uc, self.ec, self.fc, self.firsts

    def _top(self) -> None:
        if self._top_shared:
            self.uc, self.ec, self.fc, self.firsts = self.uc.copy(), self.ec.copy(), self.fc.copy(), self.firsts.copy()
            self._top_shared = False

    def _own(self, kind: list[list[T]], k: int) -> list[T]:
        chunk = kind[k]
        if id(chunk) not in self._owned:
            chunk = kind[k] = chunk.copy()
            self._owned.add(id(chunk))
        return chunk

    def _find(self, uid: int) -> tuple[int, int]:
        return find(self.firsts, self.uc, uid)

    def flags_of(self, uid: int) -> frozenset[str] | None:
        k, j = self._find(uid)
        return None if k < 0 else self.fc[k][j]

    def items(self) -> Iterator[tuple[Entry, frozenset[str]]]:
        for ec, fc in zip(self.ec, self.fc, strict=True):
            yield from zip(ec, fc, strict=True)

    def insert(self, entry: Entry, flags: frozenset[str]) -> None:
        self._top()
        uid = entry.uid
        if not self.uc or (uid > self.uc[-1][-1] and len(self.uc[-1]) >= CHUNK):  # new mail: a fresh chunk
            for kind, value in ((self.uc, uid), (self.ec, entry), (self.fc, flags)):
                kind.append([value])  # type: ignore[list-item]
                self._owned.add(id(kind[-1]))
            self.firsts.append(uid)
            self.n += 1
            return
        k = max(0, bisect_right(self.firsts, uid) - 1)
        uids = self._own(self.uc, k)
        j = bisect_left(uids, uid)
        uids.insert(j, uid)
        self._own(self.ec, k).insert(j, entry)
        self._own(self.fc, k).insert(j, flags)
        self.firsts[k] = uids[0]
        self.n += 1
        if len(uids) > 2 * CHUNK:  # split, so no chunk grows without bound
            for kind in (self.uc, self.ec, self.fc):
                whole = kind[k]
                self._owned.discard(id(whole))
                kind[k:k + 1] = [whole[:CHUNK], whole[CHUNK:]]  # type: ignore[list-item]
                self._owned.update((id(kind[k]), id(kind[k + 1])))
            self.firsts[k:k + 1] = [self.uc[k][0], self.uc[k + 1][0]]

    def replace(self, entry: Entry, flags: frozenset[str]) -> None:
        k, j = self._find(entry.uid)
        if k < 0:
            return
        self._top()
        self._own(self.ec, k)[j] = entry
        self._own(self.fc, k)[j] = flags

    def delete(self, uid: int) -> None:
        k, j = self._find(uid)
        if k < 0:
            return
        self._top()
        self.n -= 1
        if len(self.uc[k]) == 1:
            for kind in (self.uc, self.ec, self.fc):
                self._owned.discard(id(kind[k]))
                del kind[k]
            del self.firsts[k]
            return
        del self._own(self.uc, k)[j]
        del self._own(self.ec, k)[j]
        del self._own(self.fc, k)[j]
        self.firsts[k] = self.uc[k][0]


class ChangeLog:
    """(serial, uid) of every change, for diffs between snapshots; bounded (``floor``: older serials are lost)."""

    __slots__ = ("serial", "floor", "_log")

    def __init__(self) -> None:
        self.serial = 0  # of the last change
        self.floor = 0  # diffs from a serial below this cannot be told
        self._log: list[tuple[int, int]] = []

    def touch(self, uid: int) -> None:
        self._log.append((self.serial + 1, uid))
        if len(self._log) > 2 * LOG_MAX:  # amortised O(1): drop the older half
            cut = len(self._log) - LOG_MAX
            self.floor = self._log[cut - 1][0]
            del self._log[:cut]

    def commit(self) -> int:
        """Close a batch of changes: its serial. Nothing touched since the last commit: the same serial."""
        if self._log and self._log[-1][0] > self.serial:
            self.serial += 1
        return self.serial

    def forget(self) -> None:
        """Nothing before now can be diffed (a new UIDVALIDITY)."""
        self._log.clear()
        self.serial += 1
        self.floor = self.serial

    def between(self, old: int, new: int) -> set[int] | None:
        """UIDs changed after serial ``old`` up to ``new``; None when that part of the log is gone."""
        if old < self.floor:
            return None
        out: set[int] = set()
        log = self._log
        for i in range(len(log) - 1, -1, -1):
            serial, uid = log[i]
            if serial <= old:
                break
            if serial <= new:
                out.add(uid)
        return out


class Source(Protocol):
    """What a snapshot asks of its cache (mailcache.MailboxCache): the counts at its making, the change log and
    the INTERNALDATE of an entry."""

    flag_counts: dict[frozenset[str], int]
    total_size: int
    log: ChangeLog

    def mtime(self, e: Entry) -> float: ...


class MessageList(Sequence[MessageInfo]):
    """The messages of one snapshot, as ``MessageInfo`` built on demand (nothing per message is kept)."""

    def __init__(self, ordered: Ordered, cache: Source, serial: int) -> None:
        self._uc, self._ec, self._fc, self._firsts = ordered.share()
        self._n = len(ordered)
        self._cache = cache
        self.serial = serial
        self._counts = dict(cache.flag_counts)  # flag set -> messages with it (a handful of keys)
        self._size = cache.total_size
        self._first_unseen: int | None | bool = False  # not computed yet
        self._flat: tuple[list[int], list[frozenset[str]]] | None = None
        self._starts: list[int] | None = None

    # ------------------------------------------------------------------ fast answers (imap/session/views.py)
    def uid_flags(self) -> Iterator[tuple[int, frozenset[str]]]:
        """(uid, flags) in UID order, without a MessageInfo per message."""
        for uids, flags in zip(self._uc, self._fc, strict=True):
            yield from zip(uids, flags, strict=True)

    def flat(self) -> tuple[list[int], list[frozenset[str]]]:
        """All UIDs and all flag sets as two lists (joined at C speed once a snapshot; never changed after)."""
        if self._flat is None:
            self._flat = list(chain.from_iterable(self._uc)), list(chain.from_iterable(self._fc))
        return self._flat

    def client_view(self) -> tuple[list[int], list[frozenset[str]], set[str], int | None, bool]:
        """A session's view at SELECT: the UID and flag lists (lent: never changed after this snapshot was made;
        the session copies them before its first change), the keywords in use, and the sequence number of the first
        message without \\Seen (None when all are seen). O(1) when a session selected this snapshot before."""
        keywords = {f for fs, n in self._counts.items() if n for f in fs if not f.startswith("\\")}
        uids, flags = self.flat()
        return uids, flags, keywords, self.first_unseen(), True

    def first_unseen(self) -> int | None:
        if self._first_unseen is False:
            unseen = [fs for fs, n in self._counts.items() if n and SEEN not in fs]
            found = None
            if unseen:
                base = 0
                for flags in self._fc:
                    best = len(flags)
                    for fs in unseen:  # list.index compares by identity first: C speed, no Python per message
                        try:
                            best = flags.index(fs, 0, best)
                        except ValueError:
                            pass
                    if best < len(flags):
                        found = base + best + 1
                        break
                    base += len(flags)
            self._first_unseen = found
        return self._first_unseen  # type: ignore[return-value]  # never False here

    def unseen_count(self) -> int:
        return sum(n for fs, n in self._counts.items() if SEEN not in fs)

    def total_size(self) -> int:
        return self._size

    def changed_since(self, older: object) -> set[int] | None:
        """UIDs added, removed or re-flagged since the snapshot ``older`` of the same mailbox; None when that cannot
        be told (another mailbox, a new UIDVALIDITY, a change log that no longer reaches back)."""
        if not isinstance(older, MessageList) or older._cache is not self._cache or older.serial > self.serial:
            return None
        return self._cache.log.between(older.serial, self.serial)

    def _find(self, uid: int) -> tuple[int, int]:
        return find(self._firsts, self._uc, uid)

    def flags_of(self, uid: int) -> frozenset[str] | None:
        k, j = self._find(uid)
        return None if k < 0 else self._fc[k][j]

    def modseq_of(self, uid: int) -> int | None:
        k, j = self._find(uid)
        return None if k < 0 else self._ec[k][j].modseq

    def changed_after(self, modseq: int) -> list[int]:
        """UIDs (ascending) of the messages whose mod-sequence is above ``modseq`` (FETCH CHANGEDSINCE, QRESYNC)."""
        return [e.uid for chunk in self._ec for e in chunk if e.modseq > modseq]

    def uids_from(self, uid: int) -> list[int]:
        """The UIDs at or above ``uid``, ascending."""
        k = max(0, bisect_right(self._firsts, uid) - 1)
        out: list[int] = []
        for chunk in self._uc[k:]:
            out += chunk[bisect_left(chunk, uid):] if not out else chunk
        return out

    # ------------------------------------------------------------------ the Sequence
    def lookup_map(self) -> Mapping[int, MessageInfo]:
        """uid -> MessageInfo without building all of them (selected.py uses it when present)."""
        return _UidMap(self)

    def find(self, uid: int) -> MessageInfo | None:
        k, j = self._find(uid)
        return None if k < 0 else self._info(self._ec[k][j], self._fc[k][j])

    def entry(self, uid: int) -> Entry | None:
        k, j = self._find(uid)
        return None if k < 0 else self._ec[k][j]

    def uids(self) -> Iterator[int]:
        return chain.from_iterable(self._uc)

    def __len__(self) -> int:
        return self._n

    def _info(self, e: Entry, flags: frozenset[str]) -> MessageInfo:
        cache = self._cache

        def when() -> dt.datetime:
            return dt.datetime.fromtimestamp(cache.mtime(e), dt.timezone.utc).astimezone()

        return MessageInfo(e.uid, flags, e.size, when, e.modseq)

    def _at(self, i: int) -> MessageInfo:
        if self._starts is None:
            starts, total = [], 0
            for chunk in self._uc:
                starts.append(total)
                total += len(chunk)
            self._starts = starts
        k = bisect_right(self._starts, i) - 1
        j = i - self._starts[k]
        return self._info(self._ec[k][j], self._fc[k][j])

    @overload
    def __getitem__(self, i: int) -> MessageInfo: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[MessageInfo]: ...

    def __getitem__(self, i: int | slice) -> MessageInfo | Sequence[MessageInfo]:
        if isinstance(i, slice):
            return [self._at(j) for j in range(self._n)[i]]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._at(i)

    def __iter__(self) -> Iterator[MessageInfo]:
        for entries, flags in zip(self._ec, self._fc, strict=True):
            for e, fs in zip(entries, flags, strict=True):
                yield self._info(e, fs)


class _UidMap(Mapping[int, MessageInfo]):
    def __init__(self, messages: MessageList) -> None:
        self._messages = messages

    def __getitem__(self, uid: int) -> MessageInfo:
        found = self._messages.find(uid)
        if found is None:
            raise KeyError(uid)
        return found

    def get(self, uid: int, default: MessageInfo | None = None) -> MessageInfo | None:  # type: ignore[override]
        found = self._messages.find(uid)
        return default if found is None else found

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self._messages.flags_of(uid) is not None

    def __iter__(self) -> Iterator[int]:
        return iter(self._messages.uids())

    def __len__(self) -> int:
        return len(self._messages)
