"""Real Codex sessions (npm `@openai/codex` 0.171.0, `codex exec`, offline) with the agentmail plugin installed as
a user installs it (`codex plugin marketplace add` + `codex plugin add agentmail@agentmail`) and `agentmail mcp`
added with `codex mcp add`, against the Responses-API stand-in on loopback (tests/support/codex/): what reaches
the model is read from the stand-in's request log.

Codex gives hook context to the model as developer messages, and a Stop block as a user message
`<hook_prompt hook_run_id="stop:...">REASON</hook_prompt>` (FINDINGS 3.4).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.harness.kit import send
from tests.support import offline
from tests.support.codex.session import CodexRig
from tests.support.codex.standin import all_text, developer_texts, messages
from tests.support.store import AGENTMAIL, Store, make_store
from tests.support.tools import missing, need


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    need("codex")
    if offline.prefix() is None:
        missing("a network namespace (unshare -n)")
    store = make_store(tmp_path_factory.mktemp("store"))
    (store.home / "config.json").write_text(json.dumps({"wake": "off"}))
    return store


@pytest.fixture(scope="module")
def bob(store: Store, tmp_path_factory: pytest.TempPathFactory) -> CodexRig:
    return CodexRig(tmp_path_factory.mktemp("bob"), store.home, name="bob")


def agentmail_context(texts: list[str]) -> list[str]:
    return [t for t in texts if t.startswith("agentmail: ")]


def bound_to(store: Store, thread_id: str) -> str:
    return (store.home / "sessions" / thread_id).read_text().strip()


def test_identity_announcement_and_a_postcard_sent_with_the_mcp_tool(bob: CodexRig, store: Store) -> None:
    key, _ = send(store.home, "alice", "bob", "Lunch at noon?", body="At the usual place.")
    run = bob.exec('[[tool: send {"to": "alice", "title": "Hi from Codex", "body": "sent through MCP"}]]')
    assert run.rc == 0, run.stderr[-3000:]
    first = run.bodies()[0]
    (context,) = agentmail_context(developer_texts(first))
    lines = context.split("\n")
    assert lines[0].startswith("agentmail: you are bob@agents.localhost. "), lines
    assert "agentmail send NAME" in lines[0]
    assert lines[1:] == ["agentmail: 1 new postcard (agentmail read ID):", f"{key[:8]} alice: Lunch at noon?"]
    assert "At the usual place." not in context  # titles only
    # the model called the MCP tool (once Codex offered it: its first request may come before the server is up)
    assert any(e["reply"].get("call") == ["mcp__agentmail", "send"] for e in run.requests), run.requests
    assert re.search(r"sent [0-9a-f]{8} to alice", all_text(run.bodies()[-1]))
    card = store.only("alice", "Hi from Codex")
    assert b"From: bob@agents.localhost" in card and b"sent through MCP" in card
    assert bound_to(store, run.thread_id) == "bob"  # hooks and MCP server agree on the thread's account
    # Codex sees nothing that only Claude Code has
    assert not any("agentmail:clerk" in all_text(body) for body in run.bodies())


def test_no_waiter_is_left_behind_by_codex_exec(bob: CodexRig, store: Store) -> None:
    """exec ends with its task: the Stop hook's waiter returns at once (it would otherwise hold the turn: Codex
    ignores asyncRewake) and leaves nothing waiting."""
    run = bob.exec("hello")
    assert run.rc == 0
    assert not (store.home / "wake" / "sessions" / run.thread_id / "waiter").exists()


def test_urgent_mail_during_the_turn_keeps_it_going_once(bob: CodexRig, store: Store) -> None:
    run = bob.exec('[[meanwhile: echo "main fails since 10:02" | agentmail --as alice send bob "Build is red" '
                   '--urgent -]] hello')
    assert run.rc == 0, run.stderr[-3000:]
    prompts = [messages(b, "user")[-1] for b in run.bodies()]
    assert len(run.requests) == 2, prompts  # the turn, then once more for the block; the next Stop lets it end
    block = prompts[1]
    assert block.startswith('<hook_prompt hook_run_id="stop:') and block.endswith("</hook_prompt>"), block
    reason = block[block.index(">") + 1:-len("</hook_prompt>")]
    lines = reason.split("\n")
    assert lines[0] == "agentmail: 1 urgent postcard (agentmail read ID):"
    assert re.fullmatch(r"[0-9a-f]{8} alice: Build is red \[URGENT\]", lines[1]), lines
    assert lines[2] == "Read and answer before you stop: agentmail read ID, then agentmail reply ID."


def test_the_shell_path_with_the_store_in_the_writable_roots(bob: CodexRig, store: Store, tmp_path: Path) -> None:
    """workspace-write with /tmp excluded and the store added as doctor says: the model's shell command sends as the
    thread's account (CODEX_THREAD_ID), and urgent mail that came meanwhile is announced after the tool call."""
    run = bob.exec(
        '[[meanwhile: echo "since 10:02" | agentmail --as alice send bob "Tests fail" --urgent -]] '
        f'[[bash: echo "from a sandboxed shell" | {AGENTMAIL} send alice "From the shell" -]]',
        "-s", "workspace-write", "-c", "sandbox_workspace_write.exclude_slash_tmp=true",
        "-c", "sandbox_workspace_write.exclude_tmpdir_env_var=true",
        "-c", f'sandbox_workspace_write.writable_roots=["{store.home}"]')
    assert run.rc == 0, run.stderr[-3000:]
    assert len(run.requests) == 2
    after = run.bodies()[1]
    output = [i for i in after["input"] if i.get("type") == "function_call_output"]
    assert output and re.search(r"sent [0-9a-f]{8} to alice", json.dumps(output)), output
    card = store.only("alice", "From the shell")
    assert b"From: bob@agents.localhost" in card
    (urgent,) = [t for t in agentmail_context(developer_texts(after)) if "urgent" in t]
    assert re.fullmatch(r"agentmail: 1 urgent postcard \(agentmail read ID\):\n[0-9a-f]{8} alice: Tests fail "
                        r"\[URGENT\]", urgent), urgent
