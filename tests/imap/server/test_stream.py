"""A whole-mailbox FETCH is written in chunks as it is built (connection.CHUNK made tiny here): every
response arrives, in order, before the tagged reply and before the next pipelined command's."""

from __future__ import annotations

import os
import socket

import pytest

from agentmail.imap import connection
from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live
from tests.support import wait

COUNT = 400


def fill(live: Live, count: int = COUNT) -> None:
    box = live.store.box("bob")
    for i in range(count):
        body = b"Subject: n%d\n\nbody %d\n" % (i, i)
        name = f"1700000000.M{i}P1Q{i}.test,S={len(body)},W={len(body) + 3}:2,{'S' if i % 2 else ''}"
        (box / "cur" / name).write_bytes(body)
    uidlist.sync(Maildir(str(box)))


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, data[-200:]
        data += chunk
    return data


def test_whole_mailbox_fetch_in_small_chunks(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHUNK", 256)
    fill(live)
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    read_until(sock, b"\r\n")
    sock.sendall(f"a LOGIN bob {live.store.passwords['bob']}\r\nb SELECT INBOX\r\n".encode())
    read_until(sock, b"b OK")
    sock.sendall(b"c UID FETCH 1:* (UID FLAGS)\r\nd NOOP\r\n")  # pipelined
    data = read_until(sock, b"d OK NOOP completed\r\n")
    lines = data.split(b"\r\n")
    fetches = [ln for ln in lines if ln.startswith(b"* ") and b" FETCH " in ln]
    assert len(fetches) == COUNT
    for seq, line in enumerate(fetches, 1):
        flags = b"(\\Seen)" if (seq - 1) % 2 else b"()"
        assert line == b"* %d FETCH (UID %d FLAGS %s)" % (seq, seq, flags)
    assert lines[lines.index(b"c OK UID FETCH completed") - 1] == fetches[-1]
    sock.close()


def test_a_client_leaving_mid_stream_leaves_the_others_served(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHUNK", 256)
    fill(live, 2000)
    live.client("bob").select_folder("INBOX", readonly=True)  # the folder's metadata written (agentmail-modseq)
    before = live.store.snapshot()
    quitter = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    quitter.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    read_until(quitter, b"\r\n")
    quitter.sendall(f"a LOGIN bob {live.store.passwords['bob']}\r\nb SELECT INBOX\r\n".encode())
    read_until(quitter, b"b OK")
    quitter.sendall(b"c FETCH 1:* (FLAGS BODY.PEEK[])\r\n")
    quitter.recv(1000)
    quitter.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    quitter.close()  # RST while the server is still writing
    wait.until(lambda: not live.server.server.connections, "the server ending the reset connection")
    other = live.client("bob")
    other.select_folder("INBOX", readonly=True)
    assert len(other.search()) == 2000
    other.logout()
    assert live.store.snapshot() == before  # BODY.PEEK changed nothing
    assert os.path.isdir(live.store.box("bob") / "cur")
