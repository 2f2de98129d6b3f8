"""Who sees what: an agent only its own folders; `human` also every agent's, read-only, under Agents/."""

from __future__ import annotations

from agentmail.store import registry
from tests.imap.server.conftest import Live
from tests.imap.server.test_commands import MSG, raw


def test_agent_cannot_reach_another_agent(live: Live) -> None:
    live.store.send("bob", "alice", "private to alice")
    before = live.store.snapshot()
    conn = live.imap("bob")
    for name in ("Agents/alice/INBOX", "../alice", "alice", ".alice", "Agents/alice", "~alice/INBOX"):
        assert conn.select(name)[0] == "NO", name
        assert conn.status(name, "(MESSAGES)")[0] == "NO", name
    names = [x.split(b'"/" ')[1] for x in conn.list('""', "*")[1] if isinstance(x, bytes)]
    assert sorted(names) == [b"Archive", b"INBOX", b"Receipts", b"Sent", b"Todo"]
    assert conn.list('""', "Agents/*")[1] == [None]
    assert live.store.snapshot() == before


def test_human_sees_agents_read_only(live: Live) -> None:
    live.store.send("alice", "bob", "watched", "agent to agent")
    conn = live.imap("human")
    names = [x.split(b'"/" ')[1] for x in conn.list('""', "*")[1] if isinstance(x, bytes)]
    assert b"Agents/bob/INBOX" in names and b"Agents/alice/Sent" in names and b"Agents/carol/Todo" in names
    assert b"Agents/human/INBOX" not in names
    assert b'(\\Noselect \\HasChildren) "/" Agents' in conn.list('""', "Agents")[1]
    reply = raw(conn, "SELECT Agents/bob/INBOX")  # SELECT, not EXAMINE: still read-only
    assert b"* 1 EXISTS\r\n" in reply and reply[-1].split(b" ", 2)[1:] == [b"OK", b"[READ-ONLY] SELECT completed\r\n"]
    conn.state = "SELECTED"
    for box in ("Sent", "Todo"):  # first access writes dovecot-uidlist (metadata, as Dovecot does)
        conn.status(f"Agents/bob/{box}", "(UIDVALIDITY)")
    conn.status("Agents/alice/Todo", "(UIDVALIDITY)")
    before = live.store.snapshot()
    new_before = live.store.names("bob", sub="new")
    assert b"[READ-ONLY]" in raw(conn, "STORE 1 +FLAGS (\\Seen)")[-1]
    assert b"[READ-ONLY]" in raw(conn, "EXPUNGE")[-1]
    assert b"[READ-ONLY]" in raw(conn, "MOVE 1 INBOX")[-1]
    body = conn.fetch("1", "(BODY[])")[1][0][1]  # type: ignore[index]
    assert b"agent to agent" in body  # type: ignore[operator]
    assert live.store.names("bob", sub="new") == new_before  # reading changed no flag, claimed nothing
    for box in ("Agents/bob/INBOX", "Agents/bob/Sent"):
        reply = raw(conn, f"APPEND {box} {{{len(MSG)}+}}\r\n".encode().decode() + MSG.decode())[-1]
        assert b"NO [READ-ONLY]" in reply
    assert conn.create("Agents/bob/New")[0] == "NO"
    assert conn.delete("Agents/bob/Todo")[0] == "NO"
    assert conn.rename("Agents/bob/Todo", "Mine")[0] == "NO"
    assert live.store.snapshot() == before
    # copying *from* an agent's folder into the human's own folder is allowed
    conn.select("Agents/bob/INBOX", readonly=True)
    assert b"[COPYUID " in raw(conn, "COPY 1 Archive")[-1]
    assert len(live.store.names("human", "Archive")) == 1
    assert b"[READ-ONLY]" in raw(conn, "COPY 1 Agents/alice/Todo")[-1]


def test_new_agents_appear_without_reconnect(live: Live) -> None:
    conn = live.imap("human")
    assert not any(b"dave" in x for x in conn.list('""', "*")[1] if isinstance(x, bytes))
    registry.create_account(live.store.cfg, "dave")
    live.store.send("alice", "dave", "welcome")
    assert any(b"Agents/dave/INBOX" in x for x in conn.list('""', "*")[1] if isinstance(x, bytes))
    assert conn.status("Agents/dave/INBOX", "(MESSAGES)")[1] == [b"Agents/dave/INBOX (MESSAGES 1)"]
