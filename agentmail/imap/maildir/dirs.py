"""new/ and cur/ of a Maildir as last listed, and when they must be listed again.

A directory is listed again when its ``st_mtime_ns`` is not the one of the last listing, or, because mtimes are
coarser than changes (a second change in the same clock tick leaves the mtime as it was), when it was listed less
than ``DIRTY_NS`` after its last change: then once more when it has been quiet that long (Dovecot's
dirty_cur_time, maildir-sync.c), or, for a small new/, at every look until then (Dovecot always re-reads a dirty
new/: mail delivered in the same tick as the last listing is never late). A listing after the first is a diff:
``listdir`` and a pass at C speed over its names against those of the last listing; only what was added or went
away is looked at.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from itertools import filterfalse

from ...store.maildir import INFO_SEP, Maildir
from ...store.msgfile import entry_kind, odd_dir, report_odd
from ..protocol.errors import ImapNo
from .snapshot import INTERN, Entry

DIRTY_NS = 2_000_000_000  # a directory changed less than 2 s ago may change again unseen (mtime granularity)
SMALL_NEW = 4096  # a dirty new/ of up to this many names is listed at every look
GUESS = 32  # names gone that relist() looks for among the old names of renamed messages (each a scan of the list)

Found = tuple[str, str, str, "str | None"]  # (sub, name, base, info) of a regular file listed


def missing() -> ImapNo:
    return ImapNo("Mailbox does not exist", "NONEXISTENT")


def odd_mailbox() -> ImapNo:
    return ImapNo("Mailbox is not served: its directory is a link or not a directory (see the server log)",
                  "CORRUPTION")  # RFC 5530: corrupt data, the details go to the log


class Guard:
    """The look every command takes first: new/ and cur/ by lstat, and the Maildir and its account (which must not be
    links out of the store) when new/ or cur/ turned out to be another directory."""

    __slots__ = ("roots", "new", "cur", "inodes")

    def __init__(self, maildir: Maildir, new: str, cur: str) -> None:
        self.roots = maildir.dirs(())
        self.new, self.cur = new, cur
        self.inodes: tuple[int, int, int] | None = None  # (device, new/, cur/) as last checked

    def key(self) -> tuple[int, int]:
        """(new/ mtime, cur/ mtime); ImapNo when the Maildir is missing or a directory on the way is a link or not a
        directory (reported once)."""
        try:
            new, cur = os.lstat(self.new), os.lstat(self.cur)
        except (FileNotFoundError, NotADirectoryError):
            raise missing() from None
        for path, mode in ((self.new, new.st_mode), (self.cur, cur.st_mode)):
            if not stat.S_ISDIR(mode):
                report_odd(path, "a symbolic link" if stat.S_ISLNK(mode) else "not a directory")
                raise odd_mailbox()
        inodes = (new.st_dev, new.st_ino, cur.st_ino)
        if inodes == self.inodes:
            # the same new/ and cur/ as at the last look: the Maildir (and its account) cannot have been swapped
            # for a link to somewhere else since, or these would be other directories
            return new.st_mtime_ns, cur.st_mtime_ns
        for path in self.roots:
            try:
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    continue
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone under us: new/ and cur/ said NONEXISTENT already, or will next time
            report_odd(path, odd_dir(path) or "gone")
            raise odd_mailbox()
        self.inodes = inodes
        return new.st_mtime_ns, cur.st_mtime_ns


class Dir:
    """new/ or cur/ as last listed."""

    __slots__ = ("sub", "path", "mtime", "recheck", "names", "ino")

    def __init__(self, sub: str, path: str) -> None:
        self.sub = sub
        self.path = path
        self.mtime: int | None = None  # st_mtime_ns the listing (or our own last change) matches; None: list it
        self.recheck = 0  # time.time_ns() from which it is listed again even if its mtime stays (0: never)
        self.names: dict[str, int] = {}  # every name listed: its UID, 0 for what is not a message
        self.ino = 0  # the inode of the directory as last listed (with mtime, the change log's stamp)

    def due(self, mtime: int, now: int) -> bool:
        return mtime != self.mtime or (self.recheck != 0 and now >= self.recheck)

    def _listed(self, mtime: int, start: int, count: int) -> None:
        """Listed from ``start`` (time.time_ns() before the lstat) while its mtime was ``mtime``: when is the next
        look due even without a change?"""
        self.mtime = mtime
        if start - mtime > DIRTY_NS:
            self.recheck = 0
        elif self.sub == "new" and count <= SMALL_NEW:
            self.recheck = start  # cheap: at every look until it is clean
        else:
            self.recheck = mtime + DIRTY_NS + 1

    def changed_by_us(self, mtime: int) -> None:
        """Our own change moved the mtime to ``mtime``: seen, but listed once more when quiet."""
        self.mtime = mtime
        due = mtime + DIRTY_NS + 1
        self.recheck = min(self.recheck, due) if self.recheck else due

    def lstat_mtime(self) -> int:
        try:
            st = os.lstat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            raise missing() from None
        self.ino = st.st_ino
        return st.st_mtime_ns

    def scan(self, odd: set[str], pending: dict[str, int], cap: int
             ) -> tuple[list[Entry], list[tuple[Found, int]], list[Found], int]:
        """List it from scratch (the cold scan's loop: kept tight). Regular files only (the entry's d_type says
        which, no stat); anything else, and bases in ``odd``, are recorded in ``names`` as 0 (reported once). Returns
        (entries for files whose UID ``pending`` gives (taken out of it) and whose ``,W=`` size is at most ``cap``,
        recorded in ``names``; (file, UID) of the other numbered ones; files without a UID; their total size)."""
        entries: list[Entry] = []
        slow: list[tuple[Found, int]] = []
        later: list[Found] = []
        names = self.names = {}
        sub, total = self.sub, 0
        pop, interned = pending.pop, INTERN.setdefault
        start = time.time_ns()  # before the lstat: a later change has a later mtime, or is within DIRTY_NS
        mtime = self.lstat_mtime()
        try:  # scandir, not listdir: the d_type of each entry, and 100,000 names are never all held at once
            with os.scandir(self.path) as it:
                for de in it:
                    name = de.name
                    if name[0] == "." or not de.is_file(follow_symlinks=False):
                        if name[0] != ".":
                            report_odd(de.path, entry_kind(de))
                        names[name] = 0
                        continue
                    base, sep, info = name.partition(INFO_SEP)
                    if odd and base in odd:
                        names[name] = 0
                        continue
                    flags = (interned(info, info) if len(info) <= 8 else info) if sep else None
                    uid = pop(base, None)
                    if uid is None:
                        later.append((sub, name, base, flags))
                        continue
                    at = base.rfind(",W=")  # the size as served (W >= S: under the cap, S is too)
                    if at >= 0:
                        text = base[at + 3:]
                        comma = text.find(",")
                        if comma >= 0:
                            text = text[:comma]
                        if text.isdigit() and text.isascii():
                            size = int(text)
                            if size <= cap:
                                entries.append(Entry(uid, base, sub, flags, size, None))
                                names[name] = uid
                                total += size
                                continue
                    slow.append(((sub, name, base, flags), uid))
        except (FileNotFoundError, NotADirectoryError):
            raise missing() from None
        self._listed(mtime, start, len(names) + len(slow) + len(later))
        return entries, slow, later, total

    def relist(self, renamed: Callable[[list[str]], Iterable[str]]) -> tuple[list[str], list[tuple[str, int]]]:
        """List it again: (names added, (name, uid) of the names gone, taken out of ``names``). Besides
        ``listdir``, O(changes) at C speed: the names known are counted in one pass; when some went away and
        ``renamed(added)`` names them all (the old names of renamed messages), no set of 100,000 names is built."""
        start = time.time_ns()
        mtime = self.lstat_mtime()
        try:
            listing = os.listdir(self.path)
        except (FileNotFoundError, NotADirectoryError):
            raise missing() from None
        self._listed(mtime, start, len(listing))
        known = self.names
        hits = sum(map(known.__contains__, listing))
        added = [] if hits == len(listing) else list(filterfalse(known.__contains__, listing))
        lost = len(known) - hits
        if not lost:
            return added, []
        old: list[str] = []
        if added and lost <= GUESS:  # a few renames: their old names, checked against the listing one by one
            old = [n for n in dict.fromkeys(renamed(added)) if n in known and n not in listing]
        if len(old) != lost:  # many, or not just renames: the full difference
            old = list(known.keys() - set(listing))
        return added, [(name, known.pop(name)) for name in old]
