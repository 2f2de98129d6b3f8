"""One Maildir as an IMAP mailbox: UIDs, flags, sizes and dates, cached and cheap to re-check.

- A re-check costs two ``stat`` calls (``new/`` and ``cur/``): the directory listing is read again
  only when one of their ``st_mtime_ns`` changed, or when it changed so recently that a second
  change within the same clock tick could hide behind it (Dovecot's "dirty directory" rule).
- Per message only the UID, base name, Maildir info (flags letters), CRLF size and mtime are kept:
  about 200 bytes, so 100,000 messages fit in ~25 MB; plus, once fetched, the encoded ENVELOPE
  (headcache.py, bounded).
- UIDs come from ``dovecot-uidlist`` and are never invented here: the file is read incrementally
  (only what was appended since the last read) and files it does not know yet go through
  ``uidlist.sync`` (under Dovecot's lock), which numbers them in delivery order.
- Sizes come from ``,W=`` in the name (falling back to reading the file), INTERNALDATE from the
  file's mtime (stat'ed when first asked for), as Dovecot's Maildir storage does.
- Only regular files are messages (the d_type of the listing says so, no stat): a symbolic link,
  FIFO, socket, device or directory in new/ or cur/ is skipped and logged once, as Dovecot does,
  and never gets a UID. A file over the read cap (its ``,S=`` says so, or, without sizes in its
  name, its fstat) is skipped the same way. A Maildir whose own directories (the account's
  Maildir, the folder, new/, cur/) are not real directories is not served at all (NO [CORRUPTION]).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import stat
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from typing import overload

from ...errors import AgentmailError
from ...store import keywords, uidlist
from ...store.dotlock import DotLock
from ...store.maildir import INFO_SEP, Maildir, crlf_size, name_sizes, name_time
from ...store.msgfile import NotAMessage, entry_kind, odd_dir, read_message, report_odd
from ..protocol.errors import ImapNo
from ..session.backend import MailboxState, MessageInfo

# Maildir info letters <-> IMAP system flags (Dovecot: D F R S T; P "passed" has no IMAP flag and is kept)
LETTER_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
FLAG_LETTERS = {v: k for k, v in LETTER_FLAGS.items()}
DIRTY_NS = 2_000_000_000  # a directory changed less than 2 s ago may change again unseen


class Entry:
    __slots__ = ("uid", "base", "sub", "info", "size", "mtime", "env")

    def __init__(self, uid: int, base: str, sub: str, info: str | None, size: int, mtime: float | None,
                 env: bytes | None = None) -> None:
        self.uid = uid
        self.base = base
        self.sub = sub  # "new" or "cur"
        self.info = info  # the letters after ":2,", None when the name has no info part
        self.size = size  # CRLF size (RFC822.SIZE)
        self.mtime = mtime  # INTERNALDATE; None until first asked for (a stat per file is the cold scan's cost)
        self.env = env  # the encoded ENVELOPE (headcache.py), None until first fetched

    @property
    def filename(self) -> str:
        return self.base if self.info is None else self.base + INFO_SEP + self.info

    def moved(self, sub: str, info: str | None) -> Entry:
        return Entry(self.uid, self.base, sys_intern(sub), info and sys_intern(info), self.size, self.mtime,
                     self.env)


def sys_intern(text: str) -> str:
    return text if len(text) > 8 else _INTERN.setdefault(text, text)


_INTERN: dict[str, str] = {}


class MessageList(Sequence[MessageInfo]):
    """The messages of one snapshot, as ``MessageInfo`` built on demand (nothing per message is kept)."""

    def __init__(self, entries: tuple[Entry, ...], cache: MailboxCache) -> None:
        self._entries = entries
        self._uids = array("Q", (e.uid for e in entries))
        self._cache = cache
        self._keywords = cache.keyword_table

    def uid_flags(self) -> Iterator[tuple[int, frozenset[str]]]:
        """(uid, flags) in UID order, without a MessageInfo per message (selected.uid_flags)."""
        flagset, table = self._cache.flagset, self._keywords
        for e in self._entries:
            yield e.uid, flagset(e.info or "", table)

    def recent(self, recent_from: int, any_new: bool) -> list[int]:
        """UIDs in new/ (when ``any_new``) or from ``recent_from`` on: bisected, O(log n) when new/ is empty."""
        i = bisect_left(self._uids, recent_from)
        top = list(self._uids[i:])
        return [e.uid for e in self._entries[:i] if e.sub == "new"] + top if any_new else top

    def lookup_map(self) -> Mapping[int, MessageInfo]:
        """uid -> MessageInfo without building all of them (selected.py uses it when present)."""
        return _UidMap(self)

    def find(self, uid: int) -> MessageInfo | None:
        e = self.entry(uid)
        return None if e is None else self._info(e)

    def __len__(self) -> int:
        return len(self._entries)

    def _info(self, e: Entry) -> MessageInfo:
        cache = self._cache

        def when() -> dt.datetime:
            return dt.datetime.fromtimestamp(cache.mtime(e), dt.timezone.utc).astimezone()

        return MessageInfo(e.uid, cache.flagset(e.info or "", self._keywords), e.size, when)

    def entry(self, uid: int) -> Entry | None:
        i = bisect_left(self._uids, uid)
        if i < len(self._uids) and self._uids[i] == uid:
            return self._entries[i]
        return None

    @overload
    def __getitem__(self, i: int) -> MessageInfo: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[MessageInfo]: ...

    def __getitem__(self, i: int | slice) -> MessageInfo | Sequence[MessageInfo]:
        if isinstance(i, slice):
            return [self._info(e) for e in self._entries[i]]
        return self._info(self._entries[i])

    def __iter__(self) -> Iterator[MessageInfo]:
        for e in self._entries:
            yield self._info(e)


class _UidMap(Mapping[int, MessageInfo]):
    def __init__(self, messages: MessageList) -> None:
        self._messages = messages

    def __getitem__(self, uid: int) -> MessageInfo:
        found = self._messages.find(uid)
        if found is None:
            raise KeyError(uid)
        return found

    def __iter__(self) -> Iterator[int]:
        return iter(self._messages._uids)

    def __len__(self) -> int:
        return len(self._messages)


def odd_mailbox() -> ImapNo:
    return ImapNo("Mailbox is not served: its directory is a link or not a directory (see the server log)",
                  "CORRUPTION")  # RFC 5530: corrupt data, the details go to the log


class MailboxCache:
    def __init__(self, path: str, cap: int) -> None:
        self.maildir = Maildir(path)
        self.path = path
        self.cap = cap  # the largest message file served (store.msgfile.read_cap)
        self._roots = self.maildir.dirs(())  # checked with lstat on every refresh: no link leads out of the store
        self._new = os.path.join(path, "new")
        self._cur = os.path.join(path, "cur")
        self.odd: set[str] = set()  # base names of regular files skipped for their size: not looked at again
        self.key: tuple[int, int] | None = None  # (new/ mtime, cur/ mtime) of the last clean scan
        self.state: MailboxState | None = None
        self.by_uid: dict[int, Entry] = {}
        self.by_base: dict[str, int] = {}
        self.uidvalidity = 0
        self.next_uid = 1
        self.keyword_table: dict[int, str] = {}
        self._flagsets: dict[tuple[str, int], frozenset[str]] = {}
        self._kw_id = 0
        self._ul_ino = -1  # uidlist inode and the offset read so far
        self._ul_offset = 0
        self._pending: dict[str, int] = {}  # uidlist records whose file we have not listed yet
        self._was_reset = False
        self.env_bytes = 0  # cached envelopes on the entries (headcache.Budget)
        self.new_count = 0  # messages in new/ (claim has nothing to move when 0)
        # \Recent (RFC 3501 2.3.2) in no session yet: what is in new/, and every UID from here on
        # (set past the mailbox at the first scan, so only mail that comes later counts)
        self.recent_from = 0

    # ------------------------------------------------------------------ flags
    def flagset(self, info: str, table: dict[int, str]) -> frozenset[str]:
        key = (info, id(table))
        found = self._flagsets.get(key)
        if found is None:
            flags = {LETTER_FLAGS[ch] for ch in info if ch in LETTER_FLAGS}
            flags |= {table[ord(ch) - 97] for ch in info if "a" <= ch <= "z" and ord(ch) - 97 in table}
            found = self._flagsets[key] = frozenset(flags)
        return found

    def letters(self, flags: frozenset[str], keep_from: str) -> str:
        """Maildir info for IMAP ``flags``; letters with no IMAP meaning (P) survive from ``keep_from``."""
        out = {ch for ch in keep_from if ch.isupper() and ch not in LETTER_FLAGS}
        for flag in flags:
            if flag in FLAG_LETTERS:
                out.add(FLAG_LETTERS[flag])
            elif not flag.startswith("\\"):
                try:
                    out.add(keywords.ensure(self.maildir, flag))
                except AgentmailError as exc:
                    raise ImapNo(str(exc), "LIMIT") from None
        self.key = None  # the keyword table may have grown
        return "".join(sorted(out))

    # ------------------------------------------------------------------ scanning
    def dir_key(self) -> tuple[int, int]:
        """(new/ mtime, cur/ mtime) by lstat; ImapNo when the Maildir is missing or a directory on the way
        is a link or not a directory (reported once)."""
        try:
            new, cur = os.lstat(self._new), os.lstat(self._cur)
        except (FileNotFoundError, NotADirectoryError):
            raise ImapNo("Mailbox does not exist", "NONEXISTENT") from None
        for path, mode in ((self._new, new.st_mode), (self._cur, cur.st_mode)):
            if not stat.S_ISDIR(mode):
                report_odd(path, "a symbolic link" if stat.S_ISLNK(mode) else "not a directory")
                raise odd_mailbox()
        for path in self._roots:
            why = odd_dir(path)
            if why is not None:
                report_odd(path, why)
                raise odd_mailbox()
        return new.st_mtime_ns, cur.st_mtime_ns

    def refresh(self) -> MailboxState:
        st_new, st_cur = self.dir_key()
        if self.state is not None and self.key == (st_new, st_cur):
            return self.state
        clean = time.time_ns() - max(st_new, st_cur) > DIRTY_NS
        self._scan()
        if self._was_reset:  # UIDVALIDITY changed under us: number everything afresh
            self._was_reset = False
            self._scan()
        self.key = (st_new, st_cur) if clean else None
        return self.state  # type: ignore[return-value]  # set by _scan

    def current(self) -> bool:
        """Would `refresh` answer from memory? (two stats; never scans)"""
        try:
            key = self.dir_key()
        except ImapNo:
            return False
        return self.state is not None and self.key == key

    def recent_uids(self) -> list[int]:
        """Messages \\Recent in no session yet (what EXAMINE and STATUS count)."""
        state = self.state or self.refresh()
        messages = state.messages
        assert isinstance(messages, MessageList)
        return messages.recent(self.recent_from, self.new_count > 0)

    def claim_recent(self) -> list[int]:
        """Make the unclaimed recent messages \\Recent in the calling session only (call before
        moving new/ to cur/); later sessions see them as old."""
        uids = self.recent_uids()
        self.recent_from = self.next_uid
        return uids

    def invalidate(self) -> None:
        self.key = None

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

    def _scan(self) -> None:
        table = keywords.read(self.maildir)
        if table != self.keyword_table:
            self.keyword_table = table
            self._flagsets.clear()
        unknown: list[tuple[str, str, str | None]] = []  # files the uidlist does not number yet
        seen: dict[int, Entry] = {}
        for sub in ("new", "cur"):
            try:  # scandir, not listdir: 100,000 names are never all held at once
                with os.scandir(os.path.join(self.path, sub)) as it:
                    self._list(sub, it, seen, unknown)
            except (FileNotFoundError, NotADirectoryError):
                raise ImapNo("Mailbox does not exist", "NONEXISTENT") from None
        if unknown:
            self._sync_uidlist()
            for sub, base, info in unknown:
                uid = self._pending.pop(base, None)
                if uid is None or uid in seen:
                    continue  # no UID could be given (read-only store): not shown
                entry = self._new_entry(uid, sub, base, info)
                if entry is not None:
                    seen[uid] = entry
        if not self.uidvalidity:
            self._read_uidlist()
        self.by_uid = seen
        self.new_count = sum(1 for e in seen.values() if e.sub == "new")
        self.by_base = {e.base: u for u, e in seen.items()}
        # a dict keeps its size after pops: let the first scan's table go (and any record re-read
        # by a uidlist sync for a file that is listed already)
        self._pending = {b: u for b, u in self._pending.items() if b not in self.by_base}
        ordered = tuple(seen[u] for u in sorted(seen))
        top = ordered[-1].uid if ordered else 0
        self.next_uid = max(self.next_uid, top + 1)
        self.state = MailboxState(self.uidvalidity, self.next_uid, MessageList(ordered, self))
        if not self.recent_from:
            self.recent_from = self.next_uid

    def _list(self, sub: str, names: Iterator[os.DirEntry[str]], seen: dict[int, Entry],
              unknown: list[tuple[str, str, str | None]]) -> None:
        """One of new/ and cur/ into ``seen``; files without a UID in what we know go to ``unknown``."""
        read = False
        for de in names:
            name = de.name
            if name.startswith("."):
                continue
            if not de.is_file(follow_symlinks=False):  # d_type: no stat per file
                report_odd(de.path, entry_kind(de))
                continue
            base, sep, info_text = name.partition(INFO_SEP)
            if base in self.odd:
                continue
            info = sys_intern(info_text) if sep else None  # "S", "RS", ...: shared, not per message
            uid = self.by_base.get(base)
            if uid is None:
                if not read:  # new files: catch up with the uidlist once, then number them at once
                    self._read_uidlist()
                    read = True
                uid = self._pending.pop(base, None)
                if uid is None:
                    unknown.append((sub, base, info))
                elif uid not in seen and (entry := self._new_entry(uid, sub, base, info)) is not None:
                    seen[uid] = entry
                continue
            if uid in seen:
                continue  # the same message in new/ and cur/ (a rename in flight): keep one
            old = self.by_uid[uid]
            seen[uid] = old if old.sub == sub and old.info == info else old.moved(sub, info)

    def _new_entry(self, uid: int, sub: str, base: str, info: str | None) -> Entry | None:
        filename = base if info is None else base + INFO_SEP + info
        path = os.path.join(self.path, sub, filename)
        size, vsize = name_sizes(base)
        if size is not None and size > self.cap:  # too big to serve, and its name says so: no need to look
            self._skip(base, NotAMessage(path, f"{size} bytes by its name, over the {self.cap}-byte read limit",
                                         oversize=True))
            return None
        if vsize is None:  # no W= in the name: read the file (no stat otherwise: mtime is read lazily)
            try:
                vsize = crlf_size(read_message(path, self.cap))
            except FileNotFoundError:
                return None  # gone again (moved by another reader); found at the next scan
            except NotAMessage as exc:
                self._skip(base, exc)
                return None
        return Entry(uid, base, sys_intern(sub), info, vsize, None)

    def _skip(self, base: str, exc: NotAMessage) -> None:
        report_odd(exc.path, exc.why)
        if exc.oversize:
            self.odd.add(base)  # not read again at each scan (a link or FIFO costs nothing: the listing skips it)

    # ------------------------------------------------------------------ dovecot-uidlist
    def _read_uidlist(self, repaired: bool = False) -> None:
        """Parse what was appended to dovecot-uidlist since the last read (all of it after a rewrite)."""
        path = os.path.join(self.path, uidlist.FILENAME)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            self._create_uidlist()
            return
        try:
            st = os.fstat(fd)
            header = os.pread(fd, 512, 0).decode("utf-8", "surrogateescape").split("\n", 1)[0]
            try:
                head = uidlist.parse_header(header)
            except uidlist.UidListError as exc:
                if not repaired:  # rebuilt under the lock as Dovecot does (store/uidlist.py), then read afresh
                    self._repair_uidlist()
                    return
                raise ImapNo(f"Damaged {uidlist.FILENAME}: {exc}", "SERVERBUG") from None
            if head.uidvalidity != self.uidvalidity and self.uidvalidity:
                self._reset()  # a new UIDVALIDITY: every cached UID is void (RFC 3501 2.3.1.1)
            self.uidvalidity = head.uidvalidity
            self.next_uid = max(self.next_uid, head.next_uid)
            start = self._ul_offset if st.st_ino == self._ul_ino and st.st_size >= self._ul_offset else 0
            if start == 0:
                self._pending.clear()
            data = os.pread(fd, st.st_size - start, start) if st.st_size > start else b""
        finally:
            os.close(fd)
        end = data.rfind(b"\n") + 1  # a torn last line is read again next time
        lines = io.BytesIO(data)  # line by line: no list (or str copy) of 100,000 records at once
        if start == 0:
            next(lines, None)  # the header
        damaged = False
        for raw in lines:
            if not raw.endswith(b"\n"):
                break
            record = uidlist.parse_record(raw.decode("utf-8", "surrogateescape")) if raw != b"\n" else None
            if record is None:
                damaged = True  # a whole line that is no record: Dovecot would throw the file away
                continue
            uid, _, base = record
            self.next_uid = max(self.next_uid, uid + 1)
            if base not in self.by_base:
                self._pending[base] = uid
        self._ul_ino = st.st_ino
        self._ul_offset = start + end
        if damaged and not repaired:
            try:
                self._repair_uidlist()  # rewritten clean (store/uidlist.py), so Dovecot never finds it broken
            except ImapNo:
                pass  # served as read; the next writer repairs it

    def _sync_uidlist(self) -> None:
        try:
            uidlist.sync(self.maildir)  # numbers files nobody numbered yet, under Dovecot's lock
        except AgentmailError:
            return
        self._ul_offset = 0
        self._read_uidlist()

    def _repair_uidlist(self) -> None:
        try:
            uidlist.sync(self.maildir)
        except AgentmailError as exc:
            raise ImapNo(f"Cannot repair {uidlist.FILENAME}: {exc}", "SERVERBUG") from None
        self._ul_offset = 0
        self._read_uidlist(repaired=True)

    def _create_uidlist(self) -> None:
        path = os.path.join(self.path, uidlist.FILENAME)
        try:
            with DotLock(path) as lock:
                if not os.path.exists(path):
                    lock.replace(uidlist.format_uidlist(uidlist.new_uidlist()).encode())
        except (AgentmailError, OSError):
            if not self.uidvalidity:
                self.uidvalidity = 1
            return
        self._read_uidlist()

    def _reset(self) -> None:
        self._was_reset = True
        self.by_uid = {}
        self.by_base = {}
        self._pending.clear()
        self.next_uid = 1
        self._ul_offset = 0
