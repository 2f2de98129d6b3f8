"""No single client stalls the others (issue 8), over real sockets: a LIST pattern that used to backtrack for minutes,
a long SEARCH, and a flood of idle unauthenticated connections. Nothing here times a command: each test waits for what
must happen, and a hang shows up as a socket timeout (generous: DEADLINE), never as a measured duration."""

from __future__ import annotations

import imaplib
import os
import resource
import select
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentmail import config
from agentmail.imap.protocol.searchkeys import MAX_KEYS
from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live, ThreadServer
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.servers import Serve
from tests.support.store import Store

DEADLINE = 60.0  # seconds: far past anything a healthy run needs, on a loaded 2-core machine too
STARS = '"' + "*" * 16 + 'Z"'  # RFC 3501 6.3.8 wildcards: the regex this was compiled to backtracked exponentially


def until(check: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.01)


def imap_login_select_noop(host: str, port: int, user: str, password: str) -> None:
    """Another user's whole way in: connect, LOGIN, SELECT INBOX, NOOP (each step fails on DEADLINE)."""
    conn = imaplib.IMAP4(host, port, timeout=DEADLINE)
    try:
        assert conn.login(user, password)[0] == "OK"
        assert conn.select("INBOX")[0] == "OK"
        assert conn.noop()[0] == "OK"
    finally:
        conn.logout()


def smtp_auth(host: str, port: int, user: str, password: str) -> None:
    with smtplib.SMTP(host, port, timeout=DEADLINE) as client:
        client.ehlo("fairness.test")
        assert client.login(user, password)[0] == 235


class Raw:
    """One IMAP connection on a plain socket: send a command now, read its reply later."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.buf = b""
        self.read_until(b"\r\n")

    def read_until(self, marker: bytes) -> bytes:
        """Everything up to the end of the line where ``marker`` starts a line (or, for CRLF, the first line)."""
        while True:
            if marker == b"\r\n":
                at = self.buf.find(marker)
            else:
                at = 0 if self.buf.startswith(marker) else self.buf.find(b"\r\n" + marker)
            end = self.buf.find(b"\r\n", max(at, 0) + (0 if marker == b"\r\n" else 2)) if at >= 0 else -1
            if end >= 0:
                out, self.buf = self.buf[:end + 2], self.buf[end + 2:]
                return out
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"closed before {marker!r}: {self.buf[-300:]!r}")
            self.buf += chunk

    def cmd(self, tag: str, text: str) -> bytes:
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        return self.read_until(f"{tag} ".encode())

    def replied(self, tag: str) -> bool:
        """Has the tagged reply come in yet (without waiting)?"""
        while select.select([self.sock], [], [], 0)[0]:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                break
            self.buf += chunk
        return f"\r\n{tag} ".encode() in b"\r\n" + self.buf

    def close(self) -> None:
        self.sock.close()


def login(port: int, user: str, password: str) -> Raw:
    conn = Raw(port)
    assert b"l OK" in conn.cmd("l", f'LOGIN {user} "{password}"')
    return conn


# ---------------------------------------------------------------- the LIST that froze everything

@pytest.fixture
def serve(store: Store) -> Iterator[Serve]:
    srv = Serve.start(store)
    yield srv
    assert srv.stop() == 0
    assert "Traceback" not in srv.log()


def test_list_wildcards_do_not_freeze_the_server(serve: Serve, store: Store) -> None:
    """`LIST "" "****************Z"` from human, and from an agent after creating a long folder; meanwhile another
    client logs in over IMAP and another over SMTP: all of it answered (before, nobody got an answer for minutes)."""
    human = login(serve.imap_port, "human", store.passwords["human"])
    agent = login(serve.imap_port, "bob", store.passwords["bob"])
    long_name = "x" * 120
    assert b"c OK" in agent.cmd("c", f"CREATE {long_name}")
    for conn in (human, agent):
        conn.sock.sendall(f"z LIST \"\" {STARS}\r\n".encode())  # sent; the reply is read after the others
    imap_login_select_noop(serve.host, serve.imap_port, "alice", store.passwords["alice"])
    smtp_auth(serve.host, serve.smtp_port, "carol", store.passwords["carol"])
    assert human.read_until(b"z ").endswith(b"z OK LIST completed\r\n")
    assert agent.read_until(b"z ").endswith(b"z OK LIST completed\r\n")
    agent.sock.sendall(f'y LIST "" "*{"*" * 16}x"\r\n'.encode())  # a pattern that does match the long folder
    assert agent.read_until(b"y ") == f'* LIST (\\HasNoChildren) "/" {long_name}\r\ny OK LIST completed\r\n'.encode()


# ---------------------------------------------------------------- a long command shares the worker

def fill(store: Store, name: str, count: int) -> None:
    """`count` plain postcards in cur/ (written as files, numbered with uidlist.sync, as bench/ does)."""
    cfg = config.load(str(store.home))
    box = cfg.maildir_path(name)
    words = " ".join(f"word{i}" for i in range(300))
    for i in range(count):
        data = (f"From: alice@{cfg.domain}\nTo: {name}@{cfg.domain}\nSubject: postcard {i}\n"
                f"Message-ID: <{i}@fairness>\n\n{words}\n").encode()
        vsize = len(data) + data.count(b"\n")
        fname = f"{1700000000 + i}.M{i}P1Q{i}.test,S={len(data)},W={vsize}:2,S"
        Path(box, "cur", fname).write_bytes(data)
    uidlist.sync(Maildir(box))


def test_another_client_gets_in_while_a_long_search_runs(live: Live) -> None:
    """While bob's SEARCH reads and tests every message (500 TEXT keys each, seconds of work), alice connects, logs in,
    selects and gets her NOOP answered, and bob's SEARCH is still running when she is done: the worker took her
    commands between slices of his. Before, her LOGIN queued behind his whole SEARCH."""
    fill(live.store, "bob", 2000)
    bob = login(live.port, "bob", live.store.passwords["bob"])
    assert b"s OK" in bob.cmd("s", "SELECT INBOX")
    keys = " ".join(f"NOT TEXT needle{i}" for i in range(MAX_KEYS // 2))  # every key tested on every message
    bob.sock.sendall(f"w SEARCH {keys}\r\n".encode())
    until(lambda: not live.server.server.worker_idle(), "bob's SEARCH on the worker")
    imap_login_select_noop(live.host, live.port, "alice", live.store.passwords["alice"])
    assert not bob.replied("w"), "bob's SEARCH finished first: alice waited for all of it"
    reply = bob.read_until(b"w ")
    assert reply.startswith(b"* SEARCH 1 2 3 ") and reply.endswith(b" 2000\r\nw OK SEARCH completed\r\n")


# ---------------------------------------------------------------- idle unauthenticated connections

@pytest.fixture
def descriptors() -> Iterator[None]:
    """1,000 client sockets (and, for `live`, the server's 1,000) need the open file limit above its usual 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1000_idle_unauthenticated_connections_do_not_lock_the_user_out(serve: Serve, store: Store,
                                                                        descriptors: None) -> None:
    """1,000 connections that never log in (before: everyone got "Too many connections" for up to 3 minutes); then
    the user's client connects, logs in and works, and SMTP AUTH works; at most a tenth of 1,000 are still waiting."""
    flood = [socket.create_connection((serve.host, serve.imap_port), timeout=DEADLINE) for _ in range(1000)]
    try:
        imap_login_select_noop(serve.host, serve.imap_port, "human", store.passwords["human"])
        smtp_auth(serve.host, serve.smtp_port, "bob", store.passwords["bob"])

        def closed(s: socket.socket) -> bool:
            """Has the server closed it (all it sent read, then EOF)? Never blocks."""
            s.setblocking(False)
            try:
                while s.recv(65536):
                    pass
                return True
            except BlockingIOError:
                return False

        # the closing of the oldest happened as the newer ones came in, before the user's login was answered
        still_open = [i for i, s in enumerate(flood) if not closed(s)]
        assert len(still_open) <= 100 and still_open == list(range(1000 - len(still_open), 1000)), still_open[:5]
    finally:
        for s in flood:
            s.close()


def test_an_idle_unauthenticated_connection_is_closed(store: Store) -> None:
    srv = ThreadServer(store.cfg, preauth_timeout=0.5, autologout=3600)
    try:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=DEADLINE)
        data = b""
        while chunk := sock.recv(4096):  # returns b"" once the server closes it; the timeout fails the test
            data += chunk
        assert data.startswith(b"* OK [CAPABILITY") and data.endswith(b"* BYE Autologout; idle for too long\r\n")
        sock.close()
        alive = login(srv.port, "bob", store.passwords["bob"])  # logged in: the pre-login limit no longer applies
        # autologout is an hour: it answers whenever asked (no wait on the clock here, the limit is unit-free)
        assert b"n OK" in alive.cmd("n", "NOOP")
        alive.close()
    finally:
        srv.stop()


def test_autologout_after_login_is_shorter_than_the_greeting_wait(store: Store) -> None:
    """The autologout clock is one timer per connection: armed for the long wait before login, it must still fire at a
    shorter limit after it, and a command in time moves the deadline on rather than closing the connection."""
    srv = ThreadServer(store.cfg, preauth_timeout=10 * DEADLINE, autologout=1.0)  # the first timer: past DEADLINE
    try:
        conn = login(srv.port, "bob", store.passwords["bob"])
        assert b"s OK" in conn.cmd("s", "SELECT INBOX")
        assert b"n OK" in conn.cmd("n", "NOOP")  # answered, not logged out: each command starts the clock again
        data = conn.buf
        while chunk := conn.sock.recv(4096):  # b"" once the server closes it; the socket timeout fails the test
            data += chunk
        assert data == b"* BYE Autologout; idle for too long\r\n"
        conn.close()
    finally:
        srv.stop()


def test_lines_and_literals_before_login_are_small(live: Live) -> None:
    conn = Raw(live.port)
    conn.sock.sendall(b"a LOGIN {100000}\r\n")
    assert conn.read_until(b"a ").startswith(b"a NO [LIMIT] Literal too large (100000 bytes, limit 8192)")
    conn.sock.sendall(b"x NOOP " + b"y" * 9000 + b"\r\n")
    assert conn.read_until(b"x ") == b"x BAD Command line too long (limit 8192 bytes)\r\n"
    conn.sock.sendall(b"b LOGIN bob {%d}\r\n" % len(live.store.passwords["bob"]))
    assert conn.read_until(b"\r\n").startswith(b"+ ")
    conn.sock.sendall(live.store.passwords["bob"].encode() + b"\r\n")
    assert b"b OK" in conn.read_until(b"b ")
    msg = b"Subject: big\r\n\r\n" + b"x" * 100_000 + b"\r\n"
    conn.sock.sendall(b"c APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")  # after login: the message cap
    assert b"c OK [APPENDUID" in conn.read_until(b"c ")
    conn.sock.sendall(b"d NOOP " + b"y" * 9000 + b"\r\n")  # and 64 KiB lines
    assert conn.read_until(b"d ").startswith(b"d BAD Unexpected extra arguments: ")  # parsed, not cut
    conn.close()
    assert os.path.isdir(live.store.box("bob"))


# ---------------------------------------------------------------- "*" on an empty mailbox, as Dovecot answers it

EMPTY_MAILBOX = ["FETCH * FLAGS", "UID FETCH * FLAGS", "FETCH 1:* FLAGS", "UID FETCH 1:* FLAGS", "FETCH 1 FLAGS",
                 "STORE * +FLAGS (\\Seen)", "UID STORE * +FLAGS (\\Seen)", "SEARCH *", "UID SEARCH *", "SEARCH UID *",
                 "COPY * INBOX", "UID COPY * INBOX", "MOVE * INBOX", "UID MOVE 1:* INBOX", "UID EXPUNGE *",
                 "EXPUNGE", "SEARCH ALL",
                 # 8-bit mailbox names without UTF8=ACCEPT: NO (Dovecot: "Mailbox name is not valid mUTF-7"), and a
                 # LIST pattern that is not modified UTF-7 lists nothing
                 'SELECT "&\u00e9-"', 'EXAMINE "\u00e9"', 'CREATE "\u00e9"', 'STATUS "\u00e9" (MESSAGES)',
                 'LIST "" "&\u00e9-"', 'LIST "" "\u00e9*"', 'SELECT "&Jjo"']


def answers(port: int, password: str, commands: list[str]) -> list[tuple[str, bytes]]:
    """(status word of the tagged reply, the untagged SEARCH line if any) for each command on an empty folder."""
    conn = login(port, "bob", password)
    assert b"s OK" in conn.cmd("s", "SELECT Empty")
    out = []
    for i, text in enumerate(commands):
        reply = conn.cmd(f"c{i}", text)
        last = reply.rsplit(b"\r\n", 2)[-2]
        search = next((line for line in reply.split(b"\r\n") if line.startswith(b"* SEARCH")), b"")
        out.append((last.split(b" ")[1].decode(), search.rstrip()))
    conn.close()
    return out


def test_star_on_an_empty_mailbox_and_8bit_names_as_dovecot(live: Live) -> None:
    Maildir(str(live.store.box("bob", "Empty"))).create(folder_marker=True)
    ours = answers(live.port, live.store.passwords["bob"], EMPTY_MAILBOX)
    need_dovecot()
    dove = Dovecot(live.store.home).start()
    try:
        theirs = answers(dove.port, live.store.passwords["bob"], EMPTY_MAILBOX)
    finally:
        dove.stop()
    assert dict(zip(EMPTY_MAILBOX, ours, strict=True)) == dict(zip(EMPTY_MAILBOX, theirs, strict=True))
    assert {"BAD", "NO", "OK"} == {status for status, _ in ours}  # all kinds are there
