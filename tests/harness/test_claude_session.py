"""The plugin's hooks in a real interactive Claude Code session (npm `@anthropic-ai/claude-code` 2.1.197, in tmux,
`--plugin-dir` this checkout) against the model stand-in on loopback: what reaches the model, read from the
stand-in's request log. One session (bob) serves the module; waking is off in its store (config.json "wake": "off"),
so mail waits for the hooks in the turn, which is what this module is about (tests/harness/test_claude_wake.py
wakes).

Claude Code 2.1.197 gives hook context to the model as `role: "system"` messages ("SessionStart hook additional
context: ...", "UserPromptSubmit hook additional context: ...").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.kit import in_folder, need_claude, send
from tests.support.claude.session import ClaudeSession
from tests.support.claude.standin import all_texts, hook_context, is_prompt, system_text, turn_texts
from tests.support.store import Store, make_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    need_claude()
    store = make_store(tmp_path_factory.mktemp("store"))
    (store.home / "config.json").write_text(json.dumps({"wake": "off"}))
    return store


@pytest.fixture(scope="module")
def bob(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaudeSession]:
    with ClaudeSession(tmp_path_factory.mktemp("bob"), store.home, name="bob") as session:
        session.prompt("hello there")
        yield session


def agentmail_context(texts: list[str]) -> list[str]:
    """Whatever any hook told the model that came from agentmail."""
    return [t for t in texts if "agentmail" in t and " hook additional context: " in t]


def test_session_start_tells_the_model_its_address(bob: ClaudeSession) -> None:
    first = bob.requests()[0]
    (intro,) = hook_context(all_texts(first), "SessionStart")
    assert intro.startswith("agentmail: you are bob@agents.localhost. "), intro
    assert "agentmail send NAME" in intro
    assert bob.account() == "bob"


def test_unnamed_session_gets_three_words_and_is_told(store: Store, tmp_path: Path) -> None:
    with ClaudeSession(tmp_path, store.home) as anon:
        first = anon.prompt("hello there")
        (intro,) = hook_context(all_texts(first), "SessionStart")
        name = anon.account()
        assert re.fullmatch(r"[a-z]+-[a-z]+-[a-z]+", name), name
        assert intro.startswith(f"agentmail: you are {name}@agents.localhost. "), intro
        assert "Peers: bob." in intro  # bob's session is live beside it


def test_a_prompt_with_no_mail_adds_nothing(bob: ClaudeSession) -> None:
    entry = bob.prompt("nothing new?")
    assert turn_texts(entry)[-1] == "nothing new?"
    assert agentmail_context(turn_texts(entry)) == []


def test_postcard_sent_before_a_prompt_is_announced_in_it_once(bob: ClaudeSession, store: Store) -> None:
    pid, _ = send(store.home, "alice", "bob", "Lunch at noon?", body="At the usual place.")
    assert in_folder(store.home, "bob", "new", "Lunch at noon?")
    entry = bob.prompt("anything for me?")
    (context,) = hook_context(turn_texts(entry), "UserPromptSubmit")
    assert context.split("\n") == ["agentmail: 1 new postcard (agentmail read ID):", f"{pid} alice: Lunch at noon?"]
    assert "At the usual place." not in context  # titles only, never bodies
    assert in_folder(store.home, "bob", "cur", "Lunch at noon?") and not in_folder(store.home, "bob", "new", "Lunch")
    again = bob.prompt("and now?")
    assert agentmail_context(turn_texts(again)) == []


def test_urgent_postcard_arriving_mid_turn_is_announced_after_the_tool(bob: ClaudeSession, store: Store) -> None:
    """The stand-in answers with a Bash tool call that sends bob an urgent postcard (mail arriving while bob works);
    PostToolUse announces it, and the model sees it with the tool result, in the same turn."""
    seq = bob.last_seq()
    bob.prompt("[[bash: agentmail --as alice send bob 'Build is red' --urgent - <<< 'main fails since 10:02']]")
    turn = bob.requests(seq)
    assert len(turn) == 2 and is_prompt(turn[0]) and not is_prompt(turn[1]), bob.debug()
    assert agentmail_context(turn_texts(turn[0])) == []  # nothing yet when the prompt was sent
    (context,) = hook_context(turn_texts(turn[1]), "PostToolUse")
    lines = context.split("\n")
    assert lines[0] == "agentmail: 1 urgent postcard (agentmail read ID):"
    assert re.fullmatch(r"[0-9a-f]{8} alice: Build is red \[URGENT\]", lines[1]), lines
    assert in_folder(store.home, "bob", "cur", "Build is red")
    assert agentmail_context(turn_texts(bob.prompt("thanks"))) == []


def test_clerk_subagent_runs_with_its_own_prompt(bob: ClaudeSession) -> None:
    """The plugin's triage subagent is known to Claude Code as agentmail:clerk and runs with agents/clerk.md."""
    seq = bob.last_seq()
    bob.prompt('[[tool: Agent {"subagent_type": "agentmail:clerk", "description": "triage", '
               '"prompt": "Sort the mail."}]]')
    turn = bob.requests(seq)
    clerk = [e for e in turn if "You are the clerk" in system_text(e["body"])]
    assert clerk, bob.debug()
    assert "Sort the mail." in turn_texts(clerk[0])
