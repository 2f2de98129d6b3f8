"""Agents on different machines through each kind of server (the issue's "Tests" list): client homes made remote
with the operator's hand-over (`agentmail admin add` on the server, the password file copied, `agentmail remote
set` with the test CA), driven through the real `agentmail` script and their real sync processes.

Every test provisions its own accounts (`Machines.new`), so the module's one server serves them all without one
test seeing another's mail; assertions look at real files: the machines' mirrors and the server's store."""

from __future__ import annotations

import email
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.hookkit import Store as HookStore
from tests.hooks.waitkit import Session
from tests.support.remotehome import Machine as RemoteMachine
from tests.support.scaleout import Machine, Machines, Server, machines
from tests.support.wait import until


@pytest.fixture
def made(tmp_path: Path, server: Server) -> Iterator[Machines]:
    yield from machines(tmp_path, server)


def title() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def hook(machine: RemoteMachine, event: str, sid: str) -> str:
    """`agentmail hook EVENT` with Claude Code's JSON; the additionalContext it printed, or ''."""
    names = {"session-start": "SessionStart", "prompt": "UserPromptSubmit", "stop": "Stop"}
    payload = {"session_id": sid, "cwd": str(machine.home.parent), "hook_event_name": names[event],
               **({"prompt": "go on"} if event == "prompt" else {"source": "startup"})}
    result = machine.run("hook", event, input=json.dumps(payload))
    assert result.code == 0, result
    if not result.out.strip():
        return ""
    data = json.loads(result.out)
    return str(data.get("hookSpecificOutput", {}).get("additionalContext") or data.get("reason") or "")


def on_server(server: Server, name: str, marker: str, folder: str = "INBOX") -> int:
    """How many of `name`'s messages in `folder` on the server hold `marker`."""
    return len(server.server_store.find(name, marker, folder))


def test_a_postcard_crosses_machines_and_the_prompt_hook_announces_it_once(made: Machines) -> None:
    alice, bob = made.new("alice"), made.new("bob")
    sid = f"s-{uuid.uuid4().hex}"
    assert f"{bob.name}@" in hook(bob, "session-start", sid)
    subject = title()
    sent = alice.as_me("send", bob.name, subject, "from the other machine").ok()
    assert sent.out.startswith("sent ") and sent.out.strip().endswith(f"to {bob.name}"), sent.out
    until(lambda: bob.with_title(subject), "the postcard mirrored into bob's machine")
    assert [p.parent.name for p in bob.with_title(subject)] == ["new"]
    said = hook(bob, "prompt", sid)
    assert subject in said and alice.name in said
    assert hook(bob, "prompt", sid) == ""  # announced once
    assert [p.parent.name for p in bob.with_title(subject)] == ["cur"]
    assert alice.server is not None
    assert on_server(alice.server, bob.name, subject) == 1
    until(lambda: alice.with_title(subject, "Sent"), "alice's Sent copy")
    assert not alice.with_title(subject)


def test_a_reply_threads_back_to_the_first_machine(made: Machines) -> None:
    alice, bob = made.new("alice"), made.new("bob")
    subject = title()
    key = alice.as_me("send", bob.name, subject, "question").ok().out.split()[1]
    until(lambda: bob.with_title(subject), "the question mirrored to bob")
    bob.as_me("reply", key, "answer").ok()
    found = until(lambda: alice.with_title(f"Re: {subject}"), "the reply mirrored to alice")
    reply = email.message_from_bytes(found[0].read_bytes())
    original = email.message_from_bytes(bob.with_title(subject)[0].read_bytes())
    assert reply["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in reply["References"]
    assert f"Re: {subject}" in alice.as_me("inbox").ok().out


def test_reading_sends_a_receipt_that_lands_in_the_senders_receipts(made: Machines, server: Server) -> None:
    alice, bob = made.new("alice"), made.new("bob")
    subject = title()
    key = alice.as_me("send", bob.name, subject, "please read").ok().out.split()[1]
    until(lambda: bob.with_title(subject), "mirrored to bob")
    assert json.loads(bob.as_me("read", key, "--json").ok().out)["receipt_sent"] is True
    # the MDN went through the server's SMTP and was filed into .Receipts there, never the inbox
    until(lambda: len(server.server_store.files(alice.name, "Receipts")) == 1, "the MDN in alice's Receipts")
    mdn = server.server_store.files(alice.name, "Receipts")[0].read_bytes()
    assert b"disposition-notification" in mdn and subject.encode() in mdn
    # alice's inbox on the server holds no receipt (at most, for a moment, her own envelope copy of the postcard,
    # which her sync process moves into Sent)
    assert not [p for p in server.server_store.files(alice.name) if b"disposition-notification" in p.read_bytes()]
    row = until(lambda: next((r for r in json.loads(alice.as_me("log", "--json").ok().out)
                              if r["title"] == subject and r["receipts"]), None), "the receipt in alice's log")
    assert [(r["reader"], r["disposition"]) for r in row["receipts"]] == [(bob.name, "displayed")]
    assert json.loads(bob.as_me("read", key, "--json").ok().out)["receipt_sent"] is False  # once


def test_a_broadcast_reaches_every_agent_on_every_machine_but_its_sender(made: Machines, server: Server) -> None:
    alice, bob, carol = made.new("alice"), made.new("bob"), made.new("carol")
    subject = title()
    assert alice.as_me("broadcast", subject, "everyone").ok().out.startswith("sent ")
    for other in (bob, carol):
        until(lambda o=other: o.with_title(subject), f"the broadcast mirrored to {other.name}")  # type: ignore[misc]
        assert len(other.with_title(subject)) == 1
    for name in ("alice", "bob", "carol"):  # the accounts every module starts with get it too
        until(lambda n=name: on_server(server, n, subject) == 1, f"the broadcast in {name}'s inbox")  # type: ignore[misc]
    # the sender's own copy ends in its Sent, on the server and on its machine, never in its inbox
    until(lambda: on_server(server, alice.name, subject, "Sent") == 1 and on_server(server, alice.name, subject) == 0,
          "the broadcast in alice's Sent on the server and not in her inbox")
    until(lambda: alice.with_title(subject, "Sent"), "the broadcast in alice's Sent here")
    assert not alice.with_title(subject)
    assert on_server(server, "human", subject) == 0  # all means agents
    assert "Disposition-Notification-To" not in bob.with_title(subject)[0].read_text()


def test_an_unknown_recipient_exits_67_as_on_one_machine(made: Machines, server: Server) -> None:
    alice, bob = made.new("alice"), made.new("bob")
    subject = title()
    result = alice.as_me("send", f"{bob.name},nobody-here", subject, "x").fails(67)
    assert "nobody-here" in result.err and result.err.count("\n") == 1, result.err
    assert alice.outbox("new") == [] and alice.outbox("cur") == []
    time.sleep(0.5)  # nothing should arrive; give a wrong delivery the time to show
    assert on_server(server, bob.name, subject) == 0


def test_an_urgent_postcard_is_marked_and_holds_the_stop_hook(made: Machines) -> None:
    alice, bob = made.new("alice"), made.new("bob")
    sid = f"s-{uuid.uuid4().hex}"
    hook(bob, "session-start", sid)
    subject = title()
    alice.as_me("send", bob.name, subject, "now please", "--urgent").ok()
    [path] = until(lambda: bob.with_title(subject), "the urgent postcard mirrored to bob")
    msg = email.message_from_bytes(path.read_bytes())
    assert msg["Importance"] == "high" and msg["X-Priority"] == "1"
    result = bob.run("hook", "stop", input=json.dumps({"session_id": sid, "cwd": str(bob.home.parent),
                                                       "hook_event_name": "Stop", "stop_hook_active": False}))
    assert result.code == 0 and json.loads(result.out)["decision"] == "block", result
    assert subject in json.loads(result.out)["reason"]
    assert "[URGENT]" in bob.as_me("inbox", "--all").ok().out


def test_the_waiter_wakes_on_a_delivery_through_the_server(tmp_path: Path, made: Machines) -> None:
    """bob's session is idle, its waiter armed (Stop's asyncRewake hook under a stand-in Claude Code): alice's
    postcard wakes it through the server and bob's sync process. How soon (the 2 s target) is measured by
    bench/scaleout_bench.py, not asserted here: a loaded CI machine must not turn a slow wake into a failure."""
    alice = made.new("alice")
    (tmp_path / "bob-machine").mkdir()
    store = HookStore(tmp_path / "bob-machine")
    name = f"bob-{uuid.uuid4().hex[:6]}"
    made.server.add(name)
    bob = Machine(store.home, name)
    made.made.append(bob)
    bob.joined(made.server)
    session = Session(store, store.project())
    try:
        assert session.run("session-start").rc == 0
        waiter = session.stop()
        subject = title()
        alice.as_me("send", bob.name, subject, "wake up").ok()
        sent = time.monotonic()
        text = waiter.woke()
        latency = time.monotonic() - sent
        assert subject in text and alice.name in text
        print(f"wake latency through the {made.server.kind} server: {latency:.2f} s")
    finally:
        session.close()


@pytest.mark.parametrize("server", ["dovecot"], indirect=True)  # agentmail serve has no METADATA (scale-out.md)
def test_directory_shows_the_agents_of_every_machine(made: Machines) -> None:
    """Each machine's sync process publishes its presence in METADATA on the shared folder; `directory` on another
    machine lists it with host and directory."""
    alice, bob = made.new("alice"), made.new("bob")
    for machine in (alice, bob):
        hook(machine, "session-start", f"s-{uuid.uuid4().hex}")
    bob.run("remote", "sync").ok()

    def listed() -> dict[str, dict[str, object]] | None:
        alice.run("remote", "sync").ok()
        rows = {r["name"]: r for r in json.loads(alice.as_me("directory", "--json").ok().out)}
        return rows if bob.name in rows and rows[bob.name]["online"] else None

    rows = until(listed, "bob online in alice's directory", timeout=60, interval=0.5)
    assert rows[bob.name]["host"] and rows[bob.name]["cwd"] == str(bob.home.parent)
    assert rows[alice.name]["online"] is True
    assert "METADATA" not in alice.as_me("directory").ok().err


def test_mail_after_the_senders_own_copy_was_filed_still_reaches_it(made: Machines) -> None:
    """A machine files its own copy of what it sent out of the server's INBOX into Sent; what others send it next
    must still be mirrored (Dovecot answers STATUS for a selected mailbox from that session's last look)."""
    alice, bob = made.new("alice"), made.new("bob")
    first, second = title(), title()
    alice.as_me("send", bob.name, first, "one").ok()
    until(lambda: alice.with_title(first, "Sent"), "alice's own copy filed into Sent")
    until(lambda: bob.with_title(first), "the first postcard mirrored to bob")
    bob.as_me("send", alice.name, second, "two").ok()
    until(lambda: alice.with_title(second), "bob's postcard mirrored to alice", timeout=40)
