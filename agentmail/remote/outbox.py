"""The outbox of a remote home: mail for the server, kept durably until the server has it (docs/scale-out.md,
"Offline and exactly once").

    outbox/tmp/     being written
    outbox/new/     queued: no attempt is in doubt (never tried, or every try known to have failed)
    outbox/cur/     in doubt: the message's end (".") went out and no answer came back; the file's mtime says when
    outbox/sent/    the server took it (250): kept a week, as the record that a copy in INBOX is our own Sent copy
    outbox/failed/  refused for good (an unknown recipient found while offline, a 5xx): its sender got a notice

An entry is one file: a first line `AGENTMAIL-ENVELOPE <json>` ({from, rcpt, message_id, key, kind, self_copy,
title, created}) and then the message as stored (LF line ends). It is written to tmp/, fsynced, and linked into
new/ with the directory fsynced, like a Maildir delivery; every later move is one rename and a directory fsync, so
a crash at any moment leaves the entry in exactly one place. Whoever works on an entry (the `send` that made it, or
the sync process) holds an exclusive flock(2) on it, so two never submit it at once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time

from ..errors import StoreIOError
from ..store.maildir import fsync_dir, os_error, unique_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from ..config import Config

MAGIC = b"AGENTMAIL-ENVELOPE "
STATES = ("new", "cur", "sent", "failed")
KEEP_SENT = 7 * 86400
MAX_ENVELOPE = 64 * 1024


def root(cfg: Config) -> str:
    return cfg.path("outbox")


def create(cfg: Config) -> None:
    old = os.umask(0o077)
    try:
        for sub in ("tmp", *STATES):
            os.makedirs(os.path.join(root(cfg), sub), mode=0o700, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, root(cfg)) from exc
    finally:
        os.umask(old)


class Entry:
    """One message in the outbox, open and locked while a caller works on it."""

    __slots__ = ("cfg", "name", "state", "fd", "envelope", "_data")

    def __init__(self, cfg: Config, name: str, state: str, fd: int, envelope: dict[str, Any]) -> None:
        self.cfg = cfg
        self.name = name
        self.state = state
        self.fd = fd
        self.envelope = envelope
        self._data: bytes | None = None

    @property
    def path(self) -> str:
        return os.path.join(root(self.cfg), self.state, self.name)

    @property
    def message_id(self) -> str:
        return str(self.envelope.get("message_id") or "")

    @property
    def kind(self) -> str:
        return str(self.envelope.get("kind") or "postcard")

    @property
    def rcpt(self) -> list[str]:
        return [str(r) for r in self.envelope.get("rcpt") or []]

    @property
    def sender(self) -> str:
        return str(self.envelope.get("from") or "")

    def message(self) -> bytes:
        """The message itself (after the envelope line)."""
        if self._data is None:
            os.lseek(self.fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(self.fd, 1 << 16):
                chunks.append(chunk)
            raw = b"".join(chunks)
            self._data = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        return self._data

    def doubt_since(self) -> float:
        try:
            return os.fstat(self.fd).st_mtime
        except OSError:
            return time.time()

    def move(self, state: str) -> None:
        """Rename the entry into another state directory (durably)."""
        if state == self.state:
            return
        dest = os.path.join(root(self.cfg), state, self.name)
        try:
            os.rename(self.path, dest)
            if state == "cur":
                os.utime(self.fd)  # the moment the doubt began
            fsync_dir(os.path.dirname(dest))
        except OSError as exc:
            raise os_error(exc, dest) from exc
        self.state = state

    def drop(self) -> None:
        """Remove an entry the caller decided not to keep (a `send --sync` that failed: nothing queued)."""
        try:
            os.unlink(self.path)
            fsync_dir(os.path.dirname(self.path))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise os_error(exc, self.path) from exc
        self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


def add(cfg: Config, data: bytes, envelope: dict[str, Any]) -> Entry:
    """Queue `data` durably in new/ and return it locked, so the sync process leaves it to the caller."""
    create(cfg)
    head = MAGIC + json.dumps(envelope, sort_keys=True, ensure_ascii=True).encode("ascii") + b"\n"
    body = head + data
    base = root(cfg)
    for _ in range(100):
        name = unique_name(len(data), len(data)).split(",")[0]
        tmp = os.path.join(base, "tmp", name)
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise os_error(exc, tmp) from exc
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.link(tmp, os.path.join(base, "new", name))
            os.unlink(tmp)
            fsync_dir(os.path.join(base, "new"))
        except OSError as exc:
            os.close(fd)
            for leftover in (tmp, os.path.join(base, "new", name)):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
            raise os_error(exc, os.path.join(base, "new")) from exc
        entry = Entry(cfg, name, "new", fd, envelope)
        entry._data = data
        return entry
    raise StoreIOError(f"cannot find a unique name in {base}/tmp")


def names(cfg: Config, state: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(os.path.join(root(cfg), state)) if not n.startswith("."))
    except FileNotFoundError:
        return []


def counts(cfg: Config) -> dict[str, int]:
    return {state: len(names(cfg, state)) for state in STATES}


def read_envelope(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    head = os.read(fd, MAX_ENVELOPE).split(b"\n", 1)[0]
    if not head.startswith(MAGIC):
        return None
    try:
        data = json.loads(head[len(MAGIC):])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def take(cfg: Config, state: str, name: str) -> Entry | None:
    """Open and lock an entry; None when another process holds it, it moved meanwhile, or it is not an entry."""
    where = os.path.join(root(cfg), state, name)
    try:
        fd = os.open(where, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    try:
        same = os.path.samestat(os.fstat(fd), os.lstat(where))  # not renamed by its previous holder
    except OSError:
        same = False
    envelope = read_envelope(fd) if same else None
    if envelope is None:
        os.close(fd)
        return None
    return Entry(cfg, name, state, fd, envelope)


def pending(cfg: Config) -> Iterator[Entry]:
    """The entries to work on, in doubt first, oldest first; each locked while the caller holds it."""
    for state in ("cur", "new"):
        for name in names(cfg, state):
            entry = take(cfg, state, name)
            if entry is not None:
                yield entry


def sent_ids(cfg: Config) -> set[str]:
    """Message-IDs the server took from this home (the sent/ record), and prune entries older than a week."""
    found: set[str] = set()
    now = time.time()
    base = os.path.join(root(cfg), "sent")
    for name in names(cfg, "sent"):
        where = os.path.join(base, name)
        try:
            fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if now - os.fstat(fd).st_mtime > KEEP_SENT:
                os.unlink(where)
                continue
            envelope = read_envelope(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        if envelope and envelope.get("message_id"):
            found.add(str(envelope["message_id"]).strip())
    return found


def mark_sent(entry: Entry) -> None:
    entry.move("sent")
    try:
        os.utime(entry.fd)  # kept a week from now
    except OSError:
        pass
