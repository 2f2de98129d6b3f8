"""curl's IMAP: LIST, SEARCH, FETCH by UID, a custom UID STORE, and APPEND with -T."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.imap.clients.conftest import Served
from tests.support.tools import need

MESSAGE = (b"From: bob@agents.localhost\r\nTo: alice@agents.localhost\r\nSubject: Sent with curl\r\n"
           b"Date: Sat, 21 Nov 2026 08:00:00 +0000\r\nMessage-ID: <curl-1@agents.localhost>\r\n\r\n"
           b"Uploaded by curl -T.\r\n")


def test_curl_list_search_fetch_store_append(served: Served, tmp_path: Path) -> None:
    curl = need("curl")["curl"]
    first = served.send("alice", "bob", "Deploy window", "tonight 22:00")
    second = served.send("alice", "bob", "Coffee?", "at 3")
    uids = served.uids("bob")
    user, password = served.login("bob")
    url = f"imap://127.0.0.1:{served.imap_port}"

    def curl_run(*args: str) -> bytes:
        done = subprocess.run([curl, "-sS", "--max-time", "20", "--user", f"{user}:{password}", *args],
                              capture_output=True, timeout=30)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    # LIST: every folder, with Sent marked \Sent
    listing = curl_run(url + "/").decode()
    assert listing.splitlines() == [
        '* LIST (\\HasNoChildren) "/" INBOX',
        '* LIST (\\HasNoChildren \\Archive) "/" Archive',
        '* LIST (\\HasNoChildren) "/" Receipts',
        '* LIST (\\HasNoChildren \\Sent) "/" Sent',
        '* LIST (\\HasNoChildren) "/" Todo',
    ]

    # SEARCH ALL: curl does a plain SEARCH, so message sequence numbers 1..n
    assert curl_run(url + "/INBOX?ALL") == b"* SEARCH 1 2\r\n"

    # FETCH by UID: exactly the stored file, served with CRLF line endings
    for base in (first, second):
        body = curl_run(f"{url}/INBOX;UID={uids[base]}")
        assert body == served.path("bob", "INBOX", base).read_bytes().replace(b"\n", b"\r\n")

    # UID STORE as a custom command: the answer is the FETCH FLAGS, and the file name gets F
    out = curl_run(url + "/INBOX", "-X", f"UID STORE {uids[second]} +FLAGS (\\Flagged)")
    assert out.startswith(b"* 2 FETCH (") and b"\\Flagged" in out and f"UID {uids[second]}".encode() in out, out
    flags = served.files("bob")
    assert "F" in flags[second] and "F" not in flags[first]

    # APPEND into Sent: a new file in .Sent with a UID record, stored with LF endings
    eml = tmp_path / "msg.eml"
    eml.write_bytes(MESSAGE)
    curl_run(url + "/Sent", "-T", str(eml))
    sent = served.files("bob", "Sent")
    assert len(sent) == 1, sent
    (base,) = sent
    assert sent[base] == "S"  # curl APPENDs with (\Seen)
    assert served.uids("bob", "Sent") == {base: 1}
    assert served.path("bob", "Sent", base).read_bytes() == MESSAGE.replace(b"\r\n", b"\n")
    lf_size = len(MESSAGE.replace(b"\r\n", b"\n"))
    assert base.endswith(f",S={lf_size},W={len(MESSAGE)}")
    # and it can be fetched back byte for byte
    assert curl_run(url + "/Sent;UID=1") == MESSAGE
