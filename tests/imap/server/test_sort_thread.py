"""SORT, THREAD (RFC 5256) and ESEARCH (RFC 4731) on the real server, byte for byte as Dovecot 2.3 answered on
the same tree (tests/imap/corpus/threads/dovecot.json, recorded by tests/imap/dovecot_oracle.py)."""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.imap.dovecot_oracle import ORDER_QUERIES, THREADS, threads_tree, untagged
from tests.imap.server.conftest import Live
from tests.imap.server.test_commands import MSG

RECORDED: dict[str, str] = json.loads((THREADS / "dovecot.json").read_text())["queries"]


class Raw:
    """A raw IMAP connection: what goes over the wire, nothing interpreted."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = bytearray()
        self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(bytes(self.buf))
            self.buf += chunk
        i = self.buf.index(b"\r\n") + 2
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    def cmd(self, tag: str, text: str | bytes) -> bytes:
        data = text.encode() if isinstance(text, str) else text
        self.sock.sendall(tag.encode() + b" " + data + b"\r\n")
        out = b""
        while True:
            line = self.line()
            out += line
            if line.startswith(tag.encode() + b" "):
                return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def threads(live: Live) -> Raw:
    threads_tree(live.store.home, "bob")
    conn = Raw(live.port)
    assert b"OK" in conn.cmd("t0", f"LOGIN bob {live.store.passwords['bob']}")
    assert b"OK [READ-ONLY]" in conn.cmd("t1", "EXAMINE INBOX")
    return conn


def test_every_recorded_answer_is_dovecots(threads: Raw) -> None:
    """The corpus has replies before their parents, missing parents (one and two replies), a duplicate
    Message-ID, a References loop, threads joined by subject only, encoded and accented subjects, dates in
    other zones, unreadable, two-digit and before 1970, groups, two Subject headers; UIDs with gaps."""
    differ = []
    for n, query in enumerate(ORDER_QUERIES, 2):  # the tags Dovecot was asked with (ESEARCH echoes them)
        reply = threads.cmd(f"t{n}", query)
        assert reply.split(b"\r\n")[-2].startswith(f"t{n} OK".encode()), (query, reply)
        if untagged(reply) != RECORDED[query]:
            differ.append(f"{query}\n  Dovecot: {RECORDED[query]!r}\n  ours:    {untagged(reply)!r}")
    assert not differ, "\n".join(differ)


def test_capabilities_announce_them(live: Live) -> None:
    c = live.client("bob")
    for cap in (b"SORT", b"SORT=DISPLAY", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT", b"ESEARCH"):
        assert c.has_capability(cap.decode()), cap
    c.logout()


def test_empty_mailbox(live: Live) -> None:
    conn = Raw(live.port)
    conn.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    conn.cmd("b", "SELECT INBOX")
    assert conn.cmd("c", "SORT (DATE) UTF-8 ALL") == b"* SORT\r\nc OK SORT completed\r\n"
    assert conn.cmd("d", "THREAD REFERENCES UTF-8 ALL") == b"* THREAD \r\nd OK THREAD completed\r\n"
    assert conn.cmd("e", "UID SEARCH RETURN (MIN MAX ALL COUNT) ALL") == (
        b'* ESEARCH (TAG "e") UID COUNT 0\r\ne OK UID SEARCH completed\r\n')
    conn.close()


@pytest.mark.parametrize(("command", "why"), [
    ("SORT SUBJECT UTF-8 ALL", b"Invalid sort argument"),
    ("SORT () UTF-8 ALL", b"Empty sort program"),
    ("SORT (SUBJECT REVERSE) UTF-8 ALL", b"Sort list ends with REVERSE"),
    ("SORT (SENDER) UTF-8 ALL", b"Unknown sort argument: SENDER"),
    ("SORT (SUBJECT (DATE)) UTF-8 ALL", b"Invalid sort list argument"),
    ("SORT (SUBJECT)", b"Invalid charset argument"),
    ("SORT (SUBJECT) UTF-8", b"Missing search parameters"),
    ("SORT (SUBJECT) UTF-8 NOSUCHKEY", b"Unknown SEARCH key"),
    ("THREAD", b"THREAD needs"),
    ("THREAD REFS UTF-8 ALL", b"Unknown thread algorithm REFS"),
    ("THREAD REFERENCES", b"Invalid charset argument"),
    ("UID THREAD ORDEREDSUBJECT UTF-8", b"Missing search parameters"),
    ("SEARCH RETURN (SAVE) ALL", b"Unknown SEARCH return option SAVE"),
    ("SEARCH RETURN (MIN", b"Missing argument"),
    ("SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", b"Invalid sort argument"),
])
def test_bad_commands_are_bad(live: Live, command: str, why: bytes) -> None:
    """Each malformed SORT / THREAD / SEARCH RETURN: a tagged BAD saying what is wrong, the connection goes on."""
    conn = Raw(live.port)
    conn.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    conn.cmd("b", "SELECT INBOX")
    reply = conn.cmd("c", command)
    assert reply.startswith(b"c BAD ") and why in reply, reply
    assert conn.cmd("d", "NOOP").endswith(b"d OK NOOP completed\r\n")
    conn.close()


def test_other_charsets_are_refused(live: Live) -> None:
    conn = Raw(live.port)
    conn.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    conn.cmd("b", "SELECT INBOX")
    for command in ("SORT (SUBJECT) KOI8-R ALL", "THREAD REFERENCES X-NOPE ALL", "SEARCH RETURN () CHARSET X-NOPE ALL"):
        reply = conn.cmd("c", command)
        assert reply.startswith(b"c NO [BADCHARSET (US-ASCII UTF-8)]"), reply
    conn.close()


def test_sort_and_thread_need_a_selected_mailbox(live: Live) -> None:
    conn = Raw(live.port)
    conn.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    for command in ("SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "SEARCH RETURN () ALL"):
        assert b"requires a selected mailbox" in conn.cmd("c", command)
    conn.close()


def test_sort_follows_new_mail_and_expunges(live: Live) -> None:
    """Fields are kept per UID: mail delivered later is read and sorted in, an expunged message goes."""
    store = live.store
    store.send("alice", "bob", "Bravo")
    c = live.client("bob")
    c.select_folder("INBOX")
    assert c.sort(["SUBJECT"]) == [1]
    store.send("carol", "bob", "Alpha")
    c.noop()
    assert c.sort(["SUBJECT"]) == [2, 1]
    assert c.sort(["REVERSE", "SUBJECT"]) == [1, 2]
    c.append("INBOX", MSG)  # Subject: draft
    c.noop()
    assert c.sort(["SUBJECT"]) == [2, 1, 3]
    assert c.thread() == ((1,), (2,), (3,))  # by date (the draft has none: its INTERNALDATE), then UID
    c.delete_messages([2])
    c.expunge()
    assert c.sort(["SUBJECT"]) == [1, 3]  # UIDs (imapclient's default)
    c.logout()


def test_replies_thread_under_their_postcard(live: Live) -> None:
    """agentmail's own replies carry In-Reply-To and References: THREAD puts them under the postcard."""
    from agentmail.agent import compose

    store = live.store
    store.send("alice", "bob", "Build plan", "first")
    cfg = store.cfg
    sent = compose.send(cfg, "carol", ["bob"], "Unrelated", "x")
    assert sent.delivered
    c = live.client("bob")
    c.select_folder("INBOX")
    first = c.fetch([1], ["ENVELOPE"])[1][b"ENVELOPE"].message_id.decode()
    compose.send(cfg, "alice", ["bob"], "Re: Build plan", "second", in_reply_to=first, references=[first])
    c.noop()
    assert c.thread() == ((1, 3), (2,))
    assert c.thread(algorithm="ORDEREDSUBJECT") == ((1, 3), (2,))
    uids = c.search()
    assert c.sort(["DATE"]) == uids
    c.logout()


def test_esearch_answers_only_what_was_asked(live: Live) -> None:
    store = live.store
    for title in ("one", "two", "three"):
        store.send("alice", "bob", title)
    conn = Raw(live.port)
    conn.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    conn.cmd("b", "SELECT INBOX")
    assert conn.cmd("c", "SEARCH RETURN (COUNT) ALL").startswith(b'* ESEARCH (TAG "c") COUNT 3\r\n')
    assert conn.cmd("d", "UID SEARCH RETURN (MAX MIN) SUBJECT t").startswith(b'* ESEARCH (TAG "d") UID MIN 2 MAX 3\r\n')
    assert conn.cmd("e", "SEARCH RETURN () NOT SUBJECT two").startswith(b'* ESEARCH (TAG "e") ALL 1,3\r\n')
    reply = conn.cmd("f", "SEARCH SUBJECT o")
    assert re.match(rb"\* SEARCH 1 2\r\n", reply), reply  # without RETURN: the RFC 3501 answer
    conn.close()
