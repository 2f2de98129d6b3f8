"""One Maildir as an IMAP mailbox: UIDs, flags, sizes and dates, kept in memory and updated in O(what changed).

What is checked, and when (Dovecot's maildir-sync.c does the same):
- Every command that looks at the mailbox first lstats ``new/``, ``cur/`` and ``dovecot-uidlist`` (and the Maildir
  and its account, which must not be links, when new/ or cur/ turned out to be another directory). When nothing
  moved (``st_mtime_ns`` of the directories; inode, size and mtime of the uidlist), the answer comes from memory,
  the very same state object: SELECT, EXAMINE, STATUS and NOOP cost three stats, whatever the size of the mailbox.
  ``dovecot-keywords`` is looked at when a directory is listed (a new keyword means nothing until a name has it).
- A directory whose mtime moved is listed again as a diff against the names of the last listing (dirs.py): only
  added names are looked at (one lstat each: regular files only), only vanished names are dropped. New mail
  changes ``new/`` alone, so it costs O(new), not O(mailbox); ``cur/`` is listed when it changed (a rename by
  another program: flags, an announcement moving new/ to cur/), or when ``new/`` lost files (they went there).
- Changes this server makes itself (new/ -> cur/ at SELECT, STORE, EXPUNGE, APPEND, COPY) update the memory at once
  (``own``); the directory's new mtime is taken as seen when it was the one we knew before the change. Another
  program that changed the same directory in the same instant would hide behind our change, so such a directory
  (and any listed less than ``DIRTY_NS`` after its last change: mtimes are coarser than changes) is listed once
  more when it has been quiet for ``DIRTY_NS`` (Dovecot's dirty_cur_time); a small ``new/`` is listed at every look
  while it is dirty, so mail delivered in the same tick as the last listing is never late.
- ``dovecot-uidlist`` is read from where the last read stopped (uidtail.py); files it does not number yet are
  numbered by appending records under Dovecot's lock, after reading what a delivery in flight appended.
- The messages are kept in UID order in copy-on-write chunks with a log of which UIDs changed (snapshot.py), so a
  change costs O(chunk) and a session's view is brought up to date in O(changes). Per message an ``Entry`` (about
  300 bytes with the names, ~30 MB at 100,000 messages) and, once fetched, the encoded ENVELOPE (headcache.py,
  bounded). Sizes come from ``,W=`` in the name (falling back to reading the file), INTERNALDATE from the file's
  mtime (stat'ed when first asked for).
- Only regular files are messages: a symbolic link, FIFO, socket, device or directory in new/ or cur/ is skipped
  and logged once, as Dovecot does, and never gets a UID; so is a file over the read cap (its ``,S=`` says so, or,
  without sizes in its name, its fstat). A Maildir whose own directories (the account's Maildir, the folder, new/,
  cur/) are not real directories is not served at all (NO [CORRUPTION]).
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import time
from collections import Counter
from collections.abc import Iterator

from ...store.maildir import INFO_SEP, Maildir, name_time
from ...store.msgfile import kind_of, report_odd
from ..protocol.errors import ImapNo
from ..session.backend import MailboxState
from . import gcpause
from .dirs import DIRTY_NS, Dir, Found, Guard, odd_mailbox
from .entries import new_entry
from .flagmap import FLAG_LETTERS, LETTER_FLAGS, FlagMap
from .follow import Follower
from .modseq import Modseqs
from .snapshot import ChangeLog, Entry, MessageList, Ordered, sys_intern
from .uidtail import UidTail

TRUST_NS = 1_000_000  # a refresh within 1 ms of a current() that said yes does not stat again

__all__ = ["DIRTY_NS", "Entry", "FLAG_LETTERS", "LETTER_FLAGS", "MailboxCache", "odd_mailbox"]


class MailboxCache:
    def __init__(self, path: str, cap: int) -> None:
        self.maildir = Maildir(path)
        self.path = path
        self.cap = cap  # the largest message file served (store.msgfile.read_cap)
        self.dirs = {"new": Dir("new", os.path.join(path, "new")), "cur": Dir("cur", os.path.join(path, "cur"))}
        self.guard = Guard(self.maildir, self.dirs["new"].path, self.dirs["cur"].path)
        self.ul = UidTail(self.maildir)
        self.flags = FlagMap(self.maildir)
        self.odd: set[str] = set()  # base names of regular files skipped for their size: not looked at again
        self.state: MailboxState | None = None
        self._state_serial = -1
        self.by_uid: dict[int, Entry] = {}
        self.by_base: dict[str, int] = {}
        self.ordered = Ordered()
        self.log = ChangeLog()
        self.follower = Follower(self.maildir)  # the folder's change log, followed instead of listing (follow.py)
        self.modseqs = Modseqs(path, self._entries)  # RFC 7162 mod-sequences (modseq.py), given as changes are made
        self.flag_counts: dict[frozenset[str], int] = {}
        self.total_size = 0
        self.new_uids: set[int] = set()  # messages in new/ (claim has nothing to move when empty)
        self.next_uid = 1  # max(the uidlist's next UID, our highest + 1)
        self._unnumbered: dict[str, tuple[str, str, str | None]] = {}  # listed, no UID yet: base -> (sub, name, info)
        self._alt: dict[int, set[tuple[str, str]]] = {}  # other names a message is listed under (a rename in flight)
        self._was_reset = False
        self.listings = {"full": 0, "new": 0, "cur": 0}  # how often each was listed (the tests and benchmarks look)
        self._checked = -TRUST_NS  # time.monotonic_ns() of the last current() that said yes
        self.env_bytes = 0  # cached envelopes on the entries (headcache.Budget)
        # \Recent (RFC 3501 2.3.2) in no session yet: what is in new/, and every UID from here on
        # (set past the mailbox at the first scan, so only mail that comes later counts)
        self.recent_from = 0

    @property
    def new_count(self) -> int:
        return len(self.new_uids)

    @property
    def uidvalidity(self) -> int:
        return self.ul.uidvalidity

    # ------------------------------------------------------------------ flags
    @property
    def keyword_table(self) -> dict[int, str]:
        return self.flags.table

    def flagset(self, info: str) -> frozenset[str]:
        return self.flags.flagset(info)

    def letters(self, flags: frozenset[str], keep_from: str) -> str:
        """Maildir info for IMAP ``flags``; letters with no IMAP meaning (P) survive from ``keep_from``."""
        info, grown = self.flags.letters(flags, keep_from)
        if grown:  # before the rename is recorded, so the new name's flags are read with the new letter
            self._reload_keywords()
        return info

    def _reload_keywords(self) -> None:
        if not self.flags.reload():
            return
        ordered, flagset = self.ordered, self.flags.flagset
        for e, old in list(ordered.items()):  # rare (a keyword defined): letters may mean something now
            if e.info and any("a" <= ch <= "z" for ch in e.info):
                fs = flagset(e.info)
                if fs != old:
                    self._count(old, -1)
                    self._count(fs, 1)
                    e = self.by_uid[e.uid] = e.moved(e.sub, e.info)  # a new entry for the new mod-sequence
                    ordered.replace(e, fs)
                    self._touched(e)

    # ------------------------------------------------------------------ checking
    def dir_key(self) -> tuple[int, int]:
        """(new/ mtime, cur/ mtime) by lstat; ImapNo when the Maildir is missing or a directory on the way is a link
        or not a directory (reported once)."""
        return self.guard.key()

    def _changes(self) -> tuple[bool, bool, bool]:
        """(list new/, list cur/, read the uidlist): what a refresh must do now. (dovecot-keywords is looked at
        when a directory is listed: a new keyword means nothing until a file name carries its letter.)"""
        new_m, cur_m = self.dir_key()
        dn, dc = self.dirs["new"], self.dirs["cur"]
        now = time.time_ns() if dn.recheck or dc.recheck else 0
        return dn.due(new_m, now), dc.due(cur_m, now), self.ul.changed()

    def current(self) -> bool:
        """Would `refresh` answer from memory? (a few stats; never lists a directory). A refresh right after a
        True answer trusts it instead of taking the same stats again (the server asks before every cheap command)."""
        if self.state is None or self.log.commit() != self._state_serial:
            return False
        try:
            if any(self._changes()):
                return False
        except ImapNo:
            return False
        self._checked = time.monotonic_ns()
        return True

    def invalidate(self) -> None:
        """List both directories at the next refresh (a file we knew was not there: Dovecot's ENOENT rule)."""
        self._checked = -TRUST_NS
        self.follower.forget()
        for d in self.dirs.values():
            d.mtime = None

    # ------------------------------------------------------------------ refresh
    def refresh(self) -> MailboxState:
        if self.state is None:
            self.dir_key()
            with gcpause.paused():
                return self._full()
        if time.monotonic_ns() - self._checked < TRUST_NS:  # current() said so a moment ago
            return self._publish()
        list_new, list_cur, read_ul = self._changes()
        if not (list_new or list_cur or read_ul):
            self._checked = time.monotonic_ns()  # a second look within the same command need not stat again
            return self._publish()
        if (list_new or list_cur) and self.flags.changed():
            self._reload_keywords()
        if read_ul:
            self._read_uidlist()
            list_new = list_new or self.dirs["new"].mtime is None  # files waiting for a UID have one now
            list_cur = list_cur or self.dirs["cur"].mtime is None
        if not self._was_reset and (list_new or list_cur):
            followed, gone = self._follow(list_new, list_cur)
            list_new, list_cur = list_new and "new" not in followed, list_cur and "cur" not in followed
            if list_new or list_cur:
                self._relist(list_new, list_cur, followed)
            for sub, name in gone:
                if uid := self.dirs[sub].names.pop(name, 0):
                    self._gone(sub, name, uid)
        if self._was_reset:  # UIDVALIDITY changed under us: number everything afresh
            with gcpause.paused():
                return self._full()
        return self._publish()

    def _publish(self) -> MailboxState:
        """The state as it is now: the same object while nothing changed (sessions then do nothing)."""
        serial = self.log.commit()
        highest = self.modseqs.commit()
        st = self.state
        if (st is not None and serial == self._state_serial and st.uidvalidity == self.uidvalidity
                and st.uidnext == self.next_uid and st.highestmodseq == highest):
            return st
        self.state = st = MailboxState(self.uidvalidity, self.next_uid, MessageList(self.ordered, self, serial),
                                       highestmodseq=highest)
        self._state_serial = serial
        if not self.recent_from:
            self.recent_from = self.next_uid
        return st

    def _full(self) -> MailboxState:
        """List both directories from scratch (the first look, or a new UIDVALIDITY)."""
        for _ in range(3):
            self.listings["full"] += 1
            self.follower.start()
            self._was_reset = False
            self._clear()
            self._reload_keywords()
            if not self.uidvalidity:
                self._read_uidlist()
            entries: list[Entry] = []
            later: list[Found] = []
            self.total_size = 0
            for d in self.dirs.values():
                fast, slow, unnumbered, size = d.scan(self.odd, self.ul.pending, self.cap)
                self.follower.was_listed(d.sub, d.ino, d.mtime or 0, d.recheck == 0)
                entries += fast
                later += unnumbered
                self.total_size += size
                for (sub, name, base, info), uid in slow:  # no usable W= in the name: the file is read
                    entry = self._new_entry(uid, sub, base, info)
                    d.names[name] = 0 if entry is None else uid
                    if entry is not None:
                        entries.append(entry)
                        self.total_size += entry.size
            if self._was_reset:
                continue
            entries.sort(key=lambda e: e.uid)
            by_uid = self.by_uid = {e.uid: e for e in entries}
            if len(by_uid) < len(entries):  # the uidlist gave one UID to two files: the first listed keeps it
                for e in entries:
                    if by_uid[e.uid] is not e:
                        self.dirs[e.sub].names[e.filename] = 0
                        self.total_size -= e.size
                entries = [e for e in entries if by_uid[e.uid] is e]
            self.by_base = {e.base: e.uid for e in entries}
            flagset = self.flags.flagset
            flags = [flagset(e.info or "") for e in entries]
            self.ordered = Ordered(entries, flags)
            self.flag_counts = dict(Counter(flags))
            self.new_uids = {e.uid for e in entries if e.sub == "new"}
            if entries:
                self.next_uid = max(self.next_uid, entries[-1].uid + 1)
            self.log.forget()  # no diff reaches across a full listing
            self.modseqs.load(self.uidvalidity, entries, self.next_uid)
            unknown: list[Found] = []
            for item in later:
                sub, name, base, info = item
                twin = self.by_base.get(base)
                if twin is None:
                    unknown.append(item)
                elif by_uid[twin].sub != sub:  # in new/ and cur/ both (a rename in flight): the other name noted
                    self.dirs[sub].names[name] = twin
                    self._alt.setdefault(twin, set()).add((sub, name))
            if unknown:
                self._number(unknown)
            if not self._was_reset:
                break
        # a dict keeps its size after pops: let the first read's table go
        self.ul.pending = {b: u for b, u in self.ul.pending.items() if b not in self.by_base}
        return self._publish()

    def _clear(self) -> None:
        self.by_uid, self.by_base, self.ordered = {}, {}, Ordered()
        self.flag_counts, self.total_size, self.new_uids = {}, 0, set()
        self._alt, self._unnumbered = {}, {}

    def _follow(self, list_new: bool, list_cur: bool) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
        """Take in what the change log accounts for in cur/ (follow.py): (the directories done, the names gone, to
        drop once any listing saw where they went). new/ is small: listed as always, as `agentmail inbox` does."""
        due = ("cur",) if list_cur and self.dirs["cur"].mtime else ()
        net, mtimes = self.follower.follow(due)
        unknown: list[Found] = []
        for (sub, name), op in net.items():
            if op == "+" and name not in self.dirs[sub].names:
                self._added(self.dirs[sub], name, unknown)
        if unknown:
            self._number(unknown)
        for sub, mtime in mtimes.items():  # a stamp the log accounts for: nothing can hide behind it
            self.dirs[sub].mtime, self.dirs[sub].recheck = mtime, 0
        return tuple(mtimes), [key for key, op in net.items() if op == "-"]

    def _relist(self, list_new: bool, list_cur: bool, followed: tuple[str, ...] = ()) -> None:
        """List the directories that changed, and apply only the differences."""
        added: list[tuple[Dir, str]] = []
        gone: list[tuple[Dir, str, int]] = []
        for d in self.dirs.values():
            if not (list_new if d.sub == "new" else list_cur):
                continue
            names, lost = d.relist(functools.partial(self._old_names, d.sub))
            self.listings[d.sub] += 1
            added += [(d, name) for name in names]
            gone += [(d, name, uid) for name, uid in lost]
            self.follower.was_listed(d.sub, d.ino, d.mtime or 0, d.recheck == 0)
            if d.sub == "new" and lost and "cur" not in followed:
                list_cur = True  # files leave new/ for cur/: look there too, or they would seem expunged
        unknown: list[Found] = []
        for d, name in added:
            self._added(d, name, unknown)
        for d, name, uid in gone:
            if uid:
                self._gone(d.sub, name, uid)
        if unknown:
            self._number(unknown)

    def _old_names(self, sub: str, added: list[str]) -> Iterator[str]:
        """The names in ``sub`` the messages of ``added`` had (the guess for what a rename took away)."""
        for name in added:
            uid = self.by_base.get(name.partition(INFO_SEP)[0])
            e = self.by_uid.get(uid) if uid is not None else None
            if e is not None and e.sub == sub:
                yield e.filename

    def _added(self, d: Dir, name: str, unknown: list[Found]) -> None:
        if name.startswith("."):
            d.names[name] = 0
            return
        base, sep, info_text = name.partition(INFO_SEP)
        if base in self.odd:
            d.names[name] = 0
            return
        path = os.path.join(d.path, name)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return  # gone again: not recorded, so the next listing looks at it afresh
        if not stat.S_ISREG(st.st_mode):
            report_odd(path, kind_of(st.st_mode))
            d.names[name] = 0
            return
        info = sys_intern(info_text) if sep else None
        uid = self.by_base.get(base)
        if uid is not None:  # a message we know, renamed (flags) or moved new/ -> cur/ by someone else
            d.names[name] = uid
            self._relocate(uid, d.sub, info, name)
            return
        uid = self.ul.pending.pop(base, None)
        if uid is None:
            unknown.append((d.sub, name, base, info))
        else:
            self._admit(uid, d.sub, name, base, info, st.st_mtime)

    def _relocate(self, uid: int, sub: str, info: str | None, name: str) -> None:
        e = self.by_uid[uid]
        if e.sub == sub and e.info == info:
            return
        if e.filename in self.dirs[e.sub].names:  # the old name is still listed: in flight, or a duplicate
            self._alt.setdefault(uid, set()).add((e.sub, e.filename))
        self._replace(e, e.moved(sub, info))

    def _gone(self, sub: str, name: str, uid: int) -> None:
        alts = self._alt.get(uid)
        if alts is not None:
            alts.discard((sub, name))
        e = self.by_uid.get(uid)
        if e is None or e.sub != sub or e.filename != name:
            if alts is not None and not alts:
                del self._alt[uid]
            return
        while alts:  # the message is still listed under another name
            other_sub, other = alts.pop()
            if self.dirs[other_sub].names.get(other) == uid:
                base, sep, info = other.partition(INFO_SEP)
                self._replace(e, e.moved(other_sub, sys_intern(info) if sep else None))
                break
        else:
            self._drop(uid)
        if alts is not None and not alts:
            self._alt.pop(uid, None)

    # ------------------------------------------------------------------ the ordered messages
    def _count(self, fs: frozenset[str], n: int) -> None:
        counts = self.flag_counts
        left = counts.get(fs, 0) + n
        if left:
            counts[fs] = left
        else:
            counts.pop(fs, None)

    def _admit(self, uid: int, sub: str, name: str, base: str, info: str | None, mtime: float | None = None) -> None:
        """A newly listed file with its UID: in memory, unless it cannot be served."""
        if uid in self.by_uid:  # the uidlist gives one UID to two files: the first one keeps it
            self.dirs[sub].names[name] = 0
            return
        entry = self._new_entry(uid, sub, base, info, mtime)
        if entry is None:
            return
        self.dirs[sub].names[name] = uid
        self.by_uid[uid] = entry
        self.by_base[base] = uid
        fs = self.flagset(info or "")
        self.ordered.insert(entry, fs)
        self._count(fs, 1)
        self.total_size += entry.size
        if sub == "new":
            self.new_uids.add(uid)
        self.next_uid = max(self.next_uid, uid + 1)
        self._touched(entry)

    def _replace(self, old: Entry, new: Entry) -> None:
        ordered = self.ordered
        fs = self.flagset(new.info or "")
        old_fs = ordered.flags_of(old.uid)
        if old_fs is None:
            return
        ordered.replace(new, fs)
        self.by_uid[new.uid] = new
        if fs is not old_fs:
            self._count(old_fs, -1)
            self._count(fs, 1)
            self._touched(new)
        if new.sub == "new":
            self.new_uids.add(new.uid)
        else:
            self.new_uids.discard(new.uid)

    def _drop(self, uid: int) -> None:
        e = self.by_uid.pop(uid, None)
        if e is None:
            return
        if self.by_base.get(e.base) == uid:
            del self.by_base[e.base]
        ordered = self.ordered
        old_fs = ordered.flags_of(uid)
        if old_fs is not None:
            self._count(old_fs, -1)
        ordered.delete(uid)
        self.total_size -= e.size
        self.new_uids.discard(uid)
        self._alt.pop(uid, None)
        self.log.touch(uid)
        if self.modseqs.uidvalidity:
            self.modseqs.expunged(uid)

    def _touched(self, e: Entry) -> None:
        """``e`` is new, or its flags changed: logged for the sessions' diffs, and a new mod-sequence."""
        self.log.touch(e.uid)
        if self.modseqs.uidvalidity:
            self.modseqs.changed(e)

    def _entries(self) -> Iterator[Entry]:
        return (e for e, _ in self.ordered.items())

    # ------------------------------------------------------------------ our own changes
    @contextlib.contextmanager
    def own(self, *subs: str) -> Iterator[list[bool]]:
        """Wrap a change this server makes in ``subs``: a directory we were in step with stays so (its new mtime
        is taken as seen, listed once more when quiet). The caller sets the yielded flag to False when the change
        left files we could not record (they are then found by listing)."""
        before = {sub: self.dirs[sub].mtime for sub in subs}
        self.follower.forget(*subs)  # not logged: the log's next stamps for these follow a change it never saw
        in_step = {sub: self._mtime_or_none(sub) == before[sub] for sub in subs}
        sure = [True]
        try:
            yield sure
        finally:
            for sub in subs:
                d = self.dirs[sub]
                after = self._mtime_or_none(sub)
                if in_step[sub] and sure[0] and d.mtime == before[sub] and after is not None:
                    d.changed_by_us(after)

    def _mtime_or_none(self, sub: str) -> int | None:
        try:
            return os.lstat(self.dirs[sub].path).st_mtime_ns
        except OSError:
            return None

    def moved_by_us(self, uid: int, new_name: str) -> None:
        """We renamed the message ``uid`` (flags, or new/ -> cur/) to cur/``new_name``."""
        e = self.by_uid.get(uid)
        if e is None:
            return
        self.dirs[e.sub].names.pop(e.filename, None)
        self.dirs["cur"].names[new_name] = uid
        base, sep, info = new_name.partition(INFO_SEP)
        self._replace(e, e.moved("cur", info if sep else None))

    def removed_by_us(self, uid: int) -> None:
        e = self.by_uid.get(uid)
        if e is not None:
            self.dirs[e.sub].names.pop(e.filename, None)
            self._drop(uid)

    def added_by_us(self, uid: int, name: str, mtime: float | None = None) -> None:
        """We linked cur/``name`` in and recorded it as ``uid``."""
        base, sep, info = name.partition(INFO_SEP)
        self.ul.pending.pop(base, None)
        self._admit(uid, "cur", name, base, sys_intern(info) if sep else None, mtime)

    # ------------------------------------------------------------------ \Recent and dates
    def recent_uids(self) -> list[int]:
        """Messages \\Recent in no session yet (what EXAMINE and STATUS count): in new/, or from recent_from on."""
        state = self.state or self.refresh()
        messages = state.messages
        assert isinstance(messages, MessageList)
        low = sorted(u for u in self.new_uids if u < self.recent_from) if self.new_uids else []
        return low + messages.uids_from(self.recent_from)

    def claim_recent(self) -> list[int]:
        """Make the unclaimed recent messages \\Recent in the calling session only (call before
        moving new/ to cur/); later sessions see them as old."""
        if not self.new_uids and self.state is not None and self.recent_from >= self.state.uidnext:
            return []  # nothing new since the last claim (every NOOP of a read-write session asks)
        uids = self.recent_uids()
        self.recent_from = self.next_uid
        return uids

    def drop_envelopes(self) -> int:
        """Forget the cached envelopes; returns the bytes they were counted for."""
        for e in self.by_uid.values():
            e.env = None
        freed, self.env_bytes = self.env_bytes, 0
        return freed

    def mtime(self, e: Entry) -> float:
        """INTERNALDATE (the file's mtime), stat'ed on first use and kept on the entry."""
        if e.mtime is None:
            try:
                e.mtime = os.lstat(os.path.join(self.path, e.sub, e.filename)).st_mtime
            except FileNotFoundError:  # renamed (flags changed elsewhere) or expunged: look again
                self.invalidate()
                try:
                    self.refresh()
                except ImapNo:
                    return name_time(e.base)
                fresh = self.by_uid.get(e.uid)
                if fresh is None or fresh is e or fresh.base != e.base:
                    return name_time(e.base)  # gone: the delivery time in its name
                e.mtime = self.mtime(fresh)
        return e.mtime

    def _new_entry(self, uid: int, sub: str, base: str, info: str | None, mtime: float | None = None
                   ) -> Entry | None:
        return new_entry(self.path, self.cap, self.odd, uid, sub, base, info, mtime)

    # ------------------------------------------------------------------ dovecot-uidlist
    def _number(self, unknown: list[Found]) -> None:
        """Files the uidlist did not number when we read it: read on (a delivery in flight), then number the rest
        under the uidlist lock (UidTail.number)."""
        self._read_uidlist()
        left = self._resolve(unknown)
        if left:
            self.ul.number([base for _, _, base, _ in left], self.by_base)
            self._after_read()
            left = self._resolve(left)
        for sub, name, base, info in left:  # no UID could be given (read-only store): shown once it has one
            self._unnumbered[base] = (sub, name, info)

    def _resolve(self, items: list[Found]) -> list[Found]:
        left = []
        for item in items:
            sub, name, base, info = item
            uid = self.ul.pending.pop(base, None)
            if uid is None:
                left.append(item)
            elif not self._was_reset:
                self._admit(uid, sub, name, base, info)
        return left

    def _read_uidlist(self) -> None:
        self.ul.read(self.by_base)
        self._after_read()

    def _after_read(self) -> None:
        if self.ul.reset:  # a new UIDVALIDITY: every cached UID is void; the tail read it all afresh
            self.ul.reset = False
            self._was_reset = True
            self._clear()
            self.next_uid = 1
            self.log.forget()
        self.next_uid = max(self.next_uid, self.ul.next_uid)
        if self._unnumbered:  # files listed earlier have a UID now: list their directories again to add them
            for base in [b for b in self._unnumbered if b in self.ul.pending]:
                self.dirs[self._unnumbered.pop(base)[0]].mtime = None
