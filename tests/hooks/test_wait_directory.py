"""`agentmail directory` says what a postcard will do to each live session: working (in a turn), idle and wakeable
(a waiter is armed), or idle and not wakeable, and why (waking off, the waiter ended, the viewer's budget spent)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hooks.hookkit import Store
from tests.hooks.waitkit import Sessions, config_json
from tests.support.store import AGENTMAIL


@pytest.fixture
def sessions(store: Store) -> Iterator[Sessions]:
    opened = Sessions(store)
    yield opened
    opened.close()


def directory(store: Store, *args: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    def run(*extra: str) -> str:
        out = subprocess.run([AGENTMAIL, *args, "directory", *extra], capture_output=True, env=store.env, timeout=60)
        assert out.returncode == 0 and out.stderr == b"", out
        return out.stdout.decode()

    text = {line.split(" ", 1)[0]: line.split(" (", 1)[1].split(")", 1)[0] for line in run().splitlines()}
    rows = {r["name"]: r for r in json.loads(run("--json"))}
    return text, rows


def test_working_idle_wakeable_and_back(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    store.register("backend")
    waiter = me.stop()
    text, rows = directory(store)
    assert text["frontend"] == "agent, online, idle, wakeable"
    assert (rows["frontend"]["state"], rows["frontend"]["wakeable"], rows["frontend"]["wake_note"]) == \
        ("idle", True, None)
    assert text["backend"] == "agent, offline"
    me.prompt()
    assert waiter.result() == 0
    text, rows = directory(store)
    assert text["frontend"] == "agent, online, working" and rows["frontend"]["state"] == "working"
    assert rows["frontend"]["wakeable"] is False
    me.stop()
    assert directory(store)[0]["frontend"] == "agent, online, idle, wakeable"
    me.kill()
    assert directory(store)[0]["frontend"] == "agent, offline"


def test_not_wakeable_and_why(store: Store, sessions: Sessions) -> None:
    off = sessions.started("quiet", env={**store.env, "AGENTMAIL_WAKE": "0"})
    assert off.spawn_wait().result() == 0
    text, rows = directory(store)
    assert text["quiet"] == "agent, online, idle, not wakeable: waking is off: AGENTMAIL_WAKE=0"
    assert rows["quiet"]["wake_note"] == "waking is off: AGENTMAIL_WAKE=0"
    config_json(store, wake_lifetime=1)
    old = sessions.started("sleepy")
    assert old.spawn_wait().result() == 0
    assert directory(store)[0]["sleepy"] == "agent, online, idle, not wakeable: waiter ended: lifetime over"


def test_the_viewers_spent_budget(store: Store, sessions: Sessions) -> None:
    config_json(store, wake_budget_pair=1)
    me = sessions.started("frontend")
    for name in ("backend", "carol"):
        store.register(name)
    waiter = me.stop()
    store.send("backend", "frontend", "one")
    waiter.woke()
    me.stop(active=True)
    assert directory(store, "--as", "backend")[0]["frontend"] == \
        "agent, online, idle, not wakeable: your wake budget for it is spent, 1 an hour"
    assert directory(store, "--as", "carol")[0]["frontend"] == "agent, online, idle, wakeable"
    assert directory(store, "--as", "human")[0]["frontend"] == "agent, online, idle, wakeable"
