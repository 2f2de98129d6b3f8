"""Watching store directories for changes: inotify(7) through two libc calls, or a stat poller where there is none.

A long-running reader (the web view of `agentmail serve`) learns that a Maildir's new/ or cur/, the journal or the
directory of live sessions changed without listing them again and again. The descriptor is non-blocking, so an
event loop can wait on it (`loop.add_reader`). Where inotify is missing (not Linux, or out of watches), `Poller`
compares the directories' mtimes: every change to a directory's entries (a link, a rename, an unlink) updates it.
"""

from __future__ import annotations

import os
import struct
import sys

# inotify(7) event bits
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED = 0x4000, 0x8000
IN_ONLYDIR, IN_DONT_FOLLOW = 0x01000000, 0x02000000
# what changes the set of entries of a directory (a delivery, a flag change, a move, a removal)
ENTRIES = IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF

_HEAD = struct.Struct("iIII")


class Inotify:
    """A non-blocking inotify descriptor. Raises OSError where inotify cannot be had."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise OSError("inotify is Linux only")
        import ctypes

        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = int(self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        except (OSError, AttributeError) as exc:
            raise OSError(f"no inotify: {exc}") from exc
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd

    def add(self, path: str, mask: int = ENTRIES) -> int:
        """Watch the directory `path` (never through a symbolic link); returns the watch descriptor."""
        import ctypes

        wd = int(self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask | IN_ONLYDIR | IN_DONT_FOLLOW))
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return wd

    def read(self) -> list[tuple[int, int, str]]:
        """Every pending event as (wd, mask, name); [] when there is none."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return events
            if not buf:
                return events
            pos = 0
            while pos + _HEAD.size <= len(buf):
                wd, mask, _, length = _HEAD.unpack_from(buf, pos)
                name = buf[pos + _HEAD.size:pos + _HEAD.size + length].split(b"\0", 1)[0]
                pos += _HEAD.size + length
                events.append((wd, mask, os.fsdecode(name)))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Poller:
    """The stand-in without inotify: `changed()` names the watched directories whose mtime moved since the last call."""

    def __init__(self) -> None:
        self.stamps: dict[str, int | None] = {}

    @staticmethod
    def _stamp(path: str) -> int | None:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        return st.st_mtime_ns ^ (st.st_ino << 1)

    def add(self, path: str) -> None:
        self.stamps[path] = self._stamp(path)

    def changed(self) -> list[str]:
        out = []
        for path, old in list(self.stamps.items()):  # another thread may add a path meanwhile
            now = self._stamp(path)
            if now != old:
                self.stamps[path] = now
                out.append(path)
        return out
