"""mutt over IMAP, driven in tmux: the index lists the postcards, opening one sets \\Seen in the Maildir file name,
C =Sent copies it into .Sent, q quits cleanly (storing mutt's Old keyword on the unread one)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from tests.imap.clients.conftest import Served, wait_for
from tests.support.tools import need

MUTTRC = """set imap_user={user} imap_pass={password} ssl_starttls=no ssl_force_tls=no folder=imap://127.0.0.1:{port}/
set spoolfile=+INBOX record=+Sent imap_idle=yes header_cache="" message_cachedir="" confirmappend=no
set sort=date charset=utf-8
"""


def test_mutt_reads_and_copies(served: Served, tmp_path: Path) -> None:
    tools = need("mutt", "tmux")
    titles = {served.send("alice", "bob", "Postcard one: the deploy", "Rolled out at 10:02."): "Postcard one",
              served.send("alice", "bob", "Postcard two: the review", "Left three comments."): "Postcard two"}
    uids = served.uids("bob")
    user, password = served.login("bob")
    rc = tmp_path / "muttrc"
    rc.write_text(MUTTRC.format(user=user, password=password, port=served.imap_port))
    status = tmp_path / "mutt.exit"
    sock, session = f"am-clients-{uuid.uuid4().hex[:10]}", "mutt"
    tmux = [tools["tmux"], "-L", sock]
    env = {**served.env, "HOME": str(tmp_path), "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    command = f"{tools['mutt']} -n -F {rc}; echo $? > {status}"
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "30", command], env=env,
                   check=True, timeout=10)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-t", session, "-p"], capture_output=True, text=True,
                              timeout=10).stdout

    def keys(*k: str) -> None:
        subprocess.run([*tmux, "send-keys", "-t", session, *k], check=True, timeout=10)

    def shows(*texts: str) -> str:
        last = [""]

        def check() -> str | None:
            last[0] = screen()
            return last[0] if all(t in last[0] for t in texts) else None

        try:
            return str(wait_for(check, 10, f"{texts} on mutt's screen"))
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{last[0]}") from None

    try:
        # the index lists both postcards by title
        index = shows("Postcard one: the deploy", "Postcard two: the review", "Msgs:2")
        assert "=INBOX" in index
        assert all(flags == "" for flags in served.files("bob").values())

        # open message 1 (jump with "1 Enter", then Enter): the pager shows it; find which file it is
        keys("1", "Enter")
        keys("Enter")
        pager = shows("Subject: Postcard ")
        opened = next(base for base, title in titles.items() if f"Subject: {title}" in pager)
        other = next(base for base in titles if base != opened)
        body = "Rolled out at 10:02." if titles[opened] == "Postcard one" else "Left three comments."
        assert body in pager
        # back to the index; mutt keeps \Seen locally until it syncs ($): then the file name gets :2,S
        keys("q")
        shows("Msgs:2")
        keys("$")
        wait_for(lambda: served.files("bob")[opened] == "S", 5, "S in the opened message's file name")
        assert served.files("bob")[other] == ""
        assert served.path("bob", "INBOX", opened).parent.name == "cur"

        # C =Sent Enter: the message under the cursor (the opened one) is copied into .Sent
        keys("C")
        shows("Copy to mailbox")
        keys("=Sent", "Enter")
        wait_for(lambda: served.files("bob", "Sent"), 5, "a copy in .Sent")
        sent = served.files("bob", "Sent")
        (copy,) = sent
        assert sent[copy] == "S"
        assert served.path("bob", "Sent", copy).read_bytes() == served.path("bob", "INBOX", opened).read_bytes()
        assert served.uids("bob", "Sent") == {copy: 1}

        # quit: mutt exits 0 and nothing in the INBOX moved or renumbered
        keys("q")
        wait_for(status.exists, 10, "mutt to exit")
        assert status.read_text().strip() == "0"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=10)
    assert served.uids("bob") == uids
    # on leaving the mailbox mutt marks the unread one "old" with the keyword Old (mark_old): keyword letter a
    assert served.files("bob") == {opened: "S", other: "a"}
    assert (served.box("bob") / "dovecot-keywords").read_text() == "0 Old\n"
    assert os.listdir(served.box("bob", "Sent") / "cur") == [copy + ":2,S"]
