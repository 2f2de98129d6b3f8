"""Accounts, aliases and the store layout: who has a mailbox.

    accounts/<name>.json   {"name", "kind": "agent"|"human"|"service", "created_at", "aliases": [...]}
                           or, after a rename, {"name": old, "alias_of": new, "renamed_at"}
    maildirs/<name>/       the account's Maildir++ (INBOX plus .Sent .Receipts .Todo .Archive)

Looking a name up costs one stat in the common case (a real account has a Maildir; an alias has none), so the
send path needs no JSON parsing.
"""

from __future__ import annotations

import os
import time

from ..errors import CantCreateError, UnknownRecipientError, UsageError
from ..format.address import normalize_name
from .maildir import STANDARD_FOLDERS, Maildir, os_error

TYPE_CHECKING = False  # not `from typing import`: typing costs ~9 ms of start-up
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config

KINDS = ("agent", "human", "service")
HUMAN = "human"
BROADCAST = "all"
RESERVED = frozenset({BROADCAST, "postmaster", "mailer-daemon", "root", "abuse", "journal"})


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _json() -> Any:
    import json  # lazy: ~7 ms of start-up the send path does not need

    return json


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = _json().load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: str, data: dict[str, Any], exclusive: bool = False) -> None:
    """Write JSON atomically (tmp + rename), or create-only with `exclusive`."""
    text = _json().dumps(data, indent=2, sort_keys=True) + "\n"
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if it exists: two registrations of one name cannot both win
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except FileExistsError:
        os.unlink(tmp)
        raise
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise os_error(exc, path) from exc


def ensure_store(cfg: Config) -> None:
    """Create the store skeleton (mode 0700) and the `human` account, idempotently."""
    try:
        # os.stat, not isdir: a store this user may not search must fail (PermissionError), not look empty
        if os.path.isdir(cfg.path("accounts")) and os.stat(cfg.maildir_path(HUMAN)):
            return
    except FileNotFoundError:
        pass
    old = os.umask(0o077)
    try:
        os.makedirs(cfg.home, mode=0o700, exist_ok=True)
        os.chmod(cfg.home, 0o700)
        for sub in ("maildirs", "accounts", "directory", "sessions", "run", "cache"):
            os.makedirs(cfg.path(sub), mode=0o700, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, cfg.home) from exc
    finally:
        os.umask(old)
    Maildir(cfg.journal_path).create()
    if not os.path.isdir(cfg.maildir_path(HUMAN)):
        create_account(cfg, HUMAN, "human")


def account_path(cfg: Config, name: str) -> str:
    return cfg.path("accounts", name + ".json")


def resolve(cfg: Config, name: str) -> str | None:
    """The account a (valid, normalised) name delivers to, following rename aliases; None if unknown."""
    for _ in range(16):
        if os.path.isdir(cfg.maildir_path(name)):
            return name
        info = read_json(account_path(cfg, name))
        if not info or not isinstance(info.get("alias_of"), str):
            return None
        name = info["alias_of"]
    return None


def account(cfg: Config, name: str) -> dict[str, Any] | None:
    real = resolve(cfg, name)
    if real is None:
        return None
    return read_json(account_path(cfg, real)) or {"name": real, "kind": "agent"}


def names(cfg: Config, include_aliases: bool = False) -> list[str]:
    """Every account name (sorted); aliases only when asked."""
    try:
        found = sorted(e for e in os.listdir(cfg.path("maildirs")) if not e.startswith("."))
    except FileNotFoundError:
        return []
    if include_aliases:
        try:
            extra = [e[:-5] for e in os.listdir(cfg.path("accounts")) if e.endswith(".json")]
        except FileNotFoundError:
            extra = []
        found = sorted(set(found) | set(extra))
    return found


def accounts(cfg: Config) -> list[dict[str, Any]]:
    out = []
    for name in names(cfg):
        out.append(read_json(account_path(cfg, name)) or {"name": name, "kind": "agent"})
    return out


def agent_names(cfg: Config) -> list[str]:
    return [a["name"] for a in accounts(cfg) if a.get("kind", "agent") == "agent"]


def mailbox(cfg: Config, name: str, folder: str = "INBOX") -> Maildir:
    return Maildir(cfg.maildir_path(name)).folder(folder)


def check_new_name(name: str) -> str:
    name = normalize_name(name)
    if name in RESERVED:
        raise UsageError(f"'{name}' is reserved; choose another name")
    return name


def create_account(cfg: Config, name: str, kind: str = "agent") -> dict[str, Any]:
    """Create an account with its Maildir++ folders and password; refuses an existing name."""
    if kind not in KINDS:
        raise UsageError(f"unknown account kind {kind!r} (one of {', '.join(KINDS)})")
    if name != HUMAN:
        name = check_new_name(name)
    if resolve(cfg, name) is not None or os.path.exists(account_path(cfg, name)):
        raise CantCreateError(f"account '{name}' already exists")
    info: dict[str, Any] = {"name": name, "kind": kind, "created_at": iso_now(), "aliases": []}
    try:
        write_json(account_path(cfg, name), info, exclusive=True)
    except FileExistsError:
        raise CantCreateError(f"account '{name}' already exists") from None
    root = Maildir(cfg.maildir_path(name)).create()
    for folder in STANDARD_FOLDERS:
        root.folder(folder).create(folder_marker=True)
    from . import passwd  # lazy: hashing imports are not needed to send

    passwd.set_password(cfg, name)
    return info


def rename_account(cfg: Config, old: str, new: str) -> dict[str, Any]:
    """Rename an account; the old name stays an alias, so mail sent to it still arrives."""
    new = check_new_name(new)
    if old == HUMAN:
        raise UsageError("the human account cannot be renamed")
    real = resolve(cfg, old)
    if real is None:
        raise UnknownRecipientError([old])
    if resolve(cfg, new) is not None or os.path.exists(account_path(cfg, new)):
        raise CantCreateError(f"account '{new}' already exists")
    info = read_json(account_path(cfg, real)) or {"name": real, "kind": "agent"}
    info = dict(info, name=new, aliases=sorted(set(info.get("aliases", [])) | {real}))
    try:
        write_json(account_path(cfg, new), info, exclusive=True)
    except FileExistsError:
        raise CantCreateError(f"account '{new}' already exists") from None
    try:
        # one rename moves the whole mailbox: no message is copied, none can be lost
        os.rename(cfg.maildir_path(real), cfg.maildir_path(new))
    except OSError as exc:
        os.unlink(account_path(cfg, new))
        raise os_error(exc, cfg.maildir_path(new)) from exc
    write_json(account_path(cfg, real), {"name": real, "alias_of": new, "renamed_at": iso_now()})
    from . import passwd

    passwd.set_password(cfg, new)
    passwd.remove(cfg, real)
    return info
