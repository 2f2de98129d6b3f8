"""Durability, watched with strace: every copy of a message is fsynced in tmp/, then linked into new/ (or cur/), then
its directory is fsynced, and all of it happens before `agentmail send` or `agentmail-sendmail` exits and before
`agentmail serve` answers 250 to the SMTP DATA (there one syncfs may stand for the fsyncs of a whole batch).

The store's first promise is that an acknowledged message survives a power cut; no other test can see a missing
fsync, since the files look the same either way until the machine goes down. See tests/support/strace.py.
"""

from __future__ import annotations

import imaplib
import smtplib
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from tests.support import strace
from tests.support.servers import Serve
from tests.support.store import AGENTMAIL, SENDMAIL, Store, env_for, make_store

DOMAIN = "agents.localhost"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "home")


def message(frm: str, to: str, tag: str) -> bytes:
    return (f"From: {frm}@{DOMAIN}\r\nTo: {to}@{DOMAIN}\r\nSubject: durable {tag}\r\n"
            f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <{tag}@test>\r\n\r\nbody {tag}\r\n").encode()


def copies(store: Store, tag: str) -> set[str]:
    """Every file in the store (mailboxes and journal) that holds `tag`."""
    needle = tag.encode()
    return {str(p.resolve()) for top in (store.home / "maildirs", store.home / "journal") for p in top.rglob("*")
            if p.is_file() and p.parent.name in ("new", "cur") and needle in p.read_bytes()}


def traced_run(tmp_path: Path, store: Store, argv: list[str], data: bytes | None = None) -> strace.Trace:
    out = tmp_path / "trace"
    proc = subprocess.run([*strace.command(str(out)), *argv], input=data, env=env_for(store.home),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return strace.parse(out.read_text(errors="replace"))


def assert_durable_before_exit(trace: strace.Trace, store: Store, tag: str, expected: int) -> None:
    main = trace.calls[0].pid  # the command itself: strace's first child
    exit_line, how = trace.exits[main]
    assert how == "exited with 0", how
    pubs = {p.dest: p for p in strace.published(trace, str(store.home))}
    stored = copies(store, tag)
    assert len(stored) == expected, stored
    assert stored <= set(pubs), f"copies not published from tmp/ by a link or rename: {stored - set(pubs)}"
    problems = [msg for dest in sorted(stored) for msg in strace.check_durable(trace, pubs[dest], exit_line)]
    assert not problems, "\n".join(problems)


def test_cli_send_fsyncs_file_link_and_directory_before_exit(tmp_path: Path, store: Store) -> None:
    tag = uuid.uuid4().hex[:12]
    trace = traced_run(tmp_path, store, [AGENTMAIL, "--as", "alice", "send", "bob,carol", f"durable {tag}", tag])
    # bob's and carol's inboxes, alice's .Sent, the journal
    assert_durable_before_exit(trace, store, tag, expected=4)


def test_sendmail_fsyncs_file_link_and_directory_before_exit(tmp_path: Path, store: Store) -> None:
    tag = uuid.uuid4().hex[:12]
    trace = traced_run(tmp_path, store, [SENDMAIL, "-i", "-f", f"bob@{DOMAIN}", "alice"], message("bob", "alice", tag))
    assert_durable_before_exit(trace, store, tag, expected=3)  # alice's inbox, bob's .Sent, the journal


def test_serve_syncs_every_copy_before_it_answers_250(tmp_path: Path, store: Store) -> None:
    """Several SMTP clients at once, so the group commit may batch them: each client's 250 comes only after a sync
    that follows its files' last writes and precedes their links, and another that follows the links."""
    out = tmp_path / "trace"
    srv = Serve.start(store, prefix=strace.command(str(out)), log_path=tmp_path / "serve.log", timeout=60)
    n = 6
    tags = [uuid.uuid4().hex[:12] for _ in range(n)]
    ports: dict[str, int] = {}
    errors: list[BaseException] = []
    together = threading.Barrier(n, timeout=60)

    def client(tag: str) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=60) as smtp:
                smtp.login("bob", store.passwords["bob"])
                ports[tag] = smtp.sock.getsockname()[1]
                together.wait()
                smtp.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], message("bob", "alice", tag))
        except BaseException as exc:  # reported below, with the server's log
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(tag,)) for tag in tags]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert srv.stop() == 0, srv.log()
    assert not errors, (errors, srv.log())
    trace = strace.parse(out.read_text(errors="replace"))
    pubs = {p.dest: p for p in strace.published(trace, str(store.home))}
    problems = []
    for tag in tags:
        endpoint = f":{srv.smtp_port}->127.0.0.1:{ports[tag]}]"
        acks = [c for c in trace.of(*strace.WRITES)
                if c.fd_path and c.fd_path.endswith(endpoint) and "250 2.0.0" in c.args]
        assert len(acks) == 1, f"{tag}: {len(acks)} writes of '250 2.0.0' on the client's socket"
        stored = copies(store, tag)
        assert len(stored) == 2, stored  # alice's inbox and the journal (a mail client files its own Sent copy)
        assert stored <= set(pubs), f"copies not published from tmp/: {stored - set(pubs)}"
        problems += [f"{tag}: {msg}" for dest in sorted(stored)
                     for msg in strace.check_durable(trace, pubs[dest], acks[0].start)]
    assert not problems, "\n".join(problems)


def test_serve_imap_append_syncs_before_it_answers_ok(tmp_path: Path, store: Store) -> None:
    out = tmp_path / "trace"
    srv = Serve.start(store, prefix=strace.command(str(out)), log_path=tmp_path / "serve.log", timeout=60)
    tag = uuid.uuid4().hex[:12]
    try:
        imap = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=60)
        imap.login("bob", store.passwords["bob"])
        port = imap.sock.getsockname()[1]
        typ, data = imap.append("INBOX", "(\\Seen)", None, message("alice", "bob", tag))
        assert typ == "OK", data
        imap.logout()
    finally:
        assert srv.stop() == 0, srv.log()
    trace = strace.parse(out.read_text(errors="replace"))
    endpoint = f":{srv.imap_port}->127.0.0.1:{port}]"
    acks = [c for c in trace.of(*strace.WRITES)
            if c.fd_path and c.fd_path.endswith(endpoint) and " OK [APPENDUID " in c.args]
    assert len(acks) == 1, acks
    (stored,) = copies(store, tag)  # an APPEND files one copy, in the folder named (cur/, as \\Seen)
    pubs = {p.dest: p for p in strace.published(trace, str(store.home))}
    assert stored in pubs, f"{stored} was not published from tmp/ by a link or rename"
    assert strace.check_durable(trace, pubs[stored], acks[0].start) == []
