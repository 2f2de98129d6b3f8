"""Real Codex runs for the harness tests: a throw-away HOME and CODEX_HOME whose model provider is the loopback
stand-in, the agentmail plugin installed the way a user installs it (`codex plugin marketplace add` +
`codex plugin add`), the MCP server added with `codex mcp add`, and every codex command run offline
(tests/support/offline.py).

    rig = CodexRig(tmp / "bob", store.home, name="bob")
    run = rig.exec("[[tool: send {...}]]")      # codex exec; run.requests are what Codex sent the model

Hooks run only once trusted (the TUI asks; FINDINGS 3.4): these runs pass `--dangerously-bypass-hook-trust`, as
docs/harnesses.md tells a user who wants to skip the review for one run. The plugin is a copy of this checkout's
plugin files (Codex copies a marketplace's whole directory into its cache, .venv and .git included), and its hook
wrapper finds `agentmail` first on PATH: this venv, running this tree (PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import checkout, offline
from tests.support.store import AGENTMAIL, BIN_DIR

PLUGIN_DIRS = (".claude-plugin", "hooks", "plugin", "agents")
TAG_VAR = "AGENTMAIL_TEST_SESSION"
TIMEOUT = 180.0

CONFIG = f"""model = "standin-model"
model_provider = "standin"
check_for_update_on_startup = false

[model_providers.standin]
name = "standin"
base_url = "http://127.0.0.1:{offline.PORT}/v1"
wire_api = "responses"
env_key = "STANDIN_API_KEY"
supports_websockets = false
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false
"""


def plugin_copy(dest: Path) -> Path:
    """The plugin files of this checkout, copied to `dest` (a marketplace root)."""
    for name in PLUGIN_DIRS:
        shutil.copytree(checkout.REPO / name, dest / name, symlinks=True)
    return dest


@dataclass
class Run:
    """One finished codex command: its exit status, output, and what it sent the model."""

    rc: int
    stdout: str
    stderr: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [e["body"] for e in self.requests]

    @property
    def thread_id(self) -> str:
        """The thread this run made or resumed (`codex exec` prints `session id: ...`)."""
        found = re.search(r"session id: ([0-9a-f-]{36})", self.stderr + self.stdout)
        assert found, f"no session id in the output of codex exec:\n{self.stderr[-2000:]}"
        return found.group(1)


class CodexRig:
    """HOME, CODEX_HOME and a workspace under `root`, on the agentmail store `store_home`, as account `name`."""

    def __init__(self, root: Path, store_home: Path, name: str | None = None, env: dict[str, str] | None = None,
                 plugin: bool = True, mcp: bool = True) -> None:
        self.root = root
        self.store_home = store_home
        self.home = root / "home"
        self.codex_home = root / "codex"
        self.work = root / "work"
        self.log = root / "requests.jsonl"
        self.tag = f"codex-{name or 'anon'}-{uuid.uuid4().hex[:8]}"
        for path in (self.home, self.codex_home, self.work):
            path.mkdir(parents=True, exist_ok=True)
        (self.codex_home / "config.toml").write_text(CONFIG)
        self.env = {
            "HOME": str(self.home), "CODEX_HOME": str(self.codex_home), "LANG": "C.UTF-8", "TERM": "xterm-256color",
            "SHELL": "/bin/sh", "PATH": os.pathsep.join([BIN_DIR, os.environ.get("PATH", "/usr/bin:/bin")]),
            "STANDIN_API_KEY": "standin-key", "AGENTMAIL_HOME": str(store_home),
            "PYTHONPATH": checkout.pythonpath(None), TAG_VAR: self.tag,
            **({"AGENTMAIL_NAME": name} if name else {}), **(env or {}),
        }
        if plugin:
            self.install_plugin()
        if mcp:
            self.codex("mcp", "add", "agentmail", "--env", f"AGENTMAIL_HOME={store_home}",
                       "--env", f"PYTHONPATH={checkout.pythonpath(None)}", "--", AGENTMAIL, "mcp")

    def codex(self, *args: str, timeout: float = TIMEOUT) -> str:
        """A codex management command (offline); its stdout, after checking it exited 0."""
        proc = subprocess.run([*offline.command(self.root / "manage.jsonl", ["codex", *args])], env=self.env,
                              cwd=self.work, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"codex {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def install_plugin(self) -> None:
        market = plugin_copy(self.root / "marketplace")
        self.codex("plugin", "marketplace", "add", str(market))
        self.codex("plugin", "add", "agentmail@agentmail")

    def exec(self, prompt: str, *args: str, default: str = "ok", timeout: float = TIMEOUT) -> Run:
        """`codex exec PROMPT` with the plugin's hooks trusted for this run; what it sent the model."""
        before = offline.entries(self.log)
        after = before[-1]["seq"] if before else 0
        argv = ["codex", "--dangerously-bypass-hook-trust", "exec", "--skip-git-repo-check", *args, prompt]
        proc = subprocess.run(offline.command(self.log, argv, default), env=self.env, cwd=self.work,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return Run(proc.returncode, proc.stdout, proc.stderr, offline.entries(self.log, "codex", after))

    def thread_ids(self) -> list[str]:
        """The ids of the threads Codex recorded (session_index.jsonl), oldest first."""
        path = self.codex_home / "session_index.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]
