"""Dovecot-compatible dot-locks (`<file>.lock`), so agentmail and Dovecot can share one Maildir.

Dovecot creates `dovecot-uidlist.lock` with O_EXCL and writes "<pid>:<host>" into it; a lock is stale when its
pid is dead on this host or when it has not changed for two minutes (MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT). To
replace the locked file, the new contents are written into the lock file and renamed over the target, which
also releases the lock (Dovecot's file_dotlock_replace).
"""

from __future__ import annotations

import _thread
import os
import time

from ..errors import TempFailError
from .maildir import os_error

STALE_SECONDS = 120
WAIT_SECONDS = 30.0


def is_stale(lock_path: str) -> bool:
    try:
        st = os.stat(lock_path)
        with open(lock_path, "rb") as fh:
            content = fh.read(256).decode("ascii", "replace")
    except FileNotFoundError:
        return False
    except OSError:
        return False
    pid_text, _, host = content.strip().partition(":")
    if pid_text.isdigit() and host == os.uname().nodename:
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return time.time() - st.st_mtime > STALE_SECONDS


class DotLock:
    """`with DotLock(path) as lock:` holds `path + ".lock"`; `lock.replace(data)` writes and releases."""

    __slots__ = ("target", "lock_path", "fd", "wait")

    def __init__(self, target: str, wait: float = WAIT_SECONDS) -> None:
        self.target = target
        self.lock_path = target + ".lock"
        self.fd = -1
        self.wait = wait

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        delay = 0.0005
        # The owner is written into a temp file that is then link()ed to the lock name (as Dovecot's dotlock
        # does), so a writer killed at any point never leaves an empty lock that nobody can prove stale.
        # one temp name per thread too: threads of one process (agentmail serve's delivery workers) must never
        # share it, or one thread's cleanup unlinks the name another is about to link (ENOENT)
        tmp = f"{self.lock_path}.{os.getpid()}.{_thread.get_ident()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, f"{os.getpid()}:{os.uname().nodename}".encode())
        except OSError as exc:
            raise os_error(exc, self.lock_path) from exc
        try:
            while True:
                try:
                    os.link(tmp, self.lock_path)
                except FileExistsError:
                    if is_stale(self.lock_path):
                        try:
                            os.unlink(self.lock_path)
                        except FileNotFoundError:
                            pass
                        continue
                    if time.monotonic() > deadline:
                        raise TempFailError(f"{self.lock_path} is held by another process; try again") from None
                    # jitter from the clock's low bits: `random` would cost ~1.3 ms of start-up on every send
                    time.sleep(delay * (0.5 + (time.perf_counter_ns() % 1000) / 1000))
                    delay = min(delay * 2, 0.05)
                    continue
                except OSError as exc:
                    raise os_error(exc, self.lock_path) from exc
                self.fd, fd = fd, -1
                return
        finally:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def replace(self, data: bytes) -> None:
        """Atomically make `data` the content of the target and release the lock."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        os.rename(self.lock_path, self.target)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            try:
                os.unlink(self.lock_path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> DotLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
