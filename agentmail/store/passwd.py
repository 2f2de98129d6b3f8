"""The 0600 `passwd` file in Dovecot passwd-file format, with salted hashes Dovecot also accepts.

Lines are `name:{SSHA512}<base64(sha512(password + salt) + salt)>` (Dovecot's SSHA512 scheme), so Dovecot's
`passdb { driver = passwd-file }` can authenticate the same accounts.

Passwords are not stored anywhere in the clear: each is derived from the store's 0600 `secret` key with HMAC, so
`agentmail login-info` can show it to the owner again while the passwd file holds only hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from .dotlock import DotLock
from .maildir import os_error

TYPE_CHECKING = False  # not `from typing import`: typing costs ~9 ms of start-up
if TYPE_CHECKING:
    from ..config import Config

SCHEME = "{SSHA512}"


def _secret(cfg: Config) -> bytes:
    path = cfg.path("secret")
    try:
        with open(path, "rb") as fh:
            key = fh.read()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, "rb") as fh:  # another process won the race: use its key
            return fh.read()
    except OSError as exc:
        raise os_error(exc, path) from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def password_for(cfg: Config, name: str) -> str:
    digest = hmac.new(_secret(cfg), b"agentmail-login:" + name.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest)[:20].decode().lower()


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(8) if salt is None else salt
    digest = hashlib.sha512(password.encode() + salt).digest()
    return SCHEME + base64.b64encode(digest + salt).decode()


def check_hash(password: str, stored: str) -> bool:
    # a client's 8-bit password bytes arrive surrogate-escaped (IMAP LOGIN): compared as the bytes sent, as Dovecot
    secret = password.encode("utf-8", "surrogateescape")
    if stored.startswith("{PLAIN}"):
        return hmac.compare_digest(stored[7:].encode(), secret)
    if not stored.startswith(SCHEME):
        return False
    try:
        raw = base64.b64decode(stored[len(SCHEME):], validate=True)
    except ValueError:
        return False
    digest, salt = raw[:64], raw[64:]
    return hmac.compare_digest(hashlib.sha512(secret + salt).digest(), digest)


def _entries(cfg: Config) -> list[tuple[str, str]]:
    try:
        with open(cfg.path("passwd"), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        user, sep, rest = line.partition(":")
        if sep and user and not line.startswith("#"):
            out.append((user, rest.split(":", 1)[0]))
    return out


def _write(cfg: Config, entries: list[tuple[str, str]]) -> None:
    data = "".join(f"{user}:{hashed}\n" for user, hashed in entries).encode()
    path = cfg.path("passwd")
    with DotLock(path) as lock:
        lock.replace(data)
    os.chmod(path, 0o600)


def set_password(cfg: Config, name: str) -> None:
    """(Re)write `name`'s line with a fresh salted hash of its derived password."""
    hashed = hash_password(password_for(cfg, name))
    entries = [(u, h) for u, h in _entries(cfg) if u != name] + [(name, hashed)]
    try:
        _write(cfg, entries)
    except OSError as exc:
        raise os_error(exc, cfg.path("passwd")) from exc


def remove(cfg: Config, name: str) -> None:
    entries = _entries(cfg)
    if any(u == name for u, _ in entries):
        _write(cfg, [(u, h) for u, h in entries if u != name])


def verify(cfg: Config, name: str, password: str) -> bool:
    """True if `password` is `name`'s password (constant-time comparison)."""
    for user, hashed in _entries(cfg):
        if user == name:
            return check_hash(password, hashed)
    # compare anyway so an unknown user costs the same time as a wrong password
    check_hash(password, hash_password("x"))
    return False
