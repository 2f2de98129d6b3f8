"""`send` and `reply` with `--no-wake` and `--done`, the wake settings in config.json, and `directory` for sessions
that have no waiter (through both front ends: click's CliRunner and the installed script with its fast path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentmail.store import wakestate
from tests.support.cli import Runner, maildir_files


def only_message(home: Path, name: str) -> bytes:
    (path,) = maildir_files(home / "maildirs" / name)
    return path.read_bytes()


def head(data: bytes) -> str:
    return data.split(b"\n\n", 1)[0].decode()


def test_send_no_wake_and_done(am: Runner, accounts, home: Path) -> None:
    accounts("alice", "bob", "carol")
    am("--as", "alice", "send", "bob", "quiet one", "b", "--no-wake").ok()
    assert "X-Agentmail-Wake: no" in head(only_message(home, "bob"))
    out = am("--as", "alice", "send", "carol", "all done", "b", "--done").ok().out
    data = only_message(home, "carol")
    assert "X-Agentmail-Thread: done" in head(data) and "X-Agentmail-Wake" not in head(data)
    mid = next(line.split(": ", 1)[1] for line in head(data).splitlines() if line.startswith("Message-ID: "))
    assert out.startswith("sent ")
    cfg = accounts()
    for name in ("alice", "carol"):  # the thread is closed for the sender and for the recipient
        assert wakestate.read(cfg, name).closed[mid][1] == mid
    assert wakestate.read(cfg, "bob").closed == {}


def test_reply_done_closes_the_thread_it_replies_in(am: Runner, accounts, home: Path) -> None:
    cfg = accounts("alice", "bob")
    sent = am("--as", "alice", "send", "bob", "question", "?").ok().out.split()[1]
    am("--as", "bob", "reply", sent, "answer", "--done").ok()
    data = only_message(home, "alice")
    assert "X-Agentmail-Thread: done" in head(data) and "In-Reply-To: <" + sent in head(data)
    for name in ("alice", "bob"):
        closed = wakestate.read(cfg, name).closed
        assert any(k.startswith(f"<{sent}") for k in closed), closed  # the root: the question's id


def test_reply_no_wake(am: Runner, accounts, home: Path) -> None:
    accounts("alice", "bob")
    sent = am("--as", "alice", "send", "bob", "question", "?").ok().out.split()[1]
    am("--as", "bob", "reply", sent, "fine", "--no-wake").ok()
    assert "X-Agentmail-Wake: no" in head(only_message(home, "alice"))


@pytest.mark.parametrize("settings,message", [
    ({"wake": "sometimes"}, "wake must be one of on, off"),
    ({"wake": True}, "wake must be a str"),
    ({"wake_budget_thread": 0}, "wake_budget_thread must be positive"),
    ({"wake_budget_pair": "ten"}, "wake_budget_pair must be a int"),
    ({"wake_lifetime": -5}, "wake_lifetime must be positive"),
])
def test_bad_wake_settings(am: Runner, accounts, home: Path, settings: dict, message: str) -> None:
    accounts("alice", "bob")
    (home / "config.json").write_text(json.dumps(settings))
    before = sorted(p.name for p in (home / "maildirs" / "bob" / "new").iterdir())
    err = am("--as", "alice", "send", "bob", "t", "b").fails(78).err
    assert message in err
    assert sorted(p.name for p in (home / "maildirs" / "bob" / "new").iterdir()) == before


def test_good_wake_settings(am: Runner, accounts, home: Path) -> None:
    accounts("alice", "bob")
    (home / "config.json").write_text(json.dumps({"wake": "OFF", "wake_budget_thread": 2, "wake_budget_pair": 3,
                                                  "wake_lifetime": 600}))
    am("--as", "alice", "send", "bob", "t", "b").ok()


def test_directory_without_waiters(am: Runner, accounts, home: Path) -> None:
    """Sessions no waiter ever ran for (a shell, another harness): the text line is as before; --json says why."""
    accounts("alice")
    am("register", "bob").ok()
    text = am("directory").ok().out
    assert "alice (agent, offline)" in text and "\nbob (agent, online) " in "\n" + text
    rows = {r["name"]: r for r in json.loads(am("directory", "--json").ok().out)}
    assert (rows["alice"]["state"], rows["alice"]["wakeable"], rows["alice"]["wake_note"]) == ("offline", False, None)
    assert (rows["bob"]["state"], rows["bob"]["wakeable"], rows["bob"]["wake_note"]) == ("idle", False, "no waiter")
