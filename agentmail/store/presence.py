"""Which sessions are live, and which account each harness session or process is bound to.

    directory/<name>.json   {name, pid, session_id, cwd, host, started_at, last_seen, online}
    sessions/<session-id>   first line: the account a harness session (Claude Code's session_id) is bound to
    sessions/pid-<pid>      "<name> <process start time>": the account of a process without a session id

A process is identified by pid *and* its start time (from /proc), so a recycled pid never inherits an identity.
Lookups are plain file reads (no JSON): every `agentmail send` and every hook walks this.
"""

from __future__ import annotations

import os
import time

from .maildir import os_error
from .registry import iso_now, read_json, write_json

TYPE_CHECKING = False  # not `from typing import`: typing costs ~9 ms of start-up
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config

# Processes between the harness and us that are not the harness itself: shells and launchers. The hook runs as
# claude -> sh -c -> hook script -> agentmail, and the Bash tool as claude -> bash -> agentmail.
PASS_THROUGH = frozenset({
    "sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "tcsh", "csh", "busybox", "env", "timeout", "nohup",
    "sudo", "su", "xargs", "time", "script", "stdbuf", "nice", "ionice", "flock", "setsid", "agentmail",
    "agentmail-hook", "agentmail-sendmail",
})


def proc_stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, command name, start time) of a process, from /proc; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    # comm is in parentheses and may itself contain spaces or parentheses: split at the last ')'
    comm = raw[raw.find("(") + 1: raw.rfind(")")]
    rest = raw[raw.rfind(")") + 2:].split()
    if len(rest) < 20:
        return None
    return int(rest[1]), comm, rest[19]


def ancestors(start: int | None = None, limit: int = 64) -> list[int]:
    pid = os.getppid() if start is None else start
    chain: list[int] = []
    while pid > 1 and len(chain) < limit:
        chain.append(pid)
        info = proc_stat(pid)
        if info is None:
            break
        pid = info[0]
    return chain


def harness_pid(start: int | None = None) -> int:
    """The nearest ancestor that is not a shell or launcher: the agent harness a command runs under."""
    chain = ancestors(start)
    for pid in chain:
        info = proc_stat(pid)
        if info is None or info[1] not in PASS_THROUGH:
            return pid
    return chain[-1] if chain else os.getppid()


def pid_alive(pid: int, start_time: str | None = None) -> bool:
    if pid <= 0:
        return False
    info = proc_stat(pid)
    if info is None:
        try:
            os.kill(pid, 0)  # no /proc (macOS): fall back to a signal-0 probe
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return start_time is None or info[2] == start_time


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def session_path(cfg: Config, session_id: str) -> str:
    # session ids come from hook JSON: keep only a safe file name
    safe = "".join(c for c in session_id if c.isalnum() or c in "-_.")[:128].lstrip(".")
    return cfg.path("sessions", safe or "_")


def lookup_session(cfg: Config, session_id: str) -> str | None:
    return _read_first_line(session_path(cfg, session_id))


def lookup_pid_chain(cfg: Config, start: int | None = None) -> str | None:
    """The account bound to the nearest live registered ancestor process."""
    for pid in ancestors(start):
        line = _read_first_line(cfg.path("sessions", f"pid-{pid}"))
        if line:
            name, _, started = line.partition(" ")
            if pid_alive(pid, started or None):
                return name
    return None


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise os_error(exc, path) from exc


def bind(cfg: Config, name: str, pid: int, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
    """Record that `name` is live in process `pid` (and harness session `session_id`)."""
    info = proc_stat(pid)
    started = info[2] if info else ""
    _write_text(cfg.path("sessions", f"pid-{pid}"), f"{name} {started}\n")
    if session_id:
        _write_text(session_path(cfg, session_id), name + "\n")
    now = iso_now()
    previous = read_json(cfg.path("directory", name + ".json")) or {}
    same = previous.get("pid") == pid and previous.get("online")
    presence = {
        "name": name, "pid": pid, "proc_start": started, "session_id": session_id or previous.get("session_id"),
        "cwd": cwd or os.getcwd(), "host": os.uname().nodename,
        "started_at": previous.get("started_at", now) if same else now, "last_seen": now, "online": True,
    }
    write_json(cfg.path("directory", name + ".json"), presence)
    return presence


def presence(cfg: Config, name: str) -> dict[str, Any] | None:
    return read_json(cfg.path("directory", name + ".json"))


def is_live(info: dict[str, Any] | None) -> bool:
    if not info or not info.get("online"):
        return False
    if info.get("host") not in (None, os.uname().nodename):
        return True  # another machine's session: trust its flag
    pid = info.get("pid")
    return isinstance(pid, int) and pid_alive(pid, info.get("proc_start") or None)


def held_by_other(cfg: Config, name: str, pid: int) -> dict[str, Any] | None:
    """The presence of a live session other than `pid` that holds `name`, if any."""
    info = presence(cfg, name)
    if is_live(info) and info is not None and info.get("pid") != pid:
        return info
    return None


def all_presence(cfg: Config) -> list[dict[str, Any]]:
    try:
        entries = sorted(os.listdir(cfg.path("directory")))
    except FileNotFoundError:
        return []
    out = []
    for entry in entries:
        if entry.endswith(".json"):
            info = read_json(cfg.path("directory", entry))
            if info:
                out.append(info)
    return out


def mark_offline(cfg: Config, name: str) -> None:
    """The session ended: keep its account and mail, drop its process binding."""
    info = presence(cfg, name)
    if not info:
        return
    pid = info.get("pid")
    if isinstance(pid, int):
        try:
            os.unlink(cfg.path("sessions", f"pid-{pid}"))
        except FileNotFoundError:
            pass
    info.update(online=False, last_seen=iso_now(), ended_at=iso_now())
    write_json(cfg.path("directory", name + ".json"), info)


def touch(cfg: Config, name: str, every: float = 60.0) -> None:
    """Refresh last_seen, at most once a minute (hooks call this on every prompt)."""
    path = cfg.path("directory", name + ".json")
    try:
        if time.time() - os.stat(path).st_mtime < every:
            return
    except FileNotFoundError:
        return
    info = read_json(path)
    if info:
        info["last_seen"] = iso_now()
        write_json(path, info)


def rename(cfg: Config, old: str, new: str) -> None:
    """Move presence and bindings to the new name after an account rename."""
    info = presence(cfg, old)
    if info:
        info["name"] = new
        write_json(cfg.path("directory", new + ".json"), info)
        os.unlink(cfg.path("directory", old + ".json"))
    try:
        entries = os.listdir(cfg.path("sessions"))
    except FileNotFoundError:
        return
    for entry in entries:
        path = cfg.path("sessions", entry)
        line = _read_first_line(path)
        if not line:
            continue
        name, _, rest = line.partition(" ")
        if name == old:
            _write_text(path, f"{new} {rest}".rstrip() + "\n")


# --- the waiter's session files (docs/claude-code.md, "Waking an idle agent") --------------------------------------
#
#     wake/sessions/<session-id>/waiter   {"pid", "proc_start", "account", "state", "why", "at"}: the session's newest
#                                         waiter claims the session by writing this (atomic rename); an older waiter
#                                         that finds another pid here stands down
#     wake/sessions/<session-id>/stop     touched when a turn ends (the Stop hook, and the waiter as it arms)
#     wake/sessions/<session-id>/turn     touched when a turn starts or goes on (UserPromptSubmit, PostToolUse)
#     wake/sessions/<session-id>/end      touched by SessionEnd
#
# Only the mtimes of stop, turn and end count, so the wrapper can touch them from sh without starting Python.
# One directory per session: a waiter watches only its own session's files (inotify), not every session's.

WAITER_STATES = ("armed", "off", "woke", "ended")


def wake_dir(cfg: Config, session_id: str) -> str:
    safe = "".join(c for c in session_id if c.isalnum() or c in "-_.")[:128].lstrip(".")
    return cfg.path("wake", "sessions", safe or "_")


def mark(cfg: Config, session_id: str, kind: str, create: bool = False) -> int | None:
    """Touch the session's `kind` marker (stop, turn, end); its mtime in ns, None if the session has no directory."""
    folder = wake_dir(cfg, session_id)
    if create:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    target = os.path.join(folder, kind)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error(exc, target) from exc
    try:
        os.utime(fd)  # O_TRUNC of an empty file need not change its mtime everywhere
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)


def marker_ns(cfg: Config, session_id: str, kind: str) -> int | None:
    try:
        return os.stat(os.path.join(wake_dir(cfg, session_id), kind), follow_symlinks=False).st_mtime_ns
    except OSError:
        return None


def write_waiter(cfg: Config, session_id: str, claim: dict[str, Any]) -> None:
    _write_text(os.path.join(wake_dir(cfg, session_id), "waiter"), _json_text(claim))


def read_waiter(cfg: Config, session_id: str) -> dict[str, Any] | None:
    return read_json(os.path.join(wake_dir(cfg, session_id), "waiter"))


def _json_text(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, sort_keys=True) + "\n"


def session_state(cfg: Config, info: dict[str, Any] | None) -> dict[str, Any]:
    """What a postcard will do to the session in `info` (a directory/<name>.json record).

    {"state": "offline" | "working" | "idle", "wakeable": bool, "why": str | None, "known": bool}: "working" is in a
    turn (the last turn marker is newer than the last stop), "idle" with `wakeable` a live armed waiter, else `why`
    says what is missing. `known` is False when the session has no waiter files at all (a shell, another harness, a
    plugin without the waiter): nothing is known about its turns.
    """
    if not is_live(info) or info is None:
        return {"state": "offline", "wakeable": False, "why": None, "known": False}
    sid = info.get("session_id")
    if not isinstance(sid, str) or not sid:
        return {"state": "idle", "wakeable": False, "why": "no waiter", "known": False}
    turn, stop = marker_ns(cfg, sid, "turn"), marker_ns(cfg, sid, "stop")
    claim = read_waiter(cfg, sid)
    known = claim is not None or turn is not None or stop is not None
    state = claim.get("state") if claim else None
    if (turn is not None and (stop is None or turn > stop)) or state == "woke":
        return {"state": "working", "wakeable": False, "why": None, "known": True}
    if claim is None:
        return {"state": "idle", "wakeable": False, "why": "no waiter", "known": known}
    pid = claim.get("pid")
    alive = isinstance(pid, int) and pid_alive(pid, claim.get("proc_start") or None)
    if state == "armed" and alive:
        return {"state": "idle", "wakeable": True, "why": None, "known": True}
    why = claim.get("why") if state in ("off", "ended") and isinstance(claim.get("why"), str) else "no waiter"
    return {"state": "idle", "wakeable": False, "why": why, "known": True}
