"""Driving the waiter (`agentmail hook wait`) as Claude Code drives it: in the background, after a turn.

`Session` is one stand-in Claude Code session (async_harness.py) on a `Store` (hookkit.py): `stop()` runs the Stop
event as Claude Code does after a turn, the blocking stop hook in the foreground and the waiter in the background,
and returns a `Waiter` handle; `prompt()`, `post_tool()` and `end()` run the other hooks. Nothing here sleeps for a
fixed time: tests wait for a condition (tests/support/wait.py) or for the waiter's exit status file.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.hooks.hookkit import ROOT, Result, Store, hook_payload
from tests.support.store import AGENTMAIL
from tests.support.wait import until

HARNESS = Path(__file__).with_name("async_harness.py")
WRAPPER = ROOT / "hooks" / "agentmail-hook"
DEADLINE = 20.0


class Waiter:
    """One background waiter: its pid (the `sh -c`, or the waiter itself when sh exec'd it) and its output files."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid = pid
        self.out = out

    def rc(self) -> int | None:
        try:
            return int(Path(f"{self.out}.rc").read_text())
        except (OSError, ValueError):
            return None

    @property
    def stderr(self) -> str:
        return Path(f"{self.out}.stderr").read_text(encoding="utf-8")

    @property
    def stdout(self) -> str:
        return Path(f"{self.out}.stdout").read_text(encoding="utf-8")

    def running(self) -> bool:
        return self.rc() is None

    def result(self, timeout: float = DEADLINE) -> int:
        """The exit status, once it has exited (fails after `timeout` s)."""
        until(lambda: self.rc() is not None, f"waiter {self.pid} to exit", timeout)
        rc = self.rc()
        assert rc is not None
        return rc

    def woke(self, timeout: float = DEADLINE) -> str:
        """The wake text, after checking the waiter exited 2 and printed nothing on stdout."""
        rc = self.result(timeout)
        assert rc == 2, f"waiter exited {rc}, stderr {self.stderr!r}"
        assert self.stdout == ""
        return self.stderr


def pids_of_waiters(home: Path) -> list[int]:
    """Live (not zombie) processes running `agentmail hook wait` on this store."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"wait" in cmd and any(c.endswith(b"agentmail") for c in cmd) \
                and f"AGENTMAIL_HOME={home}".encode() in env:
            found.append(int(entry))
    return found


def gone(pid: int) -> bool:
    """The process has ended (a zombie no init has reaped yet counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


class Session:
    """A stand-in Claude Code session whose hooks run the way Claude Code runs them, the waiter in the background."""

    def __init__(self, store: Store, cwd: Path, session_id: str | None = None, print_mode: bool = False,
                 env: dict[str, str] | None = None, wrapper: bool = False) -> None:
        self.store = store
        self.cwd = cwd
        self.session_id = session_id or str(uuid.uuid4())
        self.env = dict(env or store.env)
        self.wrapper = wrapper
        args = [sys.executable, str(HARNESS)] + (["-p", "hello"] if print_mode else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=self.env)
        self.pid = self.proc.pid
        self.outdir = store.root / "waiters"
        self.outdir.mkdir(exist_ok=True)
        self.waiters: list[Waiter] = []

    def _ask(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert isinstance(answer, dict)
        return answer

    def command(self, event: str) -> str:
        if self.wrapper:
            return shlex.join([str(WRAPPER), event])
        return shlex.join([AGENTMAIL, "hook", event])

    def payload(self, event: str, **extra: Any) -> bytes:
        if event == "wait":
            data = hook_payload("stop", self.session_id, str(self.cwd), **extra)
        else:
            data = hook_payload(event, self.session_id, str(self.cwd), **extra)
        return json.dumps(data).encode()

    def run(self, event: str, raw: bytes | None = None, **extra: Any) -> Result:
        data = self.payload(event, **extra) if raw is None else raw
        answer = self._ask({"op": "run", "cmd": self.command(event), "input": base64.b64encode(data).decode(),
                            "env": self.env, "cwd": str(self.cwd)})
        return Result(answer["rc"], base64.b64decode(answer["stdout"]), base64.b64decode(answer["stderr"]))

    def spawn_wait(self, raw: bytes | None = None, env: dict[str, str] | None = None, **extra: Any) -> Waiter:
        """Only the waiter, in the background (Stop's asyncRewake hook), with the Stop JSON on stdin."""
        data = self.payload("wait", **extra) if raw is None else raw
        out = self.outdir / uuid.uuid4().hex[:12]
        answer = self._ask({"op": "spawn", "cmd": self.command("wait"), "input": base64.b64encode(data).decode(),
                            "env": env or self.env, "cwd": str(self.cwd), "out": str(out)})
        waiter = Waiter(int(answer["pid"]), out)
        self.waiters.append(waiter)
        return waiter

    def armed(self, waiter: Waiter) -> Waiter:
        """Wait until `waiter` has claimed the session (it is then watching), and return it."""
        claim = self.store.home / "wake" / "sessions" / self.session_id / "waiter"

        def ready() -> bool:
            assert waiter.running() or waiter.rc() is not None
            if not waiter.running():
                raise AssertionError(f"waiter exited {waiter.rc()} before arming: {waiter.stderr!r}")
            try:
                data = json.loads(claim.read_text())
            except (OSError, ValueError):
                return False
            return data.get("state") == "armed" and data.get("pid") in self.tree(waiter.pid)

        until(ready, "the waiter to arm")
        return waiter

    def tree(self, pid: int) -> set[int]:
        """`pid` and its descendants (the `sh -c` may or may not have exec'd the waiter)."""
        found = {pid}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid in found:
                    found.add(int(entry))
        return found

    def stop(self, active: bool = False) -> Waiter:
        """End a turn as Claude Code does: the stop hook (foreground) and the waiter (background, armed)."""
        waiter = self.spawn_wait(stop_hook_active=active)
        result = self.run("stop", stop_hook_active=active)
        assert result.rc == 0, result
        return self.armed(waiter)

    def prompt(self, **extra: Any) -> Result:
        return self.run("prompt", **extra)

    def post_tool(self) -> Result:
        return self.run("post-tool")

    def end(self) -> Result:
        return self.run("session-end")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Claude Code dies: its background hooks are orphaned, as FINDINGS measured."""
        self.proc.send_signal(sig)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for waiter in self.waiters:  # a test that failed half-way must not leave waiters behind
            for pid in self.tree(waiter.pid) if not gone(waiter.pid) else ():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def wait_gone(pid: int, timeout: float = DEADLINE) -> float:
    """Seconds until `pid` has ended."""
    start = time.monotonic()
    until(lambda: gone(pid), f"process {pid} to end", timeout)
    return time.monotonic() - start


class Sessions:
    """Opens stand-in sessions on one store, and closes them (and any waiter left behind) at the end of a test."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.opened: list[Session] = []

    def __call__(self, stable: str | None = None, **kwargs: Any) -> Session:
        cwd = kwargs.pop("cwd", None) or self.store.project(stable=stable)
        session = Session(self.store, cwd, **kwargs)
        self.opened.append(session)
        return session

    def started(self, stable: str, **kwargs: Any) -> Session:
        """A session that has run SessionStart (so it is registered and bound under `stable`)."""
        session = self(stable, **kwargs)
        result = session.run("session-start")
        assert result.rc == 0 and result.stderr == "", result
        return session

    def close(self) -> None:
        for session in self.opened:
            session.close()


def config_json(store: Store, **settings: Any) -> None:
    """Write the store's config.json (the wake settings a test needs)."""
    store.home.mkdir(parents=True, exist_ok=True)
    (store.home / "config.json").write_text(json.dumps(settings))
