"""The plugin as Claude Code itself sees it: the real `claude` CLI validates the marketplace and the manifest, installs
the plugin into a throw-away HOME and lists its components (`claude plugin details`). Skips without `claude` on a
laptop and fails in CI (`npm install -g @anthropic-ai/claude-code`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.plugin.test_plugin import COMMANDS, EVENTS, ROOT
from tests.support.tools import need


def claude_env(home: Path) -> dict[str, str]:
    """A throw-away HOME for the real `claude` CLI, without telemetry or update checks."""
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


def shipped_copy(dest: Path) -> Path:
    """The files a clone of this repository has (tracked, or new and not ignored), not .venv or caches: what
    `claude plugin install` copies for a user."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_claude_plugin_details_lists_every_component(tmp_path: Path) -> None:
    """The real Claude Code CLI validates the marketplace and the plugin, installs it into a throw-away HOME, and
    counts every component: the skill and the slash commands, the clerk subagent, the five hooks."""
    claude = need("claude")["claude"]
    source = shipped_copy(tmp_path / "agentmail")
    env = claude_env(tmp_path / "home")
    (tmp_path / "home").mkdir()

    def run(*args: str) -> str:
        proc = subprocess.run([claude, "plugin", *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=120)
        assert proc.returncode == 0, f"claude plugin {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout + proc.stderr

    assert "Validation passed" in run("validate", str(source))
    assert "Validation passed" in run("validate", str(source / ".claude-plugin" / "plugin.json"))
    run("marketplace", "add", str(source))
    run("install", "agentmail@agentmail")
    details = run("details", "agentmail")
    inventory = {}
    for match in re.finditer(r"^  (Skills|Agents|Hooks) \((\d+)\)(?:  (.*?))?(?:  \(.*\))?$", details, re.M):
        names = [n.strip() for n in (match.group(3) or "").split(",") if n.strip()]
        assert len(names) == int(match.group(2)), match.group(0)
        inventory[match.group(1)] = sorted(names)
    assert inventory == {
        "Skills": sorted([*COMMANDS, "agentmail"]),
        "Agents": ["clerk"],
        "Hooks": sorted(EVENTS),
    }, details
