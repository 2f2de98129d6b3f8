"""Real Gemini CLI runs for the harness tests: a throw-away HOME whose settings keep Gemini CLI offline (API key auth,
no telemetry, no usage statistics, no update checks, no folder-trust dialog), the model at the loopback stand-in
(GOOGLE_GEMINI_BASE_URL), this checkout's extension (gemini/) linked or installed as a user would, and every
command run offline (tests/support/offline.py).

    rig = GeminiRig(tmp / "bob", store.home, name="bob")
    run = rig.prompt("[[tool: send {...}]]")     # gemini -p; run.requests are what it sent the model

Headless `-p` offers MCP tools only with `--allowed-mcp-server-names agentmail` (or -y, or a trusted server;
FINDINGS 4.4), which `prompt` passes; `-m` skips the model router's extra calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

from tests.support import checkout, offline
from tests.support.codex.session import TAG_VAR, Run
from tests.support.store import BIN_DIR

EXTENSION = checkout.REPO / "gemini"
MODEL = "gemini-2.5-flash"
TIMEOUT = 180.0
SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
    "privacy": {"usageStatisticsEnabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "telemetry": {"enabled": False},
    "ide": {"enabled": False},
}


class GeminiRig:
    """HOME and a workspace under `root`, on the agentmail store `store_home`, as account `name`, with the extension
    linked (`how="link"`), installed (a copy, `how="install"`) or absent (None)."""

    def __init__(self, root: Path, store_home: Path, name: str | None = None, how: str | None = "link") -> None:
        self.root = root
        self.store_home = store_home
        self.home = root / "home"
        self.work = root / "work"
        self.log = root / "requests.jsonl"
        self.tag = f"gemini-{name or 'anon'}-{uuid.uuid4().hex[:8]}"
        (self.home / ".gemini").mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        (self.home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS, indent=2))
        self.env = {
            "HOME": str(self.home), "LANG": "C.UTF-8", "TERM": "dumb", "SHELL": "/bin/sh",
            "PATH": os.pathsep.join([BIN_DIR, os.environ.get("PATH", "/usr/bin:/bin")]),
            "GEMINI_API_KEY": "standin-key", "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{offline.PORT}",
            "AGENTMAIL_HOME": str(store_home), "PYTHONPATH": checkout.pythonpath(None), TAG_VAR: self.tag,
            **({"AGENTMAIL_NAME": name} if name else {}),
        }
        if how is not None:
            self.gemini("extensions", how, str(EXTENSION), "--consent")

    def gemini(self, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        """A gemini management command (offline), after checking it exited 0."""
        proc = subprocess.run(offline.command(self.root / "manage.jsonl", ["gemini", *args]), env=self.env,
                              cwd=self.work, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"gemini {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def prompt(self, text: str, *args: str, timeout: float = TIMEOUT) -> Run:
        """`gemini -m MODEL --allowed-mcp-server-names agentmail -p TEXT`; what it sent the model."""
        before = offline.entries(self.log)
        after = before[-1]["seq"] if before else 0
        argv = ["gemini", "-m", MODEL, "--allowed-mcp-server-names", "agentmail", *args, "-p", text]
        proc = subprocess.run(offline.command(self.log, argv), env=self.env, cwd=self.work, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return Run(proc.returncode, proc.stdout, proc.stderr, offline.entries(self.log, "gemini", after))
