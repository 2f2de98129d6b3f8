"""Faults between machines, end to end against both kinds of server (its own server per kind: these tests stop it):
the server down while an agent sends (queued, delivered once when it is back), the SMTP side alone down, a sync
process killed -9, a wrong password, a certificate for another name. The behaviour is the client's
(agentmail/remote/); what is checked here is what the server ends up holding and what the machines show."""

from __future__ import annotations

import email
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scaleout import Machines, MailServer, Server, machines
from tests.support.wait import until

BACK = 90.0  # the client retries with a backoff of up to 60 s: time enough for one retry after the server is back


@pytest.fixture
def made(tmp_path: Path, server: Server) -> Iterator[Machines]:
    yield from machines(tmp_path, server)


def title() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def count(server: Server, name: str, marker: str, folder: str = "INBOX") -> int:
    return len(server.server_store.find(name, marker, folder))


def message_ids(paths: list[Path]) -> list[str]:
    return [str(email.message_from_bytes(p.read_bytes())["Message-ID"]) for p in paths]


def prompt_hook(machine: object, sid: str) -> tuple[int, str, float]:
    """The prompt hook on `machine` (exit status, stdout, seconds taken)."""
    payload = {"session_id": sid, "cwd": "/tmp", "hook_event_name": "UserPromptSubmit", "prompt": "go on"}
    start = time.monotonic()
    result = machine.run("hook", "prompt", input=json.dumps(payload))  # type: ignore[attr-defined]
    return result.code, result.out, time.monotonic() - start


def test_sends_while_the_server_is_down_are_queued_and_delivered_once_when_it_is_back(made: Machines,
                                                                                        server: Server) -> None:
    alice, bob = made.new("alice"), made.new("bob")
    sid = f"s-{uuid.uuid4().hex}"
    bob.run("hook", "session-start", input=json.dumps({"session_id": sid, "cwd": "/tmp",
                                                       "hook_event_name": "SessionStart", "source": "startup"})).ok()
    server.stop()
    try:
        queued, refused = title(), title()
        sent = alice.as_me("send", bob.name, queued, "while the server is away").ok()
        assert sent.out.startswith("queued "), sent.out
        assert alice.outbox("new") or alice.outbox("cur")
        alice.as_me("send", "--sync", bob.name, refused, "must not be queued").fails(75)
        # the hooks of a machine whose server is away stay silent: their idle path never touches the network
        code, out, _ = prompt_hook(bob, sid)
        assert (code, out) == (0, "")
    finally:
        server.start()
    until(lambda: count(server, bob.name, queued) >= 1, "the queued postcard delivered once the server is back",
          timeout=BACK, interval=0.2)
    until(lambda: alice.outbox("new") == [] and alice.outbox("cur") == [], "alice's outbox empty", timeout=BACK)
    alice.run("remote", "sync").ok()
    bob.run("remote", "sync").ok()
    assert count(server, bob.name, queued) == 1  # exactly once
    assert count(server, bob.name, refused) == 0
    until(lambda: bob.with_title(queued), "the queued postcard mirrored to bob")
    assert len(bob.with_title(queued)) == 1


@pytest.mark.parametrize("server", ["dovecot"], indirect=True)  # agentmail serve's SMTP and IMAP stop together
def test_a_send_with_only_smtp_down_is_queued_and_goes_out_when_smtp_is_back(made: Machines,
                                                                            server: Server) -> None:
    assert isinstance(server, MailServer)
    alice, bob = made.new("alice"), made.new("bob")
    server.postfix.stop()
    try:
        subject = title()
        assert alice.as_me("send", bob.name, subject, "smtp away").ok().out.startswith("queued ")
    finally:
        server.postfix.start()
    until(lambda: count(server, bob.name, subject) >= 1, "delivered when Postfix is back", timeout=BACK,
          interval=0.2)
    until(lambda: alice.outbox("new") == [] and alice.outbox("cur") == [], "alice's outbox empty", timeout=BACK)
    alice.run("remote", "sync").ok()
    assert count(server, bob.name, subject) == 1


def test_a_sync_process_killed_9_comes_back_and_duplicates_nothing(made: Machines, server: Server) -> None:
    alice, bob = made.new("alice"), made.new("bob")
    first, second = title(), title()
    alice.as_me("send", bob.name, first, "one").ok()
    until(lambda: bob.with_title(first), "the first postcard mirrored")
    killed = bob.kill_sync()
    alice.as_me("send", bob.name, second, "two").ok()
    until(lambda: count(server, bob.name, second) == 1, "the second postcard on the server")
    shown = bob.as_me("inbox", "--all").ok().out  # a command brings the sync process back and waits for a pass
    assert second in shown and first in shown
    assert bob.wait_sync_pid() != killed
    bob.run("remote", "sync").ok()
    ids = message_ids(bob.files())
    assert len(ids) == len(set(ids)), ids  # nothing mirrored twice
    assert len(bob.with_title(first)) == 1 and len(bob.with_title(second)) == 1
    assert count(server, bob.name, first) == 1 and count(server, bob.name, second) == 1


def test_a_wrong_password_exits_77_and_saves_nothing(made: Machines, server: Server, tmp_path: Path) -> None:
    name = f"dave-{uuid.uuid4().hex[:6]}"
    server.add(name)
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    machine = made(name)
    result = machine.join(server, password_file=wrong).fails(77)
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    assert "not-the-password" not in result.err + result.out
    assert not (machine.home / "remote.json").exists()


def test_a_certificate_for_another_name_is_refused(made: Machines, server: Server) -> None:
    """The server's certificate names `localhost`: a machine told to reach 127.0.0.1 must refuse it (for
    agentmail serve, whose IMAP has no TLS, SMTP's STARTTLS is where it shows)."""
    name = f"erin-{uuid.uuid4().hex[:6]}"
    server.add(name)
    machine = made(name)
    by_address = {url: url.replace("//localhost:", "//127.0.0.1:") for url in (server.imap_url, server.smtp_url)}
    result = machine.join(server, smtp=by_address[server.smtp_url]).fails(69)
    assert result.err.count("\n") == 1 and "certificate" in result.err.lower(), result.err
    assert not (machine.home / "remote.json").exists()
    if isinstance(server, MailServer):
        machine.join(server, imap=by_address[server.imap_url]).fails(69)
        imaps = f"imaps://127.0.0.1:{server.deployment.imaps_port}"
        machine.join(server, imap=imaps).fails(69)
        assert not (machine.home / "remote.json").exists()
        # and the right name works, over IMAPS too
        machine.join(server, imap=f"imaps://localhost:{server.deployment.imaps_port}").ok()
