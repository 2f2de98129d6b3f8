"""Maildir++ on disk: crash-safe lock-free delivery, flags in file names, folders.

Written from the Maildir spec (cr.yp.to/proto/maildir.html) and Dovecot's conventions, not on top of
stdlib `mailbox.Maildir` (no directory fsync, racy counter, O(n) refresh, whole-file rewrite on flag change).

- Delivery writes `tmp/<unique>` with O_EXCL, fsyncs it, links it into `new/` (link never overwrites), removes the
  tmp name and fsyncs `new/`: a reader sees the whole file or nothing, even after SIGKILL or a power cut.
- Unique names are `<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<crlf size>`; Dovecot reads S= and W= so sizes are
  known without opening the file.
- Flags live after `:2,` in ASCII order; keywords are the letters a-z of `dovecot-keywords`.
"""

from __future__ import annotations

import errno
import os
import time

from ..errors import AgentmailError, CantCreateError, StoreIOError

TYPE_CHECKING = False  # not `from typing import`: typing costs ~9 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

INFO_SEP = ":2,"
SUBDIRS = ("cur", "new", "tmp")
STANDARD_FOLDERS = ("Sent", "Receipts", "Todo", "Archive")

_counter = 0
_host_cache: str | None = None


def _hostname() -> str:
    global _host_cache
    if _host_cache is None:
        # Maildir spec: '/' and ':' in the host part are written as \057 and \072.
        _host_cache = os.uname().nodename.replace("/", "\\057").replace(":", "\\072") or "localhost"
    return _host_cache


def os_error(exc: OSError, what: str) -> AgentmailError:
    """Turn an OSError into the user-facing error with the right exit code."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CantCreateError(f"cannot write {what}: {reason}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreIOError(f"cannot write {what}: {reason} (disk full)")
    return StoreIOError(f"cannot write {what}: {reason}")


def crlf_size(data: bytes) -> int:
    """The size as served over IMAP: every bare LF counts as CRLF (RFC 3501 2.3.4 RFC822.SIZE)."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def to_lf(data: bytes) -> bytes:
    """Stored files use LF line endings (the Maildir convention and Dovecot's default)."""
    return data.replace(b"\r\n", b"\n") if b"\r\n" in data else data


def unique_name(size: int, vsize: int) -> str:
    global _counter
    _counter += 1
    now = time.time()
    sec = int(now)
    usec = int((now - sec) * 1_000_000)
    return f"{sec}.M{usec}P{os.getpid()}Q{_counter}.{_hostname()},S={size},W={vsize}"


def split_name(filename: str) -> tuple[str, str]:
    """(base, flags) of a Maildir file name; flags is '' when the name has no `:2,` info."""
    base, sep, flags = filename.partition(INFO_SEP)
    return base, (flags if sep else "")


def name_sizes(filename: str) -> tuple[int | None, int | None]:
    """The S= and W= sizes recorded in a name, if present."""
    base = split_name(filename)[0]
    size = vsize = None
    for field in base.split(",")[1:]:
        if field.startswith("S="):
            size = int(field[2:]) if field[2:].isdigit() else None
        elif field.startswith("W="):
            vsize = int(field[2:]) if field[2:].isdigit() else None
    return size, vsize


def name_time(filename: str) -> float:
    """Delivery time from a unique name (`<sec>.M<usec>...`), 0.0 when the name is not ours."""
    head, _, rest = filename.partition(".")
    if not head.isdigit():
        return 0.0
    usec = 0
    if rest.startswith("M"):
        digits = rest[1:].split("P", 1)[0]
        usec = int(digits) if digits.isdigit() else 0
    return int(head) + usec / 1_000_000


def join_flags(flags: Iterable[str]) -> str:
    # Maildir spec: flags in ASCII order, each once.
    return "".join(sorted(set(flags)))


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Staged:
    """A message written and fsynced under tmp/, not yet visible; `commit` publishes it, `abort` drops it."""

    __slots__ = ("maildir", "name", "done")

    def __init__(self, maildir: Maildir, name: str) -> None:
        self.maildir = maildir
        self.name = name
        self.done = False

    @property
    def tmp_path(self) -> str:
        return os.path.join(self.maildir.path, "tmp", self.name)

    def commit(self, subdir: str = "new", flags: str = "", sync: bool = True) -> str:
        """Publish into new/ (or cur/ with flags); returns the final file name."""
        final = self.name if subdir == "new" else self.name + INFO_SEP + join_flags(flags)
        dest = os.path.join(self.maildir.path, subdir, final)
        try:
            try:
                os.link(self.tmp_path, dest)  # link() refuses to overwrite: the spec's safe publish
                os.unlink(self.tmp_path)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                os.rename(self.tmp_path, dest)  # file systems without hard links
            if sync:
                fsync_dir(os.path.dirname(dest))
        except OSError as exc:
            raise os_error(exc, dest) from exc
        self.done = True
        return final

    def abort(self) -> None:
        if not self.done:
            try:
                os.unlink(self.tmp_path)
            except FileNotFoundError:
                pass
            self.done = True


class Maildir:
    """One Maildir (an account's INBOX, a `.Folder` of it, or the journal)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"Maildir({self.path!r})"

    # --- structure ---
    def exists(self) -> bool:
        return os.path.isdir(os.path.join(self.path, "cur"))

    def create(self, folder_marker: bool = False) -> Maildir:
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            for sub in SUBDIRS:
                os.makedirs(os.path.join(self.path, sub), mode=0o700, exist_ok=True)
            if folder_marker:
                # Maildir++: a `maildirfolder` file marks a subfolder (Dovecot, Courier).
                os.close(os.open(os.path.join(self.path, "maildirfolder"), os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise os_error(exc, self.path) from exc
        return self

    def folder(self, name: str) -> Maildir:
        """The Maildir++ subfolder `name` ('INBOX' or '' is this Maildir)."""
        if name in ("", "INBOX"):
            return self
        return Maildir(os.path.join(self.path, "." + name))

    def folders(self) -> list[str]:
        """Names of existing Maildir++ subfolders (without the leading dot)."""
        try:
            entries = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(e[1:] for e in entries if e.startswith(".") and e not in (".", "..")
                      and os.path.isdir(os.path.join(self.path, e, "cur")))

    # --- delivery ---
    def stage(self, data: bytes, sync: bool = True) -> Staged:
        """Write `data` (already LF-normalised) to tmp/ with O_EXCL and fsync it (`sync=False`: the caller makes
        it durable before committing, e.g. one syncfs(2) for a whole batch, as agentmail serve does)."""
        vsize = crlf_size(data)
        for _ in range(100):
            name = unique_name(len(data), vsize)
            path = os.path.join(self.path, "tmp", name)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            except OSError as exc:
                raise os_error(exc, self.path) from exc
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if sync:
                    os.fsync(fd)
            except OSError as exc:
                os.close(fd)
                try:
                    os.unlink(path)
                except OSError:
                    pass
                raise os_error(exc, self.path) from exc
            os.close(fd)
            return Staged(self, name)
        raise StoreIOError(f"cannot find a unique name in {self.path}/tmp")

    def deliver(self, data: bytes, subdir: str = "new", flags: str = "") -> str:
        staged = self.stage(to_lf(data))
        try:
            return staged.commit(subdir, flags)
        finally:
            staged.abort()

    # --- reading ---
    def list_new(self) -> list[str]:
        try:
            return [n for n in os.listdir(os.path.join(self.path, "new")) if not n.startswith(".")]
        except FileNotFoundError:
            return []

    def list_cur(self) -> list[str]:
        try:
            return [n for n in os.listdir(os.path.join(self.path, "cur")) if not n.startswith(".")]
        except FileNotFoundError:
            return []

    def entries(self) -> Iterator[tuple[str, str]]:
        """(subdir, filename) for every message in new/ then cur/."""
        for name in self.list_new():
            yield "new", name
        for name in self.list_cur():
            yield "cur", name

    def locate(self, base: str) -> tuple[str, str] | None:
        """Where the message with this base name is now (its flags may have changed)."""
        for subdir, name in self.entries():
            if split_name(name)[0] == base:
                return subdir, name
        return None

    def file(self, subdir: str, filename: str) -> str:
        return os.path.join(self.path, subdir, filename)

    def read(self, subdir: str, filename: str) -> bytes:
        with open(os.path.join(self.path, subdir, filename), "rb") as fh:
            return fh.read()

    # --- state changes (renames only, never rewrites) ---
    def announce(self, filename: str) -> str:
        """new/ -> cur/ with an empty info part: seen by the owner's tools, not yet read."""
        return self.set_flags("new", filename, "")

    def set_flags(self, subdir: str, filename: str, flags: str) -> str:
        """Rename the message to carry exactly `flags`; returns the new name (in cur/)."""
        base = split_name(filename)[0]
        new_name = base + INFO_SEP + join_flags(flags)
        if subdir == "cur" and new_name == filename:
            return filename
        try:
            os.rename(self.file(subdir, filename), self.file("cur", new_name))
        except OSError as exc:
            raise os_error(exc, self.file(subdir, filename)) from exc
        return new_name

    def move_to(self, subdir: str, filename: str, dest: Maildir, flags: str | None = None) -> str:
        """Move a message into another folder of the same account (a rename: atomic, no copy)."""
        base, old_flags = split_name(filename)
        new_name = base + INFO_SEP + join_flags(old_flags if flags is None else flags)
        try:
            os.rename(self.file(subdir, filename), dest.file("cur", new_name))
            fsync_dir(os.path.join(dest.path, "cur"))
        except OSError as exc:
            raise os_error(exc, dest.path) from exc
        return new_name
