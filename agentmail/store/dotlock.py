"""Dovecot-compatible dot-locks (`<file>.lock`), so agentmail and Dovecot can share one Maildir.

- Taking a lock: "<pid>:<host>" is written into a temp file that is then link()ed to the lock name, as Dovecot's
  file-dotlock.c does, so the lock file always names its owner, whatever point its writer is killed at.
- Replacing the locked file: the new contents go to a temp file beside the lock (`<lock>.<pid>.<thread>.tmp`),
  are fsynced and renamed over the target; then the lock is removed. Unlike Dovecot's file_dotlock_replace, the
  data never passes through the lock file, so a writer killed at any moment leaves a lock naming a dead pid.
- Stale locks: one whose "<pid>:<host>" names a dead process on this host is taken over at once (agentmail's or
  Dovecot's); any other (unreadable content, another host, a live pid) only after two minutes without change
  (Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT).
- Taking over is race-free between agentmail processes: the stale lock is removed under an flock(2) of its
  directory, after checking again that the same file (same inode) is still there and still stale. Without that,
  two processes that both saw the stale lock could each remove it, and the second would remove the first's new
  lock. (Dovecot does not take that flock; only a Dovecot breaking the very same stale lock in the same instant
  could still race.)
- `AGENTMAIL_LOCK_WAIT` (seconds, default 30) is how long a writer waits for a busy lock before giving up with
  TempFailError (exit 75: try again).
"""

from __future__ import annotations

import _thread
import os
import stat
import time

from ..errors import TempFailError
from .maildir import os_error

STALE_SECONDS = 120
WAIT_SECONDS = 30.0
WAIT_ENV = "AGENTMAIL_LOCK_WAIT"


def _host() -> str:
    return os.uname().nodename


def _wait_default() -> float:
    text = os.environ.get(WAIT_ENV, "")
    try:
        value = float(text) if text else WAIT_SECONDS
    except ValueError:
        return WAIT_SECONDS
    return value if 0 <= value < 86400 else WAIT_SECONDS


def _read(lock_path: str) -> tuple[os.stat_result, str] | None:
    """The lock's stat and content, None if there is no lock. Never follows a symlink, never blocks on a FIFO."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:  # a symlink (ELOOP) or unreadable: judged by its age alone
        try:
            return os.lstat(lock_path), ""
        except FileNotFoundError:
            return None
    try:
        st = os.fstat(fd)
        content = os.read(fd, 256).decode("ascii", "replace") if stat.S_ISREG(st.st_mode) else ""
    except OSError:
        content = ""
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return st, content


def owner(content: str) -> tuple[int, str] | None:
    """(pid, host) from a lock's "<pid>:<host>", None for anything else (Dovecot's own data, garbage)."""
    pid_text, sep, host = content.strip().partition(":")
    if not sep or not (pid_text.isascii() and pid_text.isdigit()) or not host or len(pid_text) > 9:
        return None
    pid = int(pid_text)
    return (pid, host) if pid > 0 else None


def owner_of(lock_path: str) -> tuple[int, str] | None:
    """(pid, host) named by the lock at `lock_path`, if it names one."""
    found = _read(lock_path)
    return owner(found[1]) if found else None


def pid_dead(pid: int) -> bool:
    """Is `pid` gone on this host? A zombie (killed, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            line = fh.read()
    except OSError:
        return False
    return line[line.rfind(b")") + 2:][:1] == b"Z"


def _stale(st: os.stat_result, content: str, now: float | None = None) -> bool:
    who = owner(content)
    if who is not None and who[1] == _host() and pid_dead(who[0]):
        return True
    return (time.time() if now is None else now) - st.st_mtime > STALE_SECONDS


def is_stale(lock_path: str, now: float | None = None) -> bool:
    """Does the lock at `lock_path` exist and belong to nobody any more (dead owner, or unchanged for 2 min)?"""
    found = _read(lock_path)
    return found is not None and _stale(*found, now=now)


def break_stale(lock_path: str, now: float | None = None) -> bool:
    """Remove the lock if it is stale. True when there is no lock any more (or another one took its place, so
    the caller should look again); False when it is held (or another process is taking it over right now)."""
    found = _read(lock_path)
    if found is None:
        return True
    if not _stale(*found, now=now):
        return False
    import fcntl

    try:
        dir_fd = os.open(os.path.dirname(lock_path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another process is taking over: the caller waits and looks again
        again = _read(lock_path)
        if again is None:
            return True
        if (again[0].st_ino, again[0].st_dev) != (found[0].st_ino, found[0].st_dev):
            return True  # someone else took it over meanwhile: judge the new lock afresh
        if not _stale(*again, now=now):
            return False
        try:
            os.unlink(lock_path)
        except FileNotFoundError:
            pass
        except OSError:
            return False  # e.g. a directory in the lock's place: stays busy, reported by `agentmail cleanup`
        return True
    finally:
        os.close(dir_fd)  # releases the flock


def _create(path: str, data: bytes, sync: bool) -> None:
    """Write `data` to a new file `path` (a name only this process and thread uses), fsynced if `sync`."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        # a leftover of a dead writer that had our pid: never write into it, it may still be linked as a lock
        os.unlink(path)
        fd = os.open(path, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


class DotLock:
    """`with DotLock(path) as lock:` holds `path + ".lock"`; `lock.write(data)` replaces the target and keeps the
    lock, `lock.replace(data)` replaces it and releases the lock."""

    __slots__ = ("target", "lock_path", "wait", "held")

    def __init__(self, target: str, wait: float | None = None) -> None:
        self.target = target
        self.lock_path = target + ".lock"
        self.wait = _wait_default() if wait is None else wait
        self.held: tuple[int, int] | None = None  # (st_dev, st_ino) of our lock file while we hold it

    def _temp(self) -> str:
        # one name per process and thread: threads of `agentmail serve` never share it (cleanup.py removes those
        # of dead processes)
        return f"{self.lock_path}.{os.getpid()}.{_thread.get_ident()}.tmp"

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        delay = 0.0005
        tmp = self._temp()
        try:
            _create(tmp, f"{os.getpid()}:{_host()}".encode(), sync=False)  # a lock needs no durability
            st = os.lstat(tmp)
        except OSError as exc:
            raise os_error(exc, self.lock_path) from exc
        try:
            while True:
                try:
                    os.link(tmp, self.lock_path)
                except FileExistsError:
                    if break_stale(self.lock_path):
                        continue
                    if time.monotonic() > deadline:
                        raise TempFailError(self._busy()) from None
                    # jitter from the clock's low bits: `random` would cost ~1.3 ms of start-up on every send
                    time.sleep(delay * (0.5 + (time.perf_counter_ns() % 1000) / 1000))
                    delay = min(delay * 2, 0.05)
                    continue
                except OSError as exc:
                    raise os_error(exc, self.lock_path) from exc
                self.held = (st.st_dev, st.st_ino)
                return
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _busy(self) -> str:
        found = _read(self.lock_path)
        who = owner(found[1]) if found else None
        by = ""
        if who is not None:
            by = f" (pid {who[0]}{'' if who[1] == _host() else ' on ' + who[1]})"
        return f"{self.lock_path} is held by another process{by}; try again"

    def _still_ours(self) -> bool:
        try:
            st = os.lstat(self.lock_path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.held

    def write(self, data: bytes) -> None:
        """Atomically make `data` the content of the target; the lock stays held. Raises OSError on I/O
        failure (the target is then unchanged) and TempFailError if the lock was taken from us (we were stopped
        for longer than the stale rule)."""
        if self.held is None or not self._still_ours():
            raise TempFailError(f"{self.lock_path} was taken over by another process; try again")
        tmp = self._temp()
        _create(tmp, data, sync=True)
        try:
            os.rename(tmp, self.target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def replace(self, data: bytes) -> None:
        """Atomically make `data` the content of the target and release the lock."""
        try:
            self.write(data)
        finally:
            self.release()

    def release(self) -> None:
        """Remove our lock (never one that another process took over from us). Never raises: it runs after
        the work is done, and a lock left behind names our pid, so the next writer takes it over once we exit."""
        if self.held is None:
            return
        try:
            if self._still_ours():
                os.unlink(self.lock_path)
        except OSError:
            pass
        self.held = None

    def __enter__(self) -> DotLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
