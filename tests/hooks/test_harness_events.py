"""`agentmail hook EVENT` driven with the hook JSON Codex and Gemini CLI really send (harness_shapes.py): each harness
is recognised, gets answers in its own shapes and event names, and is told only about what it has (no Claude-only
`agentmail:clerk` subagent; no heredoc for Gemini CLI, which escapes `<` in hook context)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentmail.hooks import events
from agentmail.hooks.harness import CLAUDE, CODEX, GEMINI, codex_subcommand, detect
from tests.hooks.harness_shapes import codex, codex_shell_tool, gemini, gemini_env
from tests.hooks.hookkit import Claude, Store, hook_payload

SID = "01a2522d-1b0d-7371-952e-7dfa4e305fb4"
GSID = "caaa1ae6-6c5a-4fc6-bedd-e847808919b6"
EVENTS = ("session-start", "prompt", "post-tool", "stop", "session-end")


# --- recognising the harness -------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS)
def test_each_harness_is_recognised_from_its_own_json(event: str) -> None:
    assert detect(codex(event, SID, "/w"), env={}) == CODEX
    assert detect(gemini(event, GSID, "/w"), env={}) == GEMINI
    assert detect(hook_payload(event, GSID, "/w"), env={}) == CLAUDE


def test_the_environment_tells_gemini_even_without_its_json_markers() -> None:
    bare = {"session_id": GSID, "cwd": "/w", "hook_event_name": "SessionStart", "source": "startup"}
    assert detect(bare, env=gemini_env(GSID, "/w")) == GEMINI
    # GEMINI_SESSION_ID of another session (a shell started from Gemini CLI, running Claude Code) is not it
    assert detect(bare, env=gemini_env("another-session", "/w")) == CLAUDE
    assert detect(bare, env={}) == CLAUDE


def test_codex_is_recognised_by_its_rollout_file_when_there_is_no_turn() -> None:
    start = codex("session-start", SID, "/w")
    assert "turn_id" not in start and detect(start, env={}) == CODEX
    assert detect({**start, "transcript_path": None}, env={}) == CLAUDE  # nothing left to tell by


@pytest.mark.parametrize(("argv", "sub"), [
    (["codex"], None),
    (["codex", "--dangerously-bypass-hook-trust"], None),
    (["codex", "-c", "model=\"o3\"", "exec", "hello"], "exec"),
    (["codex", "--dangerously-bypass-hook-trust", "exec", "--skip-git-repo-check", "hi"], "exec"),
    (["codex", "-p", "work", "resume"], "resume"),
    (["codex", "app-server", "--listen", "unix://"], "app-server"),
    (["codex", "--", "exec"], None),
])
def test_codex_subcommand(argv: list[str], sub: str | None) -> None:
    """`codex exec` exits with its task (no waking); the TUI and the app-server daemon keep the thread open."""
    assert codex_subcommand(argv) == sub


# --- Codex -----------------------------------------------------------------------------------------------------------


def codex_home(tmp: Path, config: str | None) -> dict[str, str]:
    home = tmp / "codex-home"
    home.mkdir(exist_ok=True)
    if config is not None:
        (home / "config.toml").write_text(config)
    return {"CODEX_HOME": str(home)}


def run(session: Claude, event: str, payload: dict, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return session.hook(event, json.dumps(payload), env={**session.env, **(env or {})})


def test_codex_session_start_intro_has_no_claude_only_names_and_points_at_doctor(store: Store, tmp_path: Path) -> None:
    session = store.claude(stable="frontend")
    env = codex_home(tmp_path, "")  # a config.toml without writable_roots: sandboxed commands cannot write
    result = run(session, "session-start", codex("session-start", session.session_id, str(session.cwd)), env)
    intro = result.context("SessionStart")
    assert intro.startswith("agentmail: you are frontend@agents.localhost. ")
    assert "agentmail:clerk" not in intro and "subagent" not in intro
    assert events.SEND_HINT in intro and events.CODEX_SANDBOX_HINT in intro
    assert store.account_of(session) == "frontend"


@pytest.mark.parametrize("config", [
    'sandbox_mode = "danger-full-access"\n',
    '[sandbox_workspace_write]\nwritable_roots = ["/elsewhere", "{store}"]\n',
    '[sandbox_workspace_write]\nwritable_roots = ["{parent}"]\n',
])
def test_codex_intro_says_nothing_of_the_sandbox_when_its_config_lets_commands_write(
        store: Store, tmp_path: Path, config: str) -> None:
    session = store.claude(stable="frontend")
    env = codex_home(tmp_path, config.format(store=store.home, parent=store.home.parent))
    intro = run(session, "session-start", codex("session-start", session.session_id, str(session.cwd)),
                env).context("SessionStart")
    assert events.CODEX_SANDBOX_HINT not in intro and "agentmail:clerk" not in intro


def test_codex_config_that_cannot_be_read_gets_the_hint(store: Store, tmp_path: Path) -> None:
    session = store.claude(stable="frontend")
    env = codex_home(tmp_path, "this is [not toml\n")
    intro = run(session, "session-start", codex("session-start", session.session_id, str(session.cwd)),
                env).context("SessionStart")
    assert events.CODEX_SANDBOX_HINT in intro


def test_codex_prompt_announces_with_codex_triage_advice(store: Store, tmp_path: Path) -> None:
    session = store.claude(stable="frontend")
    env = codex_home(tmp_path, None)
    run(session, "session-start", codex("session-start", session.session_id, str(session.cwd)), env)
    store.register("backend")
    keys = [store.send("backend", "frontend", f"note {i}") for i in range(3)]
    context = run(session, "prompt", codex("prompt", session.session_id, str(session.cwd)), env).context(
        "UserPromptSubmit")
    lines = context.split("\n")
    assert lines[0] == "agentmail: 3 new postcards (agentmail read ID):"
    assert [line.split(" ")[0] for line in lines[1:4]] == [k[:8] for k in keys]
    assert lines[4] == events.TRIAGE_HINT and "agentmail:clerk" not in context
    assert store.maildir("frontend") == []


def test_codex_post_tool_after_mcp_and_shell_calls(store: Store, tmp_path: Path) -> None:
    session = store.claude(stable="frontend")
    env = codex_home(tmp_path, None)
    run(session, "session-start", codex("session-start", session.session_id, str(session.cwd)), env)
    store.register("backend")
    store.send("backend", "frontend", "routine")
    quiet = run(session, "post-tool", codex("post-tool", session.session_id, str(session.cwd)), env)
    assert quiet.rc == 0 and quiet.stdout == b""  # post-tool announces urgent mail only
    key = store.send("backend", "frontend", "prod is down", urgent=True)
    context = run(session, "post-tool", codex_shell_tool(session.session_id, str(session.cwd)), env).context(
        "PostToolUse")
    assert context.split("\n") == ["agentmail: 1 urgent postcard (agentmail read ID):",
                                   f"{key[:8]} backend: prod is down [URGENT]"]


def test_codex_stop_blocks_once_for_urgent_mail(store: Store, tmp_path: Path) -> None:
    """Codex puts no cap on Stop blocks (183 in a row, FINDINGS 3.4): stop_hook_active is the only guard."""
    session = store.claude(stable="frontend")
    env = codex_home(tmp_path, None)
    run(session, "session-start", codex("session-start", session.session_id, str(session.cwd)), env)
    store.register("backend")
    key = store.send("backend", "frontend", "answer me", urgent=True)
    again = run(session, "stop", codex("stop", session.session_id, str(session.cwd), stop_hook_active=True), env)
    assert again.rc == 0 and again.stdout == b"" and len(store.maildir("frontend")) == 1
    data = run(session, "stop", codex("stop", session.session_id, str(session.cwd)), env).json()
    assert data == {"decision": "block", "reason": "\n".join([
        "agentmail: 1 urgent postcard (agentmail read ID):", f"{key[:8]} backend: answer me [URGENT]",
        events.ANSWER_HINTS[CODEX]])}
    assert run(session, "stop", codex("stop", session.session_id, str(session.cwd)), env).stdout == b""


def test_codex_session_end_marks_offline(store: Store, tmp_path: Path) -> None:
    session = store.claude(stable="frontend")
    env = codex_home(tmp_path, None)
    run(session, "session-start", codex("session-start", session.session_id, str(session.cwd)), env)
    assert store.presence("frontend")["online"] is True
    assert run(session, "session-end", codex("session-end", session.session_id, str(session.cwd)), env).stdout == b""
    assert store.presence("frontend")["online"] is False


# --- Gemini CLI ----------------------------------------------------------------------------------------------------


def gemini_run(session: Claude, event: str, **extra: object):  # type: ignore[no-untyped-def]
    payload = gemini(event, session.session_id, str(session.cwd), **extra)
    return run(session, event, payload, gemini_env(session.session_id, str(session.cwd)))


def test_gemini_session_start_intro_names_its_tools_and_has_no_markup(store: Store) -> None:
    session = store.claude(stable="frontend")
    intro = gemini_run(session, "session-start").context("SessionStart")
    assert intro.startswith("agentmail: you are frontend@agents.localhost. ")
    assert events.GEMINI_SEND_HINT in intro
    assert "<" not in intro and ">" not in intro  # Gemini CLI would show `&lt;` to the model
    assert "agentmail:clerk" not in intro and "subagent" not in intro
    assert store.account_of(session) == "frontend"


def test_gemini_before_agent_announces_in_its_own_event_name(store: Store) -> None:
    session = store.claude(stable="frontend")
    gemini_run(session, "session-start")
    store.register("backend")
    keys = [store.send("backend", "frontend", f"<b>note</b> {i}") for i in range(3)]
    context = gemini_run(session, "prompt").context("BeforeAgent")
    lines = context.split("\n")
    assert lines[0] == "agentmail: 3 new postcards (agentmail read ID):"
    assert [line.split(" ")[0] for line in lines[1:4]] == [k[:8] for k in keys]
    assert lines[4] == events.TRIAGE_HINT
    assert "<" not in context  # titles are neutralised (look-alike brackets)
    assert gemini_run(session, "prompt").stdout == b""  # announced once


def test_gemini_after_tool_announces_urgent_mail(store: Store) -> None:
    session = store.claude(stable="frontend")
    gemini_run(session, "session-start")
    store.register("backend")
    key = store.send("backend", "frontend", "prod is down", urgent=True)
    context = gemini_run(session, "post-tool").context("AfterTool")
    assert context.split("\n")[1] == f"{key[:8]} backend: prod is down [URGENT]"


def test_gemini_after_agent_denies_once_for_urgent_mail(store: Store) -> None:
    """AfterAgent's "deny" makes Gemini CLI send the reason as a new prompt; it has no cap either (37 in 90 s)."""
    session = store.claude(stable="frontend")
    gemini_run(session, "session-start")
    store.register("backend")
    key = store.send("backend", "frontend", "answer me", urgent=True)
    assert gemini_run(session, "stop", stop_hook_active=True).stdout == b""
    data = gemini_run(session, "stop").json()
    assert data == {"decision": "deny", "reason": "\n".join([
        "agentmail: 1 urgent postcard (agentmail read ID):", f"{key[:8]} backend: answer me [URGENT]",
        events.ANSWER_HINTS[GEMINI]])}
    assert "<" not in data["reason"]
    assert gemini_run(session, "stop").stdout == b""


def test_gemini_session_end_marks_offline_and_a_resume_finds_the_account(store: Store) -> None:
    session = store.claude(stable="frontend")
    gemini_run(session, "session-start")
    assert gemini_run(session, "session-end").stdout == b""
    assert store.presence("frontend")["online"] is False
    intro = gemini_run(session, "session-start", source="resume").context("SessionStart")
    assert intro.startswith("agentmail: you are frontend@agents.localhost. ")
    assert store.presence("frontend")["online"] is True

