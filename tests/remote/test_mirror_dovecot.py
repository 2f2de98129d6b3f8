"""The mirror against Dovecot, pass by pass (no sync process in between): Dovecot answers STATUS for the mailbox a
session has selected from that session's last look at it, so a pass that leaves INBOX selected must not take that
answer for the news (the scale-out benchmark found mail waiting on the server until the next full pass)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from agentmail import config
from agentmail.remote import settings as remote_settings
from agentmail.remote.connect import close_imap, open_imap
from agentmail.remote.mirror import Mirror
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.remotehome import Machines
from tests.support.servers import Serve
from tests.support.store import Store, make_store
from tests.support.wait import until


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, Dovecot, Serve]]:
    need_dovecot()
    found = make_store(tmp_path / "server")
    dovecot = Dovecot(found.home).start()
    serve = Serve.start(found)  # SMTP for `remote set`; Dovecot serves the same tree over IMAP
    try:
        yield found, dovecot, serve
    finally:
        serve.stop()
        dovecot.stop()


def give(dovecot: Dovecot) -> None:
    """The store to Dovecot's mail user after root delivered into it (only the store: Dovecot's own run directory
    keeps the owners its processes gave it)."""
    if dovecot.as_root:
        subprocess.run(["chown", "-R", "vmail:vmail", str(dovecot.home)], check=True)


def test_a_pass_after_one_that_left_inbox_selected_sees_the_new_mail(store: tuple[Store, Dovecot, Serve],
                                                                      machine: Machines) -> None:
    server, dovecot, serve = store
    alice = machine("alice")
    alice.connect(f"imap://127.0.0.1:{dovecot.port}", f"smtp://127.0.0.1:{serve.smtp_port}",
                  server.passwords["alice"]).ok()
    alice.stop_sync()  # the passes below are the only ones
    cfg = config.load(str(alice.home))
    settings = remote_settings.load(cfg)
    assert settings is not None
    said: list[str] = []
    mirror = Mirror(cfg, settings, said.append, set)
    imap = open_imap(settings)
    try:
        server.send("bob", "alice", "the first")
        give(dovecot)  # Dovecot runs as the mail user: what root delivered must be its
        assert mirror.sync(imap, ("INBOX",)) == 1  # selects INBOX, fetches the first and leaves INBOX selected
        assert alice.with_title("the first")
        assert mirror.sync(imap, ("INBOX",)) == 0  # nothing new: STATUS says so, nothing selected again
        server.send("bob", "alice", "the second")  # into the Maildir, behind the selected session's back
        give(dovecot)
        assert mirror.sync(imap, ("INBOX",)) == 1, said
        assert alice.with_title("the second")
    finally:
        close_imap(imap)


def test_the_sync_process_mirrors_each_postcard_as_it_arrives(store: tuple[Store, Dovecot, Serve],
                                                             machine: Machines) -> None:
    """One postcard after another into the server's Maildir: each reaches the mirror through IDLE and an
    incremental pass (the next full pass is ten minutes away), and the process then ends on SIGTERM."""
    server, dovecot, serve = store
    alice = machine("alice")
    alice.connect(f"imap://127.0.0.1:{dovecot.port}", f"smtp://127.0.0.1:{serve.smtp_port}",
                  server.passwords["alice"]).ok()
    alice.wait_sync_pid()
    def mirrored(title: str) -> bool:
        return bool(alice.with_title(title))

    for n in range(4):
        server.send("bob", "alice", f"postcard {n}")
        give(dovecot)
        until(partial(mirrored, f"postcard {n}"), f"postcard {n} mirrored", timeout=25)
    alice.stop_sync()
    assert "a bug" not in alice.log(), alice.log()
