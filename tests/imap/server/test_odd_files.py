"""Odd files in a Maildir (issue 8.3) through a real `agentmail serve`: links, FIFOs, sockets, directories and huge
sparse files in new/ and cur/, linked Maildir directories, non-UTF-8 names. Every command answers (imaplib with a
deadline), nothing outside the store is served to an agent or to `human` under Agents/, memory stays flat (a link
to /dev/zero once took the server to 7.4 GB), and each odd entry is logged once."""

from __future__ import annotations

import imaplib
import json
import os
import re
import shutil
from pathlib import Path

from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live, ThreadServer
from tests.imap.server.test_commands import raw
from tests.support import oddfiles
from tests.support.oddfiles import SECRET, plant, secret_message
from tests.support.servers import Serve
from tests.support.store import Store

DEADLINE = 20  # seconds per socket operation: a FIFO used to hang every client for ever
MAX_HWM_MB = 400  # the server's peak memory; an empty serve is ~40 MB


def login(host: str, port: int, store: Store, user: str) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(host, port, timeout=DEADLINE)
    conn.login(user, store.passwords[user])
    return conn


def peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        fields = dict(line.split(":", 1) for line in fh)
    return int(fields["VmHWM"].split()[0]) / 1024


def everything(conn: imaplib.IMAP4, mailbox: str) -> tuple[bytes, dict[int, bytes]]:
    """SELECT, then FETCH of all metadata, then each message alone (BODY[], ENVELOPE, header); all raw replies."""
    replies = b"".join(raw(conn, f'SELECT "{mailbox}"'))
    assert re.search(rb"OK \[READ-(WRITE|ONLY)\]", replies), replies
    conn.state = "SELECTED"
    listing = raw(conn, "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert listing[-1].split(b" ")[1] == b"OK", listing
    replies += b"".join(listing)
    bodies = {}
    for line in listing[:-1]:
        uid = int(re.search(rb"UID (\d+)", line).group(1))  # type: ignore[union-attr]
        bodies[uid] = b"".join(raw(conn, f"UID FETCH {uid} (BODY.PEEK[])") + raw(conn, f"UID FETCH {uid} (ENVELOPE)")
                               + raw(conn, f"UID FETCH {uid} (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        replies += bodies[uid]
    raw(conn, "CLOSE")
    conn.state = "AUTH"
    return replies, bodies


def test_serve_skips_odd_files_for_agents_and_human(serve: Serve, tmp_path: Path) -> None:
    store = serve.store
    store.send("bob", "alice", "real postcard")
    data = store.only("alice", "real postcard")  # before planting: this helper reads every file
    secret = secret_message(tmp_path / "secret.eml")
    made = plant(store.box("alice"), secret)
    made.update({f"sent-{k}": v for k, v in plant(store.box("bob", "Sent"), secret, ("cur",)).items()})
    oddfiles.non_utf8_name(store.box("alice"), data.replace(b"real postcard", b"latin-1 named"))
    for user, boxes in (("alice", ["INBOX"]), ("human", ["Agents/alice/INBOX", "Agents/bob/Sent"]),
                        ("alice", ["INBOX"])):  # alice again: a second scan logs nothing new
        conn = login(serve.host, serve.imap_port, store, user)
        listed = b"".join(raw(conn, 'LIST "" "*"'))
        assert b" OK " in listed.splitlines()[-1], listed
        for box in boxes:
            replies, bodies = everything(conn, box)
            assert SECRET.encode() not in replies and SECRET.encode() not in listed
            if box.endswith("INBOX"):
                served = [b for b in bodies.values() if b"OK UID FETCH completed" in b.splitlines()[-1]]
                assert sum(b"real postcard" in b for b in served) == 1
                assert sum(b"latin-1 named" in b for b in served) == 1
            # the sparse files whose names lie about their size are listed from their names, and refused
            refused = [b for b in bodies.values() if b"NO [LIMIT]" in b]
            assert len(refused) == (2 if box.endswith("INBOX") else 1), replies
            assert all(len(b) < 4096 for b in refused)
        conn.logout()
    assert peak_mb(serve.proc.pid) < MAX_HWM_MB
    log = serve.log()
    for kind, path in made.items():
        if kind.startswith("lying"):  # refused when fetched; alice's SELECT moved the one in new/ to cur/ first
            base = path.name.split(":")[0]
            assert 1 <= len(re.findall(f"not a message, skipped: [^ ]*/{re.escape(base)}[:2,]* \\(", log)) <= 2
        else:  # skipped at the scan, said once however many sessions looked
            assert log.count(f"not a message, skipped: {path} (") == 1, (kind, log)
    assert "Traceback" not in log


def test_linked_maildir_directories_are_not_served(serve: Serve, tmp_path: Path) -> None:
    store = serve.store
    outside = Maildir(str(tmp_path / "outside")).create()
    outside.deliver(secret_message(tmp_path / "m.eml").read_bytes(), "new")
    outside.deliver(secret_message(tmp_path / "m2.eml").read_bytes(), "cur", "S")
    for name in ("alice", "bob", "carol"):
        store.send("human", name, f"for {name}")
    shutil.rmtree(store.box("alice", "Todo"))
    store.box("alice", "Todo").symlink_to(outside.path)
    shutil.rmtree(store.box("bob") / "new")
    (store.box("bob") / "new").symlink_to(Path(outside.path) / "new")
    shutil.move(str(store.box("carol")), str(tmp_path / "carol-real"))
    store.box("carol").symlink_to(outside.path)
    before = sorted(p.name for sub in ("new", "cur", "tmp") for p in (Path(outside.path) / sub).iterdir())

    alice = login(serve.host, serve.imap_port, store, "alice")
    listed = b"".join(raw(alice, 'LIST "" "*"'))
    assert b'"Todo"' not in listed and b" Todo\r\n" not in listed, listed
    for command in ("SELECT Todo", "EXAMINE Todo", "STATUS Todo (MESSAGES)"):
        reply = raw(alice, command)
        assert reply[-1].split(b" ")[1] == b"NO", (command, reply)
        assert SECRET.encode() not in b"".join(reply)
    msg = b"Subject: appended\r\n\r\nhello\r\n"
    reply = raw(alice, f"APPEND Todo {{{len(msg)}+}}\r\n" + msg.decode())
    assert reply[-1].split(b" ")[1] == b"NO", reply
    for command in ("DELETE Todo", "RENAME Todo Elsewhere"):  # (Todo/Child would be .Todo.Child: in the store)
        reply = raw(alice, command)
        assert reply[-1].split(b" ")[1] == b"NO", (command, reply)
    alice.logout()

    extra = Maildir(str(Path(outside.path) / ".Extra")).create(folder_marker=True)  # a folder of carol's, seen
    extra.deliver(secret_message(tmp_path / "m3.eml").read_bytes())                  # through her linked Maildir
    carol = login(serve.host, serve.imap_port, store, "carol")
    for command in ("DELETE Extra", "RENAME Extra Moved", "CREATE Fresh", "SELECT INBOX", "STATUS Extra (MESSAGES)"):
        reply = raw(carol, command)
        assert reply[-1].split(b" ")[1] == b"NO", (command, reply)
        assert SECRET.encode() not in b"".join(reply)
    carol.logout()
    assert sorted(p.name for p in Path(outside.path).iterdir() if p.name.startswith(".")) == [".Extra"]
    assert len(list((Path(extra.path) / "new").iterdir())) == 1

    human = login(serve.host, serve.imap_port, store, "human")
    for box in ("Agents/bob/INBOX", "Agents/carol/INBOX", "Agents/carol/Sent", "Agents/alice/Todo"):
        reply = raw(human, f"EXAMINE {box}")
        assert reply[-1].split(b" ")[1] == b"NO", (box, reply)
        assert SECRET.encode() not in b"".join(reply)
    replies, _ = everything(human, "Agents/alice/INBOX")  # the rest is served as usual
    assert b"for alice" in replies
    human.logout()
    after = sorted(p.name for sub in ("new", "cur", "tmp") for p in (Path(outside.path) / sub).iterdir())
    assert after == before  # nothing was claimed, appended or moved out there
    assert "Traceback" not in serve.log()


def test_oversized_files_are_skipped_or_refused_never_cut(tmp_path: Path) -> None:
    """With max_message 1000, the read cap is 1000 + 64 KiB: a 100 KB file is over it."""
    from tests.support.store import make_store

    store = make_store(tmp_path / "home")
    (store.home / "config.json").write_text(json.dumps({"max_message": 1000}))
    store.send("bob", "alice", "small one")
    big = b"Subject: too big\n\n" + b"x" * 100_000 + b"\n"
    inbox = store.box("alice")
    (inbox / "cur" / oddfiles.name(1, "cur", f",S={len(big)},W={len(big) + 3}")).write_bytes(big)  # says so
    (inbox / "cur" / oddfiles.name(2, "cur", "")).write_bytes(big)  # no sizes: read (capped) at the scan
    (inbox / "cur" / oddfiles.name(3, "cur", ",S=500,W=510")).write_bytes(big)  # lies: listed, then refused
    srv = ThreadServer(store.cfg, login_delay=0.1, idle_poll=0.2)
    try:
        live = Live(store, srv)
        conn = live.imap("alice")
        reply = b"".join(raw(conn, "SELECT INBOX"))
        assert b"* 2 EXISTS" in reply
        conn.state = "SELECTED"
        sizes = b"".join(raw(conn, "FETCH 1:* (RFC822.SIZE)"))
        assert b"RFC822.SIZE 510" in sizes
        refused = raw(conn, "FETCH 2 (BODY[])")
        assert refused[-1].split(b" ", 2)[1:] == [b"NO", b"[LIMIT] Message is larger than this server serves\r\n"]
        assert b"x" * 100 not in b"".join(refused)
        assert raw(conn, "FETCH 1 (BODY[])")[-1].split(b" ")[1] == b"OK"
        conn.logout()
    finally:
        srv.stop()
    assert b"Subject: too big" in (inbox / "cur" / oddfiles.name(2, "cur", "")).read_bytes()  # left in place


def test_non_utf8_names_of_messages_and_folders(live: Live) -> None:
    store = live.store
    store.send("bob", "alice", "plain one")
    data = store.only("alice", "plain one")
    oddfiles.non_utf8_name(store.box("alice"), data.replace(b"plain one", b"latin-1 named"), "new")
    folder = os.path.join(os.fsencode(store.box("alice")), b".Odd\xffname")
    Maildir(os.fsdecode(folder)).create(folder_marker=True).deliver(b"Subject: in an odd folder\n\nx\n")
    for user, box in (("alice", "INBOX"), ("human", "Agents/alice/INBOX")):
        conn = live.imap(user)
        listed = b"".join(raw(conn, 'LIST "" "*"'))
        assert listed.splitlines()[-1].split(b" ")[1] == b"OK"
        assert b"Odd" not in listed  # not valid modified UTF-7 once decoded: not an IMAP name, left out
        replies, bodies = everything(conn, box)
        assert sum(b"latin-1 named" in b for b in bodies.values()) == 1
        assert sum(b"plain one" in b for b in bodies.values()) == 1
        conn.logout()
    uids = (store.box("alice") / "dovecot-uidlist").read_bytes()
    assert b"odd\xffhost" in uids  # numbered under its own bytes, as Dovecot would
