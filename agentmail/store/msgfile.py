"""Opening a message file safely: what every reader of new/ and cur/ goes through.

A name in new/ or cur/ is not trusted to be a message. A symbolic link could point out of the store (another
account's mail, ~/.ssh, /dev/zero), a FIFO blocks open() and read() forever, a socket or device is no mail, and a
huge file would be read whole into memory. So a message file is opened with O_NOFOLLOW|O_NONBLOCK, fstat must say it
is a regular file of at most the read cap (the store's max_message plus slack), and reads never go past that cap.
The Maildir's own directories are checked with lstat (`odd_dir`) before anything is read through them.

What is refused is skipped, and reported once per process (`report_odd`: a warning on the `agentmail.store` logger,
which `agentmail serve` prints, while the CLI and hooks stay quiet); `agentmail cleanup` lists all of it. Dovecot
does the same: it logs and ignores what is not a mail file.
"""

from __future__ import annotations

import errno
import os
import stat

from ..config import SETTINGS

# A stored file may pass max_message a little: delivery adds Return-Path, Delivered-To and a Received: line.
READ_SLACK = 64 * 1024
# O_NOFOLLOW: a link is never followed out of the store; O_NONBLOCK: opening a FIFO returns at once (nothing is ever
# read from one: fstat refuses it first); O_NOCTTY: a terminal device can never become our controlling terminal.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
MAX_REPORTED = 10_000

_reported: set[str] = set()


class NotAMessage(OSError):
    """A name in new/ or cur/ (or a directory on the way) that is not something agentmail reads mail from: a
    symbolic link, FIFO, socket, device or directory, or a file larger than the read cap."""

    def __init__(self, path: str, why: str, oversize: bool = False) -> None:
        super().__init__(f"{shown_path(path)}: {why}")
        self.path = path
        self.why = why
        self.oversize = oversize


def shown_path(path: str) -> str:
    """A path for a log line or an error: bytes that are not UTF-8 (surrogate-escaped) shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_cap(max_message: int) -> int:
    """The largest message file a reader takes, for a store whose messages are at most `max_message` bytes."""
    return max_message + READ_SLACK


DEFAULT_CAP = read_cap(int(str(SETTINGS["max_message"][1])))  # for callers without a Config; those with one pass it


def kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def report_odd(path: str, why: str) -> None:
    """Say once per process that `path` is skipped: a warning on the `agentmail.store` logger, which `agentmail serve`
    prints; the CLI and hooks stay quiet (the logger has a NullHandler), `agentmail cleanup` lists them instead."""
    if path in _reported:
        return
    if len(_reported) >= MAX_REPORTED:
        _reported.clear()  # bounded: a long-running server may say it again
    _reported.add(path)
    import logging  # only when there is something to say: the CLI's start-up does not pay for it

    log = logging.getLogger("agentmail.store")
    if not log.handlers:
        log.addHandler(logging.NullHandler())  # no "last resort" stderr output in the CLI
    log.warning("not a message, skipped: %s (%s); see agentmail cleanup", shown_path(path), why)


def entry_kind(de: os.DirEntry[str]) -> str:
    """What a directory entry that is not a regular file is."""
    try:
        return kind_of(de.stat(follow_symlinks=False).st_mode)
    except OSError:
        return "gone"


def odd_dir(path: str) -> str | None:
    """Why the store directory `path` must not be read through (a symbolic link or not a directory), else None.
    A missing directory is not odd: callers treat it as they always did."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if stat.S_ISDIR(mode) else kind_of(mode)


def open_message(path: str, cap: int) -> tuple[int, int]:
    """(fd, size) of the message file at `path`: opened without following a link and without blocking, and only when
    it is a regular file of at most `cap` bytes (else NotAMessage). FileNotFoundError passes through (renamed or
    expunged meanwhile: the caller looks again)."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a symbolic link
            raise NotAMessage(path, "a symbolic link") from None
        if exc.errno == errno.ENXIO:  # a socket, or a device with nothing behind it
            raise NotAMessage(path, "a socket or device") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAMessage(path, kind_of(st.st_mode))
        if st.st_size > cap:
            raise NotAMessage(path, f"{st.st_size} bytes, over the {cap}-byte read limit", oversize=True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_fd(fd: int, size: int, cap: int, path: str) -> bytes:
    """All of an open message file whose fstat size was `size`, never more than `cap` bytes."""
    data = os.read(fd, size + 1)  # a short read of a regular file is its end: usually one call
    if len(data) <= size:
        return data
    chunks, total = [data], len(data)  # it grew since fstat (a Maildir file never should): read on, up to the cap
    while total <= cap:
        more = os.read(fd, min(cap + 1 - total, 1 << 20))
        if not more:
            return b"".join(chunks)
        chunks.append(more)
        total += len(more)
    raise NotAMessage(path, f"over the {cap}-byte read limit", oversize=True)


def read_message(path: str, cap: int) -> bytes:
    """The bytes of the message file at `path` (see `open_message` for what is refused)."""
    fd, size = open_message(path, cap)
    try:
        return read_fd(fd, size, cap, path)
    finally:
        os.close(fd)


def read_head(path: str, limit: int, cap: int) -> bytes:
    """At most the first `limit` bytes of the message file at `path` (refused as `open_message` refuses)."""
    fd, _ = open_message(path, cap)
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)
