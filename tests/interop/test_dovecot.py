"""Dovecot serves a store written by agentmail and agrees on every UID, UIDVALIDITY, UIDNEXT and flag; after Dovecot
has appended a message, agentmail keeps Dovecot's UIDs and continues the numbering.

As root, Dovecot refuses to run mail processes as root: the tree is chowned to `vmail` (created by .ci/run) and
agentmail's own later writes run as vmail too (setpriv). As another user, Dovecot runs as that user.
"""

from __future__ import annotations

import imaplib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent.compose import send
from agentmail.agent.mailbox import announce, unread
from agentmail.agent.reading import read_message
from agentmail.store import uidlist
from agentmail.store.maildir import Maildir, name_sizes, split_name
from tests.support.dovecot import Dovecot, has_vmail
from tests.support.store import create_accounts
from tests.support.tools import missing, need

FLAG_OF_LETTER = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


def select_info(imap: imaplib.IMAP4, folder: str) -> tuple[int, int, int]:
    typ, data = imap.select(folder)
    assert typ == "OK", data
    validity = int(imap.untagged_responses["UIDVALIDITY"][-1])
    uidnext = int(imap.untagged_responses["UIDNEXT"][-1])
    return validity, uidnext, int(data[0])


def fetch_flags(imap: imaplib.IMAP4) -> dict[int, tuple[set[str], int]]:
    typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE)")
    assert typ == "OK", data
    out = {}
    for line in data:
        if not line:
            continue
        text = line.decode() if isinstance(line, bytes) else line[0].decode()
        uid = int(re.search(r"UID (\d+)", text).group(1))  # type: ignore[union-attr]
        flags = set(re.search(r"FLAGS \(([^)]*)\)", text).group(1).split())  # type: ignore[union-attr]
        size = int(re.search(r"RFC822\.SIZE (\d+)", text).group(1))  # type: ignore[union-attr]
        out[uid] = (flags - {"\\Recent"}, size)
    return out


def agentmail_view(box: Maildir) -> dict[int, tuple[set[str], int]]:
    """What agentmail's files say: UID from dovecot-uidlist, flags and keywords from the name, size from W=."""
    from agentmail.store import keywords

    table = keywords.read(box)
    parsed = uidlist.read(box)
    assert parsed is not None
    by_base = parsed.by_base()
    out = {}
    for _, name in box.entries():
        base, letters = split_name(name)
        flags = {FLAG_OF_LETTER[c] for c in letters if c in FLAG_OF_LETTER}
        flags |= {table[ord(c) - ord("a")] for c in letters if "a" <= c <= "z"}
        out[by_base[base]] = (flags, name_sizes(name)[1])
    return out


@pytest.fixture
def dovecot_store(world_dir: Path):
    need("dovecot")
    store = world_dir / "store"
    cfg = config.load(str(store))
    create_accounts(cfg, "alice", "bob")
    first = send(cfg, "alice", ["bob"], "Read and receipted", "one")
    send(cfg, "alice", ["bob"], "Announced only", "two")
    announce(unread(cfg, "bob"))
    send(cfg, "alice", ["bob"], "Still new", "three ünï", urgent=True)
    read_message(cfg, "bob", first.key[:8])  # \Seen + $MDNSent, and an MDN into alice's .Receipts
    if os.geteuid() == 0 and not has_vmail():
        missing("running as root needs a 'vmail' user for Dovecot's mail processes (useradd -r vmail)")
    server = Dovecot(store, world_dir)
    try:
        yield cfg, store, server
    finally:
        server.stop()


def test_dovecot_reports_agentmails_uids_and_flags(dovecot_store) -> None:
    cfg, store, server = dovecot_store
    bob = Maildir(str(store / "maildirs" / "bob"))
    expected = agentmail_view(bob)
    ours = uidlist.read(bob)
    assert ours is not None and sorted(expected) == [1, 2, 3]
    assert expected[1][0] == {"\\Seen", "$MDNSent"} and expected[2][0] == set() and expected[3][0] == set()
    server.start()
    imap = server.login("bob")
    try:
        validity, uidnext, exists = select_info(imap, "INBOX")
        assert (validity, uidnext, exists) == (ours.uidvalidity, ours.allocate_from, 3)
        assert fetch_flags(imap) == expected
        for folder, owner in (("Sent", "alice"), ("Receipts", "alice")):
            imap2 = server.login(owner)
            box = Maildir(str(store / "maildirs" / owner / f".{folder}"))
            theirs = uidlist.read(box)
            assert theirs is not None
            assert select_info(imap2, folder)[:2] == (theirs.uidvalidity, theirs.allocate_from)
            assert fetch_flags(imap2) == agentmail_view(box)
            imap2.logout()
    finally:
        imap.logout()
    assert "Error" not in server.log_text() and "Panic" not in server.log_text(), server.log_text()


def test_agentmail_keeps_dovecots_uids_after_dovecot_appends(dovecot_store) -> None:
    cfg, store, server = dovecot_store
    bob = Maildir(str(store / "maildirs" / "bob"))
    server.start()
    imap = server.login("bob")
    try:
        select_info(imap, "INBOX")
        msg = (b"From: human@agents.localhost\r\nTo: bob@agents.localhost\r\nSubject: via Dovecot APPEND\r\n"
               b"Message-ID: <dovecot-append-1@agents.localhost>\r\nDate: Sat, 21 Nov 2026 09:00:00 +0000\r\n"
               b"\r\nappended by dovecot\r\n")
        typ, data = imap.append("INBOX", "(\\Flagged)", None, msg)
        assert typ == "OK", data
        appended_uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))  # type: ignore[union-attr]
        assert appended_uid == 4
        imap.noop()
    finally:
        imap.logout()

    # agentmail's reader of the file Dovecot wrote gives the same UID for the same base name
    parsed = uidlist.read(bob)
    assert parsed is not None
    dovecot_base = next(split_name(name)[0] for sub, name in bob.entries()
                        if b"via Dovecot APPEND" in bob.read(sub, name))
    assert parsed.by_base()[dovecot_base] == appended_uid
    before = parsed.by_base()
    # and sync() (run as the user Dovecot runs as) renumbers nothing and has nothing to add
    prefix = ["setpriv", "--reuid=vmail", "--regid=vmail", "--clear-groups"] if server.as_root else []
    code = ("import json, sys; from agentmail.store import uidlist; from agentmail.store.maildir import Maildir; "
            "print(json.dumps(uidlist.sync(Maildir(sys.argv[1])).by_base()))")
    out = subprocess.run([*prefix, sys.executable, "-c", code, bob.path], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == before

    # a new agentmail delivery (as the user Dovecot runs as) continues at max(N, last + 1)
    agentmail = os.path.join(os.path.dirname(sys.executable), "agentmail")
    env = {**os.environ, "AGENTMAIL_HOME": str(store)}
    subprocess.run([*prefix, agentmail, "--as", "alice", "send", "bob", "After Dovecot", "x"], env=env, check=True,
                   capture_output=True)
    after = uidlist.read(bob)
    assert after is not None
    assert {b: u for b, u in after.by_base().items() if b in before} == before  # nobody was renumbered
    new_uid = after.records[-1][0]
    assert new_uid == max(parsed.next_uid, parsed.last_uid + 1) == appended_uid + 1

    # and Dovecot, asked again, sees the agentmail postcard under that same UID
    imap = server.login("bob")
    try:
        validity, uidnext, exists = select_info(imap, "INBOX")
        assert exists == 5 and uidnext == new_uid + 1 and validity == after.uidvalidity
        flags = fetch_flags(imap)
        assert sorted(flags) == [1, 2, 3, 4, 5]
        assert "\\Flagged" in flags[appended_uid][0]
        typ, data = imap.uid("FETCH", str(new_uid), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK" and b"After Dovecot" in data[0][1]
    finally:
        imap.logout()
