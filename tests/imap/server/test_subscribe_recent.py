"""SUBSCRIBE / UNSUBSCRIBE / LSUB / LIST (SUBSCRIBED) over Dovecot's `subscriptions` file, and \\Recent
(RFC 3501 2.3.2): each new message is recent in exactly one session, EXAMINE and STATUS count without
claiming, SEARCH RECENT / NEW / OLD."""

from __future__ import annotations

from imapclient import IMAPClient

from agentmail.store import subscriptions
from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live
from tests.imap.server.test_commands import MSG, ok, raw
from tests.support.dovecot import Dovecot, need_dovecot

STANDARD = ["INBOX", "Archive", "Receipts", "Sent", "Todo"]


def test_subscriptions_file_lsub_and_list_subscribed(live: Live) -> None:
    path = live.store.box("bob") / "subscriptions"
    assert not path.exists()
    c = live.client("bob")
    assert [f[2] for f in c.list_sub_folders()] == STANDARD
    assert path.read_text() == "V\t2\n\nINBOX\nSent\nReceipts\nTodo\nArchive\n"  # written when first asked
    c.create_folder("Projects/Café")
    c.create_folder("Projects/x")
    c.subscribe_folder("Projects/Café")
    c.unsubscribe_folder("Todo")
    assert path.read_text() == "V\t2\n\nINBOX\nSent\nReceipts\nArchive\nProjects\tCaf&AOk-\n"
    assert [f[2] for f in c.list_sub_folders()] == ["INBOX", "Archive", "Projects/Café", "Receipts", "Sent"]
    assert ((b"\\Noselect",), b"/", "Projects") in c.list_sub_folders("", "%")  # RFC 3501 6.3.9
    try:
        c.subscribe_folder("Nope")
        raise AssertionError("subscribed to a mailbox that does not exist")
    except IMAPClient.Error as err:
        assert "NONEXISTENT" in str(err)
    c.delete_folder("Projects/Café")  # stays subscribed (RFC 3501 6.3.7)
    conn = c._imap
    lines = raw(conn, 'LIST (SUBSCRIBED) "" "*"')  # extended LIST: only what is asked, as Dovecot (test_dovecot_list)
    assert b'* LIST (\\Subscribed \\NonExistent) "/" Projects/Caf&AOk-\r\n' in lines
    assert b'* LIST (\\Subscribed) "/" Sent\r\n' in lines
    assert not any(b" Todo\r\n" in x or b"Projects/x" in x for x in lines)
    lines = raw(conn, 'LIST "" "*" RETURN (SUBSCRIBED CHILDREN)')
    assert b'* LIST (\\HasNoChildren) "/" Todo\r\n' in lines
    assert b'* LIST (\\Subscribed \\HasNoChildren) "/" INBOX\r\n' in lines
    assert b'* LIST (\\NonExistent \\HasChildren) "/" Projects\r\n' in lines
    c.unsubscribe_folder("Projects/Café")
    assert "Caf" not in path.read_text()


def test_agents_folders_are_subscribed_for_human(live: Live) -> None:
    c = live.client("human")
    subs = [f[2] for f in c.list_sub_folders()]
    assert "Agents/bob/INBOX" in subs and "Agents/carol/Sent" in subs and subs[0] == "INBOX"
    c.subscribe_folder("Agents/bob/Sent")  # already: fine
    try:
        c.unsubscribe_folder("Agents/bob/Sent")
        raise AssertionError("unsubscribed a registry folder")
    except IMAPClient.Error as err:
        assert "CANNOT" in str(err)


def test_dovecot_reads_and_writes_the_same_subscriptions(live: Live) -> None:
    c = live.client("bob")
    c.create_folder("Deep/Été")
    c.subscribe_folder("Deep/Été")
    c.unsubscribe_folder("Receipts")
    need_dovecot()
    dove = Dovecot(live.store.home).start()
    try:
        d = IMAPClient("127.0.0.1", dove.port, ssl=False, timeout=30)
        d.login("bob", live.store.passwords["bob"])
        theirs = sorted(f[2].replace(".", "/") for f in d.list_sub_folders())
        assert theirs == sorted(f[2] for f in c.list_sub_folders())
        d.subscribe_folder("Receipts")
        d.unsubscribe_folder("Deep.Été")
        d.logout()
    finally:
        dove.stop()
    assert sorted(f[2] for f in c.list_sub_folders()) == sorted(STANDARD)
    assert subscriptions.read(Maildir(str(live.store.box("bob")))) is not None


def recent_of(c: IMAPClient, folder: str, readonly: bool) -> int:
    return int(c.select_folder(folder, readonly=readonly)[b"RECENT"])


def test_recent_belongs_to_one_session(live: Live) -> None:
    live.store.send("alice", "bob", "one")
    live.store.send("alice", "bob", "two")
    a, b = live.client("bob"), live.client("bob")
    assert a.folder_status("INBOX", [b"RECENT"])[b"RECENT"] == 2  # in new/: recent in no session yet
    assert recent_of(a, "INBOX", readonly=True) == 2  # EXAMINE sees them, takes nothing (RFC 3501 6.3.2)
    assert a.get_flags([1])[1] == (b"\\Recent",)
    assert recent_of(b, "INBOX", readonly=False) == 2  # SELECT claims them
    assert b.search("RECENT") == [1, 2] and b.search("NEW") == [1, 2] and b.search("OLD") == []
    assert recent_of(a, "INBOX", readonly=True) == 0
    assert a.folder_status("INBOX", [b"RECENT"])[b"RECENT"] == 0
    assert recent_of(a, "INBOX", readonly=False) == 0  # a second SELECT: old news
    live.store.send("carol", "bob", "three")
    noop = b.noop()[1]
    assert (3, b"EXISTS") in noop and (3, b"RECENT") in noop  # RFC 3501 7.3.2
    b.add_flags([1], [b"\\Seen"])
    assert b.search("NEW") == [2, 3] and b.search("RECENT") == [1, 2, 3]
    assert (3, b"EXISTS") in a.noop()[1]  # a sees it, but it is b's recent message
    assert a.search("RECENT") == []
    # APPEND: recent for the appending session when selected, else for the next one (livetest test_status)
    b.append("INBOX", MSG)
    assert b.search("RECENT") == [1, 2, 3, 4]
    a.append("Todo", MSG)
    assert a.folder_status("Todo", [b"RECENT", b"MESSAGES"]) == {b"RECENT": 1, b"MESSAGES": 1}
    assert recent_of(a, "Todo", readonly=False) == 1 and a.get_flags([1])[1] == (b"\\Recent",)
    assert recent_of(b, "Todo", readonly=False) == 0
    assert ok(b._imap.status("Todo", "(RECENT)"))[0] == b"Todo (RECENT 0)"
