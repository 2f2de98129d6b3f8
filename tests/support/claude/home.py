"""A throw-away HOME and a from-scratch environment for the real Claude Code CLI (2.1.197) talking to the model
stand-in on loopback.

With `make_home` an interactive `claude --dangerously-skip-permissions` (even as root) reaches its idle prompt with no
dialog: onboarding done, the dummy key approved (by its last 20 characters), the project trusted, bypass mode
accepted. `claude_env` is the whole environment (nothing of the caller's leaks in: no real key, no parent CLAUDECODE)
with telemetry, updates, error reports, non-essential traffic and the official marketplace switched off, so nothing
but 127.0.0.1 is contacted (checked with strace in the research behind this; docs/testing.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CLAUDE_VERSION = "2.1.197"
# Any string works as the key; Claude Code asks about a custom key unless its last 20 characters are approved.
DUMMY_API_KEY = "sk-ant-api03-standin-0000000000000000000000000000000000000000-AAAAAAAA"


def claude_json(project: Path, api_key: str = DUMMY_API_KEY, version: str = CLAUDE_VERSION) -> dict[str, Any]:
    """~/.claude.json: each key here is one dialog fewer (dropping one brings its dialog back, as measured)."""
    project_state = {
        "allowedTools": [],
        "hasTrustDialogAccepted": True,
        "hasCompletedProjectOnboarding": True,
        "projectOnboardingSeenCount": 1,
    }
    return {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": version,
        "lastReleaseNotesSeen": version,
        "theme": "dark",
        "numStartups": 1,
        "autoUpdates": False,
        "customApiKeyResponses": {"approved": [api_key[-20:]], "rejected": []},
        "bypassPermissionsModeAccepted": True,
        "projects": {str(project.resolve()): project_state},
    }


def make_home(home: Path, project: Path, api_key: str = DUMMY_API_KEY) -> Path:
    """Create a throw-away HOME for running claude in `project`; returns `home`. Claude Code rewrites these files
    as it starts, so build one per session and never compare it afterwards."""
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (home / ".claude.json").write_text(json.dumps(claude_json(project, api_key), indent=2) + "\n")
    settings = {"skipDangerousModePermissionPrompt": True}
    (home / ".claude" / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    return home


def claude_env(home: Path, port: int, extra: Mapping[str, str] | None = None, api_key: str = DUMMY_API_KEY,
               path: str | None = None) -> dict[str, str]:
    """The complete environment for `claude` against the stand-in on 127.0.0.1:`port`, plus `extra`."""
    env = {
        "HOME": str(home),
        "PATH": path if path is not None else os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
        "SHELL": "/bin/bash",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ANTHROPIC_API_KEY": api_key,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
        "IS_SANDBOX": "1",  # lets root use --dangerously-skip-permissions
    }
    env.update(extra or {})
    return env
