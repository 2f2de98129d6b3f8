"""Maildir++ on disk: crash-safe lock-free delivery, flags in file names, folders.

Written from the Maildir spec (cr.yp.to/proto/maildir.html) and Dovecot's conventions, not on top of
stdlib `mailbox.Maildir` (no directory fsync, racy counter, O(n) refresh, whole-file rewrite on flag change).

- Delivery writes `tmp/<unique>` with O_EXCL, fsyncs it, links it into `new/` (link never overwrites), removes the
  tmp name and fsyncs `new/`: a reader sees the whole file or nothing, even after SIGKILL or a power cut.
- Unique names are `<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<crlf size>`; Dovecot reads S= and W= so sizes are
  known without opening the file.
- Flags live after `:2,` in ASCII order; keywords are the letters a-z of `dovecot-keywords`.
- Reading never trusts what a name in new/ or cur/ is: only regular files are listed, a message file is opened with
  O_NOFOLLOW|O_NONBLOCK (a symbolic link could point out of the store, a FIFO would block forever) and must be a
  regular file of at most the read cap; the Maildir's own directories must be real directories, not links. Anything
  else is skipped and reported once per process (a log line; `agentmail cleanup` lists them), as Dovecot does.
"""

from __future__ import annotations

import errno
import os
import time

from ..errors import AgentmailError, CantCreateError, DiskFullError, StoreIOError
from .msgfile import DEFAULT_CAP, entry_kind, odd_dir, read_message, report_odd, shown_path

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
        return DiskFullError(f"cannot write {what}: {reason} (disk full)")
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
        """Names of existing Maildir++ subfolders (without the leading dot); a folder that is a symbolic link is
        skipped and reported (it could lead out of the store)."""
        if not self.readable(()):
            return []
        found = []
        try:
            with os.scandir(self.path) as it:
                for de in it:
                    name = de.name
                    if not name.startswith(".") or name.startswith(".."):
                        continue
                    if de.is_symlink():
                        if os.path.isdir(os.path.join(de.path, "cur")):
                            report_odd(de.path, "a symbolic link")
                        continue
                    if de.is_dir(follow_symlinks=False) and os.path.isdir(os.path.join(de.path, "cur")):
                        found.append(name[1:])
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(found)

    # --- delivery ---
    def stage(self, data: bytes, sync: bool = True) -> Staged:
        """Write `data` (already LF-normalised) to tmp/ with O_EXCL and fsync it (`sync=False`: the caller makes
        it durable before committing, e.g. one syncfs(2) for a whole batch, as agentmail serve does).

        Nothing is written through a symbolic link: a linked Maildir, tmp/, new/ or cur/ could lead out of the store
        (four lstat calls, a few microseconds)."""
        self.check(SUBDIRS, "deliver into")
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
    def dirs(self, subdirs: Iterable[str] = ("new", "cur")) -> list[str]:
        """The directories a reader goes through to reach this Maildir's `subdirs`: for a `.Folder`, the account's
        Maildir too (Maildir++ folders are flat, one level below it)."""
        paths = [os.path.dirname(self.path)] if os.path.basename(self.path).startswith(".") else []
        return [*paths, self.path, *(os.path.join(self.path, sub) for sub in subdirs)]

    def odd_dirs(self, subdirs: Iterable[str] = ("new", "cur")) -> list[tuple[str, str]]:
        """(path, why) for each directory of `dirs` that is a symbolic link or not a directory."""
        return [(path, why) for path in self.dirs(subdirs) if (why := odd_dir(path)) is not None]

    def readable(self, subdirs: Iterable[str] = ("new", "cur")) -> bool:
        """True when no directory on the way to `subdirs` may lead out of the store; the first one that could is
        reported (once) and nothing is read through it."""
        for path, why in self.odd_dirs(subdirs):
            report_odd(path, why)
            return False
        return True

    def check(self, subdirs: Iterable[str] = ("new", "cur"), doing: str = "read") -> None:
        """StoreIOError (74) when a directory on the way to `subdirs` is a symbolic link (it could lead out of the
        store) or not a directory: a broken Maildir is an error, as in Dovecot, not an empty one."""
        for path, why in self.odd_dirs(subdirs):
            raise StoreIOError(f"cannot {doing} {shown_path(path)}: it is {why}, not a directory (agentmail reads and "
                               "writes no mail through links; `agentmail cleanup` lists what it skips)")

    def _names(self, sub: str) -> list[str]:
        """Message file names in new/ or cur/: regular files only (a symbolic link, FIFO, socket, device or
        directory is skipped and reported, as Dovecot does); dot-files are not messages."""
        self.check((sub,))
        names = []
        try:
            with os.scandir(os.path.join(self.path, sub)) as it:
                for de in it:
                    name = de.name
                    if name.startswith("."):
                        continue
                    if de.is_file(follow_symlinks=False):  # d_type: no stat per file
                        names.append(name)
                    else:
                        report_odd(de.path, entry_kind(de))
        except FileNotFoundError:
            return []
        except NotADirectoryError:  # replaced since the check
            self.check((sub,))
            return []
        return names

    def survey(self, cap: int) -> list[tuple[str, str]]:
        """(path, why) for everything readers skip here, for `agentmail cleanup`: odd directories (tmp/ too, which
        delivery writes through), subfolders that are symbolic links, and entries in new/ and cur/ that are not
        regular files or are over `cap` bytes. Never changes anything."""
        found = self.odd_dirs(SUBDIRS)
        if found:
            return found
        if not os.path.basename(self.path).startswith("."):
            try:
                with os.scandir(self.path) as it:
                    found += [(de.path, "a symbolic link") for de in it
                              if de.name.startswith(".") and de.is_symlink()
                              and os.path.isdir(os.path.join(de.path, "cur"))]
            except OSError:
                pass
        for sub in ("new", "cur"):
            try:
                with os.scandir(os.path.join(self.path, sub)) as it:
                    for de in it:
                        if de.name.startswith("."):
                            continue
                        if not de.is_file(follow_symlinks=False):
                            found.append((de.path, entry_kind(de)))
                            continue
                        try:
                            size = de.stat(follow_symlinks=False).st_size
                        except FileNotFoundError:
                            continue  # renamed meanwhile (flags changed)
                        if size > cap:
                            found.append((de.path, f"{size} bytes, over the {cap}-byte read limit"))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return sorted(found)

    def list_new(self) -> list[str]:
        return self._names("new")

    def list_cur(self) -> list[str]:
        return self._names("cur")

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

    def read(self, subdir: str, filename: str, cap: int = DEFAULT_CAP) -> bytes:
        """A message's bytes (NotAMessage for anything but a regular file of at most `cap` bytes)."""
        return read_message(os.path.join(self.path, subdir, filename), cap)

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
