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
from agentmail.remote.settings import Settings
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.remotehome import Machine, Machines
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


def bare_mirror(alice: Machine) -> tuple[Mirror, Settings, list[str]]:
    """The mirror of alice's home, its sync process stopped so the test's passes are the only ones; and its log."""
    alice.stop_sync()
    cfg = config.load(str(alice.home))
    settings = remote_settings.load(cfg)
    assert settings is not None
    said: list[str] = []
    return Mirror(cfg, settings, said.append, set), settings, said


def test_a_pass_after_one_that_left_inbox_selected_sees_the_new_mail(store: tuple[Store, Dovecot, Serve],
                                                                      machine: Machines) -> None:
    server, dovecot, serve = store
    alice = machine("alice")
    alice.connect(f"imap://127.0.0.1:{dovecot.port}", f"smtp://127.0.0.1:{serve.smtp_port}",
                  server.passwords["alice"]).ok()
    mirror, settings, said = bare_mirror(alice)
    imap = open_imap(settings)
    try:
        server.send("bob", "alice", "the first")
        give(dovecot)  # Dovecot runs as the mail user: what root delivered must be its
        assert mirror.sync(imap, ("INBOX",)) == 1  # selects INBOX, fetches the first and leaves INBOX selected
        assert alice.with_title("the first")
        mirror.sync(imap, ("INBOX",))  # agreed with the server (the pass before changed things: it looks again)
        server.send("bob", "alice", "the second")  # into the Maildir, behind the selected session's back
        give(dovecot)
        assert mirror.sync(imap, ("INBOX",)) == 1, said
        assert alice.with_title("the second")
        for _ in range(2):  # every folder, one after another, twice: each leaves the one before it
            mirror.sync(imap, full=True)
        assert not [line for line in said if "cannot look" in line], said
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


def test_a_home_moved_from_agentmail_serve_to_dovecot_on_the_same_tree_still_sees_flag_changes(
        tmp_path: Path, machine: Machines) -> None:
    """agentmail serve counts mod-sequences from the clock, Dovecot from 1; the same tree keeps its UIDVALIDITY, so
    a mirror that asked Dovecot for what changed since serve's mod-sequence would be told nothing."""
    need_dovecot()
    server = make_store(tmp_path / "server")
    serve = Serve.start(server)
    dovecot = Dovecot(server.home, index_on_disk=True)  # permanent mod-sequences: CHANGEDSINCE is offered
    try:
        alice = machine("alice")
        alice.connect(f"imap://127.0.0.1:{serve.imap_port}", f"smtp://127.0.0.1:{serve.smtp_port}",
                      server.passwords["alice"]).ok()
        mirror, settings, _ = bare_mirror(alice)
        server.send("bob", "alice", "flag me")
        imap = open_imap(settings)
        try:
            mirror.sync(imap, ("INBOX",))
            mirror.sync(imap, ("INBOX",))  # agreed: serve's HIGHESTMODSEQ kept
        finally:
            close_imap(imap)
        assert mirror.states["INBOX"].modseq > 10**9
        (fresh,) = alice.with_title("flag me")
        fresh.rename(alice.box() / "cur" / f"{fresh.name}:2,")  # announced, as the prompt hook does
        serve.stop()
        give(dovecot)
        dovecot.start()
        person = open_imap(settings.__class__(remote_settings.parse_url(f"imap://127.0.0.1:{dovecot.port}", "imap"),
                                              settings.smtp, settings.user, settings.domain, settings.password,
                                              None, False))
        try:
            person.select_folder("INBOX")
            person.add_flags(person.search("ALL"), [b"\\Flagged"])
            mirror.sync(person, ("INBOX",))  # the mirror's own pass, now through Dovecot
        finally:
            close_imap(person)
        (path,) = alice.with_title("flag me")
        assert "F" in path.name.rsplit(":2,", 1)[1], path.name
    finally:
        serve.stop()
        dovecot.stop()
