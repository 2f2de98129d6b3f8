"""Faults between machines: the server stopped mid-send, an answer lost on the wire, the sync process killed -9, its
state lost, a wrong password, a process nothing needs. Real `agentmail serve`, real sync processes, and for the
lost answer a real TCP relay between the client and the server that drops bytes as a broken network would."""

from __future__ import annotations

import os
import selectors
import socket
import threading
import uuid
from pathlib import Path

from agentmail.store import passwd, registry
from tests.remote.conftest import Server
from tests.support.remotehome import Machines
from tests.support.servers import free_port
from tests.support.wait import until


def title() -> str:
    return f"f-{uuid.uuid4().hex[:10]}"


def copies(server: Server, name: str, marker: str, folder: str = "INBOX") -> int:
    box = server.store.box(name, folder)
    return sum(1 for sub in ("new", "cur") for p in (box / sub).iterdir() if marker.encode() in p.read_bytes())


def journal_copies(server: Server, marker: str) -> int:
    return sum(1 for sub in ("new", "cur") for p in (server.store.home / "journal" / sub).iterdir()
               if marker.encode() in p.read_bytes())


def test_a_send_while_the_server_is_stopped_is_queued_and_delivered_once_when_it_is_back(
        server: Server, machine: Machines) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    subject = title()
    server.stop()
    try:
        queued = alice.as_me("send", "bob", subject, "sent while the server is down").ok()
        assert queued.out.startswith("queued ") and "server is back" in queued.out
        assert len(alice.outbox("new")) == 1
        refused = alice.as_me("send", "--sync", "bob", title(), "must not queue").fails(75)
        assert "nothing was queued" in refused.err
        assert len(alice.outbox("new")) == 1  # only the first one
        warned = bob.as_me("inbox").ok()  # reading works from the mirror, with a warning
        assert "showing the local copy" in warned.err
    finally:
        server.start()
    until(lambda: copies(server, "bob", subject) == 1, "the queued postcard delivered by the sync process")
    until(lambda: bob.with_title(subject), "and mirrored to bob's machine")
    until(lambda: alice.outbox("new") == [] and len(alice.outbox("sent")) >= 1, "alice's outbox emptied")
    alice.run("remote", "sync").ok()  # more rounds send nothing again
    bob.run("remote", "sync").ok()
    assert copies(server, "bob", subject) == 1 and journal_copies(server, subject) == 1
    assert len(bob.with_title(subject)) == 1


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_sync_process_waits_quietly_while_the_server_is_gone(server: Server, machine: Machines) -> None:
    """The server goes away under an IDLE connection: the sync process waits for it (imapclient reads the closed
    connection as "no news" at once, every time: that spun a core for the ten minutes of an IDLE round) and
    picks up mail once the server is back."""
    alice = server.connect(machine("alice"))
    pid = alice.wait_sync_pid()
    first = title()
    server.store.send("bob", "alice", first)
    until(lambda: alice.with_title(first), "a postcard mirrored (the IDLE connection is up)")
    server.stop()
    try:
        until(lambda: "idle" in alice.log() or "offline" in alice.log(), "the sync process noticed", timeout=30)
        before = cpu_seconds(pid)
        threading.Event().wait(5)
        used = cpu_seconds(pid) - before
        assert used < 1.0, f"the sync process used {used:.2f} s of CPU in 5 s with the server gone:\n{alice.log()}"
    finally:
        server.start()
    later = title()
    server.store.send("bob", "alice", later)
    until(lambda: alice.with_title(later), "mail mirrored once the server is back", timeout=90)


class Relay:
    """A TCP relay to `target` that can lose the end of one SMTP transaction: `cut = "reply"` lets the final "."
    through, reads the server's answer and drops it (the server took the message; the client never hears so);
    `cut = "dot"` drops the "." itself (the server never takes it). Then both sides are closed, as a broken
    network closes them; later connections pass through untouched."""

    def __init__(self, target: int, cut: str) -> None:
        self.target = target
        self.cut: str | None = cut
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.cuts = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.pump, args=(client,), daemon=True).start()

    def pump(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target))
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        seen = b""
        try:
            while True:
                for key, _ in sel.select(60):
                    src, dst = key.fileobj, key.data
                    data = src.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if src is client and self.cut:
                        seen = (seen + data)[-8:]
                        if b"\r\n.\r\n" in seen or data.endswith(b"\r\n.\r\n"):
                            cut, self.cut = self.cut, None
                            self.cuts += 1
                            if cut == "reply":
                                upstream.sendall(data)
                                upstream.recv(65536)  # the server's 250, which never reaches the client
                            return
                    dst.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.listener.close()


def test_an_answer_lost_after_the_server_took_the_postcard_is_never_sent_twice(server: Server,
                                                                               machine: Machines) -> None:
    relay = Relay(server.smtp_port, "reply")
    try:
        alice = machine("alice")
        alice.connect(server.imap, f"smtp://127.0.0.1:{relay.port}", server.store.passwords["alice"]).ok()
        subject = title()
        result = alice.as_me("send", "bob", subject, "the server takes it, the answer is lost").ok()
        assert relay.cuts == 1 and result.out.startswith("queued ") and "no reply" in result.out
        assert copies(server, "bob", subject) == 1  # the server did take it
        # in doubt until the author's own copy shows it was taken; then done, never sent again
        until(lambda: alice.outbox("cur") == [] and alice.outbox("new") == [], "the doubt resolved")
        alice.run("remote", "sync").ok()
        assert copies(server, "bob", subject) == 1 and journal_copies(server, subject) == 1
        assert "it was taken, not sending it again" in alice.log()
        until(lambda: alice.with_title(subject, "Sent"), "the author's copy filed into Sent")
    finally:
        relay.close()


def test_a_postcard_whose_end_never_arrived_is_sent_again_after_the_grace_period(server: Server,
                                                                                 machine: Machines) -> None:
    relay = Relay(server.smtp_port, "dot")
    try:
        alice = machine("alice")
        alice.connect(server.imap, f"smtp://127.0.0.1:{relay.port}", server.store.passwords["alice"]).ok()
        alice.tune(uncertain_grace=2)
        subject = title()
        result = alice.as_me("send", "bob", subject, "the end of this one is lost").ok()
        assert relay.cuts == 1 and result.out.startswith("queued ")
        assert copies(server, "bob", subject) == 0 and len(alice.outbox("cur")) == 1
        try:
            until(lambda: copies(server, "bob", subject) == 1, "sent again once the grace period passed")
        except AssertionError:
            raise AssertionError(alice.log()) from None
        until(lambda: alice.outbox("cur") == [] and alice.outbox("new") == [], "the outbox emptied")
        alice.run("remote", "sync").ok()
        assert copies(server, "bob", subject) == 1
    finally:
        relay.close()


def test_the_sync_process_killed_9_restarts_and_never_duplicates(server: Server, machine: Machines) -> None:
    bob = server.connect(machine("bob"))
    bob.wait_sync_pid()
    bob.stop_sync()
    marker = title()
    for i in range(40):
        server.store.send("alice", "bob", f"{marker} {i}", "one of many")
    killed: list[int] = []
    for _round in range(3):
        bob.as_me("whoami").ok()  # any command starts it again
        until(lambda: bob.sync_pid() not in (None, *killed), "a new sync process")
        until(lambda: any(marker in p.read_text() for p in bob.files()), "syncing")
        killed.append(bob.kill_sync())
    bob.as_me("inbox", "--all", "--limit", "100").ok()
    mine = [p for p in bob.files() if marker.encode() in p.read_bytes()]
    ids = [i for i in bob.ids() if i]
    assert len(mine) == 40 and len(ids) == len(set(ids)), "a message mirrored twice"
    # the state lost altogether (as if killed before it was ever saved): the files are recognised by name
    bob.stop_sync()
    (bob.home / "mirror" / "INBOX.json").unlink()
    bob.as_me("inbox", "--all", "--limit", "100").ok()
    assert len([p for p in bob.files() if marker.encode() in p.read_bytes()]) == 40


def test_a_move_made_here_and_on_the_server_survives_a_lost_state(server: Server, machine: Machines) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    subject = title()
    key = alice.as_me("send", "bob", subject, "file me").ok().out.split()[1]
    until(lambda: bob.with_title(subject), "mirrored")
    bob.as_me("clerk", "file", key).ok()
    until(lambda: copies(server, "bob", subject, "Todo") == 1, "moved on the server")
    bob.stop_sync()
    for folder in ("INBOX", "Todo"):
        (bob.home / "mirror" / f"{folder}.json").unlink()
    bob.run("remote", "sync").ok()
    assert len(bob.with_title(subject, "Todo")) == 1 and not bob.with_title(subject)  # matched by Message-ID


def test_a_wrong_password_is_a_clear_error_77(server: Server, machine: Machines) -> None:
    cfg = server.store.cfg
    name = f"pw{uuid.uuid4().hex[:6]}"
    registry.create_account(cfg, name)
    good = passwd.password_for(cfg, name)
    home = machine(name)
    refused = home.connect(server.imap, server.smtp, "not-the-password").fails(77)
    assert "refused the password" in refused.err and name in refused.err and "b'" not in refused.err
    assert not (home.home / "remote.json").exists() and not (home.home / "maildirs").exists()  # as it was
    home.connect(server.imap, server.smtp, good).ok()
    home.stop_sync()
    # the password changed on the server afterwards (a {PLAIN} line, which Dovecot's passwd-file reads too)
    lines = (server.store.home / "passwd").read_text().splitlines()
    (server.store.home / "passwd").write_text("".join(
        f"{name}:{{PLAIN}}changed-{uuid.uuid4().hex}\n" if line.startswith(f"{name}:") else line + "\n"
        for line in lines))
    sent = home.as_me("send", "alice", title(), "x").fails(77)
    assert "refused the password" in sent.err
    assert home.outbox("new") == [] and home.outbox("cur") == []  # not queued: retrying cannot help
    home.as_me("inbox").fails(77)


def test_the_sync_process_goes_away_when_nothing_needs_it(server: Server, machine: Machines) -> None:
    alice = machine("alice")
    server.connect(alice, "--idle-timeout", "1")
    alice.wait_sync_pid()
    until(lambda: alice.sync_pid() is None, "the sync process gone after its idle timeout")
    assert "needs this process any more" in alice.log()
    assert alice.as_me("inbox").code == 0  # and the next command starts it again
    alice.wait_sync_pid()


def test_a_home_with_local_accounts_is_not_made_remote(server: Server, tmp_path: Path) -> None:
    from tests.support.cli import run_script

    home = tmp_path / "local"
    run_script(home, "register", "someone").ok()
    pw = tmp_path / "pw"
    pw.write_text(server.store.passwords["alice"])
    result = run_script(home, "remote", "set", "--imap", server.imap, "--smtp", server.smtp, "--user", "alice",
                        "--password-file", str(pw)).fails(78)
    assert "local accounts" in result.err and not (home / "remote.json").exists()
    assert os.listdir(home / "maildirs" / "someone")  # untouched
