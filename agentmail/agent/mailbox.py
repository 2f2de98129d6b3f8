"""An account's messages as the CLI and hooks see them: unread lists, announcing, finding by short id, listing.

`new/` holds mail not yet announced to the owner; announcing moves it to `cur/` without flags; reading sets `S`.
Unread mail is `new/` plus the `cur/` files without `S`. Nothing here lists `cur/` or reads every header when it
can be helped: every change made here goes through the folder's change log (store/changelog.py), the unread part
of `cur/` is kept in `cache/<account>.<folder>.unread` (store/unreadcache.py) and messages are found by key or by
date in the history index (store/index.py), so each command costs the same with 100,000 postcards as with 10.
When the index cannot be used (locked, damaged, a read-only cache) the folder is listed instead (`scan_*`).
"""

from __future__ import annotations

import os

from ..errors import NoInputError, StoreIOError, UsageError
from ..format.card import read_headers
from ..store import registry
from ..store.changelog import Change, log_for
from ..store.index import HEAD_BYTES, message_key
from ..store.maildir import Maildir, name_time, split_name
from ..store.msgfile import NotAMessage, read_cap, report_odd
from ..store.msgfile import read_head as read_file_head

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..config import Config
    from ..store.index import Index

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
        return message_key(self.headers, self.base)

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
    """File names in cur/ without the Seen flag, from the cache brought up to date through the change log."""
    from ..store.unreadcache import unread_cur as cached

    log = log_for(box)
    if log is None:  # not an account's folder
        box.check(("cur",))
        return [n for n in box.list_cur() if "S" not in split_name(n)[1]]
    return cached(box, log, _cache_path(cfg, account, folder))


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


def _boxes(items: Iterable[Item]) -> dict[str, list[Item]]:
    by_box: dict[str, list[Item]] = {}
    for item in items:
        by_box.setdefault(item.box.path, []).append(item)
    return by_box


def announce(items: list[Item]) -> None:
    """new/ -> cur/: these have now been shown to their owner and will not be announced again."""
    for group in _boxes(i for i in items if i.subdir == "new").values():
        box = group[0].box
        with Change(box, log_for(box)) as change:
            for item in group:
                try:
                    name = box.announce(item.filename)
                except Exception:  # noqa: BLE001 - moved by another reader meanwhile: it was announced there
                    continue
                change.remove("new", item.filename)
                change.add("cur", name)
                item.filename, item.subdir = name, "cur"


def history_index(cfg: Config, account: str, folders: Sequence[str]) -> Index | None:
    """The account's history index with `folders` up to date, or None when it cannot be used just now."""
    from ..store.index import IndexUnavailable, open_index

    try:
        return open_index(cfg, account, read_cap(cfg.max_message), folders)
    except IndexUnavailable:
        return None


def folder_box(cfg: Config, account: str, folder: str) -> Maildir:
    box = registry.mailbox(cfg, account, folder)
    if not box.exists():
        raise NoInputError(f"no folder '{folder}' (folders: {', '.join(folders(cfg, account))})")
    return box


def listing(cfg: Config, account: str, folder: str = "INBOX", limit: int = 20) -> list[Item]:
    """The newest `limit` messages of a folder, newest first."""
    from ..store.index import IndexUnavailable

    box = folder_box(cfg, account, folder)
    index = history_index(cfg, account, (folder,))
    if index is None:
        return scan_listing(cfg, account, folder, limit)
    cap = read_cap(cfg.max_message)
    items: list[Item] = []
    offset = 0
    try:
        while len(items) < limit:  # what turns out gone or odd does not count towards the limit
            batch = index.newest(folder, limit - len(items), offset)
            if not batch:
                break
            offset += len(batch)
            items += load_items(account, folder, box, batch, cap)
    except IndexUnavailable:
        return scan_listing(cfg, account, folder, limit)
    finally:
        index.close()
    return items


def scan_listing(cfg: Config, account: str, folder: str = "INBOX", limit: int = 20) -> list[Item]:
    """`listing` without the index: every name of the folder listed and sorted."""
    box = folder_box(cfg, account, folder)
    # newest first; ties (the same microsecond) by base name, as the index orders them
    entries = sorted(box.entries(), key=lambda e: (name_time(e[1]), split_name(e[1])[0]), reverse=True)
    cap = read_cap(cfg.max_message)
    items: list[Item] = []
    while entries and len(items) < limit:  # what turns out gone or odd does not count towards the limit
        batch, entries = entries[:limit - len(items)], entries[limit - len(items):]
        items += load_items(account, folder, box, batch, cap)
    return items


def folders(cfg: Config, account: str) -> list[str]:
    return ["INBOX"] + Maildir(cfg.maildir_path(account)).folders()


def _check_prefix(prefix: str) -> str:
    prefix = prefix.strip().lower().lstrip("#")
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise UsageError(f"invalid message id '{prefix}': use the id shown by `agentmail inbox` (hex, 4+ chars)")
    return prefix


def _one(account: str, prefix: str, matches: dict[str, Item]) -> Item:
    if not matches:
        raise NoInputError(f"no message with id {prefix} in {account}'s mailbox")
    if len(matches) > 1:
        raise UsageError(f"id {prefix} is ambiguous: it matches {', '.join(sorted(k[:12] for k in matches))}")
    return next(iter(matches.values()))


def find(cfg: Config, account: str, prefix: str, folders_: tuple[str, ...] = SEARCH_FOLDERS) -> Item:
    """The message whose key starts with `prefix` (a short id), searched in the account's folders."""
    from ..store.index import IndexUnavailable

    prefix = _check_prefix(prefix)
    index = history_index(cfg, account, folders_)
    if index is None:
        return scan_find(cfg, account, prefix, folders_)
    try:
        rows = index.by_prefix(folders_, prefix)
    except IndexUnavailable:
        return scan_find(cfg, account, prefix, folders_)
    finally:
        index.close()
    cap = read_cap(cfg.max_message)
    matches: dict[str, Item] = {}
    for folder in folders_:  # the first folder that has a message wins, as when listing them in this order
        box = registry.mailbox(cfg, account, folder)
        for row_folder, sub, name, _ in rows:
            if row_folder != folder:
                continue
            item = load_item(account, folder, box, sub, name, cap)
            if item is None:  # renamed since the index was brought up to date: ask the folders themselves
                return scan_find(cfg, account, prefix, folders_)
            if item.key.startswith(prefix) and item.key not in matches:
                matches[item.key] = item
    return _one(account, prefix, matches)


def scan_find(cfg: Config, account: str, prefix: str, folders_: tuple[str, ...] = SEARCH_FOLDERS) -> Item:
    """`find` without the index: the headers of every message read."""
    prefix = _check_prefix(prefix)
    matches: dict[str, Item] = {}
    cap = read_cap(cfg.max_message)
    for folder in folders_:
        box = registry.mailbox(cfg, account, folder)
        for item in load_items(account, folder, box, box.entries(), cap):
            if item.key.startswith(prefix) and item.key not in matches:
                matches[item.key] = item
    return _one(account, prefix, matches)


def set_flags(item: Item, add: str = "", remove: str = "") -> None:
    flags = "".join(sorted((set(item.flags) | set(add)) - set(remove)))
    with Change(item.box, log_for(item.box)) as change:
        name = item.box.set_flags(item.subdir, item.filename, flags)
        if (item.subdir, name) != ("cur", item.filename):
            change.remove(item.subdir, item.filename)
            change.add("cur", name)
    item.filename = name
    item.subdir = "cur"


def move(cfg: Config, item: Item, folder: str, add: str = "") -> None:
    """File a message into another folder of the same account (one rename)."""
    from contextlib import ExitStack

    dest = registry.mailbox(cfg, item.account, folder)
    if not dest.exists():
        dest.create(folder_marker=True)
    flags = "".join(sorted(set(item.flags) | set(add)))
    logs = {box.path: (box, log_for(box)) for box in (item.box, dest)}
    with ExitStack() as stack:  # both logs, always in the same order: two moves the other way cannot deadlock
        changes = {path: stack.enter_context(Change(box, log))
                   for path, (box, log) in sorted(logs.items(), key=lambda kv: kv[1][1] or "")}
        name = item.box.move_to(item.subdir, item.filename, dest, flags)
        changes[item.box.path].remove(item.subdir, item.filename)
        changes[dest.path].add("cur", name)
    item.filename = name
    item.box, item.subdir, item.folder = dest, "cur", folder
