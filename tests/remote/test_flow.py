"""Two machines through a mail server: client homes made remote (`agentmail remote set`) talking to the real
`agentmail serve` on loopback, each with its real sync process. Every assertion looks at real files: the client's
mirror, its outbox, and the server's own store."""

from __future__ import annotations

import email
import imaplib
import json
import uuid

from tests.remote.conftest import Server
from tests.support.remotehome import Machine, Machines
from tests.support.wait import until


def title() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def hook(machine: Machine, event: str, sid: str) -> str:
    """`agentmail hook EVENT` with Claude Code's JSON; the additionalContext it printed, or ''."""
    names = {"session-start": "SessionStart", "prompt": "UserPromptSubmit"}
    payload = {"session_id": sid, "cwd": str(machine.home.parent), "hook_event_name": names[event],
               **({"prompt": "go on"} if event == "prompt" else {"source": "startup"})}
    result = machine.run("hook", event, input=json.dumps(payload))
    assert result.code == 0, result
    if not result.out.strip():
        return ""
    return str(json.loads(result.out)["hookSpecificOutput"]["additionalContext"])


def server_files(server: Server, name: str, folder: str, marker: str) -> list[str]:
    """File names in the server's store (new/ and cur/) of `name`'s `folder` holding `marker`."""
    box = server.store.box(name, folder)
    return [p.name for sub in ("new", "cur") for p in (box / sub).iterdir() if marker.encode() in p.read_bytes()]


def test_a_postcard_reaches_the_other_machine_and_its_prompt_hook_announces_it_once(server: Server,
                                                                                     machine: Machines) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    sid = f"s-{uuid.uuid4().hex}"
    assert "bob@" in hook(bob, "session-start", sid)  # the session is bound to the account the home mirrors
    subject = title()
    sent = alice.as_me("send", "bob", subject, "from the other machine").ok()
    assert sent.out.startswith("sent ") and sent.out.strip().endswith("to bob")
    until(lambda: bob.with_title(subject), "the postcard mirrored into bob's home")
    assert [p.parent.name for p in bob.with_title(subject)] == ["new"]  # new/: not yet announced
    said = hook(bob, "prompt", sid)
    assert subject in said and "alice" in said
    assert hook(bob, "prompt", sid) == ""  # announced once
    assert [p.parent.name for p in bob.with_title(subject)] == ["cur"]
    # the sender's own copy lands in its Sent, on the server and in its mirror, never in its INBOX
    until(lambda: alice.with_title(subject, "Sent"), "alice's Sent copy mirrored")
    assert not alice.with_title(subject)
    assert server_files(server, "alice", "Sent", subject) and not server_files(server, "alice", "INBOX", subject)
    assert len(server_files(server, "bob", "INBOX", subject)) == 1


def test_reading_sends_the_receipt_and_the_flags_go_back_to_the_server(server: Server, machine: Machines) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    subject = title()
    key = alice.as_me("send", "bob", subject, "please read").ok().out.split()[1]
    shown = bob.as_me("read", key, "--json").ok()
    assert json.loads(shown.out)["receipt_sent"] is True
    # \Seen and $MDNSent reach bob's message on the server
    def flagged() -> bool:
        names = server_files(server, "bob", "INBOX", subject)
        keywords = (server.store.box("bob") / "dovecot-keywords").read_text() if (
            server.store.box("bob") / "dovecot-keywords").exists() else ""
        return bool(names) and "S" in names[0].partition(":2,")[2] and "$MDNSent" in keywords and any(
            c.islower() for c in names[0].partition(":2,")[2])
    until(flagged, "\\Seen and $MDNSent on bob's message on the server")
    log = until(lambda: (r := alice.as_me("log", "--json").ok()) and next(
        (row for row in json.loads(r.out) if row["title"] == subject and row["receipts"]), None),
        "the receipt in alice's log")
    assert [(r["reader"], r["disposition"]) for r in log["receipts"]] == [("bob", "displayed")]
    assert server_files(server, "alice", "Receipts", key) or server_files(server, "alice", "Receipts", subject)
    # reading again sends no second receipt
    assert json.loads(bob.as_me("read", key, "--json").ok().out)["receipt_sent"] is False


def test_a_reply_threads_back_to_the_first_machine(server: Server, machine: Machines) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    subject = title()
    key = alice.as_me("send", "bob", subject, "question").ok().out.split()[1]
    until(lambda: bob.with_title(subject), "the question mirrored to bob")
    bob.as_me("reply", key, "answer").ok()
    found = until(lambda: alice.with_title(f"Re: {subject}"), "the reply mirrored to alice")
    reply = email.message_from_bytes(found[0].read_bytes())
    original = email.message_from_bytes(bob.with_title(subject)[0].read_bytes())
    assert reply["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in reply["References"]
    assert f"Re: {subject}" in alice.as_me("inbox").ok().out


def test_a_broadcast_reaches_every_other_agent_and_not_its_sender(server: Server, machine: Machines) -> None:
    alice, bob, carol = (server.connect(machine(n)) for n in ("alice", "bob", "carol"))
    subject = title()
    assert alice.as_me("broadcast", subject, "everyone").ok().out.startswith("sent ")
    for other in (bob, carol):
        until(lambda o=other: o.with_title(subject), f"the broadcast mirrored to {other.name}")
    until(lambda: alice.with_title(subject, "Sent"), "the broadcast in alice's Sent")
    assert not alice.with_title(subject)
    assert "Disposition-Notification-To" not in bob.with_title(subject)[0].read_text()


def test_an_unknown_recipient_exits_67_and_nothing_is_queued_or_sent(server: Server, machine: Machines) -> None:
    alice = server.connect(machine("alice"))
    subject = title()
    result = alice.as_me("send", "bob,nobody-here", subject, "x").fails(67)
    assert "nobody-here" in result.err
    assert alice.outbox("new") == [] and alice.outbox("cur") == []
    assert not server_files(server, "bob", "INBOX", subject)  # not sent to the known one either, as on one machine


def test_filing_moves_the_postcard_on_the_server_too(server: Server, machine: Machines) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    subject = title()
    key = alice.as_me("send", "bob", subject, "routine").ok().out.split()[1]
    until(lambda: bob.with_title(subject), "mirrored to bob")
    bob.as_me("clerk", "file", key).ok()
    until(lambda: server_files(server, "bob", "Todo", subject) and not server_files(server, "bob", "INBOX", subject),
          "moved into Todo on the server")
    bob.run("remote", "sync").ok()
    assert bob.with_title(subject, "Todo") and not bob.with_title(subject)
    assert len(bob.with_title(subject, "Todo")) == 1  # the server's new UID matched to the file already here


def test_a_person_reading_on_the_server_marks_it_read_here(server: Server, machine: Machines) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    subject = title()
    alice.as_me("send", "bob", subject, "read me in a mail client").ok()
    until(lambda: bob.with_title(subject), "mirrored to bob")
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port)
    imap.login("bob", server.store.passwords["bob"])
    imap.select("INBOX")
    _, found = imap.search(None, "SUBJECT", f'"{subject}"')
    imap.store(found[0].decode(), "+FLAGS", "\\Seen")
    imap.logout()
    bob.run("remote", "sync").ok()
    [path] = bob.with_title(subject)
    assert path.parent.name == "cur" and "S" in path.name.partition(":2,")[2]
    assert subject not in bob.as_me("inbox").ok().out  # read elsewhere: not announced here


def test_remote_show_never_prints_the_password(server: Server, machine: Machines) -> None:
    alice = server.connect(machine("alice"))
    shown = alice.run("remote", "show").ok().out + alice.run("remote", "show", "--json").ok().out
    password = server.store.passwords["alice"]
    assert password not in shown and "imap://127.0.0.1" in shown
    info = json.loads(alice.run("remote", "show", "--json").ok().out)
    assert info["address"] == "alice@agents.localhost" and info["sync"]["running"] is True
    assert oct((alice.home / "remote.json").stat().st_mode & 0o777) == "0o600"
    pid = alice.wait_sync_pid()
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        assert password.encode() not in fh.read()  # nor in any process listing


def test_directory_on_a_server_without_metadata_shows_this_account(server: Server, machine: Machines) -> None:
    alice = server.connect(machine("alice"))
    shown = alice.as_me("directory", "--json").ok()
    rows = json.loads(shown.out)
    assert [r["name"] for r in rows] == ["alice"]
    assert "METADATA" in alice.as_me("directory").ok().err
