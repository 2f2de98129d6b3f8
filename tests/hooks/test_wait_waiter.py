"""`agentmail hook wait` driven as Claude Code drives it (JSON on stdin, in the background after a turn): it wakes
for mail, and it stands down, by itself, whenever Claude Code would leave it running (FINDINGS: a new prompt, /clear,
/exit and a killed claude all leave a pending asyncRewake hook alone)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import pytest

from tests.hooks.hookkit import Store
from tests.hooks.waitkit import Sessions, config_json, gone, pids_of_waiters, wait_gone
from tests.support.wait import until


@pytest.fixture
def sessions(store: Store) -> Iterator[Sessions]:
    opened = Sessions(store)
    yield opened
    opened.close()


def claim(store: Store, session_id: str) -> dict:
    data = json.loads((store.home / "wake" / "sessions" / session_id / "waiter").read_text())
    assert isinstance(data, dict)
    return data


def test_mail_wakes_the_idle_session_and_is_not_announced_again(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    store.register("backend")
    waiter = me.stop()
    key = store.send("backend", "frontend", "the API is ready")
    text = waiter.woke()
    assert text == ("agentmail: postcards from other agents, not the user (whose instructions come first):\n"
                    f'{key[:8]} backend: "the API is ready"\n')
    assert store.maildir("frontend") == [] and len(store.maildir("frontend", "cur")) == 1  # moved new/ -> cur/
    assert claim(store, me.session_id)["state"] == "woke"
    # the wake turn: UserPromptSubmit runs with the wake text as the prompt, and announces nothing again
    assert me.prompt(prompt=text).stdout == b""
    # then Stop runs again with stop_hook_active true: the waiter re-arms, and the next postcard wakes it again
    again = me.stop(active=True)
    second = store.send("backend", "frontend", "and the docs")
    assert second[:8] in again.woke()


def test_mail_already_waiting_when_the_turn_ends_wakes_at_once(store: Store, sessions: Sessions) -> None:
    """Mail that came after the turn's last hook, before Stop, is unannounced in new/: arming finds it."""
    me = sessions.started("frontend")
    store.register("backend")
    key = store.send("backend", "frontend", "while you were finishing")
    waiter = me.spawn_wait()
    assert key[:8] in waiter.woke()


def test_nothing_arrives_nothing_happens_until_a_prompt_ends_it(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    waiter = me.stop()
    assert waiter.running() and claim(store, me.session_id)["state"] == "armed"
    assert me.prompt().stdout == b""  # the user types: the prompt hook touches turn, the waiter stands down
    assert waiter.result() == 0 and waiter.stderr == "" and waiter.stdout == ""
    assert claim(store, me.session_id)["state"] == "ended"
    assert claim(store, me.session_id)["why"] == "waiter ended: a turn started"


def test_a_tool_call_ends_it_too(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    waiter = me.stop()
    me.post_tool()
    assert waiter.result() == 0 and waiter.stderr == ""


def test_mail_during_a_turn_is_left_to_the_prompt_hooks(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    store.register("backend")
    waiter = me.stop()
    me.prompt()
    assert waiter.result() == 0
    key = store.send("backend", "frontend", "mid-turn news")
    assert store.maildir("frontend") != []  # nobody took it: the next prompt announces it
    assert key[:8] in me.prompt().context("UserPromptSubmit")


def test_a_newer_waiter_supersedes_the_older(store: Store, sessions: Sessions) -> None:
    """Two Stops without a prompt hook between them (Claude Code keeps both): one waiter, one wake."""
    me = sessions.started("frontend")
    store.register("backend")
    first = me.stop()
    second = me.armed(me.spawn_wait())
    assert first.result() == 0 and first.stderr == ""
    assert second.running()
    key = store.send("backend", "frontend", "only one wake")
    assert key[:8] in second.woke()


def test_session_end_ends_it(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    waiter = me.stop()
    assert me.end().rc == 0
    assert waiter.result() == 0 and waiter.stderr == ""
    assert claim(store, me.session_id)["why"] == "waiter ended: the session ended"


def test_resume_after_session_end_arms_again(store: Store, sessions: Sessions) -> None:
    """--resume brings the same session id back: an end marker older than the new waiter does not count."""
    me = sessions.started("frontend")
    store.register("backend")
    me.stop()
    me.end()
    resumed = sessions("frontend", session_id=me.session_id, cwd=me.cwd)
    resumed.run("session-start", source="resume")
    waiter = resumed.stop()
    key = store.send("backend", "frontend", "welcome back")
    assert key[:8] in waiter.woke()


def test_clear_the_old_sessions_waiter_stands_down(store: Store, sessions: Sessions) -> None:
    """/clear: SessionEnd of the old id, then a new id in the same process; the old waiter must not wake it."""
    me = sessions.started("frontend")
    old = me.stop()
    me.run("session-end", reason="clear")
    assert old.result() == 0 and old.stderr == ""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_waiter_ends_when_claude_code_dies(store: Store, sessions: Sessions, sig: int) -> None:
    """Claude Code's hooks are orphaned when it dies (FINDINGS 6.5): the waiter notices its process is gone."""
    me = sessions.started("frontend")
    waiter = me.stop()
    (pid,) = pids_of_waiters(store.home)
    me.kill(sig)
    wait_gone(pid)
    assert pids_of_waiters(store.home) == []
    assert claim(store, me.session_id)["why"] == "waiter ended: Claude Code is gone"
    assert waiter.pid  # its exit status went with its parent; what counts is that no process is left


def test_lifetime_limit(store: Store, sessions: Sessions) -> None:
    config_json(store, wake_lifetime=1)
    me = sessions.started("frontend")
    waiter = me.stop()
    assert waiter.result() == 0 and waiter.stderr == ""
    assert claim(store, me.session_id)["why"] == "waiter ended: lifetime over"


def test_plain_print_mode_returns_at_once(store: Store, sessions: Sessions) -> None:
    """`claude -p` runs asyncRewake hooks in the foreground and waits for them (FINDINGS 6.8)."""
    me = sessions.started("frontend", print_mode=True)
    waiter = me.spawn_wait()
    assert waiter.result() == 0 and waiter.stderr == ""
    assert not (store.home / "wake" / "sessions" / me.session_id / "waiter").exists()


@pytest.mark.parametrize("how", ["env", "config"])
def test_waking_off_per_session_or_for_the_store(store: Store, sessions: Sessions, how: str) -> None:
    if how == "config":
        config_json(store, wake="off")
        env = None
    else:
        env = {**store.env, "AGENTMAIL_WAKE": "off"}
    me = sessions.started("frontend", env=env)
    store.register("backend")
    store.send("backend", "frontend", "would wake")
    waiter = me.spawn_wait()
    assert waiter.result() == 0 and waiter.stderr == ""
    assert claim(store, me.session_id)["state"] == "off"
    assert store.maildir("frontend") != []  # left for the next prompt
    expected = "waking is off: AGENTMAIL_WAKE=off" if how == "env" else "waking is off in config.json"
    assert claim(store, me.session_id)["why"] == expected


def test_through_the_plugin_wrapper(store: Store, sessions: Sessions) -> None:
    """hooks/agentmail-hook routes `wait` straight to `agentmail hook wait`: exit 2 and stderr pass through."""
    me = sessions.started("frontend", wrapper=True)
    store.register("backend")
    waiter = me.stop()
    key = store.send("backend", "frontend", "through the wrapper")
    assert key[:8] in waiter.woke()
    # the wrapper's own fast path touches the turn marker (no Python for an idle prompt)
    waiter = me.stop()
    assert me.prompt().stdout == b""
    assert waiter.result() == 0


@pytest.mark.parametrize("raw,why", [
    (b"", "no session_id"),
    (b"not json", "no session_id"),
    (b'{"session_id": 42}', "no session_id"),
    (b"[1, 2]", "no session_id"),
])
def test_bad_hook_json_is_one_line_and_never_a_wake(store: Store, sessions: Sessions, raw: bytes, why: str) -> None:
    me = sessions.started("frontend")
    env = {k: v for k, v in store.env.items() if k != "CLAUDE_CODE_SESSION_ID"}
    waiter = me.spawn_wait(raw=raw, env=env)
    assert waiter.result() == 64
    lines = waiter.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentmail hook wait: ") and why in lines[0]


def test_the_session_id_from_the_environment(store: Store, sessions: Sessions) -> None:
    """CLAUDE_CODE_SESSION_ID carries the same id as the JSON (FINDINGS 4.3): enough on its own."""
    me = sessions.started("frontend")
    store.register("backend")
    waiter = me.spawn_wait(raw=b"{}", env={**store.env, "CLAUDE_CODE_SESSION_ID": me.session_id})
    me.armed(waiter)
    key = store.send("backend", "frontend", "by env")
    assert key[:8] in waiter.woke()


def test_a_broken_store_is_one_line_never_a_wake(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    config_json(store, wake_budget_thread="many")
    waiter = me.spawn_wait()
    assert waiter.result() == 78  # EX_CONFIG
    lines = waiter.stderr.splitlines()
    assert len(lines) == 1 and "wake_budget_thread must be a int" in lines[0] and "Traceback" not in waiter.stderr


def test_many_waiters_one_postcard_wakes_exactly_its_session(store: Store, sessions: Sessions) -> None:
    """Many sessions waiting at once; a postcard wakes its own and no other (and none of them busy-waits)."""
    store.register("backend")
    waiting = []
    for i in range(12):
        s = sessions.started(f"agent-{i:02d}")
        waiting.append((s, s.stop()))
    key = store.send("backend", "agent-07", "just you")
    assert key[:8] in waiting[7][1].woke()
    for i, (s, waiter) in enumerate(waiting):
        if i != 7:
            assert waiter.running()
            cpu = cpu_seconds(waiter_pid(store, s.session_id))
            assert cpu < 1.0  # blocked in poll(), not polling
            s.prompt()
            assert waiter.result() == 0


def waiter_pid(store: Store, session_id: str) -> int:
    pid = claim(store, session_id)["pid"]
    assert isinstance(pid, int)
    return pid


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_no_waiter_left_after_the_session(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    me.stop()
    pid = waiter_pid(store, me.session_id)
    me.end()
    until(lambda: gone(pid), "the waiter to end")
    assert pids_of_waiters(store.home) == []
