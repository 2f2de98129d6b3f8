"""Real Gemini CLI sessions (npm `@google/gemini-cli` 0.61.0, headless `gemini -p`, offline) with this checkout's
extension (gemini/: the MCP server and the hooks) linked as a user links it, against the Gemini-API stand-in on
loopback (tests/support/gemini/): what reaches the model is read from the stand-in's request log.

Gemini CLI puts hook context into the user's turn as `<hook_context>...</hook_context>` (SessionStart's before the
prompt, BeforeAgent's after it) and sends an AfterAgent "deny" reason as a new prompt (FINDINGS 4.2).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.harness.kit import send
from tests.support import offline
from tests.support.gemini.session import GeminiRig
from tests.support.gemini.standin import user_texts
from tests.support.store import Store, make_store
from tests.support.tools import missing, need

CONTEXT = re.compile(r"<hook_context>(.*?)</hook_context>", re.S)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    need("gemini")
    if offline.prefix() is None:
        missing("a network namespace (unshare -n)")
    return make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def bob(store: Store, tmp_path_factory: pytest.TempPathFactory) -> GeminiRig:
    return GeminiRig(tmp_path_factory.mktemp("bob"), store.home, name="bob")


def contexts(body: dict) -> list[str]:
    return [c for text in user_texts(body) for c in CONTEXT.findall(text)]


def test_identity_announcement_and_a_postcard_sent_with_the_mcp_tool(bob: GeminiRig, store: Store) -> None:
    key, _ = send(store.home, "alice", "bob", "Lunch at noon?", body="At the usual place.")
    run = bob.prompt('[[tool: send {"to": "alice", "title": "Hi from Gemini", "body": "sent through MCP"}]]')
    assert run.rc == 0, run.stderr[-3000:]
    (context,) = contexts(run.bodies()[0])  # SessionStart's, before the prompt
    lines = context.split("\n")
    assert lines[0].startswith("agentmail: you are bob@agents.localhost. Send: the agentmail send tool"), lines
    assert lines[1:] == ["agentmail: 1 new postcard (agentmail read ID):", f"{key} alice: Lunch at noon?"]
    assert "&lt;" not in context and "&gt;" not in context  # nothing of ours needed escaping
    assert run.requests[0]["reply"]["call"] == "mcp_agentmail_send"
    assert re.search(r"sent [0-9a-f]{8} to alice", json.dumps(run.bodies()[-1]))
    card = store.only("alice", "Hi from Gemini")
    assert b"From: bob@agents.localhost" in card and b"sent through MCP" in card  # the gemini process is bob
    assert not any("agentmail:clerk" in json.dumps(body) for body in run.bodies())
    assert "mcp_agentmail_send" in json.dumps(run.bodies()[0]["tools"])


def test_urgent_mail_during_the_turn_is_denied_once_and_the_rest_announced(bob: GeminiRig, store: Store) -> None:
    """AfterAgent denies the end of the turn for the urgent postcard; Gemini CLI sends the reason as a new prompt,
    whose BeforeAgent announces the routine one that came with it; the next AfterAgent lets the turn end."""
    run = bob.prompt('[[meanwhile: echo x | agentmail --as alice send bob "Build is red" --urgent - && '
                     'echo y | agentmail --as carol send bob "Routine note" -]] hello')
    assert run.rc == 0, run.stderr[-3000:]
    assert len(run.requests) == 2, [e["reply"] for e in run.requests]
    last_user = user_texts(run.bodies()[1])[-1]
    reason, _, announced = last_user.partition("<hook_context>")
    lines = reason.strip().split("\n")
    assert lines[0] == "agentmail: 1 urgent postcard (agentmail read ID):"
    assert re.fullmatch(r"[0-9a-f]{8} alice: Build is red \[URGENT\]", lines[1]), lines
    assert lines[2] == "Read and answer before you stop: the read tool (or agentmail read ID), then send with " \
                       "reply_to=ID."
    assert re.fullmatch(r"agentmail: 1 new postcard \(agentmail read ID\):\n[0-9a-f]{8} carol: Routine note"
                        r"</hook_context>\s*", announced), announced
    assert "Agent execution blocked" in run.stderr  # what the person sees


def test_urgent_mail_is_announced_with_the_tool_result(bob: GeminiRig, store: Store) -> None:
    run = bob.prompt('[[meanwhile: echo x | agentmail --as alice send bob "Tests fail" --urgent -]] '
                     '[[tool: whoami {}]]')
    assert run.rc == 0, run.stderr[-3000:]
    (part,) = run.bodies()[1]["contents"][-1]["parts"]
    output = part["functionResponse"]["response"]["output"]  # the tool's result, then AfterTool's context
    assert output.startswith("<untrusted_context>\nyou are bob@agents.localhost"), output
    (urgent,) = CONTEXT.findall(output)
    assert re.fullmatch(r"agentmail: 1 urgent postcard \(agentmail read ID\):\n[0-9a-f]{8} alice: Tests fail "
                        r"\[URGENT\]", urgent), urgent
