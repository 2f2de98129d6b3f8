"""The conversation index over the journal (web/journal.py), without a server: threads across agents, receipts,
duplicates, files another reader moved, odd files, and refreshes that read only what is new."""

from __future__ import annotations

import os
from pathlib import Path

from agentmail import config
from agentmail.agent import compose
from agentmail.agent.mailbox import find
from agentmail.agent.reading import read_message
from agentmail.delivery.deliver import deliver
from agentmail.web.journal import JournalIndex
from tests.support.store import create_accounts


def setup(tmp_path: Path) -> config.Config:
    cfg = config.load(str(tmp_path / "home"))
    create_accounts(cfg, "alice", "bob", "carol")
    return cfg


def test_replies_across_agents_make_one_thread_with_its_receipts(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    first = compose.send(cfg, "alice", ["bob"], "Plan", "step one")
    read_message(cfg, "bob", first.key[:8])  # bob reads: a receipt to alice, journaled too
    answer = compose.reply(cfg, "bob", find(cfg, "bob", first.key[:8]), "ok")
    onward = compose.send(cfg, "bob", ["carol"], "Re: Plan", "fyi", in_reply_to=answer.message_id,
                          references=[first.message_id or "", answer.message_id or ""])
    other = compose.send(cfg, "carol", ["alice"], "Unrelated", "x")
    index = JournalIndex(cfg)
    assert index.refresh() == 5  # four postcards and one receipt
    listed = index.thread_list()
    assert listed["total"] == 2
    plan = next(t for t in listed["threads"] if t["title"] == "Plan")
    assert plan["key"] == first.key and plan["count"] == 3 and plan["people"] == ["alice", "bob", "carol"]
    assert plan["read"] == 1
    messages = index.thread(first.key)
    assert messages is not None
    assert [m["key"] for m in messages] == [first.key, answer.key, onward.key]
    assert messages[0]["receipts"][0]["reader"] == "bob" and messages[0]["receipts"][0]["disposition"] == "displayed"
    assert listed["threads"][0]["key"] == other.key  # the newest activity first
    assert index.thread_list(person="carol")["total"] == 2 and index.thread_list(person="alice")["total"] == 2
    assert index.thread("0" * 32) is None


def test_a_reply_whose_parent_is_not_in_the_journal_threads_under_its_root(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    root, parent = "<root-1@elsewhere>", "<parent-1@elsewhere>"
    late = compose.send(cfg, "alice", ["bob"], "Re: Old", "late", in_reply_to=parent, references=[root, parent])
    index = JournalIndex(cfg)
    index.refresh()
    entry = index.find(late.key)
    assert entry is not None
    from agentmail.format.card import key_of

    assert entry.thread == key_of(root)


def test_the_same_postcard_twice_is_listed_once_and_moves_are_followed(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    sent = compose.send(cfg, "alice", ["bob"], "Once", "same bytes", date=1795165200.0)
    again = compose.send(cfg, "alice", ["bob"], "Once", "same bytes", date=1795165200.0)
    assert sent.key == again.key
    index = JournalIndex(cfg)
    index.refresh()
    assert index.thread_list()["total"] == 1 and index.thread_list()["threads"][0]["count"] == 1
    journal_new = Path(cfg.journal_path) / "new"
    for name in os.listdir(journal_new):  # another reader (Dovecot serving Agents/All) moves them to cur/
        os.rename(journal_new / name, Path(cfg.journal_path) / "cur" / (name + ":2,S"))
    assert index.refresh() == 0
    entry = index.find(sent.key)
    assert entry is not None and entry.subdir == "cur" and os.path.exists(index.path_of(entry))


def test_odd_files_in_the_journal_are_skipped(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    compose.send(cfg, "alice", ["bob"], "Real", "x")
    new = Path(cfg.journal_path) / "new"
    (new / "1.M1P1.link").symlink_to("/etc/passwd")
    os.mkfifo(new / "1.M2P1.fifo")
    (new / "1.M3P1.junk").write_bytes(b"\x00\xff not a message at all")
    index = JournalIndex(cfg)
    index.refresh()
    titles = [t["title"] for t in index.thread_list()["threads"]]
    assert "Real" in titles and len(titles) == 2  # the junk file is a (title-less) message; link and FIFO are not


def test_a_refresh_reads_only_new_files(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    compose.send(cfg, "alice", ["bob"], "One", "x")
    index = JournalIndex(cfg)
    assert index.refresh() == 1
    assert index.refresh(force=False) == 0 and index.refresh() == 0
    generation = index.generation
    deliver(cfg, b"From: carol@agents.localhost\nTo: bob@agents.localhost\nSubject: Two\n"
                 b"Message-ID: <two@agents.localhost>\n\nbody\n", ["bob"], sender="carol")
    assert index.refresh() == 1 and index.generation == generation + 1
    assert [t["title"] for t in index.thread_list()["threads"]] == ["Two", "One"]


def test_receipts_from_other_clients_are_read(tmp_path: Path) -> None:
    """A report part as Thunderbird writes it (read without the email parser), and one without Original-Message-ID
    (RFC 8098 3.2.5 makes it optional: the email parser's reading and In-Reply-To name the original)."""
    cfg = setup(tmp_path)
    first = compose.send(cfg, "alice", ["bob"], "Plain", "x")
    second = compose.send(cfg, "alice", ["carol"], "No original id", "y")

    def mdn(reader: str, original: str | None) -> bytes:
        named = f"Original-Message-ID: {original}\r\n" if original else ""
        return (f"From: {reader}@agents.localhost\r\nTo: alice@agents.localhost\r\nSubject: Read: x\r\n"
                f"Message-ID: <mdn-{reader}@agents.localhost>\r\nIn-Reply-To: {second.message_id}\r\n"
                'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; '
                'boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe message was displayed.\r\n'
                "--B\r\nContent-Type: message/disposition-notification\r\n\r\nReporting-UA: some client\r\n"
                f"Final-Recipient: rfc822; {reader}@agents.localhost\r\n{named}"
                "Disposition: manual-action/MDN-sent-manually; displayed\r\n--B--\r\n").encode()

    deliver(cfg, mdn("bob", first.message_id), ["alice"], sender="bob")
    deliver(cfg, mdn("carol", None), ["alice"], sender="carol")
    index = JournalIndex(cfg)
    index.refresh()
    assert [(r["reader"], r["disposition"]) for r in index.receipts_for(first.key)] == [("bob", "displayed")]
    assert [(r["reader"], r["disposition"]) for r in index.receipts_for(second.key)] == [("carol", "displayed")]
