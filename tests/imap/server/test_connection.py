"""The connection's two paths (imap/connection.py): cheap commands answered inside ``data_received``, the rest on
the connection's task. Whatever path a command takes, replies come whole and in the order the commands were sent:
a command cut into single bytes, cheap and worker commands pipelined in one packet, a fast-path reply longer than
one chunk, bytes arriving while the task is busy on the worker, and a client that half-closes after its commands."""

from __future__ import annotations

import re
import socket

import pytest

from agentmail.imap import connection
from tests.imap.server.conftest import Live
from tests.imap.server.test_fairness import Raw, login
from tests.imap.server.test_stream import fill


def logged_in(live: Live) -> Raw:
    return login(live.port, "bob", live.store.passwords["bob"])


def tagged(data: bytes) -> list[bytes]:
    """The tags of the tagged replies, in the order they came."""
    return re.findall(rb"(?m)^(t\d+) (?:OK|NO|BAD)", data)


def test_a_command_sent_one_byte_at_a_time(live: Live) -> None:
    fill(live, 5)
    conn = logged_in(live)
    sock = conn.sock
    for byte in b"t1 SELECT INBOX\r\nt2 NOOP\r\nt3 STATUS INBOX (MESSAGES)\r\n":
        sock.sendall(bytes([byte]))
    data = conn.read_until(b"t3 ")
    assert tagged(data) == [b"t1", b"t2", b"t3"]
    assert b"* 5 EXISTS" in data
    sock.close()


def test_cheap_and_worker_commands_pipelined_in_one_packet_answer_in_order(live: Live) -> None:
    fill(live, 50)
    conn = logged_in(live)
    sock = conn.sock
    commands = ["SELECT INBOX", "NOOP", "SEARCH ALL", "NOOP", "FETCH 1:* (FLAGS)", "UID FETCH 3 (FLAGS)",
                "STATUS INBOX (MESSAGES UNSEEN)", "LIST \"\" *", "NOOP", "UNSELECT", "EXAMINE INBOX", "NOOP"]
    sock.sendall(b"".join(b"t%d %s\r\n" % (i, cmd.encode()) for i, cmd in enumerate(commands, 1)))
    data = conn.read_until(b"t%d " % len(commands))
    assert tagged(data) == [b"t%d" % i for i in range(1, len(commands) + 1)]
    assert data.count(b" FETCH (FLAGS") == 50 and b"* 3 FETCH (UID 3 FLAGS" in data
    assert b"* SEARCH " + b" ".join(b"%d" % i for i in range(1, 51)) + b"\r\n" in data
    sock.close()


def test_a_fast_path_reply_longer_than_a_chunk_is_finished_by_the_task(live: Live,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHUNK", 64)  # a FETCH of 3 messages (cheap) no longer fits one chunk
    fill(live, 10)
    conn = logged_in(live)
    sock = conn.sock
    sock.sendall(b"t1 SELECT INBOX\r\n")
    conn.read_until(b"t1 ")
    for _ in range(3):
        sock.sendall(b"t2 FETCH 1:3 (BODY.PEEK[])\r\n")
        data = conn.read_until(b"t2 ")
        for i in range(3):
            body = b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i)
            assert b"* %d FETCH (BODY[] {%d}\r\n%s)" % (i + 1, len(body), body) in data
        sock.sendall(b"t3 NOOP\r\n")
        assert conn.read_until(b"t3 ").endswith(b"t3 OK NOOP completed\r\n")
    sock.close()


def test_bytes_sent_while_the_task_is_on_the_worker_wait_their_turn(live: Live) -> None:
    fill(live, 400)
    conn = logged_in(live)
    sock = conn.sock
    sock.sendall(b"t1 SELECT INBOX\r\n")
    conn.read_until(b"t1 ")
    # SEARCH TEXT reads every file on the worker; what follows arrives (in pieces) while it runs
    sock.sendall(b"t2 SEARCH TEXT nothing-like-this\r\n")
    for piece in (b"t3 NO", b"OP\r\nt4 FETCH 1 (FL", b"AGS)\r\nt5 NOOP\r\n"):
        sock.sendall(piece)
    data = conn.read_until(b"t5 ")
    assert tagged(data) == [b"t2", b"t3", b"t4", b"t5"]
    assert b"* SEARCH\r\n" in data
    sock.close()


def test_commands_before_a_half_close_are_all_answered(live: Live) -> None:
    fill(live, 3)
    conn = logged_in(live)
    sock = conn.sock
    sock.sendall(b"t1 SELECT INBOX\r\nt2 NOOP\r\nt3 FETCH 2 (FLAGS)\r\nt4 LOGOUT\r\n")
    sock.shutdown(socket.SHUT_WR)
    data = conn.buf
    while chunk := sock.recv(65536):  # b"" once the server closes: the socket timeout fails the test
        data += chunk
    assert tagged(data) == [b"t1", b"t2", b"t3", b"t4"]
    assert data.endswith(b"* BYE Logging out\r\nt4 OK LOGOUT completed\r\n")
    sock.close()
