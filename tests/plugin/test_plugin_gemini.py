"""The Gemini CLI extension (gemini/) and the Codex install of the plugin: their files, and each harness's own
commands on them (`gemini extensions validate`, `link`, `install`, `list`; `codex plugin marketplace add`, `codex
plugin add`, `codex plugin list`), offline from a throw-away HOME.

Why a subdirectory and not the repository root (docs/harnesses.md, "Gemini CLI"): Gemini CLI reads an extension's
hooks only from `<extension>/hooks/hooks.json`, which at the root is the Claude Code and Codex file (Claude event
names Gemini skips, `timeout` in seconds that Gemini reads as milliseconds), Gemini's own event names there fail
`claude plugin validate`, and Gemini would load the root agents/clerk.md as a Gemini subagent and fail on it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.hooks.harness_shapes import gemini, gemini_env
from tests.support import offline
from tests.support.checkout import REPO, pythonpath
from tests.support.codex.session import CodexRig
from tests.support.gemini.session import EXTENSION, GeminiRig
from tests.support.store import make_store
from tests.support.tools import missing, need

EVENTS = {"SessionStart": "session-start", "BeforeAgent": "prompt", "AfterTool": "post-tool",
          "AfterAgent": "stop", "SessionEnd": "session-end"}


def manifest() -> dict:
    data = json.loads((EXTENSION / "gemini-extension.json").read_text())
    assert isinstance(data, dict)
    return data


def test_the_manifest_names_the_extension_and_its_mcp_server() -> None:
    data = manifest()
    assert data["name"] == json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())["name"] == "agentmail"
    version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert version and data["version"] == version.group(1)
    assert data["mcpServers"] == {"agentmail": {"command": "agentmail", "args": ["mcp"]}}
    assert "hooks" not in data  # Gemini CLI takes hooks only from hooks/hooks.json
    assert 20 < len(data["description"]) < 300


def test_the_hooks_run_the_wrapper_for_gemini_events_with_millisecond_timeouts() -> None:
    hooks = json.loads((EXTENSION / "hooks" / "hooks.json").read_text())["hooks"]
    assert set(hooks) == set(EVENTS)  # Gemini's names only: Claude's would be skipped with a warning
    for event, groups in hooks.items():
        (group,) = groups
        (hook,) = group["hooks"]
        assert hook["type"] == "command"
        assert shlex.split(hook["command"]) == ["${extensionPath}/hooks/agentmail-hook", EVENTS[event]]
        assert 1000 <= hook["timeout"] <= 60000  # milliseconds in Gemini CLI (10 would be 10 ms)
        assert "matcher" not in group  # every tool, for AfterTool


def test_the_extension_wrapper_is_the_plugin_wrapper() -> None:
    link = EXTENSION / "hooks" / "agentmail-hook"
    assert link.is_symlink() and os.readlink(link) == "../../hooks/agentmail-hook"
    assert link.resolve() == REPO / "hooks" / "agentmail-hook"
    # nothing else Gemini CLI would load from an extension (agents/*.md as subagents, commands/, skills/, GEMINI.md)
    assert sorted(p.name for p in EXTENSION.iterdir()) == ["gemini-extension.json", "hooks"]
    assert sorted(p.name for p in (EXTENSION / "hooks").iterdir()) == ["agentmail-hook", "hooks.json"]


@pytest.fixture
def tools() -> None:
    need("gemini")
    if offline.prefix() is None:
        missing("a network namespace (unshare -n)")


def test_gemini_validates_the_extension_and_not_the_repository_root(tools: None, tmp_path: Path) -> None:
    rig = GeminiRig(tmp_path, tmp_path / "store", how=None)
    done = rig.gemini("extensions", "validate", str(EXTENSION))
    assert f"Extension {EXTENSION} has been successfully validated." in done.stdout + done.stderr
    root = subprocess.run(offline.command(tmp_path / "log.jsonl", ["gemini", "extensions", "validate", str(REPO)]),
                          env=rig.env, cwd=rig.work, capture_output=True, text=True, timeout=120)
    assert root.returncode != 0 and f"Configuration file not found at {REPO}/gemini-extension.json" in root.stderr


def test_an_installed_copy_runs_the_checkouts_hooks(tools: None, tmp_path: Path) -> None:
    """`gemini extensions install` copies the extension; the copied wrapper link points at this checkout's wrapper,
    which finds the checkout's .venv through it when `agentmail` is not on PATH."""
    if not (REPO / ".venv" / "bin" / "agentmail").exists():
        missing("this checkout's .venv (make run builds it)")
    store = make_store(tmp_path / "store")
    rig = GeminiRig(tmp_path / "g", store.home, name="bob", how="install")
    listed = rig.gemini("extensions", "list")
    text = listed.stdout + listed.stderr
    assert "agentmail (0.1.0)" in text and f"Source: {EXTENSION} (Type: local)" in text, text
    assert re.search(r"MCP servers:\s+agentmail", text), text
    installed = rig.home / ".gemini" / "extensions" / "agentmail"
    wrapper = installed / "hooks" / "agentmail-hook"
    assert wrapper.is_symlink() and wrapper.resolve() == REPO / "hooks" / "agentmail-hook"
    sid = "caaa1ae6-6c5a-4fc6-bedd-e847808919b6"
    env = {"HOME": str(rig.home), "PATH": "/usr/bin:/bin", "AGENTMAIL_HOME": str(store.home),
           "PYTHONPATH": pythonpath(None), "AGENTMAIL_NAME": "bob", **gemini_env(sid, str(rig.work))}
    proc = subprocess.run([str(wrapper), "session-start"], input=json.dumps(gemini("session-start", sid,
                          str(rig.work))), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "SessionStart"
    assert out["additionalContext"].startswith("agentmail: you are bob@agents.localhost. Send: the agentmail send")


def test_codex_installs_the_plugin_from_the_marketplace(tmp_path: Path) -> None:
    need("codex")
    if offline.prefix() is None:
        missing("a network namespace (unshare -n)")
    rig = CodexRig(tmp_path, tmp_path / "store", mcp=False)
    listed = json.loads(rig.codex("plugin", "list", "--json"))
    (plugin,) = [p for p in listed["installed"] if p["pluginId"] == "agentmail@agentmail"]
    assert plugin["installed"] and plugin["enabled"] and plugin["version"] == manifest()["version"]
    cache = rig.codex_home / "plugins" / "cache" / "agentmail" / "agentmail" / "0.1.0"
    assert json.loads((cache / "hooks" / "hooks.json").read_text()) == \
        json.loads((REPO / "hooks" / "hooks.json").read_text())
