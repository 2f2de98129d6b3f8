"""fetchmail in IDLE mode: a postcard sent while it waits is delivered to its MDA within seconds; `keep` leaves the
server's copy in place (marked \\Seen)."""

from __future__ import annotations

import getpass
import signal
import subprocess
from pathlib import Path

from tests.imap.clients.conftest import Served, wait_for
from tests.support.tools import need

RC = """poll 127.0.0.1 service {port} protocol IMAP auth password user "{user}" password "{password}" is "{local}" here
  folder INBOX keep fetchall idle sslproto '' mda "/bin/sh -c 'cat >> {out}'"
"""


def test_fetchmail_idle_receives_a_postcard(served: Served, tmp_path: Path) -> None:
    fetchmail = need("fetchmail")["fetchmail"]
    waiting = served.send("alice", "bob", "Already waiting", "delivered before fetchmail started")
    user, password = served.login("bob")
    out = tmp_path / "fetched.mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(RC.format(port=served.imap_port, user=user, password=password, local=getpass.getuser(), out=out))
    rc.chmod(0o600)
    home = tmp_path / "fetchmail-home"  # .fetchids and the pid file go here, not in the real home
    home.mkdir()
    log = tmp_path / "fetchmail.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen([fetchmail, "-f", str(rc), "-v", "--nosyslog", "--nodetach"],
                                env={**served.env, "FETCHMAILHOME": str(home), "HOME": str(home)},
                                stdout=log_fh, stderr=subprocess.STDOUT)
    try:
        def log_text() -> str:
            assert proc.poll() is None, log.read_text(errors="replace")
            return log.read_text(errors="replace")

        # the first poll fetches what is there, then fetchmail sits in IDLE
        wait_for(lambda: "+ idling" in log_text(), 15, "fetchmail to enter IDLE")
        assert b"Subject: Already waiting" in out.read_bytes()

        base = served.send("alice", "bob", "Pushed while idling", "IDLE brought me here")
        wait_for(lambda: out.exists() and b"Subject: Pushed while idling" in out.read_bytes(), 5,
                 "the postcard in fetchmail's MDA output\n" + log.read_text(errors="replace"))
        assert b"IDLE brought me here" in out.read_bytes()
        # it came through the IDLE wake-up: the server pushed EXISTS, fetchmail answered DONE and fetched
        after_idle = log_text().split("+ idling", 1)[1]
        assert "IMAP< * 2 EXISTS\nfetchmail: IMAP> DONE\n" in after_idle, after_idle
        # fetchmail stores \Seen after its MDA took the message (the mbox can show it first): wait for that
        wait_for(lambda: served.files("bob").get(base) == "S", 30,
                 "fetchmail to mark the pushed postcard \\Seen\n" + log.read_text(errors="replace"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise AssertionError("fetchmail did not stop on SIGTERM") from None
    assert "terminated with signal 15" in log.read_text(errors="replace")
    # keep: both postcards are still on the server; fetchmail marked what it fetched \Seen
    files = served.files("bob")
    assert set(files) == {waiting, base}
    assert files[base] == "S" and files[waiting] == "S"
