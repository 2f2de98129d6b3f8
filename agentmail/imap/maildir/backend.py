"""The ``Backend`` over agentmail's Maildir++ store (see backend.py for the protocol).

- Mailbox names map to Maildirs through ``folders.Namespace`` (an agent sees only its own
  folders; ``human`` also sees ``Agents/<name>/...`` read-only).
- Each Maildir has a ``MailboxCache`` (mailcache.py): a look at an unchanged mailbox is a few stats, new mail
  costs what is new. The changes made here (new/ -> cur/, flags, expunges, APPEND, COPY) go into the cache as they
  are made, never through a listing of the folder.
- Writes use the store's primitives the way delivery does: a file is staged in ``tmp/``, then
  linked into ``cur/`` and given its UID while ``dovecot-uidlist.lock`` is held, so Dovecot or
  another agentmail process can never see it without a UID (or give it a second one).
- APPEND stores the client's bytes as they are (LF line endings on disk, as every Maildir file);
  it is a store into the folder, not a delivery to anyone. COPY hard-links like Dovecot's Maildir
  storage; MOVE is COPY then unlink of the source (RFC 6851 3.3 allows that).
- Message files are read through store.msgfile (no links followed, no FIFO opened for long, never
  more than the read cap): what the listing skipped is never served, and a file that changed into
  something else since is refused with NO [CORRUPTION], one over the cap with NO [LIMIT].

Not thread-safe: the server calls it from one worker thread.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ...config import Config
from ...errors import AgentmailError, UsageError
from ...format.address import normalize_name
from ...store import passwd, uidlist
from ...store.changelog import Change, log_for
from ...store.dotlock import DotLock
from ...store.maildir import Maildir, Staged, fsync_dir, name_sizes, split_name, to_lf, unique_name
from ...store.msgfile import NotAMessage, read_cap, read_message, report_odd
from ..message.crlf import to_crlf
from ..message.envelope import envelope_bytes
from ..protocol.errors import ImapNo
from ..session.backend import MailboxInfo, MailboxState
from .folders import Namespace, Place
from .headcache import Budget, read_header
from .mailcache import Entry, MailboxCache, odd_mailbox

log = logging.getLogger("agentmail.imap")

MAX_CACHES = 512
MAX_PLACES = 4096  # resolved mailbox names kept (folders.Namespace.place is pure: name -> directory)
EXPUNGED = "EXPUNGEISSUED"  # RFC 5530
# seconds the shared worker (or the loop, for a cheap STORE) waits for a folder's change log before making its change
# unlogged: the CLI's caches then list the folder once, where waiting up to changelog.LOCK_WAIT would stall every client
LOG_WAIT = 0.02


def _store_error(exc: AgentmailError) -> ImapNo:
    return ImapNo(f"Cannot write to the store: {exc}", "SERVERBUG")


def _not_served(exc: NotAMessage) -> ImapNo:
    report_odd(exc.path, exc.why)
    if exc.oversize:  # skipped rather than truncated: a cut message would contradict its RFC822.SIZE
        return ImapNo("Message is larger than this server serves", "LIMIT")
    return ImapNo("Message file is not a regular file (see the server log)", "CORRUPTION")


class MaildirBackend:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.ns = Namespace(cfg)
        self._caches: OrderedDict[str, MailboxCache] = OrderedDict()
        self._ro: dict[str, tuple[MailboxState, MailboxState]] = {}
        self.budget = Budget()  # cached envelopes across all mailboxes
        self.cap = read_cap(cfg.max_message)  # no message file is read past this
        self._places: dict[tuple[str, str], Place] = {}

    def _place(self, account: str, mailbox: str) -> Place:
        """``ns.place``, remembered: every command resolves its mailbox name, a NOOP twice."""
        key = (account, mailbox)
        found = self._places.get(key)
        if found is None:
            found = self.ns.place(account, mailbox)
            if len(self._places) >= MAX_PLACES:
                self._places.clear()
            self._places[key] = found
        return found

    # ------------------------------------------------------------------ helpers
    def _cache(self, path: str) -> MailboxCache:
        cache = self._caches.get(path)
        if cache is None:
            cache = self._caches[path] = MailboxCache(path, self.cap)
            while len(self._caches) > MAX_CACHES:
                old, gone = self._caches.popitem(last=False)
                self._ro.pop(old, None)
                self.budget.used -= gone.env_bytes
        else:
            self._caches.move_to_end(path)
        return cache

    def _forget(self, path: str) -> None:
        for key in [k for k in self._caches if k == path or k.startswith(path + ".")]:
            self.budget.used -= self._caches.pop(key).env_bytes
            self._ro.pop(key, None)

    def _entry(self, cache: MailboxCache, uid: int, fresh: bool = False) -> Entry:
        if cache.state is None or fresh:
            cache.invalidate()
            cache.refresh()
        entry = cache.by_uid.get(uid)
        if entry is None:
            raise ImapNo("Message was expunged", EXPUNGED)
        return entry

    def _writable_box(self, cache: MailboxCache) -> Maildir:
        """The Maildir to store into, once none of its directories (tmp/ included) is a link out of the store."""
        cache.dir_key()
        box = Maildir(cache.path)
        if not box.readable(("tmp",)):
            raise odd_mailbox()
        return box

    def _publish(self, box: Maildir, items: list[tuple[Staged, str]], cache: MailboxCache,
                 dates: list[float | None] | None = None) -> list[int]:
        """Link staged files into cur/ and record their UIDs, under the uidlist lock (as delivery._publish), and
        into ``cache`` at once (no listing of the folder follows).

        Returns [] when the messages are stored but their UIDs could not be recorded: answering NO then would make
        the client APPEND (or COPY) them again, a duplicate. The next scan gives them UIDs; the OK goes without
        APPENDUID/COPYUID, which RFC 4315 clients treat as "UIDs not known"."""
        lock = DotLock(os.path.join(box.path, uidlist.FILENAME))
        try:
            lock.acquire()
            try:
                with cache.own("cur") as sure:
                    names = [staged.commit("cur", info, sync=False) for staged, info in items]
                    fsync_dir(os.path.join(box.path, "cur"))
                    bases = [split_name(name)[0] for name in names]
                    try:
                        uids = uidlist.append(box, bases, lock=lock)
                    except (AgentmailError, OSError) as exc:
                        log.warning("imap: %d message(s) stored in %s without a UID yet: %s", len(bases), box.path,
                                    exc)
                        sure[0] = False  # found by the next listing, numbered then
                        return []
                    for i, (uid, name) in enumerate(zip(uids, names, strict=True)):
                        cache.added_by_us(uid, name, dates[i] if dates else None)
                    return uids
            finally:
                lock.release()
        except AgentmailError as exc:
            raise _store_error(exc) from None
        finally:
            for staged, _ in items:
                staged.abort()

    # ------------------------------------------------------------------ Backend protocol
    def login(self, user: str, password: str) -> str | None:
        name = user.strip()
        if "@" in name:
            name, _, domain = name.rpartition("@")
            if domain.lower() != self.cfg.domain.lower():
                return None
        try:
            name = normalize_name(name)
        except UsageError:
            return None
        if passwd.verify(self.cfg, name, password) and os.path.isdir(self.cfg.maildir_path(name)):
            return name
        return None

    def mailboxes(self, account: str) -> Sequence[MailboxInfo]:
        return self.ns.mailboxes(account)

    def state(self, account: str, mailbox: str) -> MailboxState:
        place = self._place(account, mailbox)
        state = self._cache(place.path).refresh()
        if not place.read_only:
            return state
        seen = self._ro.get(place.path)
        if seen is None or seen[0] is not state:  # keep the same object while nothing changed
            seen = self._ro[place.path] = (state, MailboxState(state.uidvalidity, state.uidnext, state.messages, True,
                                                               state.highestmodseq))
        return seen[1]

    def is_current(self, account: str, mailbox: str, limit: int | None = None, moving: bool = False) -> bool:
        """True when the mailbox's cached state is up to date, so using it cannot trigger a listing (a few
        stats); with ``moving`` (a read-write SELECT or a NOOP there, which move new/ to cur/), also when nothing
        waits in new/; with ``limit``, also when it holds at most that many messages."""
        try:
            place = self._place(account, mailbox)
        except ImapNo:
            return False
        cache = self._caches.get(place.path)
        if cache is None or not cache.current():
            return False
        if moving and cache.new_uids and not place.read_only:
            return False
        return limit is None or len(cache.ordered) <= limit

    def listings(self, account: str, mailbox: str) -> dict[str, int]:
        """How often the mailbox's directories were listed: {"full": ..., "new": ..., "cur": ...} (for tests and
        benchmarks: what a command cost in directory reads)."""
        cache = self._caches.get(self._place(account, mailbox).path)
        return dict(cache.listings) if cache is not None else {"full": 0, "new": 0, "cur": 0}

    def follows(self, account: str, mailbox: str) -> int:
        """How often the folder's change log stood in for listing a directory (follow.py; tests and benchmarks)."""
        cache = self._caches.get(self._place(account, mailbox).path)
        return cache.follower.follows if cache is not None else 0

    def uidvalidity(self, account: str, mailbox: str) -> tuple[int, bool]:
        """(UIDVALIDITY, read-only) of an existing mailbox without listing it (COPY and MOVE need no more of
        their destination): its uidlist header, or the cached state when there is no readable uidlist."""
        place = self._place(account, mailbox)
        cache = self._cache(place.path)
        cache.dir_key()  # NONEXISTENT or CORRUPTION as for any other command
        value = cache.ul.header_uidvalidity()
        if not value:
            value = cache.refresh().uidvalidity
        return value, place.read_only

    def vanished(self, account: str, mailbox: str, modseq: int) -> list[int] | None:
        """UIDs expunged after mod-sequence ``modseq`` (QRESYNC, RFC 7162 3.2.5), ascending; None when that is
        before what the folder's ``agentmail-modseq`` remembers (modseq.py)."""
        cache = self._cache(self._place(account, mailbox).path)
        cache.refresh()
        return cache.modseqs.vanished(modseq)

    def recent(self, account: str, mailbox: str) -> list[int]:
        """UIDs \\Recent in no session yet (RFC 3501 2.3.2): in new/, or come since a session last
        claimed (EXAMINE, STATUS and read-only views count them without claiming)."""
        place = self._place(account, mailbox)
        cache = self._cache(place.path)
        cache.refresh()
        return cache.recent_uids()

    def claim(self, account: str, mailbox: str) -> tuple[MailboxState, list[int]]:
        """The mailbox is selected read-write: the unclaimed recent messages become \\Recent in the
        calling session only, and new/ moves to cur/ as Dovecot does (never in a read-only view)."""
        place = self._place(account, mailbox)
        cache = self._cache(place.path)
        state = cache.refresh()
        if place.read_only:
            return self.state(account, mailbox), []
        claimed = cache.claim_recent()
        if not cache.new_count:
            return state, claimed
        box = Maildir(place.path)
        # one logged change for the whole batch: `agentmail inbox` and the other caches follow it (changelog.py)
        with cache.own("new", "cur"), Change(box, log_for(box), wait=LOG_WAIT) as change:
            for uid in sorted(cache.new_uids):
                entry = cache.by_uid[uid]
                try:
                    name = box.set_flags("new", entry.filename, entry.info or "")
                except AgentmailError:
                    continue  # moved by someone else (a hook announcing it); the next listing sees where
                change.remove("new", entry.filename)
                change.add("cur", name)
                cache.moved_by_us(uid, name)
        return cache.refresh(), claimed

    def _read(self, cache: MailboxCache, uid: int, reader: Callable[[str], bytes]) -> tuple[Entry, bytes]:
        for fresh in (False, True):
            entry = self._entry(cache, uid, fresh)
            try:
                return entry, reader(os.path.join(cache.path, entry.sub, entry.filename))
            except FileNotFoundError:
                continue  # renamed (flags changed elsewhere) or expunged: look again
            except NotAMessage as exc:
                raise _not_served(exc) from None
            except OSError as exc:
                raise ImapNo(f"Cannot read the message: {exc.strerror or exc}", "SERVERBUG") from None
        raise ImapNo("Message was expunged", EXPUNGED)

    def _read_all(self, path: str) -> bytes:
        return read_message(path, self.cap)

    def _read_header(self, path: str) -> bytes:
        return read_header(path, self.cap)

    def message(self, account: str, mailbox: str, uid: int) -> bytes:
        return to_crlf(self._read(self._cache(self._place(account, mailbox).path), uid, self._read_all)[1])

    def headers(self, account: str, mailbox: str) -> Callable[[int], bytes]:
        """uid -> the header block as served (CRLF), reading each file only up to its blank line."""
        cache = self._cache(self._place(account, mailbox).path)
        return lambda uid: self._read(cache, uid, self._read_header)[1]

    def envelopes(self, account: str, mailbox: str) -> Callable[[int], bytes]:
        """uid -> the encoded ENVELOPE, from the cache (headcache.py) or the header block."""
        cache = self._cache(self._place(account, mailbox).path)

        def envelope(uid: int) -> bytes:
            entry = cache.by_uid.get(uid)
            if entry is not None and entry.env is not None:
                return entry.env
            entry, header = self._read(cache, uid, self._read_header)
            entry.env = env = envelope_bytes(header)
            cache.env_bytes += self.budget.add(env)
            if self.budget.over():
                self.budget.evict(c.drop_envelopes for c in list(self._caches.values()))
            return env

        return envelope

    def set_flags(self, account: str, mailbox: str, uid: int, flags: frozenset[str]) -> int | None:
        done = self.store_flags(account, mailbox, [(uid, flags)])
        if uid not in done:
            raise ImapNo("Message was expunged", EXPUNGED)
        return done[uid]

    def store_flags(self, account: str, mailbox: str,
                    changes: Sequence[tuple[int, frozenset[str]]]) -> dict[int, int | None]:
        place = self.ns.writable(account, mailbox)
        cache = self._cache(place.path)
        box = Maildir(place.path)
        done: dict[int, int | None] = {}
        known = (cache.by_uid.get(uid) for uid, _ in changes)
        subs = {"cur"} | {entry.sub for entry in known if entry is not None}
        # one logged change for the batch, as the CLI's own flag changes are: `agentmail inbox` follows the renames
        # instead of listing cur/ again (changelog.py)
        with cache.own(*sorted(subs)), Change(box, log_for(box), wait=LOG_WAIT) as change:
            for uid, flags in changes:
                for fresh in (False, True):
                    try:
                        entry = self._entry(cache, uid, fresh)
                    except ImapNo as err:
                        if err.code is None or err.code.name != EXPUNGED:
                            raise  # the folder went away, or turned odd: the whole STORE fails
                        break  # expunged: left out
                    info = cache.letters(flags, entry.info or "")
                    try:
                        name = box.set_flags(entry.sub, entry.filename, info)
                    except AgentmailError:
                        continue  # renamed by someone else meanwhile: look again
                    change.remove(entry.sub, entry.filename)
                    change.add("cur", name)
                    cache.moved_by_us(uid, name)
                    moved = cache.by_uid.get(uid)
                    done[uid] = moved.modseq if moved is not None else None  # the change's mod-sequence (modseq.py)
                    break
        return done

    def append(self, account: str, mailbox: str, message: bytes, flags: frozenset[str],
               date: dt.datetime | None) -> int | None:
        place = self.ns.writable(account, mailbox)
        if len(message) > self.cfg.max_message:
            raise ImapNo(f"Message too large (limit {self.cfg.max_message} bytes)", "LIMIT")
        cache = self._cache(place.path)
        box = self._writable_box(cache)
        info = cache.letters(flags, "")
        try:
            staged = box.stage(to_lf(message))
        except AgentmailError as exc:
            raise _store_error(exc) from None
        stamp = None
        if date is not None:  # INTERNALDATE is the file's mtime
            stamp = date.timestamp()
            os.utime(staged.tmp_path, (stamp, stamp))
        uids = self._publish(box, [(staged, info)], cache, [stamp])
        return uids[0] if uids else None

    def _stage_copy(self, src: Place, entry: Entry, dest: Maildir) -> Staged:
        """A new name in dest/tmp for the same file: a hard link (no data copied), else a copy."""
        path = os.path.join(src.path, entry.sub, entry.filename)
        size, vsize = name_sizes(entry.base)
        if size is not None and vsize is not None:
            for _ in range(100):
                name = unique_name(size, vsize)
                try:  # never through a link: a linked name gets a hard link to the link itself, never its target
                    os.link(path, os.path.join(dest.path, "tmp", name), follow_symlinks=False)
                    return Staged(dest, name)
                except FileExistsError:
                    continue
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        raise
                    break  # EXDEV, EPERM, EMLINK: copy instead
        try:
            data = read_message(path, self.cap)
        except NotAMessage as exc:
            raise _not_served(exc) from None
        try:
            staged = dest.stage(data)
        except AgentmailError as exc:
            raise _store_error(exc) from None
        when = self._cache(src.path).mtime(entry)
        os.utime(staged.tmp_path, (when, when))
        return staged

    def copy(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        src = self.ns.place(account, mailbox)
        dst = self.ns.writable(account, dest)
        src_cache, dst_cache = self._cache(src.path), self._cache(dst.path)
        box = self._writable_box(dst_cache)
        items: list[tuple[Staged, str]] = []
        dates: list[float | None] = []  # INTERNALDATE travels with the copy (a hard link shares the mtime)
        try:
            for uid in uids:
                for fresh in (False, True):
                    entry = self._entry(src_cache, uid, fresh)
                    try:
                        staged = self._stage_copy(src, entry, box)
                    except FileNotFoundError:
                        continue
                    break
                else:
                    raise ImapNo("Some of the messages no longer exist", EXPUNGED)
                # keyword letters are per folder: translate through the flags
                flags = src_cache.flagset(entry.info or "")
                items.append((staged, dst_cache.letters(flags, entry.info or "")))
                dates.append(entry.mtime)
        except BaseException:
            for staged, _ in items:
                staged.abort()
            raise
        return self._publish(box, items, dst_cache, dates)

    def move(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        self.ns.writable(account, mailbox)
        new = self.copy(account, mailbox, uids, dest)
        self.expunge(account, mailbox, uids)
        return new

    def expunge(self, account: str, mailbox: str, uids: Sequence[int]) -> None:
        place = self.ns.writable(account, mailbox)
        cache = self._cache(place.path)
        for uid in uids:
            for fresh in (False, True):
                try:
                    entry = self._entry(cache, uid, fresh)
                except ImapNo:
                    break  # already gone
                with cache.own(entry.sub):
                    try:
                        os.unlink(os.path.join(place.path, entry.sub, entry.filename))
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        raise ImapNo(f"Cannot expunge: {exc.strerror}", "SERVERBUG") from None
                    cache.removed_by_us(uid)
                break

    def _not_through_links(self, account: str, mailbox: str) -> Place:
        """CREATE, DELETE and RENAME never work through a link: not a linked folder, nor in a linked account."""
        place = self.ns.place(account, mailbox)
        for path, why in Maildir(place.path).odd_dirs(()):
            report_odd(path, why)
            raise odd_mailbox()
        return place

    def create(self, account: str, mailbox: str) -> None:
        self._not_through_links(account, mailbox)
        self.ns.create(account, mailbox)

    def subscriptions(self, account: str) -> list[str]:
        return self.ns.subscriptions(account)

    def subscribe(self, account: str, mailbox: str, on: bool) -> None:
        self.ns.subscribe(account, mailbox, on)

    def delete(self, account: str, mailbox: str) -> None:
        place = self._not_through_links(account, mailbox)
        self.ns.delete(account, mailbox)
        self._forget(place.path)

    def rename(self, account: str, old: str, new: str) -> None:
        place = self._not_through_links(account, old)
        self._not_through_links(account, new)
        self.ns.rename(account, old, new)
        self._forget(place.path)
