"""A mail client's resynchronisation with CONDSTORE and QRESYNC (RFC 7162) after it was away: changes made through
another IMAP session, the CLI and Dovecot (serving the same tree while ours is stopped), across a restart of the
server. The client keeps (UIDVALIDITY, HIGHESTMODSEQ) and asks for what changed since, as Thunderbird (CONDSTORE:
``UID FETCH 1:* (FLAGS) (CHANGEDSINCE n)``) and QRESYNC clients (``SELECT ... (QRESYNC (...))``) do; mod-sequences
live in the folder's ``agentmail-modseq`` (imap/maildir/modseq.py), so they survive the restart."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.imap.server.conftest import ThreadServer
from tests.imap.server.test_commands import MSG
from tests.imap.server.test_sort_thread import Raw
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.store import AGENTMAIL, Store, env_for, make_store

FETCHED = re.compile(rb"\* \d+ FETCH \(UID (\d+) "
                     rb"(?:MODSEQ \((\d+)\) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) MODSEQ \((\d+)\))")


def connect(srv: ThreadServer, store: Store) -> Raw:
    c = Raw(srv.port)
    assert b"l OK" in c.cmd("l", f"LOGIN bob {store.passwords['bob']}")
    return c


def changes(reply: bytes) -> dict[int, tuple[int, set[str]]]:
    """{uid: (modseq, flags)} of the FETCH responses in a reply (either order of MODSEQ and FLAGS)."""
    out: dict[int, tuple[int, set[str]]] = {}
    for m in FETCHED.finditer(reply):
        uid = int(m.group(1))
        if m.group(2) is not None:
            out[uid] = (int(m.group(2)), set(m.group(3).decode().split()) - {"\\Recent"})
        else:
            out[uid] = (int(m.group(5)), set(m.group(4).decode().split()) - {"\\Recent"})
    return out


def code(reply: bytes, name: str) -> int:
    found = re.search(rb"\[" + name.encode() + rb" (\d+)\]", reply)
    assert found, reply
    return int(found.group(1))


def test_resync_after_changes_by_another_session_the_cli_and_dovecot_across_a_restart(tmp_path: Path) -> None:
    need_dovecot()
    store = make_store(tmp_path / "home")
    for n in range(8):
        store.send("alice", "bob", f"card {n}")
    srv = ThreadServer(store.cfg, login_delay=0.0, idle_poll=0.2)
    try:
        client = connect(srv, store)
        client.cmd("e", "ENABLE QRESYNC")
        selected = client.cmd("s", "SELECT INBOX")
        uidvalidity, highest = code(selected, "UIDVALIDITY"), code(selected, "HIGHESTMODSEQ")
        before = changes(client.cmd("f", "UID FETCH 1:* (FLAGS MODSEQ)"))
        assert sorted(before) == list(range(1, 9)) and {m for m, _ in before.values()} == {highest}
        titles = client.cmd("t", "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        pairs = re.findall(rb"UID (\d+) BODY\[HEADER.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: card (\d)", titles)
        assert all(int(u) == int(n) + 1 for u, n in pairs) and len(pairs) == 8, titles  # card n is UID n + 1
        client.cmd("o", "LOGOUT")

        # another IMAP session: UID 2 flagged, UID 3 expunged
        other = connect(srv, store)
        other.cmd("s", "SELECT INBOX")
        assert b"a OK" in other.cmd("a", "UID STORE 2 +FLAGS (\\Flagged)")
        other.cmd("b", "UID STORE 3 +FLAGS (\\Deleted)")
        assert b"* 3 EXPUNGE" in other.cmd("c", "UID EXPUNGE 3")
        other.cmd("o", "LOGOUT")
        # the CLI: card 3 (UID 4) read (and $MDNSent: the receipt it sent)
        env = env_for(store.home)
        listed = json.loads(subprocess.run([AGENTMAIL, "--as", "bob", "inbox", "--json"], env=env, check=True,
                                           capture_output=True, text=True).stdout)
        card3 = next(p["id"] for p in listed if p["title"] == "card 3")
        subprocess.run([AGENTMAIL, "--as", "bob", "read", card3], env=env, check=True, capture_output=True)
        # the Thunderbird-shaped resync while the server still runs: what changed since, with CONDSTORE only
        tb = connect(srv, store)
        assert code(tb.cmd("s", "SELECT INBOX (CONDSTORE)"), "HIGHESTMODSEQ") > highest
        got = changes(tb.cmd("f", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"))
        assert {u: f for u, (_, f) in got.items()} == {2: {"\\Flagged"}, 4: {"\\Seen", "$MDNSent"}}, got
        assert all(m > highest for m, _ in got.values())
        tb.cmd("o", "LOGOUT")
    finally:
        srv.stop()

    # Dovecot on the same tree while ours is stopped: UID 5 flagged, UID 6 expunged, a message appended
    dove = Dovecot(store.home).start()
    try:
        d = dove.login("bob")
        d.select("INBOX")
        d.uid("STORE", "5", "+FLAGS", "(\\Flagged)")
        d.uid("STORE", "6", "+FLAGS", "(\\Deleted)")
        d.expunge()
        typ, data = d.append("INBOX", "(\\Seen)", None, MSG)
        assert typ == "OK"
        appended = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))  # type: ignore[union-attr]
        d.logout()
    finally:
        dove.stop()

    srv = ThreadServer(store.cfg, login_delay=0.0, idle_poll=0.2)  # a restart: what the file kept, and the rescan
    try:
        client = connect(srv, store)
        client.cmd("e", "ENABLE QRESYNC")
        out = client.cmd("s", f"SELECT INBOX (QRESYNC ({uidvalidity} {highest} 1:8))")
        assert b"* VANISHED (EARLIER) 3,6\r\n" in out, out
        got = changes(out)
        assert {u: f for u, (_, f) in got.items()} == {
            2: {"\\Flagged"}, 4: {"\\Seen", "$MDNSent"}, 5: {"\\Flagged"}}, out
        now = code(out, "HIGHESTMODSEQ")
        assert all(highest < m <= now for m, _ in got.values())
        # without known UIDs the appended message counts too; the unchanged ones kept their mod-sequences
        out = client.cmd("t", f"SELECT INBOX (QRESYNC ({uidvalidity} {highest}))")
        assert set(changes(out)) == {2, 4, 5, appended}, out
        after = changes(client.cmd("f", "UID FETCH 1:* (FLAGS MODSEQ)"))
        assert {u: after[u][0] for u in (1, 7, 8)} == {u: before[u][0] for u in (1, 7, 8)}
        assert max(m for m, _ in after.values()) == now
        # the client now up to date: nothing more, and a new change told with its new mod-sequence
        out = client.cmd("u", f"SELECT INBOX (QRESYNC ({uidvalidity} {now} 1:{appended}))")
        assert b"VANISHED" not in out and not changes(out) and code(out, "HIGHESTMODSEQ") == now, out
        out = client.cmd("a", "UID STORE 1 +FLAGS (\\Answered)")
        assert changes(out)[1][0] > now and changes(out)[1][1] == {"\\Answered"}, out
        client.cmd("o", "LOGOUT")
    finally:
        srv.stop()
