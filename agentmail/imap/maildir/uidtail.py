"""``dovecot-uidlist`` as a mailbox cache reads it: only what was appended since the last read.

- ``changed()`` is one lstat: the file's (inode, size, mtime_ns) against what was last read.
- ``read()`` parses the records after the offset read so far; a rewrite (Dovecot's or ``uidlist.sync``'s: a new
  inode, or a shorter file) is read whole. A torn last line is read again next time. Records of files the cache
  does not know yet wait in ``pending`` (base name -> UID) until the file is listed.
- A new UIDVALIDITY sets ``reset``: every UID the cache holds is void (RFC 3501 2.3.1.1).
- A file that is missing is created (metadata only, as Dovecot does); a damaged one, or a link in its place, is
  repaired under Dovecot's lock (store/uidlist.py) and read afresh.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Container

from ...errors import AgentmailError
from ...store import uidlist
from ...store.dotlock import DotLock
from ...store.maildir import Maildir, name_time
from ..protocol.errors import ImapNo


def file_key(path: str) -> tuple[int, int, int] | None:
    """(inode, size, mtime_ns) of a file, None when missing: what tells that it changed."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _chunks(data: bytes, end: int, size: int = 1 << 20) -> list[bytes]:
    """``data[:end]`` (whole lines) in pieces of about ``size`` bytes, each ending after a newline."""
    out = []
    start = 0
    while start < end:
        stop = data.rfind(b"\n", start, min(end, start + size)) + 1 if end - start > size else end
        if stop <= start:  # one line longer than size
            stop = data.find(b"\n", start + size, end) + 1 or end
        out.append(data[start:stop])
        start = stop
    return out


class UidTail:
    def __init__(self, maildir: Maildir) -> None:
        self.maildir = maildir
        self.path = os.path.join(maildir.path, uidlist.FILENAME)
        self.uidvalidity = 0
        self.next_uid = 1  # max(N, last record + 1) of what was read
        self.pending: dict[str, int] = {}
        self.reset = False  # the UIDVALIDITY changed since the last read: the caller starts over
        self._key: tuple[int, int, int] | None = None  # the file as last read
        self._ino = -1
        self._offset = 0

    def changed(self) -> bool:
        return file_key(self.path) != self._key

    def restart(self) -> None:
        """Read it whole next time (after the caller forgot every UID)."""
        self.pending.clear()
        self.next_uid = 1
        self._offset = 0

    def read(self, known: Container[str], repaired: bool = False) -> None:
        """Records appended since the last read into ``pending``, leaving out the base names in ``known``."""
        key = file_key(self.path)
        try:  # never through a link out of the store, never blocking on a FIFO
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            self._create(known)
            return
        except OSError:  # a link or something unreadable where the uidlist should be: rebuilt as damage
            if repaired:
                raise ImapNo(f"Cannot read {uidlist.FILENAME}", "SERVERBUG") from None
            self.repair(known)
            return
        try:
            st = os.fstat(fd)
            header = os.pread(fd, 512, 0).decode("utf-8", "surrogateescape").split("\n", 1)[0]
            try:
                head = uidlist.parse_header(header)
            except uidlist.UidListError as exc:
                if not repaired:  # rebuilt under the lock as Dovecot does (store/uidlist.py), then read afresh
                    self.repair(known)
                    return
                raise ImapNo(f"Damaged {uidlist.FILENAME}: {exc}", "SERVERBUG") from None
            if head.uidvalidity != self.uidvalidity and self.uidvalidity:
                self.reset = True  # a new UIDVALIDITY: every cached UID is void (RFC 3501 2.3.1.1)
                self.restart()
                known = ()
            self.uidvalidity = head.uidvalidity
            self.next_uid = max(self.next_uid, head.next_uid)
            start = self._offset if st.st_ino == self._ino and st.st_size >= self._offset else 0
            if start == 0:
                self.pending.clear()
            data = os.pread(fd, st.st_size - start, start) if st.st_size > start else b""
        finally:
            os.close(fd)
        end = data.rfind(b"\n") + 1  # a torn last line is read again next time
        damaged = False
        pending, next_uid = self.pending, self.next_uid
        first = start == 0  # the header
        for chunk in _chunks(data, end):  # a megabyte at a time: no list of 100,000 records at once
            text = chunk.decode("utf-8", "surrogateescape")
            if first:
                text = text.partition("\n")[2]  # the header
                first = False
            lines = text.split("\n")
            lines.pop()  # "" after the last newline
            for line in lines:
                # "<uid> :<base>", as agentmail and Dovecot 2.3 write them; anything else is parsed strictly
                text, sep, base = line.partition(" :")
                if sep and text.isdigit() and text.isascii() and len(text) <= 10 and base and "/" not in base:
                    uid = int(text)
                    if not 0 < uid <= uidlist.MAX_UID:
                        damaged = True
                        continue
                else:
                    record = uidlist.parse_record(line) if line else None
                    if record is None:
                        damaged = True  # a whole line that is no record: Dovecot would throw the file away
                        continue
                    uid, _, base = record
                if uid >= next_uid:
                    next_uid = uid + 1
                if base not in known:
                    pending[base] = uid
        self.next_uid = next_uid
        self._ino = st.st_ino
        self._offset = start + end
        self._key = key if key is not None and key[0] == st.st_ino else None
        if damaged and not repaired:
            with contextlib.suppress(ImapNo):  # served as read; the next writer repairs it
                self.repair(known)  # rewritten clean (store/uidlist.py), so Dovecot never finds it broken

    def number(self, bases: list[str], known: Container[str]) -> None:
        """Give UIDs to files nobody numbered: under Dovecot's lock, read what was appended meanwhile (a delivery in
        flight writes its record under that lock), then append records for the rest, in delivery order, as
        Dovecot does (uidlist.append: O(new), where uidlist.sync lists the folder and rewrites the file). A store
        we cannot write leaves them unnumbered."""
        with contextlib.suppress(AgentmailError, OSError), DotLock(self.path) as lock:
            self.read(known)
            missing = sorted((b for b in bases if b not in self.pending and b not in known),
                             key=lambda b: (name_time(b), b))
            if missing:
                uidlist.append(self.maildir, missing, lock=lock)
        self.read(known)

    def repair(self, known: Container[str]) -> None:
        try:
            uidlist.sync(self.maildir)
        except AgentmailError as exc:
            raise ImapNo(f"Cannot repair {uidlist.FILENAME}: {exc}", "SERVERBUG") from None
        self._offset = 0
        self.read(known, repaired=True)

    def header_uidvalidity(self) -> int:
        """The UIDVALIDITY the file says now (its first line only; 0 when unreadable), without reading records."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return 0
        try:
            header = os.pread(fd, 512, 0).decode("utf-8", "surrogateescape").split("\n", 1)[0]
        except OSError:
            return 0
        finally:
            os.close(fd)
        try:
            return uidlist.parse_header(header).uidvalidity
        except uidlist.UidListError:
            return 0

    def _create(self, known: Container[str]) -> None:
        try:
            with DotLock(self.path) as lock:
                if not os.path.exists(self.path):
                    # a file that vanished under us: a new UIDVALIDITY above the old one, so no UID is given twice
                    lock.replace(uidlist.format_uidlist(uidlist.new_uidlist(self.uidvalidity)).encode())
        except (AgentmailError, OSError):
            if not self.uidvalidity:
                self.uidvalidity = 1
            return
        if os.path.exists(self.path):
            self.read(known)
