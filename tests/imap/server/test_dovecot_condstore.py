"""CONDSTORE and QRESYNC (RFC 7162) next to Dovecot 2.3: the same commands on two stores holding the same mail, one
served by agentmail, one by Dovecot (its index on disk: with INDEX=MEMORY it has no permanent mod-sequences and
answers NOMODSEQ), compared byte for byte.

Dovecot counts mod-sequences up from 1; ours start at the clock (imap/maildir/modseq.py). The values themselves
therefore differ, but what each answer says about them must not: every mod-sequence in a reply (``MODSEQ (n)``,
``HIGHESTMODSEQ n``, SEARCH's ``(MODSEQ n)``) is replaced by a name given in the order the values first appear
(``M0``, ``M1``, ...), so two answers compare equal when they give the same messages the same, equal or distinct
mod-sequences and tell the same HIGHESTMODSEQ at the same places. A command may name a value seen before
(``{M1}``, ``{M1-1}``, ``{MAX}`` the highest seen): each server is sent its own. UIDVALIDITY is its own per store
(``{V}``), and the tagged line is compared by its status and response code (the texts are each server's own).

Left out, where Dovecot 2.3 differs on purpose or by a quirk: the HIGHESTMODSEQ at a SELECT before any client used
CONDSTORE on a fresh index (it keeps no mod-sequences until then; we always have them, RFC 7162 3.1.2.1 allows
both); RECENT told again after expunges; its FLAGS order for \\Draft and \\Flagged (ours is sorted); and STORE
(UNCHANGEDSINCE <the highest>) after expunges, which Dovecot answered with MODIFIED for a message unchanged since
(its conflict check reads its transaction log; ours does what RFC 7162 3.1.3 says)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imap.server.conftest import ThreadServer
from tests.imap.server.test_sort_thread import Raw
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.store import Store, make_store

VALUE = re.compile(rb"(HIGHESTMODSEQ |MODSEQ \(?)(\d+)")
NAMED = re.compile(r"\{(M\d+|V|MAX)(-1)?\}")
TAGGED = re.compile(rb"^\S+ (OK|NO|BAD) (\[[^\]]*\])?")

# (connection, command): A is the client resynchronising, B another client changing the mailbox meanwhile, C one
# that enabled nothing
SCRIPT = [
    # Z takes \\Recent first (Dovecot tells RECENT again after expunges: not compared here); its SELECT is not
    # compared either (a fresh Dovecot index keeps no mod-sequences before CONDSTORE is used: no HIGHESTMODSEQ)
    ("Z", "SELECT INBOX"),
    ("Z", "LOGOUT"),
    ("A", "ENABLE CONDSTORE"),
    ("A", "SELECT INBOX"),
    ("A", "FETCH 1:* (MODSEQ)"),
    ("A", "UID FETCH 1:* (FLAGS MODSEQ)"),
    ("A", "STORE 1 +FLAGS (\\Flagged)"),
    ("A", "STORE 1 +FLAGS (\\Flagged)"),  # no change: no FETCH, no new mod-sequence
    ("A", "STORE 1:3 (UNCHANGEDSINCE {M0}) +FLAGS (\\Seen)"),  # 1 changed since: MODIFIED 1
    ("A", "UID STORE 1:3 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)"),  # MODIFIED 1:3
    ("A", "UID STORE 2 (UNCHANGEDSINCE {M2}) -FLAGS.SILENT (\\Seen)"),
    ("A", "FETCH 1:* (FLAGS) (CHANGEDSINCE {M1})"),
    ("A", "UID FETCH 1:* (UID) (CHANGEDSINCE {M0})"),
    ("A", "SEARCH MODSEQ {M1}"),
    ("A", "UID SEARCH MODSEQ {M3}"),
    ("A", "SEARCH RETURN (MIN MAX COUNT) MODSEQ {M1}"),
    ("A", "SEARCH RETURN (COUNT) MODSEQ {M3}"),
    ("A", "SEARCH OR MODSEQ {M3} UNSEEN"),
    ("B", "SELECT INBOX"),
    ("B", "STORE 4 +FLAGS (\\Answered)"),
    ("A", "NOOP"),  # CONDSTORE: the change with its MODSEQ
    ("B", "STORE 4 +FLAGS (\\Deleted)"),
    ("B", "EXPUNGE"),
    ("A", "NOOP"),  # CONDSTORE alone: EXPUNGE
    ("A", "ENABLE QRESYNC"),
    ("B", "STORE 3 +FLAGS (\\Answered)"),
    ("A", "NOOP"),  # QRESYNC: UID in the FETCH
    ("B", "STORE 3 +FLAGS (\\Deleted)"),
    ("B", "EXPUNGE"),
    ("A", "NOOP"),  # VANISHED, the new HIGHESTMODSEQ in the tagged OK
    ("B", "APPEND INBOX (\\Seen) {10+}\r\nSubject: x"),
    ("A", "NOOP"),  # EXISTS, the new HIGHESTMODSEQ
    ("A", "NOOP"),  # nothing new: nothing told
    ("B", "STORE 2 +FLAGS (\\Deleted)"),
    ("B", "EXPUNGE"),
    ("B", "STORE 3 +FLAGS (\\Flagged)"),
    ("B", "APPEND INBOX {10+}\r\nSubject: y"),
    ("A", "NOOP"),  # all at once: FETCH (numbered before the expunge), VANISHED, EXISTS, HIGHESTMODSEQ
    ("A", "STORE 1,2 +FLAGS.SILENT (\\Deleted)"),
    ("A", "UID EXPUNGE 2"),
    ("A", "EXPUNGE"),
    ("A", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {M1} VANISHED)"),
    ("A", "UID FETCH 5:* (FLAGS) (CHANGEDSINCE {M1} VANISHED)"),
    ("B", "NOOP"),
    ("B", "STORE 2 +FLAGS (\\Flagged)"),
    ("A", "SELECT INBOX (QRESYNC ({V} {M1} 1:10))"),  # CLOSED, VANISHED (EARLIER), what changed
    ("A", "EXAMINE INBOX (QRESYNC ({V} {M1}))"),
    ("A", "SELECT INBOX (QRESYNC ({V} {M1} 1:10 (1,2 5,7)))"),
    ("A", "SELECT INBOX (QRESYNC (1 {M1} 1:10))"),  # another UIDVALIDITY: a plain SELECT
    ("A", "SELECT INBOX (QRESYNC ({V} {MAX}))"),  # the highest: nothing more
    ("A", "STATUS Sent (HIGHESTMODSEQ MESSAGES)"),
    ("C", "SELECT INBOX (QRESYNC ({V} 1))"),  # not enabled: BAD
    ("C", "SELECT INBOX"),
    ("C", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"),  # BAD: QRESYNC not enabled
    ("C", "STORE 1 (UNCHANGEDSINCE {M0}) +FLAGS (\\Seen)"),
    ("C", "SEARCH MODSEQ 1 UNSEEN"),
    ("D", "SELECT INBOX"),
    ("D", "STORE 1:2 (UNCHANGEDSINCE {M0}) +FLAGS (\\Answered)"),  # enables CONDSTORE: HIGHESTMODSEQ first
]


class Side:
    """One server's connections and the mod-sequences it answered with, named in order of appearance."""

    def __init__(self, port: int, password: str) -> None:
        self.port, self.password = port, password
        self.conns: dict[str, Raw] = {}
        self.names: dict[int, str] = {}
        self.values: list[int] = []
        self.uidvalidity = ""

    def conn(self, who: str) -> Raw:
        if who not in self.conns:
            self.conns[who] = Raw(self.port)
            assert b"l OK" in self.conns[who].cmd("l", f"LOGIN bob {self.password}")
        return self.conns[who]

    def fill(self, command: str) -> str:
        def value(m: re.Match[str]) -> str:
            if m.group(1) == "V":
                return self.uidvalidity
            n = int(m.group(1)[1:])
            return str(self.values[n] - (1 if m.group(2) else 0))

        return NAMED.sub(value, command.replace("{MAX}", "{M" + str(len(self.values) - 1) + "}"))

    def run(self, tag: str, who: str, command: str) -> str:
        reply = self.conn(who).cmd(tag, self.fill(command))
        if who == "Z":  # a prelude: not compared, nothing named
            return ""
        found = re.search(rb"\[UIDVALIDITY (\d+)\]", reply)
        if found:
            self.uidvalidity = found.group(1).decode()

        def name(m: re.Match[bytes]) -> bytes:
            v = int(m.group(2))
            if v not in self.names:
                self.names[v] = f"M{len(self.values)}"
                self.values.append(v)
            return m.group(1) + self.names[v].encode()

        lines = VALUE.sub(name, reply).split(b"\r\n")
        status = TAGGED.match(lines[-2])
        assert status is not None, reply
        body = b"".join(line + b"\r\n" for line in lines[:-2])
        body = re.sub(rb"\[UIDVALIDITY \d+\]", b"[UIDVALIDITY V]", body)
        tagged = re.sub(rb"\[(APPENDUID|COPYUID) \d+", rb"[\1 V", status.group(0))
        return (body + tagged).decode("latin-1")


def stocked(path: Path) -> Store:
    store = make_store(path)
    for n in range(6):
        store.send("alice", "bob", f"card {n}")
    return store


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    need_dovecot()
    ours, theirs = stocked(tmp_path / "ours"), stocked(tmp_path / "theirs")
    srv = ThreadServer(ours.cfg, login_delay=0.0, idle_poll=0.2)
    dove = Dovecot(theirs.home, index_on_disk=True).start()
    try:
        yield Side(srv.port, ours.passwords["bob"]), Side(dove.port, theirs.passwords["bob"])
    finally:
        dove.stop()
        srv.stop()


def test_condstore_and_qresync_answer_like_dovecot(both: tuple[Side, Side]) -> None:
    ours, theirs = both
    differ = []
    for n, (who, command) in enumerate(SCRIPT):
        mine, dovecots = ours.run(f"t{n}", who, command), theirs.run(f"t{n}", who, command)
        if mine.replace(" $MDNSent", "") != dovecots:  # ours announces the receipts' keyword in FLAGS
            differ.append(f"{who} {command}\n  Dovecot: {dovecots!r}\n  ours:    {mine!r}")
    assert not differ, "\n\n".join(differ)
