"""Helpers that drive `agentmail hook EVENT` as Claude Code drives it (conftest.py turns them into fixtures).

A module of its own, not conftest.py: other test directories have a conftest.py too, and `from conftest import`
would pick whichever was imported last.

`store` is a temporary AGENTMAIL_HOME; `claude()` starts a stand-in Claude Code process (harness.py) that runs every
command through `/bin/sh -c` with the hook JSON on stdin, so the hook's parent process chain looks like the real one
(claude -> sh -> agentmail) and the presence it records carries the stand-in's pid.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from agentmail import config
from agentmail.agent.compose import send
from agentmail.config import Config
from tests.support.store import AGENTMAIL, BIN_DIR, create_accounts, env_for

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("harness.py")


class Result:
    def __init__(self, rc: int, stdout: bytes, stderr: bytes) -> None:
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr.decode("utf-8", "replace")

    def json(self) -> dict[str, Any]:
        assert self.stdout.endswith(b"\n") and self.stdout.count(b"\n") == 1, self.stdout
        data = json.loads(self.stdout)
        assert isinstance(data, dict)
        return data

    def context(self, event: str) -> str:
        """The additionalContext of a hookSpecificOutput answer, after checking its shape field by field."""
        data = self.json()
        assert list(data) == ["hookSpecificOutput"]
        out = data["hookSpecificOutput"]
        assert set(out) == {"hookEventName", "additionalContext"}
        assert out["hookEventName"] == event
        assert isinstance(out["additionalContext"], str) and out["additionalContext"]
        return out["additionalContext"]

    def __repr__(self) -> str:
        return f"Result(rc={self.rc}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def hook_payload(event: str, session_id: str, cwd: str, **extra: Any) -> dict[str, Any]:
    """Hook JSON shaped as Claude Code sends it: session_id first, then the common fields, then the event's own."""
    names = {"session-start": "SessionStart", "prompt": "UserPromptSubmit", "post-tool": "PostToolUse",
             "stop": "Stop", "session-end": "SessionEnd"}
    data: dict[str, Any] = {
        "session_id": session_id,
        "transcript_path": f"/home/u/.claude/projects/x/{session_id}.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": names[event],
    }
    if event == "session-start":
        data["source"] = "startup"
    elif event == "prompt":
        data["prompt"] = 'please check "session_id": "not-this-one" in the logs'
    elif event == "post-tool":
        data.update(tool_name="Bash", tool_input={"command": "ls", "session_id": "decoy"},
                    tool_response={"stdout": "a\nb\n", "stderr": "", "interrupted": False})
    elif event == "stop":
        data["stop_hook_active"] = False
    elif event == "session-end":
        data["reason"] = "prompt_input_exit"
    data.update(extra)
    return data


class Claude:
    """One stand-in Claude Code session: a live process with a session id and a project directory."""

    def __init__(self, env: dict[str, str], cwd: Path, session_id: str | None = None) -> None:
        self.env = env
        self.cwd = cwd
        self.session_id = session_id or str(uuid.uuid4())
        self.proc = subprocess.Popen([sys.executable, str(HARNESS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        self.pid = self.proc.pid

    def sh(self, cmd: str, input: bytes | str = b"", env: dict[str, str] | None = None) -> Result:
        data = input.encode() if isinstance(input, str) else input
        req = {"cmd": cmd, "input": base64.b64encode(data).decode(), "env": env or self.env, "cwd": str(self.cwd)}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return Result(answer["rc"], base64.b64decode(answer["stdout"]), base64.b64decode(answer["stderr"]))

    def agentmail(self, *args: str, input: bytes | str = b"") -> Result:
        """A command the agent runs through its Bash tool (claude -> sh -> agentmail)."""
        return self.sh(shlex.join([AGENTMAIL, *args]), input)

    def hook(self, event: str, raw: bytes | str | None = None, env: dict[str, str] | None = None,
             **extra: Any) -> Result:
        if raw is None:
            raw = json.dumps(hook_payload(event, self.session_id, str(self.cwd), **extra))
        return self.sh(shlex.join([AGENTMAIL, "hook", event]), raw, env)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


class Store:
    def __init__(self, root: Path) -> None:
        self.home = root / "store"
        self.root = root
        self.env = env_for(self.home, drop=("CLAUDE_PLUGIN_ROOT",), HOME=str(root / "home"),
                           PATH=f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}")
        self.sessions: list[Claude] = []
        (root / "home").mkdir()

    @property
    def cfg(self) -> Config:
        return config.load(str(self.home))

    def project(self, name: str | None = None, stable: str | None = None) -> Path:
        path = self.root / "projects" / (name or uuid.uuid4().hex[:8])
        path.mkdir(parents=True, exist_ok=True)
        if stable:
            (path / ".agentmail").write_text(stable + "\n")
        return path

    def claude(self, cwd: Path | None = None, stable: str | None = None, session_id: str | None = None,
               env: dict[str, str] | None = None) -> Claude:
        session = Claude(env or self.env, cwd or self.project(stable=stable), session_id)
        self.sessions.append(session)
        return session

    def register(self, name: str) -> str:
        """An account with no live session (registered by a process that has gone)."""
        create_accounts(self.cfg, name)
        return name

    def send(self, sender: str, to: str, title: str, body: str = "body", urgent: bool = False) -> str:
        return send(self.cfg, sender, [to], title, body, urgent=urgent).key

    def maildir(self, name: str, sub: str = "new") -> list[str]:
        return sorted(os.listdir(self.home / "maildirs" / name / sub))

    def account_of(self, session: Claude) -> str:
        text = (self.home / "sessions" / session.session_id).read_text()
        assert text.endswith("\n") and text.count("\n") == 1 and " " not in text  # the wrapper's contract
        return text.strip()

    def presence(self, name: str) -> dict[str, Any]:
        data = json.loads((self.home / "directory" / f"{name}.json").read_text())
        assert isinstance(data, dict)
        return data
