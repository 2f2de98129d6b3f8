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

from .errors import NoInputError, UsageError
from .format.card import key_of, read_headers
from .store import registry
from .store.maildir import Maildir, name_time, split_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config

HEAD_BYTES = 16384
SEARCH_FOLDERS = ("INBOX", "Todo", "Archive", "Sent", "Receipts")


class Item:
    """One message: where it is, and its headers (lowercased names, decoded values)."""

    __slots__ = ("account", "folder", "box", "subdir", "filename", "headers")

    def __init__(self, account: str, folder: str, box: Maildir, subdir: str, filename: str,
                 headers: dict[str, str]) -> None:
        self.account = account
        self.folder = folder
        self.box = box
        self.subdir = subdir
        self.filename = filename
        self.headers = headers

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

        return hashlib.sha256(self.base.encode()).hexdigest()[:32]

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
            return os.stat(self.path).st_mtime
        except OSError:
            return 0.0

    @property
    def path(self) -> str:
        return self.box.file(self.subdir, self.filename)

    def read_bytes(self) -> bytes:
        return self.box.read(self.subdir, self.filename)


def read_head(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as fh:
            return read_headers(fh.read(HEAD_BYTES))
    except OSError:
        return {}


def load_item(account: str, folder: str, box: Maildir, subdir: str, filename: str) -> Item:
    return Item(account, folder, box, subdir, filename, read_head(box.file(subdir, filename)))


def _cache_path(cfg: Config, account: str, folder: str) -> str:
    return cfg.path("cache", f"{account}.{folder}.unread")


def unread_cur(cfg: Config, account: str, box: Maildir, folder: str) -> list[str]:
    """File names in cur/ without the Seen flag, from the cache when it is provably current."""
    cur = os.path.join(box.path, "cur")
    try:
        mtime = os.stat(cur).st_mtime_ns
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
    items = [load_item(account, folder, box, "new", n) for n in box.list_new()]
    for name in unread_cur(cfg, account, box, folder):
        if os.path.exists(box.file("cur", name)):
            items.append(load_item(account, folder, box, "cur", name))
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
    return [load_item(account, folder, box, subdir, name) for subdir, name in entries[:limit]]


def folders(cfg: Config, account: str) -> list[str]:
    return ["INBOX"] + Maildir(cfg.maildir_path(account)).folders()


def find(cfg: Config, account: str, prefix: str, folders_: tuple[str, ...] = SEARCH_FOLDERS) -> Item:
    """The message whose key starts with `prefix` (a short id), searched in the account's folders."""
    prefix = prefix.strip().lower().lstrip("#")
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise UsageError(f"invalid message id '{prefix}': use the id shown by `agentmail inbox` (hex, 4+ chars)")
    matches: dict[str, Item] = {}
    for folder in folders_:
        box = registry.mailbox(cfg, account, folder)
        for subdir, name in box.entries():
            item = load_item(account, folder, box, subdir, name)
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
