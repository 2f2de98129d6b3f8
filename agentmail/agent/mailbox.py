"""An account's messages as the CLI and hooks see them: unread lists, announcing, finding by short id, reading.

`new/` holds mail not yet announced to the owner; announcing moves it to `cur/` without flags; reading sets `S`.
Unread mail is `new/` plus the `cur/` files without `S`. Listing `cur/` is O(n), so the unread list of `cur/` is
cached in `cache/<account>.<folder>.unread`, keyed on cur/'s mtime: any rename into, out of or inside cur/
changes that mtime. The cache is trusted only when it was built over a second after the last change, since a
directory's mtime has coarse granularity and a change in the same tick would otherwise go unseen.
"""

from __future__ import annotations

import os
import time

from ..errors import NoInputError, StoreIOError, UsageError
from ..format.card import key_of, read_headers
from ..store import registry
from ..store.maildir import Maildir, name_time, split_name
from ..store.msgfile import NotAMessage, read_cap, report_odd
from ..store.msgfile import read_head as read_file_head

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..config import Config

HEAD_BYTES = 16384
SEARCH_FOLDERS = ("INBOX", "Todo", "Archive", "Sent", "Receipts")


class Item:
    """One message: where it is, and its headers (lowercased names, decoded values)."""

    __slots__ = ("account", "folder", "box", "subdir", "filename", "headers", "cap")

    def __init__(self, account: str, folder: str, box: Maildir, subdir: str, filename: str,
                 headers: dict[str, str], cap: int) -> None:
        self.account = account
        self.folder = folder
        self.box = box
        self.subdir = subdir
        self.filename = filename
        self.headers = headers
        self.cap = cap  # the largest file read as a message (store.msgfile.read_cap)

    @property
    def base(self) -> str:
        return split_name(self.filename)[0]

    @property
    def flags(self) -> str:
        return split_name(self.filename)[1]

    @property
    def key(self) -> str:
        mid = self.headers.get("message-id")
        if mid:
            return key_of(mid)
        import hashlib

        return hashlib.sha256(os.fsencode(self.base)).hexdigest()[:32]  # a non-UTF-8 name is bytes on disk

    @property
    def sender(self) -> str:
        return self.headers.get("from", "")

    @property
    def title(self) -> str:
        return self.headers.get("subject", "")

    @property
    def urgent(self) -> bool:
        return (self.headers.get("importance", "").strip().lower() == "high"
                or self.headers.get("x-priority", "").strip()[:1] in ("1", "2"))

    @property
    def delivered_at(self) -> float:
        return name_time(self.filename) or self._mtime()

    def _mtime(self) -> float:
        try:
            return os.lstat(self.path).st_mtime
        except OSError:
            return 0.0

    @property
    def path(self) -> str:
        return self.box.file(self.subdir, self.filename)

    def read_bytes(self) -> bytes:
        try:
            return self.box.read(self.subdir, self.filename, self.cap)
        except NotAMessage as exc:
            report_odd(exc.path, exc.why)
            raise StoreIOError(f"cannot read message {self.base}: it is no longer a message file ({exc.why})") from None
        except OSError as exc:
            raise StoreIOError(f"cannot read message {self.base}: {exc.strerror or exc}") from None


def read_head(path: str, cap: int) -> dict[str, str] | None:
    """The headers of the message file at `path`; None when it is gone or is not a message file (reported)."""
    try:
        return read_headers(read_file_head(path, HEAD_BYTES, cap))
    except FileNotFoundError:
        return None  # moved by another reader meanwhile (announced there) or expunged
    except NotAMessage as exc:
        report_odd(exc.path, exc.why)
        return None
    except OSError as exc:
        report_odd(path, exc.strerror or str(exc))
        return None


def load_item(account: str, folder: str, box: Maildir, subdir: str, filename: str, cap: int) -> Item | None:
    """The message `filename` with its headers; None when it is gone or is not a message file."""
    headers = read_head(box.file(subdir, filename), cap)
    return None if headers is None else Item(account, folder, box, subdir, filename, headers, cap)


def load_items(account: str, folder: str, box: Maildir, entries: Iterable[tuple[str, str]], cap: int) -> list[Item]:
    """`load_item` for each (subdir, filename), leaving out what is gone or is not a message file."""
    return [item for sub, name in entries if (item := load_item(account, folder, box, sub, name, cap)) is not None]


def _cache_path(cfg: Config, account: str, folder: str) -> str:
    return cfg.path("cache", f"{account}.{folder}.unread")


def unread_cur(cfg: Config, account: str, box: Maildir, folder: str) -> list[str]:
    """File names in cur/ without the Seen flag, from the cache when it is provably current."""
    cur = os.path.join(box.path, "cur")
    box.check(("cur",))
    try:
        mtime = os.lstat(cur).st_mtime_ns
    except FileNotFoundError:
        return []
    cache = _cache_path(cfg, account, folder)
    try:
        with open(cache, encoding="utf-8", errors="surrogateescape") as fh:
            header, *names = fh.read().split("\n")
        cached_mtime, built = header.split()
        if int(cached_mtime) == mtime and int(built) - mtime > 1_000_000_000:
            return [n for n in names if n]
    except (OSError, ValueError):
        pass
    built_ns = time.time_ns()
    unread = [n for n in box.list_cur() if "S" not in split_name(n)[1]]
    try:
        tmp = f"{cache}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(f"{mtime} {built_ns}\n" + "".join(n + "\n" for n in unread))
        os.replace(tmp, cache)
    except OSError:
        pass  # the cache is an optimisation only
    return unread


def unread(cfg: Config, account: str, folder: str = "INBOX") -> list[Item]:
    """Unread messages (new/ and unseen cur/), oldest first."""
    box = registry.mailbox(cfg, account, folder)
    if folder != "INBOX" and not box.exists():
        raise NoInputError(f"no folder '{folder}' (folders: {', '.join(folders(cfg, account))})")
    cap = read_cap(cfg.max_message)
    items = load_items(account, folder, box, [("new", n) for n in box.list_new()], cap)
    items += load_items(account, folder, box, [("cur", n) for n in unread_cur(cfg, account, box, folder)], cap)
    items.sort(key=lambda i: (i.delivered_at, i.filename))
    return items


def announce(items: list[Item]) -> None:
    """new/ -> cur/: these have now been shown to their owner and will not be announced again."""
    for item in items:
        if item.subdir == "new":
            try:
                item.filename = item.box.announce(item.filename)
                item.subdir = "cur"
            except Exception:  # noqa: BLE001 - moved by another reader meanwhile: it was announced there
                pass


def listing(cfg: Config, account: str, folder: str = "INBOX", limit: int = 20) -> list[Item]:
    """The newest `limit` messages of a folder, newest first."""
    box = registry.mailbox(cfg, account, folder)
    if not box.exists():
        raise NoInputError(f"no folder '{folder}' (folders: {', '.join(folders(cfg, account))})")
    entries = sorted(box.entries(), key=lambda e: (name_time(e[1]), e[1]), reverse=True)
    cap = read_cap(cfg.max_message)
    items: list[Item] = []
    while entries and len(items) < limit:  # what turns out gone or odd does not count towards the limit
        batch, entries = entries[:limit - len(items)], entries[limit - len(items):]
        items += load_items(account, folder, box, batch, cap)
    return items


def folders(cfg: Config, account: str) -> list[str]:
    return ["INBOX"] + Maildir(cfg.maildir_path(account)).folders()


def find(cfg: Config, account: str, prefix: str, folders_: tuple[str, ...] = SEARCH_FOLDERS) -> Item:
    """The message whose key starts with `prefix` (a short id), searched in the account's folders."""
    prefix = prefix.strip().lower().lstrip("#")
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise UsageError(f"invalid message id '{prefix}': use the id shown by `agentmail inbox` (hex, 4+ chars)")
    matches: dict[str, Item] = {}
    cap = read_cap(cfg.max_message)
    for folder in folders_:
        box = registry.mailbox(cfg, account, folder)
        for item in load_items(account, folder, box, box.entries(), cap):
            if item.key.startswith(prefix) and item.key not in matches:
                matches[item.key] = item
    if not matches:
        raise NoInputError(f"no message with id {prefix} in {account}'s mailbox")
    if len(matches) > 1:
        raise UsageError(f"id {prefix} is ambiguous: it matches {', '.join(sorted(k[:12] for k in matches))}")
    return next(iter(matches.values()))


def set_flags(item: Item, add: str = "", remove: str = "") -> None:
    flags = "".join(sorted((set(item.flags) | set(add)) - set(remove)))
    item.filename = item.box.set_flags(item.subdir, item.filename, flags)
    item.subdir = "cur"


def move(cfg: Config, item: Item, folder: str, add: str = "") -> None:
    """File a message into another folder of the same account (one rename)."""
    dest = registry.mailbox(cfg, item.account, folder)
    if not dest.exists():
        dest.create(folder_marker=True)
    flags = "".join(sorted(set(item.flags) | set(add)))
    item.filename = item.box.move_to(item.subdir, item.filename, dest, flags)
    item.box, item.subdir, item.folder = dest, "cur", folder
