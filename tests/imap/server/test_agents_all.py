"""`Agents/All`: the journal (one copy of every accepted postcard) served to `human` only, read-only, with the
SPECIAL-USE attribute \\All (RFC 6154), live with IDLE, threaded; the same UIDs Dovecot gives it."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from imapclient import IMAPClient

from agentmail.agent import compose
from tests.imap.server.conftest import Live
from tests.imap.server.test_commands import MSG, raw
from tests.imap.server.test_sort_thread import Raw
from tests.support.dovecot import Dovecot, need_dovecot


def journal_snapshot(home: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for sub in ("new", "cur"):
        for entry in os.scandir(home / "journal" / sub):
            st = entry.stat()
            out[f"{sub}/{entry.name}"] = (st.st_size, st.st_mtime_ns)
    return out


def test_human_lists_it_with_the_all_attribute(live: Live) -> None:
    conn = Raw(live.port)
    conn.cmd("a", f"LOGIN human {live.store.passwords['human']}")
    listing = conn.cmd("b", 'LIST "" "*"')
    assert b'* LIST (\\HasNoChildren \\All) "/" Agents/All\r\n' in listing
    assert listing.index(b"Agents/All") < listing.index(b"Agents/alice")  # "A" sorts before "a"
    special = conn.cmd("c", 'LIST (SPECIAL-USE) "" "*"')
    assert b"Agents/All" in special and b"Agents/alice" not in special
    assert b'* LIST (\\All) "/" Agents/All\r\n' in conn.cmd("d", 'LIST "" "Agents/%" RETURN (SPECIAL-USE)')
    assert b"Agents/All" in conn.cmd("e", 'LSUB "" "*"')  # always subscribed, as the other Agents/ folders
    assert conn.cmd("f", "STATUS Agents/All (MESSAGES UIDNEXT)").startswith(
        b"* STATUS Agents/All (MESSAGES 0 UIDNEXT 1)\r\n")
    conn.close()


def test_agents_never_see_it(live: Live) -> None:
    live.store.send("alice", "bob", "between agents")
    conn = Raw(live.port)
    conn.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    assert b"Agents" not in conn.cmd("b", 'LIST "" "*"')
    for command in ("SELECT Agents/All", "EXAMINE Agents/All", "STATUS Agents/All (MESSAGES)"):
        assert conn.cmd("c", command).startswith(b"c NO [NONEXISTENT]"), command
    conn.close()


def test_every_postcard_once_read_only(live: Live) -> None:
    """Direct mail, a broadcast to everyone and a reply: one journal copy each, in delivery order; nothing the
    human does changes the journal."""
    store = live.store
    store.send("alice", "bob", "Build plan", "first")
    compose.broadcast(store.cfg, "carol", "Standup", "all hands")
    c = IMAPClient("127.0.0.1", live.port, ssl=False, timeout=30)
    c.login("human", store.passwords["human"])
    info = c.select_folder("Agents/All", readonly=True)
    assert info[b"EXISTS"] == 2
    first = c.fetch([1], ["ENVELOPE"])[1][b"ENVELOPE"].message_id.decode()
    compose.send(store.cfg, "bob", ["alice"], "Re: Build plan", "second", in_reply_to=first, references=[first])
    c.noop()
    data = c.fetch(c.search(), ["BODY.PEEK[HEADER.FIELDS (SUBJECT X-AGENTMAIL-ENVELOPE-TO)]", "FLAGS"])
    headers = [data[uid][b"BODY[HEADER.FIELDS (SUBJECT X-AGENTMAIL-ENVELOPE-TO)]"] for uid in sorted(data)]
    assert [re.search(rb"Subject: (.*)\r\n", h).group(1) for h in headers] == [  # type: ignore[union-attr]
        b"Build plan", b"Standup", b"Re: Build plan"]
    assert b"X-Agentmail-Envelope-To: alice@agents.localhost, bob@agents.localhost" in headers[1]
    assert c.thread() == ((1, 3), (2,))
    c.logout()
    before = journal_snapshot(store.home)
    conn = live.imap("human")
    assert b"OK [READ-ONLY]" in raw(conn, "SELECT Agents/All")[-1]  # SELECT, not EXAMINE: still read-only
    conn.state = "SELECTED"
    conn.fetch("1:*", "(BODY[])")  # not BODY.PEEK: in a read-only view nothing gets \Seen
    assert b"[READ-ONLY]" in raw(conn, "STORE 1 +FLAGS (\\Seen)")[-1]
    assert b"[READ-ONLY]" in raw(conn, "EXPUNGE")[-1]
    assert b"[READ-ONLY]" in raw(conn, "MOVE 1 Archive")[-1]
    assert b"NO [READ-ONLY]" in raw(conn, f"APPEND Agents/All {{{len(MSG)}+}}\r\n" + MSG.decode())[-1]
    assert b"[READ-ONLY]" in raw(conn, "COPY 1 Agents/All")[-1]
    assert conn.create("Agents/All")[0] == "NO"
    assert conn.delete("Agents/All")[0] == "NO"
    assert conn.rename("Agents/All", "Mine")[0] == "NO"
    assert b"NO [CANNOT]" in raw(conn, "UNSUBSCRIBE Agents/All")[-1]
    assert b"[COPYUID " in raw(conn, "COPY 2 Archive")[-1]  # copying out into the human's own folders works
    assert journal_snapshot(store.home) == before
    conn.logout()


def test_idle_shows_new_postcards(live: Live) -> None:
    store = live.store
    c = IMAPClient("127.0.0.1", live.port, ssl=False, timeout=30)
    c.login("human", store.passwords["human"])
    c.select_folder("Agents/All", readonly=True)
    c.idle()
    store.send("alice", "carol", "while you watch")
    deadline = time.monotonic() + 20
    seen: list[object] = []
    while time.monotonic() < deadline and not any(r[1:] == (b"EXISTS",) for r in seen):  # type: ignore[index]
        seen += c.idle_check(timeout=1)
    c.idle_done()
    assert (1, b"EXISTS") in seen
    c.logout()


def test_same_uids_as_dovecot(live: Live) -> None:
    """Dovecot serves the journal to `human` under the same name through a namespace (docs/imap.md shows the
    configuration): both number it through the same dovecot-uidlist, whichever looks first."""
    need_dovecot()
    store = live.store
    store.send("alice", "bob", "one")
    store.send("bob", "alice", "two")
    ours = IMAPClient("127.0.0.1", live.port, ssl=False, timeout=30)
    ours.login("human", store.passwords["human"])
    ours.select_folder("Agents/All", readonly=True)  # we number the first two
    dove = Dovecot(store.home)
    view = dove.work / "agents"
    view.mkdir()
    os.symlink(store.home / "journal", view / "All")
    conf = dove.conf.read_text().replace("mail_location", AGENTS_NAMESPACE.format(view=view) + "mail_location", 1)
    dove.conf.write_text(conf)
    dove.start()
    try:
        theirs = IMAPClient("127.0.0.1", dove.port, ssl=False, timeout=30)
        theirs.login("human", store.passwords["human"])
        assert b'(\\HasNoChildren \\All) "/" Agents/All' in b"".join(
            theirs._imap.list('""', "Agents/All")[1])  # type: ignore[arg-type]
        store.send("carol", "alice", "three")
        dove.chown()
        for server in (theirs, ours):  # Dovecot numbers the third this time
            server.select_folder("Agents/All", readonly=True)
        for server in (theirs, ours):
            server.noop()
        items = ["UID", "RFC822.SIZE", "BODY.PEEK[]"]
        mine, dovecots = ours.fetch(ours.search(), items), theirs.fetch(theirs.search(), items)
        assert sorted(mine) == sorted(dovecots) == [1, 2, 3]
        for uid in mine:
            for item in (b"RFC822.SIZE", b"BODY[]"):
                assert mine[uid][item] == dovecots[uid][item], (uid, item)
        status = [s.folder_status("Agents/All", ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]) for s in (ours, theirs)]
        assert status[0] == status[1]
        assert os.listdir(store.home / "journal" / "cur") == []  # neither moved anything out of new/
        theirs.logout()
    finally:
        dove.stop()
    ours.logout()


AGENTS_NAMESPACE = """namespace inbox {{
  inbox = yes
  separator = /
}}
namespace agents {{
  prefix = Agents/
  separator = /
  location = maildir:{view}:LAYOUT=fs:INDEX=MEMORY
  list = yes
  subscriptions = no
  mailbox All {{
    special_use = \\All
  }}
}}
"""
