"""`agentmail remote set|show|unset`: making a home remote, looking at it, and making it local again."""

from __future__ import annotations

import json
import os
import time

from ..errors import ConfigError, TempFailError, UsageError
from ..format.address import normalize_name, split_address
from ..store import registry
from . import outbox
from .alive import LOCK, SOCKET, STATUS, ensure, running
from .settings import Settings, load, parse_url, read_ca, read_password, remove, save

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config


def account_name(user: str, cfg: Config) -> tuple[str, str]:
    """(name, domain) from `--user NAME` or `--user NAME@DOMAIN`."""
    if "@" in user:
        local, domain = split_address(user)
    else:
        local, domain = user, cfg.domain
    name = normalize_name(local)
    if name == registry.BROADCAST or name in registry.RESERVED:
        raise UsageError(f"--user {user}: '{name}' is not an account one can log in as")
    return name, domain.strip().lower()


def set_domain(cfg: Config, domain: str) -> str | None:
    """Make the home's domain the server's (config.json); a note for the user when it changed."""
    if domain == cfg.domain:
        return None
    env = os.environ.get("AGENTMAIL_DOMAIN")
    if env and env.strip().lower() != domain:
        raise ConfigError(f"AGENTMAIL_DOMAIN is {env}, but the account is @{domain}: unset it or make them agree")
    path = cfg.path("config.json")
    data: dict[str, Any] = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
    data["domain"] = domain
    registry.write_json(path, data)
    old, cfg.domain = cfg.domain, domain
    return f"this home's domain is now @{domain} (was @{old}; config.json)"


def check_home(cfg: Config, name: str, current: Settings | None) -> None:
    """A remote home mirrors one account: refuse a home that holds other agents, or mirrors another account."""
    if current is not None and current.user != name:
        raise ConfigError(f"this home mirrors {current.address}; run `agentmail remote unset` first, or use another "
                          "home (--home DIR) for another account")
    others = [n for n in registry.agent_names(cfg) if n != name]
    if current is None and others:
        raise ConfigError(f"this home has local accounts ({', '.join(others[:5])}); a remote home mirrors one "
                          "account: use a new home (--home DIR or AGENTMAIL_HOME) for it")


def configure(cfg: Config, imap: str, smtp: str, user: str, password_file: str, *, ca_file: str | None = None,
              allow_plain: bool = False, idle_timeout: float | None = None, check: bool = True,
              stdin: Any = None) -> tuple[Settings, list[str]]:
    """Validate, log in to both servers (unless `check` is off), then write the settings and start syncing.
    Nothing is written when anything fails. Returns the settings and notes for the user."""
    endpoints = parse_url(imap, "imap"), parse_url(smtp, "smtp")
    name, domain = account_name(user, cfg)
    password = read_password(password_file, stdin)
    ca = read_ca(ca_file) if ca_file else None
    current = load(cfg)
    check_home(cfg, name, current)
    settings = Settings(endpoints[0], endpoints[1], name, domain, password, ca, allow_plain)
    if current is not None:
        for key in ("poll", "uncertain_grace", "idle_timeout"):
            setattr(settings, key, getattr(current, key))
    if idle_timeout is not None:
        if idle_timeout <= 0:
            raise UsageError("--idle-timeout must be a positive number of seconds")
        settings.idle_timeout = float(idle_timeout)
    if check:
        from .connect import check as check_login

        check_login(settings)
    registry.ensure_store(cfg)  # only now: a refused `remote set` leaves a new home as it found it
    notes = [n for n in [set_domain(cfg, domain)] if n]
    settings.set_at = registry.iso_now()
    if registry.resolve(cfg, name) is None:
        registry.create_account(cfg, name)
    outbox.create(cfg)
    stop(cfg)  # a running sync process has the old settings
    save(cfg, settings)
    os.close(os.open(cfg.path(LOCK), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    ensure(cfg.home)
    return settings, notes


def stop(cfg: Config, timeout: float = 10.0) -> bool:
    """Ask the sync process to stop and wait until it has (its lock released); True if one was running."""
    if not running(cfg.home):
        return False
    from .client import ask

    try:
        ask(cfg.home, "stop", timeout)
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    while running(cfg.home):
        if time.monotonic() > deadline:
            pid = status(cfg).get("pid")
            if isinstance(pid, int):
                import signal

                try:
                    os.kill(pid, signal.SIGKILL)  # stuck: the lock and the state on disk make this safe
                except OSError:
                    pass
            time.sleep(0.2)
            break
        time.sleep(0.05)
    return True


def status(cfg: Config) -> dict[str, Any]:
    try:
        with open(cfg.path(STATUS), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def show(cfg: Config) -> dict[str, Any] | None:
    """What `remote show` prints (never the password), or None on a local home."""
    settings = load(cfg)
    if settings is None:
        return None
    info = settings.public()
    state = status(cfg)
    live = running(cfg.home)
    info["sync"] = {"running": live, "pid": state.get("pid") if live else None,
                    "state": state.get("state") if live else "stopped", "error": state.get("error") if live else None,
                    "since": state.get("since"), "last_sync": state.get("last_sync")}
    counts = outbox.counts(cfg)
    info["outbox"] = {"queued": counts["new"], "in_doubt": counts["cur"], "failed": counts["failed"]}
    return info


def unset(cfg: Config, force: bool = False) -> int:
    """Make the home local again: stop the sync process, remove the settings; the mirrored mail stays. Refused
    while mail waits in the outbox, unless `force` (it then stays in outbox/, unsent)."""
    settings = load(cfg)
    if settings is None:
        raise ConfigError("this home is not remote (nothing to unset)")
    waiting = sum(len(outbox.names(cfg, s)) for s in ("new", "cur"))
    if waiting and not force:
        raise TempFailError(f"{waiting} message(s) still wait in the outbox for {settings.smtp.url}; wait until they "
                            "are sent (`agentmail remote show`), or pass --force to keep them unsent in outbox/")
    stop(cfg)
    remove(cfg)
    for leftover in (SOCKET, STATUS):
        try:
            os.unlink(cfg.path(leftover))
        except OSError:
            pass
    return waiting
