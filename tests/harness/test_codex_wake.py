"""Waking an idle Codex session (the interactive TUI, npm `@openai/codex` 0.171.0, in tmux, offline) with mail:
after a turn the plugin's Stop hook leaves a detached waiter (Codex ignores asyncRewake, so it must not hold the
turn); a postcard for the session makes it run `codex queue --thread <id> --message <wake text>`, and Codex starts a
turn with that text as the user's message (it polls the thread's queue: a few seconds here). A prompt hook then
finds nothing to announce again; a postcard sent with --no-wake waits for the next prompt, where UserPromptSubmit
announces it.
"""

from __future__ import annotations

import json

import pytest

from agentmail.agent.wake import FRAME
from tests.harness.kit import in_folder, send
from tests.support import offline
from tests.support.claude import procs
from tests.support.codex.session import CodexRig
from tests.support.codex.standin import developer_texts, newest_user
from tests.support.codex.tui import CodexTui
from tests.support.store import Store, make_store
from tests.support.tools import missing, need
from tests.support.wait import until

WAKE_WAIT = 90.0  # seconds: Codex polls its queue every few seconds; generous for a loaded machine


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    need("codex", "tmux")
    if offline.prefix() is None:
        missing("a network namespace (unshare -n)")
    return make_store(tmp_path_factory.mktemp("store"))


def is_wake(entry: dict) -> bool:
    return newest_user(entry["body"])[1].startswith(FRAME)


def claim(store: Store, session_id: str) -> dict:
    data = json.loads((store.home / "wake" / "sessions" / session_id / "waiter").read_text())
    assert isinstance(data, dict)
    return data


def test_mail_wakes_the_idle_codex_session_through_its_queue(store: Store, tmp_path_factory: pytest.TempPathFactory
                                                           ) -> None:
    rig = CodexRig(tmp_path_factory.mktemp("bob"), store.home, name="bob")
    with CodexTui(rig) as tui:
        first = tui.prompt("hello there")
        (intro,) = [t for t in developer_texts(first["body"]) if t.startswith("agentmail: you are ")]
        assert intro.startswith("agentmail: you are bob@agents.localhost. ") and "agentmail:clerk" not in intro
        waiter = tui.one_waiter()
        (sid,) = [p.name for p in (store.home / "wake" / "sessions").iterdir()]
        assert (store.home / "sessions" / sid).read_text() == "bob\n"  # the thread id is the hooks' session_id
        assert claim(store, sid)["state"] == "armed" and claim(store, sid)["pid"] == waiter

        seq = tui.last_seq()
        key, sent = send(store.home, "alice", "bob", "The API is ready", body="v2 is deployed")
        wake = tui.wait_request(is_wake, "the wake turn", WAKE_WAIT, seq)
        print(f"codex wake: {wake['t'] - sent:.2f} s from send to the wake turn's model request")
        assert newest_user(wake["body"])[1] == f'{FRAME}\n{key} alice: "The API is ready"'
        assert "v2 is deployed" not in json.dumps(wake["body"])  # wakes never carry bodies
        assert in_folder(store.home, "bob", "cur", "The API is ready")
        until(lambda: not procs.alive(waiter), "the woken waiter to end")
        # the wake turn's own hooks: UserPromptSubmit had nothing left to announce, Stop left a fresh waiter
        assert not [t for t in developer_texts(wake["body"]) if t.startswith("agentmail: 1 new")]
        tui.tmux.wait_idle()
        second = tui.one_waiter()
        assert second != waiter

        quiet, _ = send(store.home, "alice", "bob", "FYI only", "--no-wake")
        entry = tui.prompt("anything new?")
        context = [t for t in developer_texts(entry["body"]) if t.startswith("agentmail: 1 new postcard")]
        assert context == [f"agentmail: 1 new postcard (agentmail read ID):\n{quiet} alice: FYI only"], \
            developer_texts(entry["body"])
        until(lambda: not procs.alive(second), "the waiter to stand down when the prompt came")
        assert [e for e in tui.requests(seq) if is_wake(e)] == [wake]  # the --no-wake postcard woke nothing
