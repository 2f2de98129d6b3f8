"""Which harness runs a hook (Claude Code, Codex or Gemini CLI), and what differs between them.

The same `agentmail hook EVENT` serves all three (docs/harnesses.md): Claude Code and Codex run the plugin's
hooks/hooks.json, Gemini CLI the extension's gemini/hooks/hooks.json. Their hook JSON is alike, but the model must
only be told about what its harness has (no `agentmail:clerk` subagent outside Claude Code), the answer's event name
and the "keep going" decision differ, and waking an idle session works differently in each.

The harness is told by the hook JSON first, as recorded from Codex 0.171 and Gemini CLI 0.61
(tests/hooks/shapes/):
- Gemini CLI: its own event names (BeforeAgent, AfterTool, AfterAgent...); for the names it shares with Claude
  Code (SessionStart, SessionEnd) a `timestamp` without `permission_mode`, or GEMINI_SESSION_ID, which it puts in
  its hooks' environment, naming this very session;
- Codex: a `turn_id` (UserPromptSubmit, PostToolUse, Stop), else a transcript that is a Codex rollout file
  (`.../sessions/YYYY/MM/DD/rollout-<date>-<id>.jsonl`), else a parent process that is the codex binary;
- anything else is Claude Code.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

CLAUDE, CODEX, GEMINI = "claude", "codex", "gemini"
NAMES = {CLAUDE: "Claude Code", CODEX: "Codex", GEMINI: "Gemini CLI"}
GEMINI_EVENTS = frozenset({"BeforeAgent", "AfterAgent", "BeforeTool", "AfterTool", "BeforeModel", "AfterModel",
                           "BeforeToolSelection", "PreCompress", "Notification"})
# The name a hookSpecificOutput answer carries, per harness and `agentmail hook` event.
EVENT_NAMES = {
    CLAUDE: {"session-start": "SessionStart", "prompt": "UserPromptSubmit", "post-tool": "PostToolUse"},
    CODEX: {"session-start": "SessionStart", "prompt": "UserPromptSubmit", "post-tool": "PostToolUse"},
    GEMINI: {"session-start": "SessionStart", "prompt": "BeforeAgent", "post-tool": "AfterTool"},
}
# How a Stop (Gemini: AfterAgent) hook keeps the turn going: Gemini CLI documents "deny" ("block" is its alias).
CONTINUE = {CLAUDE: "block", CODEX: "block", GEMINI: "deny"}


def process_name(pid: int) -> str:
    """The command name of `pid` (/proc/PID/comm), or ""."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def detect(payload: Mapping[str, Any], env: Mapping[str, str] | None = None, harness_pid: int | None = None) -> str:
    """CLAUDE, CODEX or GEMINI for a hook's JSON (and its environment, and the harness process when given)."""
    env = os.environ if env is None else env
    event = payload.get("hook_event_name")
    if event in GEMINI_EVENTS:
        return GEMINI
    sid = payload.get("session_id")
    if "timestamp" in payload and "permission_mode" not in payload:
        return GEMINI
    if isinstance(sid, str) and sid and env.get("GEMINI_SESSION_ID") == sid:
        return GEMINI
    if "turn_id" in payload:
        return CODEX
    transcript = payload.get("transcript_path")
    if isinstance(transcript, str) and os.path.basename(transcript).startswith("rollout-"):
        return CODEX
    if harness_pid is not None and process_name(harness_pid) == "codex":
        return CODEX
    return CLAUDE


# --- Codex's processes ------------------------------------------------------------------------------------------

# `codex` options that take a value (0.171 `codex --help`), so that value is not taken for the subcommand.
CODEX_VALUE_OPTIONS = frozenset({"-c", "--config", "-m", "--model", "-p", "--profile", "-s", "--sandbox", "-a",
                                 "--ask-for-approval", "-C", "--cd", "-i", "--image", "--add-dir", "--enable",
                                 "--disable", "--remote", "--remote-auth-token-env", "--local-provider"})
# Subcommands that run one task and exit: nothing is left to wake once the turn is over.
CODEX_ONE_SHOT = frozenset({"exec", "e", "review"})


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def codex_subcommand(argv: list[str]) -> str | None:
    """The subcommand of a codex command line (`exec`, `app-server`, ...), None for the interactive TUI."""
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--":
            return None
        if arg.startswith("-"):
            skip = arg in CODEX_VALUE_OPTIONS
            continue
        return arg
    return None


def codex_wakeable(pid: int) -> bool:
    """Can `codex queue` start a turn in the session this Codex process runs? Yes for the interactive TUI and the
    app-server daemon (they poll the thread's queue); not for `codex exec`, which exits when its task is done."""
    argv = cmdline(pid)
    return bool(argv) and codex_subcommand(argv) not in CODEX_ONE_SHOT


def codex_binary(pid: int) -> str | None:
    """The codex executable to run `codex queue` with: the running harness's own binary (the same version, whatever
    PATH holds), else `codex` on PATH."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    if exe and os.path.basename(exe) == "codex" and os.access(exe, os.X_OK):
        return exe
    import shutil

    return shutil.which("codex")
