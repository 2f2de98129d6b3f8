"""Dovecot changing the tree under a selected mailbox: its flag renames, expunges and appends (and its uidlist
appends or rewrites) reach our session's NOOP with the UIDs Dovecot gave, and our cache took them in without a
full listing."""

from __future__ import annotations

import re

from imapclient import IMAPClient

from tests.imap.server.conftest import Live
from tests.imap.server.test_commands import MSG
from tests.support.dovecot import Dovecot, need_dovecot


def test_dovecots_changes_reach_a_selected_session(live: Live) -> None:
    store = live.store
    for n in range(5):
        store.send("alice", "bob", f"card {n}")
    ours = live.client("bob")
    ours.select_folder("INBOX")  # read-write: new/ moves to cur/, as Dovecot would do
    backend = live.server.server.backend
    need_dovecot()
    dove = Dovecot(store.home).start()
    try:
        d = IMAPClient("127.0.0.1", dove.port, ssl=False, timeout=30)
        d.login("bob", store.passwords["bob"])
        d.select_folder("INBOX")
        assert d.search() == ours.search() == [1, 2, 3, 4, 5]
        before = backend.listings("bob", "INBOX")
        d.add_flags([2], [b"\\Flagged", b"$Label1"])
        d.delete_messages([4])
        d.expunge()
        appended = d.append("INBOX", MSG.replace(b"draft", b"from dovecot"), flags=[b"\\Seen"])
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", appended).group(1))  # type: ignore[union-attr]
        got = ours.noop()[1]
        assert (4, b"EXPUNGE") in got, got
        assert any(item[1] == b"FETCH" and item[0] == 2 for item in got), got
        assert (5, b"EXISTS") in got, got
        assert ours.search() == d.search() == [1, 2, 3, 5, uid]
        mine = {u: set(v[b"FLAGS"]) - {b"\\Recent"} for u, v in ours.fetch([2, uid], ["FLAGS"]).items()}
        theirs = {u: set(v[b"FLAGS"]) - {b"\\Recent"} for u, v in d.fetch([2, uid], ["FLAGS"]).items()}
        assert mine == theirs == {2: {b"\\Flagged", b"$Label1"}, uid: {b"\\Seen"}}
        assert ours.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == MSG.replace(b"draft", b"from dovecot")
        after = backend.listings("bob", "INBOX")
        assert after["full"] == before["full"]  # taken in as differences, not by listing everything again
        d.logout()
    finally:
        dove.stop()
