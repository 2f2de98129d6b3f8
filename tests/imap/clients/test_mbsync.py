"""mbsync (isync 1.4): two-way sync of every folder, flags and deletions back to the server, a local message in Sent
APPENDed with APPENDUID, and a second sync that changes nothing; a resync after changes made through the CLI, another
IMAP session and Dovecot."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.imap.clients.conftest import Served
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.tools import need

RC = """IMAPAccount t
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account t

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
"""

LOCAL_MESSAGE = (b"From: bob@agents.localhost\nTo: alice@agents.localhost\nSubject: Written offline\n"
                 b"Date: Sat, 21 Nov 2026 08:00:00 +0000\nMessage-ID: <offline-1@agents.localhost>\n\n"
                 b"Drafted in a local Maildir, uploaded by mbsync.\n")


def local_files(local: Path, folder: str) -> dict[str, Path]:
    """{file name: path} in new/ and cur/ of a local (mbsync) folder."""
    return {p.name: p for sub in ("new", "cur") for p in (local / folder / sub).iterdir()}


def uid_of(name: str) -> int:
    m = re.search(r",U=(\d+)", name)
    assert m, name
    return int(m.group(1))


def server_tree(served: Served) -> dict[str, tuple[dict[str, str], str]]:
    """Every folder's {base: flags} and dovecot-uidlist text."""
    out = {}
    for folder in ("INBOX", "Sent", "Receipts", "Todo", "Archive"):
        uidlist = served.box("bob", folder) / "dovecot-uidlist"
        out[folder] = (served.files("bob", folder), uidlist.read_text() if uidlist.exists() else "")
    return out


def test_mbsync_two_way_sync(served: Served, tmp_path: Path) -> None:
    mbsync = need("mbsync")["mbsync"]
    first = served.send("alice", "bob", "Build is green", "all 412 tests pass")
    second = served.send("alice", "bob", "Review my branch", "feature/imap please")
    uids = served.uids("bob")
    user, password = served.login("bob")
    local = tmp_path / "local"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(RC.format(port=served.imap_port, user=user, password=password, local=local))

    def sync(*options: str) -> str:
        done = subprocess.run([mbsync, *options, "-c", str(rc), "-a"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    # 1. first sync: every server folder exists locally, the postcards arrive with their server UIDs and bytes
    sync()
    assert {p.name for p in local.iterdir()} == {"INBOX", "Sent", "Receipts", "Todo", "Archive"}
    inbox = local_files(local, "INBOX")
    assert sorted(uid_of(n) for n in inbox) == sorted([uids[first], uids[second]])
    by_uid = {uid_of(n): p for n, p in inbox.items()}
    for base in (first, second):
        # mbsync adds its own X-TUID header to the near copy (to find it again); otherwise the bytes are the file's
        near = re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", by_uid[uids[base]].read_bytes())
        assert near == served.path("bob", "INBOX", base).read_bytes()

    # 2. flag the first postcard locally (Maildir rename to :2,F): the server's file gets F
    flagged = by_uid[uids[first]]
    flagged.rename(local / "INBOX" / "cur" / (flagged.name.partition(":2,")[0] + ":2,F"))
    sync()
    assert served.files("bob")[first] == "F"
    assert served.files("bob")[second] == ""

    # 3. delete the second postcard locally: with Expunge Both the server's file is gone, the first keeps its UID
    by_uid[uids[second]].unlink()
    sync()
    assert set(served.files("bob")) == {first}
    assert served.uids("bob")[first] == uids[first]

    # 4. a new local message in Sent is APPENDed: mbsync names it with the UID from APPENDUID, which is the UID
    #    the server recorded for the new file in .Sent/dovecot-uidlist
    (local / "Sent" / "new" / "1795248200.1_1.localhost").write_bytes(LOCAL_MESSAGE)
    trace = sync("-Dn")  # protocol trace
    sent = served.files("bob", "Sent")
    assert len(sent) == 1, sent
    (base,) = sent
    sent_uids = served.uids("bob", "Sent")
    (near,) = local_files(local, "Sent")
    assert uid_of(near) == sent_uids[base]
    uidvalidity = (served.box("bob", "Sent") / "dovecot-uidlist").read_text().split()[1][1:]
    assert f"[APPENDUID {uidvalidity} {sent_uids[base]}]" in trace, trace
    stored = served.path("bob", "Sent", base).read_bytes()
    assert b"Subject: Written offline\n" in stored
    assert stored.endswith(b"\n\nDrafted in a local Maildir, uploaded by mbsync.\n")
    assert b"\r" not in stored  # stored with LF endings, as every message in the store
    crlf_size = len(stored) + stored.count(b"\n")
    assert base.endswith(f",S={len(stored)},W={crlf_size}")

    # 5. nothing changed anywhere: a second sync touches neither side
    before_server = server_tree(served)
    before_local = sorted(str(p.relative_to(local)) for p in local.rglob("*") if ".mbsyncstate" not in p.name)
    trace = sync("-Dn")
    sent_commands = re.findall(r"^>>> \d+ (?:UID )?([A-Z]+)", trace, re.M)
    assert "LOGIN" in sent_commands and not {"APPEND", "STORE", "EXPUNGE", "COPY", "MOVE"} & set(sent_commands), trace
    assert server_tree(served) == before_server
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*")
                  if ".mbsyncstate" not in p.name) == before_local
    assert os.listdir(local / "INBOX" / "cur") == [flagged.name.partition(":2,")[0] + ":2,F"]


def test_mbsync_resync_after_changes_through_the_cli_another_session_and_dovecot(served: Served,
                                                                                 tmp_path: Path) -> None:
    """The server announces CONDSTORE and QRESYNC; mbsync 1.4 uses neither (it compares the UID FETCH FLAGS of
    every message with its state) and must not be confused by them. After its first sync, the mailbox changes
    through the CLI (a postcard read), another IMAP session (one flagged, one expunged) and Dovecot on the same
    tree (one answered, one expunged, one appended): the next sync brings exactly that to the local Maildir."""
    mbsync = need("mbsync")["mbsync"]
    need_dovecot()
    bases = [served.send("alice", "bob", f"card {n}", f"body {n}") for n in range(6)]
    uids = served.uids("bob")
    user, password = served.login("bob")
    local = tmp_path / "local"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(RC.format(port=served.imap_port, user=user, password=password, local=local))

    def sync() -> str:
        done = subprocess.run([mbsync, "-Dn", "-c", str(rc), "-a"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def near() -> dict[int, str]:
        """{UID: flags} of the local INBOX."""
        return {uid_of(n): n.partition(":2,")[2] for n in local_files(local, "INBOX")}

    assert "CONDSTORE" in sync()  # announced (and left alone by this client)
    assert near() == {uids[b]: "" for b in bases}

    # the CLI reads card 0
    listed = json.loads(served.cli("--as", "bob", "inbox", "--json"))
    served.cli("--as", "bob", "read", next(p["id"] for p in listed if p["title"] == "card 0"))
    # another IMAP session flags card 1 and expunges card 2
    other = served.imap("bob")
    other.select("INBOX")
    other.uid("STORE", str(uids[bases[1]]), "+FLAGS", "(\\Flagged)")
    other.uid("STORE", str(uids[bases[2]]), "+FLAGS", "(\\Deleted)")
    other.expunge()
    other.logout()
    # Dovecot, serving the same tree meanwhile, answers card 3, expunges card 4 and appends a message
    dove = Dovecot(served.home).start()
    try:
        d = dove.login("bob")
        d.select("INBOX")
        d.uid("STORE", str(uids[bases[3]]), "+FLAGS", "(\\Answered)")
        d.uid("STORE", str(uids[bases[4]]), "+FLAGS", "(\\Deleted)")
        d.expunge()
        typ, data = d.append("INBOX", "(\\Seen)", None, LOCAL_MESSAGE.replace(b"\n", b"\r\n"))
        assert typ == "OK"
        appended = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))  # type: ignore[union-attr]
        d.logout()
    finally:
        dove.stop()

    sync()
    assert near() == {uids[bases[0]]: "S", uids[bases[1]]: "F", uids[bases[3]]: "R", uids[bases[5]]: "",
                      appended: "S"}
    (copy,) = (p for n, p in local_files(local, "INBOX").items() if uid_of(n) == appended)
    assert b"Subject: Written offline" in copy.read_bytes()
    # and nothing more the time after
    trace = sync()
    assert not {"APPEND", "STORE", "EXPUNGE"} & set(re.findall(r"^>>> \d+ (?:UID )?([A-Z]+)", trace, re.M)), trace
    assert len(near()) == 5
