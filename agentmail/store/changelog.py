"""The change log of a Maildir folder: what agentmail itself did to new/ and cur/, so that caches over the folder
(the unread list, the history index) follow in O(changes) instead of listing 100,000 names after every change.

The invariants (docs/on-disk-format.md, "Caches and the change log"):
- A directory's *stamp* is its inode and mtime in ns (`<ino>:<mtime_ns>`). A cache records, per directory, the
  stamp its contents are known for, and how far it read the log (`<log inode>:<offset>`).
- agentmail changes new/ or cur/ (delivery, announcing, flag changes, moves) only inside `Change`: holding an
  exclusive flock(2) of the folder's log, it takes the stamps, makes the change, sets each directory it changed to a
  *marker* mtime and appends one line: the stamps before and after, the names added and removed.
- A marker is later than the old mtime and than the clock, so it is never an mtime the directory had before, and
  the kernel never gives it (it is not a clock tick), so any later change by another program (Dovecot, mutt,
  mbsync, the IMAP server) moves the mtime off it, even within the same clock tick.
- `catch_up` reads the log's new lines under a shared lock. A line whose `before` stamp is the cache's is applied
  and its `after` stamp becomes the cache's; any other stamp (and a directory whose stamp is not the cache's at the
  end) means something else changed it, and the directory is listed again, under the exclusive lock, after being
  marked; the marking is logged as a line without names, so other caches can follow it.
- On a file system that cannot store a marker (whole-second timestamps), stamps are *dirty* (`!` in front): a change
  within the same tick could hide behind them, so a dirty stamp never matches and the directory is listed again,
  until its mtime is over a second old (the rule the old unread cache used).
- Whatever cannot be done (the log cannot be opened or locked within LOCK_WAIT, the cache directory is read-only)
  costs speed, never correctness: an unlogged change is a foreign change to every cache.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time

from .maildir import Maildir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from ..config import Config

SUBS = ("new", "cur")
LOG_MAX = 1 << 20  # rotate past 1 MiB (about 7,000 changes); a cache more than one rotation behind lists again
LOCK_WAIT = 1.0  # seconds a writer or reader waits for the log's lock before going on without it
SETTLED_NS = 1_000_000_000  # a dirty stamp this old can be listed once more and then trusted
MISSING = "-"
MAGIC = "agentmail-changelog 1"
OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class LogBusy(Exception):
    """The log could not be opened or locked (a read-only cache, a process stuck holding the lock)."""


def log_path(cfg: Config, account: str, folder: str) -> str:
    return cfg.path("cache", f"{account}.{folder}.log")


def log_for(box: Maildir) -> str | None:
    """The log of a folder of an account (`<home>/maildirs/<account>[/.<folder>]`): `log_path` for callers that
    hold only the Maildir. None for any other Maildir (the journal), whose changes nobody follows."""
    path = os.path.normpath(box.path)
    name = os.path.basename(path)
    folder, root = (name[1:], os.path.dirname(path)) if name.startswith(".") else ("INBOX", path)
    maildirs = os.path.dirname(root)
    if not folder or os.path.basename(maildirs) != "maildirs":
        return None
    return os.path.join(os.path.dirname(maildirs), "cache", f"{os.path.basename(root)}.{folder}.log")


def escape(name: str) -> str:
    """A file name as one log token (names may hold spaces or even newlines; never '/')."""
    if not any(c in name for c in "% \n\r\t"):
        return name
    return (name.replace("%", "%25").replace(" ", "%20").replace("\n", "%0A").replace("\r", "%0D")
            .replace("\t", "%09"))


def unescape(token: str) -> str:
    if "%" not in token:
        return token
    return (token.replace("%20", " ").replace("%0A", "\n").replace("%0D", "\r").replace("%09", "\t")
            .replace("%25", "%"))


def stamp_of(st: os.stat_result | None) -> str:
    if st is None or not stat.S_ISDIR(st.st_mode):
        return MISSING
    return f"{st.st_ino}:{st.st_mtime_ns}"


def lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def stamp(path: str) -> str:
    return stamp_of(lstat(path))


def settled(dirty: str, now_ns: int) -> bool:
    """A dirty stamp whose mtime is old enough that a later change would have moved it."""
    try:
        return now_ns - int(dirty.rsplit(":", 1)[1]) > SETTLED_NS
    except (IndexError, ValueError):
        return False


def mark(path: str, before: os.stat_result | None) -> str:
    """Set `path`'s mtime to a marker (see the module docstring) and return the new stamp; a dirty stamp when the
    file system cannot store it. Never follows a symbolic link."""
    st = lstat(path)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return MISSING
    if st.st_mtime_ns % 1_000_000_000 == 0:
        return "!" + stamp_of(st)  # whole seconds: most likely a file system that cannot keep a marker
    value = max(st.st_mtime_ns, before.st_mtime_ns if before else 0, time.time_ns()) + 1
    try:
        os.utime(path, ns=(st.st_atime_ns, value), follow_symlinks=False)
    except OSError:
        return "!" + stamp_of(st)
    now = lstat(path)
    if now is None or now.st_mtime_ns != value or now.st_ino != st.st_ino:
        return "!" + stamp_of(now)  # truncated (coarse timestamps), or changed again already
    return stamp_of(now)


def _open(path: str) -> int:
    """The log, created with its header line if need be: `agentmail-changelog 1 <generation>`, a random id that
    cursors name (inode numbers are reused once a rotated log is gone). Created whole or not at all (written
    beside it and linked in), so no reader ever sees a log without its header."""
    for _ in range(3):
        try:
            return os.open(path, OPEN_FLAGS)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LogBusy(str(exc)) from None
        tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, f"{MAGIC} {os.urandom(8).hex()}\n".encode())
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        except OSError as exc:
            raise LogBusy(str(exc)) from None
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    raise LogBusy(f"cannot create {path}")


def _lock(fd: int, exclusive: bool, deadline: float) -> None:
    """flock(2) with a deadline (polling, so it works in any thread); LogBusy when it stays busy."""
    op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, op)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LogBusy("the change log stayed locked") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        except InterruptedError:
            continue
        except OSError as exc:
            raise LogBusy(str(exc)) from None


def open_locked(path: str, exclusive: bool, wait: float = LOCK_WAIT) -> int:
    """The log, opened (created if need be) and locked. A writer that rotated the log while we waited leaves our
    lock on the old file, so the lock is taken again on the file that now has the name (the lock-file pattern)."""
    deadline = time.monotonic() + wait
    while True:
        fd = _open(path)
        try:
            _lock(fd, exclusive, deadline)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        if time.monotonic() >= deadline:
            raise LogBusy("the change log kept changing")


def _write_line(fd: int, path: str, line: str) -> None:
    data = line.encode("utf-8", "surrogateescape")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    try:
        if os.fstat(fd).st_size > LOG_MAX:
            os.replace(path, path + ".1")  # readers follow a cursor into the previous log (see _read_lines)
    except OSError:
        pass


def format_line(before: dict[str, str], after: dict[str, str], ops: Iterable[tuple[str, str, str]]) -> str:
    head = f"{before['new']} {after['new']} {before['cur']} {after['cur']}"
    return head + "".join(f" {op}{sub}/{escape(name)}" for op, sub, name in ops) + "\n"


def parse_line(line: str) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str, str]]] | None:
    """(before, after, ops) of a log line; None for a damaged one."""
    fields = line.split(" ")
    if len(fields) < 4:
        return None
    ops = []
    for token in fields[4:]:
        op, sub, name = token[:1], token[1:4], token[5:]
        if op not in "+-" or sub not in SUBS or token[4:5] != "/" or not name:
            return None
        name = unescape(name)
        if "/" in name or name in (".", ".."):  # a path, not a file name: never from a writer (escape keeps no /)
            return None  # and a reader must not follow it out of the folder (through a link in cur/)
        ops.append((op, sub, name))
    return {"new": fields[0], "cur": fields[2]}, {"new": fields[1], "cur": fields[3]}, ops


class Change:
    """`with Change(box, log) as change:` make one change to new/ and cur/, telling `change.add(sub, name)` and
    `change.remove(sub, name)` what it did (only once it is done). When the log cannot be locked the change goes
    ahead unlogged (caches then see a foreign change); when the block raises, nothing is logged for what is not
    recorded (the stamps still tell caches that something changed)."""

    __slots__ = ("box", "path", "fd", "before", "ops", "wait")

    def __init__(self, box: Maildir, path: str | None, wait: float = LOCK_WAIT) -> None:
        self.box = box
        self.path = path
        self.wait = wait  # seconds to wait for the log's lock before making the change unlogged
        self.fd: int | None = None
        self.before: dict[str, os.stat_result | None] = {}
        self.ops: list[tuple[str, str, str]] = []

    def __enter__(self) -> Change:
        if self.path is None:
            return self
        try:
            self.fd = open_locked(self.path, exclusive=True, wait=self.wait)
        except LogBusy:
            return self
        self.before = {sub: lstat(os.path.join(self.box.path, sub)) for sub in SUBS}
        return self

    def add(self, sub: str, name: str) -> None:
        self.ops.append(("+", sub, name))

    def remove(self, sub: str, name: str) -> None:
        self.ops.append(("-", sub, name))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            if self.ops:
                touched = {sub for _, sub, _ in self.ops}
                before = {sub: stamp_of(self.before[sub]) for sub in SUBS}
                after = {sub: (mark(os.path.join(self.box.path, sub), self.before[sub]) if sub in touched
                               else before[sub]) for sub in SUBS}
                _write_line(fd, str(self.path), format_line(before, after, self.ops))
        except OSError:
            pass  # unlogged: caches see a foreign change
        finally:
            os.close(fd)  # releases the lock


def _generation(fd: int) -> tuple[str, int] | None:
    """(generation, size of the header line) of an open log; None for a file that is no log of ours."""
    head = os.pread(fd, 128, 0)
    line, sep, _ = head.partition(b"\n")
    fields = line.decode("ascii", "replace").split(" ")
    if not sep or len(fields) != 3 or f"{fields[0]} {fields[1]}" != MAGIC:
        return None
    return fields[2], len(line) + 1


def _read_from(fd: int, offset: int) -> tuple[list[str], int]:
    """Complete lines of an open log from `offset`, and the offset after the last of them (a torn last line, from a
    writer killed mid-write, is never read)."""
    chunks = []
    pos = offset
    while chunk := os.pread(fd, 1 << 20, pos):
        chunks.append(chunk)
        pos += len(chunk)
    data = b"".join(chunks)
    end = data.rfind(b"\n") + 1
    text = data[:end].decode("utf-8", "surrogateescape")
    return (text[:-1].split("\n") if text else []), offset + end  # not splitlines: names may hold \x1c, \u2028


def _read_lines(fd: int, path: str, cursor: str) -> tuple[list[str], str] | None:
    """The log lines after `cursor` (`<generation>:<offset>`) and the new cursor; None when the cursor is lost (no
    cursor yet, a damaged log, or more than one rotation behind), and the cache must list the folder again."""
    now = _generation(fd)
    gen, _, off_text = cursor.partition(":")
    if now is None or not off_text.isdigit():
        return None
    offset = int(off_text)
    lines: list[str] = []
    if gen != now[0]:
        try:
            old = os.open(path + ".1", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            if (_generation(old) or ("", 0))[0] != gen:
                return None
            lines, _ = _read_from(old, offset)
        finally:
            os.close(old)
        offset = now[1]
    more, end = _read_from(fd, max(offset, now[1]))
    return lines + more, f"{now[0]}:{end}"


def log_end(fd: int) -> str:
    gen = _generation(fd)
    return f"{gen[0] if gen else '-'}:{os.fstat(fd).st_size}"


class CatchUp:
    """What a cache must do to be current: `lines` (in order, each a list of (op, sub, name) for the directories it
    follows) to apply, then, for each directory in `listed`, replace what it knows with that listing. `stamps` and
    `cursor` are what it then knows."""

    __slots__ = ("lines", "listed", "stamps", "cursor")

    def __init__(self, stamps: dict[str, str], cursor: str) -> None:
        self.lines: list[list[tuple[str, str, str]]] = []
        self.listed: dict[str, list[str]] = {}
        self.stamps = stamps
        self.cursor = cursor


def _fold(result: CatchUp, lines: list[str], stale: set[str], subs: tuple[str, ...]) -> None:
    for text in lines:
        parsed = parse_line(text)
        if parsed is None:
            stale.update(subs)
            continue
        before, after, ops = parsed
        mine: list[tuple[str, str, str]] = []
        for sub in subs:
            if sub in stale:
                continue
            if before[sub] != result.stamps.get(sub) or before[sub].startswith("!"):
                stale.add(sub)
                continue
            result.stamps[sub] = after[sub]
            mine.extend(op for op in ops if op[1] == sub)
        if mine:
            result.lines.append(mine)


def _stale_now(box: Maildir, result: CatchUp, stale: set[str], subs: tuple[str, ...]) -> None:
    for sub in subs:
        known = result.stamps.get(sub, MISSING)
        if sub not in stale and (known.startswith("!") or stamp(os.path.join(box.path, sub)) != known):
            stale.add(sub)


def catch_up(box: Maildir, path: str, cursor: str, stamps: dict[str, str], subs: tuple[str, ...] = SUBS,
             relist: Iterable[str] = ()) -> CatchUp:
    """Bring a cache that knows `stamps` (per directory in `subs`) and has read the log up to `cursor` up to date
    (see the module docstring); `relist` names directories to list again anyway (a periodic check). Raises LogBusy
    when the log cannot be used (the caller then lists the folder itself, without its cache)."""
    result = CatchUp({sub: stamps.get(sub, MISSING) for sub in subs}, cursor)
    stale = set(relist) & set(subs)
    fd = open_locked(path, exclusive=False)
    try:
        _advance(box, fd, path, result, stale, subs)
    finally:
        os.close(fd)
    if not stale:
        return result
    # Something else changed a directory: list it again, holding the log exclusively so that no agentmail change
    # slips in between the marker and the listing.
    fd = open_locked(path, exclusive=True)
    if _generation(fd) is None:  # a damaged log (no header line): start a new one
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)
        fd = open_locked(path, exclusive=True)
    try:
        _advance(box, fd, path, result, stale, subs)
        _relist(box, fd, path, result, stale)
        result.cursor = log_end(fd)
    finally:
        os.close(fd)
    return result


def _advance(box: Maildir, fd: int, path: str, result: CatchUp, stale: set[str], subs: tuple[str, ...]) -> None:
    read = _read_lines(fd, path, result.cursor)
    if read is None:
        stale.update(subs)
        result.cursor = log_end(fd)
    else:
        _fold(result, read[0], stale, subs)
        result.cursor = read[1]
    _stale_now(box, result, stale, subs)


def _list(box: Maildir, sub: str) -> list[str]:
    return box.list_new() if sub == "new" else box.list_cur()


def _relist(box: Maildir, fd: int, path: str, result: CatchUp, stale: set[str]) -> None:
    """List the `stale` directories after marking them, and log the marking (a line without names)."""
    now_ns = time.time_ns()
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    for sub in SUBS:
        dir_path = os.path.join(box.path, sub)
        if sub not in stale:
            before[sub] = after[sub] = stamp(dir_path)
            continue
        for _ in range(3):
            st = lstat(dir_path)
            before[sub] = stamp_of(st)
            if st is None:  # no such directory (a folder not created yet): nothing in it
                after[sub], names = MISSING, []
                break
            marked = mark(dir_path, st)
            names = _list(box, sub)
            now = stamp(dir_path)
            if marked.startswith("!") and now == marked[1:]:  # no marker here: trusted once settled
                after[sub] = marked[1:] if settled(marked, now_ns) else marked
                break
            if now == marked:
                after[sub] = marked
                break
        else:
            after[sub] = "!" + stamp(dir_path)  # kept changing while listed: use this listing, list again next time
            names = _list(box, sub)
        result.listed[sub] = names
        result.stamps[sub] = after[sub]
    try:
        _write_line(fd, path, format_line(before, after, ()))
    except OSError:
        pass


def read_since(box: Maildir, path: str, cursor: str, wait: float = LOCK_WAIT) -> tuple[list[str] | None, str,
                                                                                         dict[str, str]]:
    """For a reader that keeps its own listing (the IMAP server's cache): holding the log shared (no agentmail change
    half made), the lines after `cursor` (None when it is lost: the reader lists again), the cursor after them and
    the stamps of new/ and cur/ now; a cursor "*" is the start of the log (its reader looked when there was none).
    Never creates the log; LogBusy when it is missing or stays locked."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise LogBusy(str(exc)) from None
        try:
            _lock(fd, False, deadline)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                if cursor == "*":  # the reader looked when there was no log: all of this one came after
                    cursor = f"{(_generation(fd) or ('-', 0))[0]}:0"
                read = _read_lines(fd, path, cursor)
                lines, end = (None, log_end(fd)) if read is None else read
                return lines, end, {sub: stamp(os.path.join(box.path, sub)) for sub in SUBS}
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LogBusy(str(exc)) from None
        finally:
            os.close(fd)
        if time.monotonic() >= deadline:  # rotated under us again and again
            raise LogBusy("the change log kept changing")
