"""Two real Claude Code sessions that answer every postcard stop waking each other at the budget (issue 10, test 4).

alice and bob each run claude 2.1.197 in tmux with this checkout's plugin, each against its own model stand-in.
The stand-ins play agents that reply to everything: when a turn is a wake, they answer with a Bash tool call
`agentmail reply ID` for each postcard id in the wake text (identity from the process chain, as for any agent).
Left alone, the two would wake each other forever; the store's thread budget (config.json `wake_budget_thread`: 2
wakes an hour per thread) stops them, and the held reply waits for bob's next prompt, which says why.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.kit import in_folder, need_claude
from tests.support.claude.session import ClaudeSession
from tests.support.claude.standin import Json, Replies, Reply, hook_context, is_wake, turn_texts, wake_text
from tests.support.store import Store, make_store
from tests.support.wait import until

BUDGET = 2  # wakes an hour one thread may cause one agent
QUIET_WINDOW = 5.0  # seconds with no request at either stand-in: the exchange is over
ID_LINE = re.compile(r"^([0-9a-f]{8,}) ", re.M)  # a postcard line of the wake text starts with its short id


def reply_to_every_wake(body: Json) -> Reply | None:
    """The stand-in's answer to a wake turn: reply to each postcard it names (None: not a wake, the default)."""
    text = wake_text({"kind": "main", "body": body})
    ids = ID_LINE.findall(text or "")
    if not ids:
        return None
    return {"bash": " && ".join(f"agentmail reply {i} - <<< 'Noted, thanks.'" for i in ids)}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    need_claude()
    store = make_store(tmp_path / "store")
    (store.home / "config.json").write_text(json.dumps({"wake_budget_thread": BUDGET}))
    return store


@pytest.fixture
def pair(store: Store, tmp_path: Path) -> Iterator[tuple[ClaudeSession, ClaudeSession]]:
    sessions: list[ClaudeSession] = []
    try:
        for name in ("alice", "bob"):
            session = ClaudeSession(tmp_path / name, store.home, name=name, replies=Replies(
                responder=reply_to_every_wake))
            sessions.append(session)
            session.start()
        yield sessions[0], sessions[1]
    finally:
        for session in sessions:
            session.close()


def quiet(sessions: tuple[ClaudeSession, ...], window: float) -> bool:
    """No request reached any stand-in in the last `window` seconds."""
    newest = max((e["t"] for s in sessions for e in s.requests(kind=None)), default=0.0)
    return time.time() - newest >= window


def test_two_sessions_that_reply_to_everything_stop_at_the_budget(pair: tuple[ClaudeSession, ClaudeSession],
                                                                  store: Store) -> None:
    alice, bob = pair
    for session in pair:
        session.prompt("hello")
        session.wait_armed()
    start = {s.name: s.last_seq() for s in pair}

    # alice's model sends the first postcard through her Bash tool; after that nobody types anything
    alice.prompt("[[bash: agentmail send bob 'Ping' - <<< 'Are you there?']]", idle=False)
    # the exchange: bob woken twice, alice twice (the 5th postcard is held); then silence
    until(lambda: in_folder(store.home, "bob", "new", "Re: Ping"), "the reply the budget holds in bob's new/", 120)
    until(lambda: quiet(pair, QUIET_WINDOW) and all(len(s.waiters()) == 1 for s in pair),
          "both sessions idle and armed, the exchange over", 120)

    wakes = {s.name: [e for e in s.requests(start[s.name]) if is_wake(e)] for s in pair}
    counts = {name: len(found) for name, found in wakes.items()}
    assert counts == {"alice": BUDGET, "bob": BUDGET}, f"{counts}\n{alice.debug()}\n{bob.debug()}"
    # every wake named exactly the one postcard that caused it, and each was answered
    for found in wakes.values():
        assert all(len(ID_LINE.findall(wake_text(e) or "")) == 1 for e in found)
    thread = [p for p in (store.home / "maildirs" / "bob" / ".Sent" / "cur").iterdir()] + \
             [p for p in (store.home / "maildirs" / "alice" / ".Sent" / "cur").iterdir()]
    assert len(thread) == 1 + 2 * BUDGET, sorted(p.name for p in thread)  # Ping, then one reply per wake

    # the held reply is told at bob's next prompt, with the reason
    (held,) = in_folder(store.home, "bob", "new", "Re: Ping")
    entry = bob.prompt("what happened?")
    context = "\n".join(hook_context(turn_texts(entry), "UserPromptSubmit"))
    assert "alice: Re: Ping" in context and "thread budget reached" in context, context
    assert not held.exists()
