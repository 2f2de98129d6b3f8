"""The plugin's hooks/hooks.json commands, run from a copy of the plugin elsewhere, with the real CLI on PATH.

tests/plugin/test_plugin.py checks the wrapper's own contract with a recorder in place of agentmail; this runs the whole
chain as Claude Code does (claude -> sh -c COMMAND -> hooks/agentmail-hook -> agentmail hook EVENT).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from tests.hooks.hookkit import ROOT, Claude, Result, Store, hook_payload

EVENTS = {"SessionStart": "session-start", "UserPromptSubmit": "prompt", "PostToolUse": "post-tool",
          "Stop": "stop", "SessionEnd": "session-end"}


def plugin_copy(store: Store) -> tuple[Path, dict[str, str]]:
    dest = store.root / "plugins dir" / "agentmail"
    for part in (".claude-plugin", "hooks", "plugin"):
        if (ROOT / part).exists():
            shutil.copytree(ROOT / part, dest / part)
    hooks = json.loads((dest / "hooks" / "hooks.json").read_text())["hooks"]
    commands = {}
    for event, groups in hooks.items():
        (handlers,) = [g["hooks"] for g in groups]
        # Stop also runs the waiter ("asyncRewake"), which tests/hooks/test_wait_*.py drive in the background
        ((hook,),) = [[h for h in handlers if not h.get("asyncRewake")]]
        commands[EVENTS[event]] = hook["command"]
    return dest, commands


class Plugged:
    """A Claude Code session with the plugin installed: hooks run through hooks.json's commands."""

    def __init__(self, store: Store, claude: Claude, root: Path, commands: dict[str, str]) -> None:
        self.claude = claude
        self.commands = commands
        self.env = {**store.env, "CLAUDE_PLUGIN_ROOT": str(root), "CLAUDE_PROJECT_DIR": str(claude.cwd)}

    def hook(self, event: str, **extra: object) -> Result:
        raw = json.dumps(hook_payload(event, self.claude.session_id, str(self.claude.cwd), **extra))
        return self.claude.sh(self.commands[event], raw, self.env)


def test_hooks_json_end_to_end_through_the_wrapper(store: Store) -> None:
    root, commands = plugin_copy(store)
    assert set(commands) == set(EVENTS.values())
    me = Plugged(store, store.claude(stable="frontend"), root, commands)

    context = me.hook("session-start").context("SessionStart")
    assert context.startswith("agentmail: you are frontend@agents.localhost.")
    assert store.presence("frontend")["pid"] == me.claude.pid  # the wrapper and sh are passed through
    for event in ("prompt", "post-tool", "stop"):
        result = me.hook(event)
        assert (result.rc, result.stdout, result.stderr) == (0, b"", ""), event

    store.register("backend")
    routine = store.send("backend", "frontend", "routine news")
    urgent = store.send("backend", "frontend", "the build is broken", urgent=True)
    assert urgent[:8] in me.hook("post-tool").context("PostToolUse")
    assert me.hook("post-tool").stdout == b""
    # only routine mail left: post-tool writes the stamp once new/ has settled, and the wrapper then skips Python
    new = store.home / "maildirs/frontend/new"
    settled = time.time_ns() - 5_000_000_000
    os.utime(new, ns=(settled, settled))
    assert me.hook("post-tool").stdout == b""
    assert (store.home / "cache/post-tool/frontend").stat().st_mtime_ns == settled
    assert me.hook("post-tool").stdout == b""
    assert routine[:8] in me.hook("prompt").context("UserPromptSubmit")
    assert me.hook("prompt").stdout == b""

    late = store.send("backend", "frontend", "still broken", urgent=True)
    block = me.hook("stop").json()
    assert block["decision"] == "block" and late[:8] in block["reason"]
    assert me.hook("stop").stdout == b""
    store.send("backend", "frontend", "again", urgent=True)
    assert me.hook("stop", stop_hook_active=True).stdout == b""

    result = me.hook("session-end")
    assert (result.rc, result.stdout, result.stderr) == (0, b"", "")
    assert store.presence("frontend")["online"] is False
    assert len(store.maildir("frontend")) == 1  # the last urgent postcard is still waiting


def test_first_hook_through_the_wrapper_registers_lazily(store: Store) -> None:
    root, commands = plugin_copy(store)
    me = Plugged(store, store.claude(stable="backend"), root, commands)
    context = me.hook("prompt").context("UserPromptSubmit")
    assert context.startswith("agentmail: you are backend@")
    assert store.account_of(me.claude) == "backend"
    assert me.hook("prompt").stdout == b""


def test_broken_store_through_the_wrapper(store: Store) -> None:
    root, commands = plugin_copy(store)
    bad = store.root / "file"
    bad.write_text("")
    me = Plugged(store, store.claude(), root, commands)
    me.env["AGENTMAIL_HOME"] = str(bad)
    for event in EVENTS.values():
        result = me.hook(event)
        assert result.rc == 0 and result.stdout == b"", event
        assert len(result.stderr.splitlines()) <= 1, result
