"""Abuse over real sockets: huge literals, garbage, many idle connections, clients that vanish."""

from __future__ import annotations

import socket
import time

from tests.imap.server.conftest import Live
from tests.support import wait


def connect(live: Live, login: str | None = None) -> socket.socket:
    s = socket.create_connection((live.host, live.port), timeout=10)
    assert recv_until(s, b"\r\n").startswith(b"* OK")
    if login:
        s.sendall(f"l LOGIN {login} {live.store.passwords[login]}\r\n".encode())
        assert b"l OK" in recv_until(s, b"l ")
    return s


def recv_until(s: socket.socket, marker: bytes, limit: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        if marker in data and data.endswith(b"\r\n"):
            break
    return data


def test_two_gigabyte_literal_refused_unread(live: Live) -> None:
    before = live.store.snapshot()
    s = connect(live, "bob")
    s.sendall(b"a APPEND INBOX {2147483648}\r\n")
    reply = recv_until(s, b"a ")
    assert reply.startswith(b"a NO [LIMIT]"), reply
    s.sendall(b"b NOOP\r\n")  # the connection goes on: the literal was never expected
    assert b"b OK" in recv_until(s, b"b ")
    s.sendall(b"c APPEND INBOX {2147483648+}\r\nxxxx")  # non-synchronizing: BYE, connection closed
    reply = recv_until(s, b"BYE")
    assert b"* BYE [LIMIT]" in reply
    assert s.recv(100) == b""
    assert live.store.snapshot() == before


def test_garbage_flood(live: Live) -> None:
    s = connect(live)
    junk = b"".join(b"\x00\xff garbage %d ((( \"\r\n" % i for i in range(2000)) + b"x" * 200_000 + b"\r\n"
    s.sendall(junk + b"z CAPABILITY\r\n")
    data = recv_until(s, b"z OK", limit=20)
    assert data.count(b"BAD") >= 2000 and b"z OK CAPABILITY completed" in data
    other = connect(live, "alice")  # others are unaffected
    other.sendall(b"n NOOP\r\n")
    assert b"n OK" in recv_until(other, b"n ")


def test_failed_logins_delayed_then_disconnected(live: Live) -> None:
    s = connect(live)
    start = time.monotonic()
    for i in range(3):
        s.sendall(f"{i} LOGIN bob wrong\r\n".encode())
        reply = recv_until(s, f"{i} NO".encode())
        assert f"{i} NO [AUTHENTICATIONFAILED]".encode() in reply
    assert time.monotonic() - start >= 0.3  # login_delay=0.1 in the fixture
    assert b"* BYE" in reply and s.recv(100) == b""


def test_client_vanishing_mid_literal_changes_nothing(live: Live) -> None:
    first = live.imap("bob")
    first.select("INBOX")  # creates dovecot-uidlist (metadata) before the snapshot
    first.logout()
    before = live.store.snapshot()
    for cmd in (b"a APPEND INBOX {5000}\r\n", b"a APPEND INBOX {5000+}\r\nFrom: x\r\n"):
        s = connect(live, "bob")
        s.sendall(cmd)
        if b"+}" not in cmd:
            assert recv_until(s, b"+").startswith(b"+ ")
        s.sendall(b"Subject: half a message\r\n" * 10)
        s.close()
    s = connect(live, "bob")
    s.sendall(b"a SELECT INBOX\r\n")  # the server still serves, and no half message appeared
    assert b"* 0 EXISTS" in recv_until(s, b"a OK")
    # the vanished clients' connections are over on the server's side (only `s` is left): nothing more can come
    wait.until(lambda: len(live.server.server.connections) == 1, "the server ending the vanished connections")
    assert live.store.snapshot() == before
    assert not list((live.store.box("bob") / "tmp").iterdir())


def test_300_idle_connections_while_another_client_works(live: Live) -> None:
    idle = []
    for i in range(300):
        s = connect(live, None)
        idle.append(s)
        if i < 100:  # a third of them logged in and IDLE on INBOX
            s.sendall(f"l LOGIN carol {live.store.passwords['carol']}\r\ns SELECT INBOX\r\ni IDLE\r\n".encode())
            assert b"+ idling" in recv_until(s, b"+ idling")
    # at most 100 (a tenth of 1000) wait to log in: the oldest 100 of the 200 idle ones were closed to make room
    for s in idle[100:200]:
        assert recv_until(s, b"BYE").startswith(b"* BYE Too many connections waiting to log in")
    conn = live.imap("bob")
    live.store.send("alice", "bob", "busy server")
    # served while 300 others are connected (the connection's 30 s timeout fails the test if it is not; how fast
    # is measured by bench/, not asserted here)
    conn.select("INBOX")
    assert conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0][1].strip() == b"Subject: busy server"  # type: ignore
    live.store.send("alice", "carol", "to the idlers")
    for s in idle[:100]:
        assert b"* 1 EXISTS" in recv_until(s, b"EXISTS", limit=wait.DEADLINE)
    for s in idle:
        s.close()
