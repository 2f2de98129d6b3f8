"""Who is speaking: the account a command or hook acts as, and how a session gets one.

Order (DESIGN.md): `--as`, else `AGENTMAIL_ADDRESS`, else the harness session (hook JSON or `CLAUDE_SESSION_ID`),
else the nearest registered process up the parent-process chain.
"""

from __future__ import annotations

import os

from ..errors import ConfigError, NoSuchAccountError
from ..format.address import normalize_name, parse_address
from ..store import presence, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..config import Config

HOW_TO_REGISTER = ("no agentmail identity for this process: run `agentmail register [NAME]`, "
                   "or pass --as NAME, or set AGENTMAIL_ADDRESS")


def stable_name(cwd: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """A name the project asks for: `AGENTMAIL_NAME`, else the first line of the nearest `.agentmail` file."""
    env = os.environ if env is None else env
    if env.get("AGENTMAIL_NAME"):
        return normalize_name(env["AGENTMAIL_NAME"])
    here = os.path.abspath(cwd or os.getcwd())
    while True:
        path = os.path.join(here, ".agentmail")
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                first = fh.readline().strip()
            return normalize_name(first) if first else None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def no_such_account(cfg: Config, name: str) -> NoSuchAccountError:
    """The error for a user name that has no account: the closest names, and how to create it."""
    from ..format.address import suggest

    close = suggest(name, registry.names(cfg, include_aliases=True))
    if name == registry.BROADCAST:
        how = "`all` is the broadcast list, not an account"
    elif name in registry.RESERVED or name == registry.HUMAN:
        how = ""
    else:
        how = f"create it with `agentmail register {name}`"
    return NoSuchAccountError(name, close, how)


def _known(cfg: Config, text: str, how: str) -> str:
    name = parse_address(text, cfg.domain)
    real = registry.resolve(cfg, name)
    if real is None:
        err = no_such_account(cfg, name)
        if how == "--as":  # a user named on the command line: EX_NOUSER (67)
            raise err
        raise ConfigError(f"{how} names {name}, which is not an account"
                          + err.message.removeprefix(f"no such account: {name}"))
    return real


def whoami(cfg: Config, as_name: str | None = None, session_id: str | None = None,
           env: Mapping[str, str] | None = None) -> str:
    """The current account name, or ConfigError (78) saying how to get one."""
    env = os.environ if env is None else env
    if as_name is not None:  # an explicit `--as ''` is an error, not "no --as"
        return _known(cfg, as_name, "--as")
    if env.get("AGENTMAIL_ADDRESS"):
        return _known(cfg, env["AGENTMAIL_ADDRESS"], "AGENTMAIL_ADDRESS")
    # Codex gives the commands its model runs CODEX_THREAD_ID (its hooks' session_id); inside its sandbox the
    # parent chain stops at the sandbox's own init, so the session id is the only way back to the account.
    sid = session_id or env.get("CLAUDE_SESSION_ID") or env.get("CODEX_THREAD_ID")
    if sid:
        name = presence.lookup_session(cfg, sid)
        if name:
            return registry.resolve(cfg, name) or name
    name = presence.lookup_pid_chain(cfg)
    if name:
        return registry.resolve(cfg, name) or name
    remote = _remote_account(cfg)
    if remote:
        return remote  # a remote home mirrors one account: whoever runs here speaks for it
    raise ConfigError(HOW_TO_REGISTER)


def _remote_account(cfg: Config) -> str | None:
    """The account a remote home mirrors (docs/scale-out.md), None on a local home."""
    from ..remote.alive import is_remote

    if not is_remote(cfg.home):
        return None
    from ..remote.settings import load

    settings = load(cfg)
    return settings.user if settings else None


def _previous(cfg: Config, pid: int, session_id: str | None) -> str | None:
    """The account this harness session (with a session id), else this very process, is bound to now."""
    if session_id:
        bound = presence.lookup_session(cfg, session_id)
        return (registry.resolve(cfg, bound) or bound) if bound else None
    try:
        with open(cfg.path("sessions", f"pid-{pid}"), encoding="utf-8") as fh:
            line = fh.readline().strip()
    except (OSError, UnicodeDecodeError):
        line = ""
    if line:
        name, _, started = line.partition(" ")
        if presence.pid_alive(pid, started or None):
            return registry.resolve(cfg, name) or name
    return None


def _bind(cfg: Config, real: str, pid: int, session_id: str | None, cwd: str | None) -> str | None:
    """Bind `real` to this session; when that replaces another account, mark it offline and say so."""
    previous = _previous(cfg, pid, session_id)
    note = None
    if previous and previous != real:
        info = presence.presence(cfg, previous)
        # a process holds one identity (the nearest binding up the parent chain wins): the old name no longer
        # has a live session here, so the directory must not keep showing it online
        if info and info.get("pid") == pid:
            presence.mark_offline(cfg, previous)
        what = "this session" if session_id else "this shell"
        note = (f"{what} was {previous} and is now {real}; {previous} is offline and keeps its mail "
                f"(act as it with --as {previous})")
    presence.bind(cfg, real, pid, session_id, cwd)
    return note


def register(cfg: Config, name: str | None = None, *, pid: int | None = None, session_id: str | None = None,
             cwd: str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """Bind this session to an account, creating it if needed; returns (name, note for the user or None).

    A requested name (argument, AGENTMAIL_NAME or .agentmail) is reused when free, so a restarted session gets
    its mailbox back; if a live session holds it, the caller gets a fresh three-word name and a note saying so.
    A session or process holds one account: registering another name rebinds it, marks the previous name
    offline (its mail stays) and says so in the note.
    """
    registry.ensure_store(cfg)
    pid = presence.harness_pid() if pid is None else pid
    remote = _remote_account(cfg)
    if remote:
        if name is not None and normalize_name(name) != remote:
            raise ConfigError(f"this home mirrors the account {remote} on a mail server; another account needs its "
                              "own home (`agentmail admin` on the server creates it, `agentmail --home DIR remote "
                              "set ...` here)")
        return remote, _bind(cfg, remote, pid, session_id, cwd)  # sessions of one machine share the account
    if session_id and name is None:
        bound = presence.lookup_session(cfg, session_id)
        real = registry.resolve(cfg, bound) if bound else None
        if real:
            return real, _bind(cfg, real, pid, session_id, cwd)
    wanted = normalize_name(name) if name is not None else stable_name(cwd, env)
    note = None
    if wanted:
        wanted = registry.check_new_name(wanted) if wanted != registry.HUMAN else wanted
        if wanted == registry.HUMAN:
            from ..errors import UsageError

            raise UsageError("'human' is the person's account; agents register another name")
        real = registry.resolve(cfg, wanted)
        holder = presence.held_by_other(cfg, real, pid) if real else None
        if holder is None:
            if real is None:
                registry.create_account(cfg, wanted)
                real = wanted
            return real, _bind(cfg, real, pid, session_id, cwd)
        note = f"'{wanted}' is in use by a live session (pid {holder.get('pid')}); "
    elif name is None and session_id is None:
        bound = presence.lookup_pid_chain(cfg)
        real = registry.resolve(cfg, bound) if bound else None
        if real:
            return real, _bind(cfg, real, pid, session_id, cwd)
    from ..format.address import random_name

    taken = set(registry.names(cfg, include_aliases=True)) | registry.RESERVED
    for _ in range(10):
        fresh = random_name(taken)
        try:
            registry.create_account(cfg, fresh)
            break
        except Exception:  # lost a race for this name: draw again
            taken.add(fresh)
    else:
        raise ConfigError("could not find a free name")
    rebound = _bind(cfg, fresh, pid, session_id, cwd)
    if note:
        note += f"you are '{fresh}'"
    notes = [n for n in (note, rebound) if n]
    return fresh, "; ".join(notes) if notes else None
