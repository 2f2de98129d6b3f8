"""A remote home's settings: `remote.json` (mode 0600), written by `agentmail remote set`.

    {"imap": "imaps://mail.example.com:993", "smtp": "smtp://mail.example.com:587", "user": "alice",
     "domain": "agents.example.com", "password": "...", "ca": "-----BEGIN CERTIFICATE-----...", "allow_plain": false,
     "idle_timeout": 600, "poll": 30, "uncertain_grace": 600, "set_at": "2026-01-01T00:00:00Z"}

The password is read from a file (or stdin), never from the command line, and kept only here. `ca` is the PEM
text of a certificate authority to trust besides the system's (a private CA or a self-signed server). Plain
connections go only to loopback unless `allow_plain`; STARTTLS is used whenever a server offers it.
"""

from __future__ import annotations

import os
import stat

from ..errors import ConfigError, NoInputError, UsageError
from .alive import SETTINGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config

SCHEMES = {"imap": {"imap": (143, False), "imaps": (993, True)},
           "smtp": {"smtp": (587, False), "smtps": (465, True)}}
MAX_PASSWORD = 1024
MAX_CA = 256 * 1024
TUNABLES = {  # seconds; documented in docs/scale-out.md, "The sync process"
    "idle_timeout": 600,  # the sync process exits this long after the last session or command needed it
    "poll": 30,  # the other folders (INBOX has IDLE) are looked at this often
    "uncertain_grace": 600,  # a send whose outcome is unknown is retried only if its copy has not appeared by then
}


class Endpoint:
    """One server: `kind` imap or smtp, `scheme` with or without implicit TLS, host, port."""

    __slots__ = ("kind", "scheme", "host", "port")

    def __init__(self, kind: str, scheme: str, host: str, port: int) -> None:
        self.kind = kind
        self.scheme = scheme
        self.host = host
        self.port = port

    @property
    def implicit_tls(self) -> bool:
        return SCHEMES[self.kind][self.scheme][1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def __repr__(self) -> str:
        return f"Endpoint({self.url})"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(text: str, kind: str) -> Endpoint:
    """`imap[s]://HOST[:PORT]` or `smtp[s]://HOST[:PORT]`; no user, password or path (UsageError, 64)."""
    from urllib.parse import urlsplit

    option = f"--{kind}"
    if any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError(f"{option}: {text!r} is not a URL")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{option} {text}: {exc}") from None
    want = " or ".join(f"{s}://HOST[:PORT]" for s in SCHEMES[kind])
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES[kind]:
        raise UsageError(f"{option} {text}: expected {want}")
    if parts.username is not None or parts.password is not None:
        # a password in a URL would sit in the shell's history and in every process listing
        raise UsageError(f"{option} {text}: no user or password in the URL; use --user and --password-file")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"{option} {text}: expected {want}, without a path")
    host = parts.hostname or ""
    if not host:
        raise UsageError(f"{option} {text}: no host")
    if port == 0:
        raise UsageError(f"{option} {text}: port 0 is not a port")
    return Endpoint(kind, scheme, host, port or SCHEMES[kind][scheme][0])


def read_secret(path: str, what: str, limit: int, stdin: Any = None) -> bytes:
    """A small regular file (or stdin for `-`), read without blocking on a FIFO or device."""
    if path == "-":
        import sys

        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(limit + 1)
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as exc:
            raise NoInputError(f"cannot read the {what} {path}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NoInputError(f"cannot read the {what} {path}: not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise NoInputError(f"cannot read the {what} {path}: {exc.strerror}") from None
        finally:
            os.close(fd)
    if len(data) > limit:
        raise UsageError(f"the {what} {path} is over {limit} bytes")
    return bytes(data)


def read_password(path: str, stdin: Any = None) -> str:
    """The password: the file's first line without its line end. Empty, NUL or not UTF-8 is refused (64)."""
    raw = read_secret(path, "password file", MAX_PASSWORD, stdin)
    line = raw.split(b"\n", 1)[0].removesuffix(b"\r")
    if not line:
        raise UsageError(f"the password file {path} is empty")
    if b"\0" in line or b"\r" in line:
        raise UsageError(f"the password file {path} holds a NUL or CR in its first line")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the password in {path} is not valid UTF-8") from None


def read_ca(path: str) -> str:
    """The PEM text of a certificate authority file (checked by loading it)."""
    raw = read_secret(path, "CA file", MAX_CA)
    text = raw.decode("ascii", "replace")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise UsageError(f"the CA file {path} holds no PEM certificate")
    import ssl

    try:
        ssl.create_default_context().load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise UsageError(f"the CA file {path} cannot be used: {exc}") from None
    return text


class Settings:
    __slots__ = ("imap", "smtp", "user", "domain", "password", "ca", "allow_plain", "idle_timeout", "poll",
                 "uncertain_grace", "set_at")

    def __init__(self, imap: Endpoint, smtp: Endpoint, user: str, domain: str, password: str,
                 ca: str | None = None, allow_plain: bool = False) -> None:
        self.imap = imap
        self.smtp = smtp
        self.user = user
        self.domain = domain
        self.password = password
        self.ca = ca
        self.allow_plain = allow_plain
        self.idle_timeout = float(TUNABLES["idle_timeout"])
        self.poll = float(TUNABLES["poll"])
        self.uncertain_grace = float(TUNABLES["uncertain_grace"])
        self.set_at = ""

    @property
    def address(self) -> str:
        return f"{self.user}@{self.domain}"

    def to_json(self) -> dict[str, Any]:
        return {"imap": self.imap.url, "smtp": self.smtp.url, "user": self.user, "domain": self.domain,
                "password": self.password, "ca": self.ca, "allow_plain": self.allow_plain,
                "idle_timeout": self.idle_timeout, "poll": self.poll, "uncertain_grace": self.uncertain_grace,
                "set_at": self.set_at}

    def public(self) -> dict[str, Any]:
        """What `remote show` may print: everything but the password and the CA's text."""
        data = self.to_json()
        data.pop("password")
        data["ca"] = "custom" if self.ca else "system"
        data["address"] = self.address
        return data


def path(cfg: Config) -> str:
    return cfg.path(SETTINGS)


def from_json(data: dict[str, Any], where: str) -> Settings:
    try:
        settings = Settings(parse_url(data["imap"], "imap"), parse_url(data["smtp"], "smtp"), str(data["user"]),
                            str(data["domain"]), str(data["password"]), data.get("ca") or None,
                            bool(data.get("allow_plain", False)))
        for key in TUNABLES:
            value = data.get(key, TUNABLES[key])
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{key} must be a positive number of seconds")
            setattr(settings, key, float(value))
        settings.set_at = str(data.get("set_at", ""))
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise ConfigError(f"{where} is damaged ({exc}): run `agentmail remote set` again") from None
    return settings


def load(cfg: Config) -> Settings | None:
    """The home's settings, or None for a local home. A damaged file is a ConfigError (78)."""
    import json

    where = path(cfg)
    try:
        with open(where, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {where}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} is damaged: run `agentmail remote set` again")
    return from_json(data, where)


def save(cfg: Config, settings: Settings) -> None:
    """Write remote.json atomically with mode 0600 from the start (never readable by others, not even briefly)."""
    import json

    from ..store.maildir import fsync_dir, os_error

    where = path(cfg)
    tmp = f"{where}.{os.getpid()}.tmp"
    text = json.dumps(settings.to_json(), indent=2, sort_keys=True) + "\n"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, where)
        fsync_dir(cfg.home)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise os_error(exc, where) from exc


def remove(cfg: Config) -> bool:
    try:
        os.unlink(path(cfg))
    except FileNotFoundError:
        return False
    return True
