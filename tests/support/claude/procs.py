"""Processes seen through /proc (Linux): which belong to a test's store, which are waiters, and ending them by pid.

A test tells its own processes from everyone else's by the store they were started on: every hook, waiter and
`agentmail` command it causes carries AGENTMAIL_HOME=<its temp store> in its environment (Claude Code passes its
own environment on to hooks and to its Bash tool). Nothing here signals a process by name.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    argv: tuple[str, ...]

    def is_waiter(self) -> bool:
        """`agentmail hook wait` itself (the Python process, not a shell in front of it)."""
        argv = self.argv
        return any(argv[i] == "hook" and argv[i + 1] == "wait" for i in range(len(argv) - 1))


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a live process, or None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def environ_of(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


def processes_of(home: Path, **env: str) -> list[Proc]:
    """Live (not zombie) processes whose environment has AGENTMAIL_HOME=`home` (and each of `env`), this one
    excluded."""
    wanted = {"AGENTMAIL_HOME": str(home), **env}
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        environ = environ_of(pid)
        if any(environ.get(key) != value for key, value in wanted.items()):
            continue
        stat = _stat(pid)
        try:
            argv = tuple(a.decode("utf-8", "replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a)
        except OSError:
            continue
        if stat is not None and stat[0] != "Z":
            found.append(Proc(pid, stat[1], argv))
    return found


def waiters(home: Path, **env: str) -> list[int]:
    """Pids of the live `agentmail hook wait` processes on the store at `home` (with `env` in their environment)."""
    return sorted(p.pid for p in processes_of(home, **env) if p.is_waiter())


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def kill_all(pids: list[int]) -> None:
    """SIGKILL each of `pids` that still runs (cleanup after a test, whatever it left)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
