"""One-time login tokens for the web view: issued by `agentmail serve` and `agentmail login-info`, redeemed once.

    run/web-login/<sha256 of the token>   {"account", "expires"}: one file per token (mode 0600)

A token is 32 random bytes (URL-safe base64). Only its hash is stored, so reading the directory gives nobody a
usable link. Redeeming reads the file and then unlinks it: of two browsers racing with one link, exactly one
unlink succeeds, so a token logs in at most once. Expired tokens are refused and removed when seen; every issue
also sweeps the expired ones, so the directory stays small.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time

from ..errors import PermissionDeniedError
from .maildir import os_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config

TOKEN_TTL = 600.0  # seconds a login link stays valid: long enough to open it, short enough to be worthless later
DIR = ("run", "web-login")


class LoginRefused(PermissionDeniedError):
    """A token that is unknown, already used or expired (the message says which, never anything about others)."""


def _dir(cfg: Config) -> str:
    return cfg.path(*DIR)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def well_formed(token: str) -> bool:
    return 20 <= len(token) <= 100 and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)


def issue(cfg: Config, account: str, ttl: float = TOKEN_TTL, now: float | None = None) -> str:
    """A fresh token that logs `account` in once within `ttl` seconds."""
    import json

    now = time.time() if now is None else now
    folder = _dir(cfg)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, folder) from exc
    sweep(cfg, now)
    token = secrets.token_urlsafe(32)
    path = os.path.join(folder, _digest(token))
    data = json.dumps({"account": account, "expires": now + ttl}).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise os_error(exc, path) from exc
    return token


def redeem(cfg: Config, token: str, now: float | None = None) -> str:
    """The account `token` logs in; the token is used up. LoginRefused when unknown, used or expired."""
    import json

    if not well_formed(token):
        raise LoginRefused("this login link is not valid")
    path = os.path.join(_dir(cfg), _digest(token))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        raise LoginRefused("this login link is unknown or was already used") from None
    try:
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        os.unlink(path)
    except FileNotFoundError:
        raise LoginRefused("this login link is unknown or was already used") from None  # another browser won
    except OSError as exc:
        raise os_error(exc, path) from exc
    try:
        info = json.loads(raw)
        account, expires = str(info["account"]), float(info["expires"])
    except (ValueError, KeyError, TypeError):
        raise LoginRefused("this login link is damaged") from None
    if (time.time() if now is None else now) > expires:
        raise LoginRefused("this login link has expired")
    return account


def sweep(cfg: Config, now: float | None = None) -> int:
    """Remove the expired tokens; returns how many. Damaged files older than the lifetime go too."""
    import json

    now = time.time() if now is None else now
    folder = _dir(cfg)
    removed = 0
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    for entry in entries:
        path = os.path.join(folder, entry)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            try:
                raw = os.read(fd, 4096)
            finally:
                os.close(fd)
            expires = float(json.loads(raw)["expires"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            try:
                expires = os.lstat(path).st_mtime + TOKEN_TTL
            except OSError:
                continue
        if now > expires:
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
    return removed
