"""The connection's two paths (imap/connection.py): cheap commands answered inside ``data_received``, the rest on
the connection's task. Whatever path a command takes, replies come whole and in the order the commands were sent:
a command cut into single bytes, cheap and worker commands pipelined in one packet, a fast-path reply longer than
one chunk, bytes arriving while the task is busy on the worker, and a client that half-closes after its commands."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import pytest

from agentmail.imap import connection
from agentmail.imap.protocol import response as r
from tests.imap.server.conftest import Live
from tests.imap.server.test_fairness import Raw, login
from tests.imap.server.test_stream import fill
from tests.support import wait


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


def test_done_sent_while_an_idle_poll_runs_on_the_worker_ends_idle_in_order(live: Live,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes that come while IDLE's poll runs on the worker are held; the next wait must look at them first, or DONE
    waits for the next poll and later bytes overtake it (a reply to `DONE` as a command, t3 never answered)."""
    from agentmail.imap.session.session import Session

    polled = threading.Event()
    slow = Session.idle_poll

    def idle_poll(self: Session) -> list[r.Response]:
        polled.set()
        time.sleep(0.3)  # long enough for DONE to arrive meanwhile
        return slow(self)

    monkeypatch.setattr(Session, "idle_poll", idle_poll)
    monkeypatch.setattr(connection.Connection, "_current", lambda self, session, event: False)  # poll on the worker
    fill(live, 3)
    conn = logged_in(live)
    conn.sock.sendall(b"t1 SELECT INBOX\r\n")
    conn.read_until(b"t1 ")
    conn.sock.sendall(b"t2 IDLE\r\n")
    assert conn.read_until(b"+ ").startswith(b"+ idling")
    polled.clear()
    assert polled.wait(wait.DEADLINE)
    conn.sock.sendall(b"DONE\r\n")  # during the poll
    time.sleep(0.5)  # the poll is over, the next wait has begun
    conn.sock.sendall(b"t3 NOOP\r\n")
    data = conn.read_until(b"t3 ")
    assert tagged(data) == [b"t2", b"t3"], data
    assert b"t2 OK IDLE terminated" in data and b"BAD" not in data
    conn.close()


def test_a_client_that_never_reads_cannot_fill_the_parser(live: Live) -> None:
    """Pipelined commands sent without reading the replies: reading stops once a command and a read beyond it are
    buffered (the replies back up first), so the parser's buffer stays small before login too."""
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=wait.DEADLINE)
    sock.recv(4096)
    wait.until(lambda: len(live.server.server.waiting) == 1, "the connection waiting to log in")
    conn = next(iter(live.server.server.waiting))
    flood = b"a NOOP\r\n" * 100_000  # 800 KB a go
    sent, peak = 0, 0
    sock.settimeout(0.2)
    with contextlib.suppress(TimeoutError, OSError):
        while sent < 40_000_000:
            sent += sock.send(flood)
            peak = max(peak, conn.parser.buffered)
    peak = max(peak, conn.parser.buffered)
    assert sent >= 1_000_000  # the flood did go out (the kernel's buffers and ours)
    assert peak <= 4 * connection.HOLD, peak
    sock.close()


def test_a_bug_on_the_fast_path_ends_the_connection_before_the_next_command(live: Live,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: connection.Connection, session: object, event: object) -> bool:
        if getattr(event, "mailbox", None) == "boom":
            raise RuntimeError("a bug")
        return True

    monkeypatch.setattr(connection.Connection, "_current", broken)
    box = live.store.box("bob")
    conn = logged_in(live)
    assert b"t0 OK" in conn.cmd("t0", "CREATE Scratch")
    conn.sock.sendall(b"t1 STATUS boom (MESSAGES)\r\nt2 DELETE Scratch\r\n")  # one packet: both read at once
    data = conn.buf
    while chunk := conn.sock.recv(4096):  # b"" once the server closes it; the socket timeout fails the test
        data += chunk
    assert b"t2 " not in data
    conn.close()
    other = logged_in(live)  # the worker runs jobs in order: a DELETE the old task sent there would be done by now
    assert b' Scratch\r\n' in other.cmd("t3", 'LIST "" Scratch')
    assert (box / ".Scratch").is_dir()  # the command after the failed one never ran
    other.close()
