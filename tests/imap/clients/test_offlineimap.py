"""offlineimap: a full sync of every folder into a local Maildir, bytes equal to the server's BODY[]."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.imap.clients.conftest import Served
from tests.support.tools import need

RC = """[general]
accounts = t
metadata = {meta}
[Account t]
localrepository = local
remoterepository = remote
[Repository local]
type = Maildir
localfolders = {local}
[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = no
starttls = no
"""


def test_offlineimap_full_sync(served: Served, tmp_path: Path) -> None:
    offlineimap = need("offlineimap")["offlineimap"]
    bases = [served.send("alice", "bob", "Standup notes", "1. ship\n2. review\n"),
             served.send("alice", "bob", "Grüße aus Köln", "Ünïcødé body, “quotes” — and a long line " * 5),
             served.send("alice", "bob", "Third", "short")]
    # one message flagged and seen over IMAP first, so flags have something to carry
    conn = served.imap("bob")
    conn.select("INBOX")
    uids = served.uids("bob")
    typ, _ = conn.uid("STORE", str(uids[bases[0]]), "+FLAGS", "(\\Flagged \\Seen)")
    assert typ == "OK"
    server_before = {folder: served.files("bob", folder) for folder in ("INBOX", "Sent")}

    user, password = served.login("bob")
    local, meta = tmp_path / "local", tmp_path / "meta"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(RC.format(meta=meta, local=local, port=served.imap_port, user=user, password=password))
    done = subprocess.run([offlineimap, "-c", str(rc), "-o", "-u", "basic"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ERROR" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert {p.name for p in local.iterdir()} == {"INBOX", "Sent", "Receipts", "Todo", "Archive"}

    got = {}
    for path in (local / "INBOX").glob("*/*"):
        m = re.search(r",U=(\d+),.*:2,([A-Z]*)$", path.name)
        assert m, path.name
        got[int(m.group(1))] = (path.read_bytes(), m.group(2))
    assert sorted(got) == sorted(uids.values())
    for base in bases:
        uid = uids[base]
        typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        assert typ == "OK"
        wire = data[0][1]
        local_bytes, local_flags = got[uid]
        # offlineimap stores LF line endings: the same bytes as the server's BODY[] once CRLF becomes LF,
        # which is exactly the file in the store
        assert local_bytes.replace(b"\n", b"\r\n") == wire
        assert local_bytes == served.path("bob", "INBOX", base).read_bytes()
        assert local_flags == served.files("bob")[base]
    assert got[uids[bases[0]]][1] == "FS"
    conn.logout()
    # a download-only sync: the server's messages, flags and UIDs are untouched
    assert {folder: served.files("bob", folder) for folder in ("INBOX", "Sent")} == server_before
    assert served.uids("bob") == uids
