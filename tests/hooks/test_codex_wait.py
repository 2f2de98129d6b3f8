"""The waiter under Codex: Codex runs the plugin's Stop hooks in the foreground and ignores "asyncRewake" (measured
with 0.171: `codex exec` held its turn for the waiter's whole lifetime), so `agentmail hook wait` must detach and
return, and wake the idle thread with `codex queue --thread <session_id> --message <wake text>`.

The hooks run under a stand-in harness (async_harness.py) with the JSON Codex sends (harness_shapes.py); `codex
queue` is the real one, on a real thread made by one offline `codex exec` against the loopback stand-in, so the wake
lands in that thread's queue (Codex's queue_1.sqlite), which the interactive Codex polls. tests/harness/
test_codex_wake.py has the whole loop in a real interactive session.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmail.agent.wake import FRAME
from tests.hooks.harness_shapes import codex, gemini, gemini_env
from tests.hooks.hookkit import Store
from tests.hooks.waitkit import Session, Sessions, gone
from tests.support import offline
from tests.support.codex.session import CodexRig
from tests.support.tools import missing, need
from tests.support.wait import until


@pytest.fixture(scope="module")
def thread(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(CODEX_HOME, the id of a thread recorded there): one `codex exec` against the stand-in."""
    need("codex")
    if offline.prefix() is None:
        missing("a network namespace (unshare -n)")
    root = tmp_path_factory.mktemp("codex-thread")
    rig = CodexRig(root, root / "store", plugin=False, mcp=False)
    run = rig.exec("hello")
    assert run.rc == 0, run.stderr
    return rig.codex_home, run.thread_id


@pytest.fixture
def sessions(store: Store) -> Iterator[Sessions]:
    opened = Sessions(store)
    yield opened
    opened.close()


def codex_session(store: Store, sessions: Sessions, codex_home: Path, thread_id: str) -> Session:
    env = {**store.env, "CODEX_HOME": str(codex_home)}
    me = sessions("frontend", session_id=thread_id, env=env)
    result = me.run("session-start", raw=json.dumps(codex("session-start", thread_id, str(me.cwd))).encode())
    assert result.rc == 0 and result.stderr == "", result
    return me


def claim(store: Store, session_id: str) -> dict:
    data = json.loads((store.home / "wake" / "sessions" / session_id / "waiter").read_text())
    assert isinstance(data, dict)
    return data


def queued(codex_home: Path, thread_id: str) -> list[str]:
    """The messages waiting in Codex's queue for the thread."""
    path = codex_home / "queue_1.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        rows = db.execute("select payload_json from queued_items where thread_id = ? order by queue_order",
                          (thread_id,)).fetchall()
    return [row[0] for row in rows]


def stop(me: Session) -> None:
    """Codex's Stop: the waiter in the foreground, like every other hook; it must come back at once."""
    result = me.run("wait", raw=json.dumps(codex("stop", me.session_id, str(me.cwd))).encode())
    assert result.rc == 0 and result.stdout == b"" and result.stderr == "", result


def test_the_waiter_detaches_and_wakes_the_thread_through_codex_queue(
        store: Store, sessions: Sessions, thread: tuple[Path, str]) -> None:
    codex_home, thread_id = thread
    me = codex_session(store, sessions, codex_home, thread_id)
    stop(me)
    armed = claim(store, thread_id)
    assert armed["state"] == "armed" and not gone(armed["pid"])  # the detached waiter, watching
    assert armed["pid"] not in me.tree(me.pid)  # in a session of its own, not a child of the harness any more
    store.register("backend")
    key = store.send("backend", "frontend", "the API is ready")
    until(lambda: queued(codex_home, thread_id), "the wake in the thread's queue", 30)
    (payload,) = queued(codex_home, thread_id)
    assert f'{FRAME}\\n{key[:8]} backend: \\"the API is ready\\"' in payload, payload
    until(lambda: claim(store, thread_id)["state"] == "woke", "the claim to say woke")
    until(lambda: gone(armed["pid"]), "the detached waiter to end")
    assert store.maildir("frontend") == [] and len(store.maildir("frontend", "cur")) == 1


def test_a_new_turn_makes_the_detached_waiter_stand_down(
        store: Store, sessions: Sessions, thread: tuple[Path, str]) -> None:
    codex_home, thread_id = thread
    before = len(queued(codex_home, thread_id))
    me = codex_session(store, sessions, codex_home, thread_id)
    stop(me)
    pid = claim(store, thread_id)["pid"]
    result = me.run("prompt", raw=json.dumps(codex("prompt", thread_id, str(me.cwd))).encode())
    assert result.rc == 0 and result.stdout == b""
    until(lambda: gone(pid), "the waiter to stand down")
    assert claim(store, thread_id)["why"] == "waiter ended: a turn started"
    store.register("backend")
    store.send("backend", "frontend", "after the turn started")
    assert len(queued(codex_home, thread_id)) == before


def test_a_failed_codex_queue_is_recorded_and_the_mail_stays_unread(
        store: Store, sessions: Sessions, thread: tuple[Path, str]) -> None:
    """A thread Codex does not know (no rollout): `codex queue` fails; the claim says so and inbox still lists it."""
    codex_home, _ = thread
    unknown = "01a25200-0000-7000-8000-000000000000"
    me = codex_session(store, sessions, codex_home, unknown)
    stop(me)
    pid = claim(store, unknown)["pid"]
    store.register("backend")
    store.send("backend", "frontend", "lost in the queue")
    until(lambda: gone(pid), "the waiter to end")
    why = claim(store, unknown)["why"]
    assert why.startswith("waiter ended: codex queue exited 1: Error: failed to queue session message"), why
    (name,) = store.maildir("frontend", "cur")
    assert name.endswith(":2,"), name  # announced (moved to cur/) but not read: `agentmail inbox` lists it


def test_gemini_cli_has_no_waiter(store: Store, sessions: Sessions) -> None:
    """Gemini CLI has no way to start a turn from outside; its extension has no wait hook, and a wait run with its
    JSON returns at once and leaves nothing behind."""
    me = sessions("frontend")
    env = {**me.env, **gemini_env(me.session_id, str(me.cwd))}
    me.env = env
    result = me.run("wait", raw=json.dumps(gemini("stop", me.session_id, str(me.cwd))).encode())
    assert result.rc == 0 and result.stdout == b"" and result.stderr == ""
    assert not (store.home / "wake" / "sessions" / me.session_id).exists()
