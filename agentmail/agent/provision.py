"""`agentmail admin`: the accounts of a store that a mail server serves to agents on other machines.

An account is agentmail's registry entry, its Maildir++ and its line in the 0600 `passwd` (Dovecot's passwd-file
format, so Dovecot and Postfix's SASL check the same password); adding one also rewrites the Postfix tables under
server/postfix/ (deploy.py) and writes the account's password into a 0600 file for the agent's machine, since a
password is never put on a command line.

Run as root on a store that belongs to another user (the mail user, `vmail`), every file of the store is written as
that user (effective uid and gid switched for the duration), so Dovecot can go on writing into what was added.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator

from ..errors import CantCreateError, ConfigError, UsageError
from ..store import passwd, registry
from ..store.maildir import Maildir, os_error
from .deploy import PRESENCE_ACL, SERVER_DIR, Deployment, files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config

TABLES = ("virtual_mailbox", "virtual_alias", "sender_login")


def server_path(cfg: Config, *parts: str) -> str:
    return cfg.path(SERVER_DIR, *parts)


@contextlib.contextmanager
def as_store_owner(cfg: Config) -> Iterator[None]:
    """Root acting on a store owned by another user acts as that user (files keep the store's owner)."""
    try:
        st = os.stat(cfg.home)
    except OSError:
        st = None
    if os.geteuid() != 0 or st is None or st.st_uid == 0:
        yield
        return
    os.setegid(st.st_gid)
    os.seteuid(st.st_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def _cant(exc: OSError, path: str) -> CantCreateError | Exception:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
        return CantCreateError(f"cannot write {path}: {exc.strerror}")
    return os_error(exc, path)


def check_target(path: str) -> None:
    """Refuse, before anything is written, a file that cannot be written where it is asked for (exit 73)."""
    if os.path.islink(path) or os.path.isdir(path):
        raise CantCreateError(f"cannot write {path}: a symlink or directory is in its place")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise CantCreateError(f"cannot write {path}: no directory {parent}")


def _write(path: str, text: str, mode: int = 0o644) -> None:
    """Atomically (tmp, fsync, rename); never through a symlink left in the file's place."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        check_target(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _cant(exc, path) from exc


def _mkdirs(*paths: str) -> None:
    for path in paths:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, path) from exc


# ------------------------------------------------------------------ Postfix tables
def tables(cfg: Config) -> dict[str, str]:
    """The text of each Postfix table (postmap input) for the store's accounts, aliases and the all list."""
    addr = cfg.address
    accounts = registry.accounts(cfg)
    agents = sorted(a["name"] for a in accounts if a.get("kind", "agent") == "agent")
    aliases: list[tuple[str, str]] = []
    for name in registry.names(cfg, include_aliases=True):
        real = registry.resolve(cfg, name)
        if real is not None and real != name:
            aliases.append((name, real))
    mailbox = "".join(f"{addr(a['name'])} {a['name']}/\n" for a in accounts)
    alias = f"postmaster@{cfg.domain} {addr(registry.HUMAN)}\n"
    if agents:
        # one copy for every agent, the sender's too: its agentmail files it into its Sent (docs/scale-out.md)
        alias += f"{addr(registry.BROADCAST)} {', '.join(addr(a) for a in agents)}\n"
    alias += "".join(f"{addr(old)} {addr(new)}\n" for old, new in aliases)
    login = "".join(f"{addr(a['name'])} {a['name']}\n" for a in accounts)
    login += "".join(f"{addr(old)} {new}\n" for old, new in aliases)
    head = "# written by `agentmail admin` from the store's accounts: do not edit (agentmail admin maps)\n"
    return {"virtual_mailbox": head + mailbox, "virtual_alias": head + alias, "sender_login": head + login}


def postmap_binary() -> str | None:
    return shutil.which("postmap") or next((p for p in ("/usr/sbin/postmap", "/usr/bin/postmap")
                                            if os.access(p, os.X_OK)), None)


def write_tables(cfg: Config) -> tuple[str, str]:
    """Rewrite the Postfix tables and index them with postmap (when Postfix is installed). (directory, note)"""
    directory = server_path(cfg, "postfix")
    with as_store_owner(cfg):
        _mkdirs(server_path(cfg), directory)
        for name, text in tables(cfg).items():
            _write(os.path.join(directory, name), text)
    postmap = postmap_binary()
    if postmap is None:
        return directory, "postmap not found: run `postmap hash:FILE` for each table where Postfix runs"
    for name in TABLES:
        # run as root, postmap drops to the table's owner, so the .db files keep the store's owner
        proc = subprocess.run([postmap, f"hash:{os.path.join(directory, name)}"], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise ConfigError(f"postmap failed on {os.path.join(directory, name)}: {why}")
    return directory, "indexed with postmap; Postfix notices the change by itself"


# ------------------------------------------------------------------ accounts and their password files
def default_password_file(cfg: Config, name: str) -> str:
    return server_path(cfg, "credentials", f"{name}.password")


def write_password_file(cfg: Config, name: str, path: str | None) -> str:
    """Write `name`'s password (and a newline) into `path` (default: server/credentials/NAME.password), 0600."""
    target = os.path.abspath(path) if path else default_password_file(cfg, name)
    inside = target.startswith(cfg.home + os.sep)
    with as_store_owner(cfg) if inside else contextlib.nullcontext():
        if not path:
            _mkdirs(server_path(cfg), os.path.dirname(target))
        secret = passwd.password_for(cfg, name)
        _write(target, secret + "\n", 0o600)
    return target


def add(cfg: Config, name: str, kind: str = "agent", password_file: str | None = None) -> dict[str, object]:
    """Create the account, rewrite the Postfix tables, write its password file. What was done, for the CLI."""
    if password_file:
        check_target(os.path.abspath(password_file))
    with as_store_owner(cfg):
        registry.ensure_store(cfg)
        if registry.resolve(cfg, name) is not None:
            raise CantCreateError(f"account '{name}' already exists; `agentmail admin password {name}` writes its "
                                  "password file again")
        info = registry.create_account(cfg, name, kind)
    real = str(info["name"])
    pw_file = write_password_file(cfg, real, password_file)
    directory, note = write_tables(cfg)
    return {"name": real, "kind": kind, "address": cfg.address(real), "password_file": pw_file,
            "postfix": directory, "postfix_note": note}


def password(cfg: Config, name: str, password_file: str | None = None) -> tuple[str, str]:
    """Write the password file of `name` (an alias: of its account) again. (account, path)"""
    real = registry.resolve(cfg, name)
    if real is None:
        from .identity import no_such_account

        raise no_such_account(cfg, name)
    return real, write_password_file(cfg, real, password_file)


# ------------------------------------------------------------------ the URLs agents' machines use
def urls(cfg: Config, imap: str | None = None, smtp: str | None = None) -> tuple[str, str]:
    """The IMAP and SMTP URLs for `remote set`: given ones, else server.json's (admin config), else this host's."""
    saved = registry.read_json(server_path(cfg, "server.json")) or {}
    host = saved.get("hostname") if isinstance(saved.get("hostname"), str) else None
    if host is None:
        import socket

        host = socket.getfqdn()
    imap = imap or (saved["imap"] if isinstance(saved.get("imap"), str) else f"imaps://{host}")
    smtp = smtp or (saved["smtp"] if isinstance(saved.get("smtp"), str) else f"smtp://{host}:587")
    for what, url in (("--imap", imap), ("--smtp", smtp)):
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in ({"imap", "imaps"} if what == "--imap" else {"smtp", "smtps"}) or any(
                c.isspace() for c in url):
            raise UsageError(f"{what} {url!r}: expected {what[2:]}[s]://HOST[:PORT]")
    return imap, smtp


def remote_line(imap: str, smtp: str, address: str, password_file: str) -> str:
    """The command for the agent's machine: the full address, so that machine's home takes the server's domain."""
    import shlex

    return (f"agentmail remote set --imap {shlex.quote(imap)} --smtp {shlex.quote(smtp)} --user {address} "
            f"--password-file {shlex.quote(password_file)}")


# ------------------------------------------------------------------ the reference configuration
def write_config(cfg: Config, d: Deployment, out: str, imap: str, smtp: str) -> list[str]:
    """Write the reference configuration files into `out`, the Sieve script and server.json into server/."""
    written = []
    with as_store_owner(cfg):
        registry.ensure_store(cfg)
        _mkdirs(server_path(cfg), server_path(cfg, "sieve"), server_path(cfg, "dovecot"))
        # the shared folder Public/agentmail-presence (deploy.PRESENCE_MAILBOX): a Maildir++ folder of server/public
        folder = Maildir(server_path(cfg, "public")).create().folder("agentmail-presence").create(folder_marker=True)
        _write(os.path.join(folder.path, "dovecot-acl"), PRESENCE_ACL)
        rendered = files(d)
        sieve = server_path(cfg, "sieve", "agentmail.sieve")
        _write(sieve, rendered["agentmail.sieve"])
        written.append(sieve)
        registry.write_json(server_path(cfg, "server.json"), {"hostname": d.hostname, "imap": imap, "smtp": smtp})
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, out) from exc
    for name, text in rendered.items():
        path = os.path.join(out, name)
        _write(path, text)
        written.append(path)
    directory, _ = write_tables(cfg)
    written.append(directory)
    return written
