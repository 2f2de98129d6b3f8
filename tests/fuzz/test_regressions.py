"""Bugs the fuzzers found, each as the shortest input that shows it, replayed through the real parser and
session over a real Maildir store (tests/fuzz/imapfuzz.py `replay`). Open ones are strict xfails listed in
tests/fuzz/known.py; when a fix lands the test XPASSes and fails the run: drop the mark and the known.py line. The
ones below are fixed and stay as regression tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentmail.imap.protocol.errors import ImapBad
from agentmail.imap.protocol.seqset import SequenceSet
from tests.fuzz.imapfuzz import ImapFuzzer
from tests.fuzz.world import World


@pytest.fixture
def fuzzer(tmp_path: Path) -> ImapFuzzer:
    return ImapFuzzer(World(tmp_path / "home", size=5), seed=1)


def literal(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


def test_fetch_header_fields_with_8bit_name(fuzzer: ImapFuzzer) -> None:
    # a quoted (or literal) header name with a byte that is not UTF-8: the parser keeps it as a surrogate escape
    stats = fuzzer.replay([b"a SELECT INBOX\r\n", b'b FETCH 1 BODY.PEEK[HEADER.FIELDS ("\xff")]\r\n'])
    assert dict(stats.counts) == {}


def test_search_sent_date_with_huge_year(fuzzer: ImapFuzzer) -> None:
    message = b"Date: Mon, 3 Jun 99999999999999999999 10:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\n"
    stats = fuzzer.replay([b"a APPEND INBOX " + literal(message) + b"\r\n", b"b SELECT INBOX\r\n",
                           b"c SEARCH SENTSINCE 1-Jan-2000\r\n", b"d SEARCH SENTBEFORE 1-Jan-2000\r\n"])
    assert dict(stats.counts) == {}
    assert stats.replies["NO"] == 0


def test_sequence_set_of_unicode_digits() -> None:
    for text in ("²", "1:²", "١"):
        with pytest.raises(ImapBad):
            SequenceSet.parse(text)


def test_search_header_with_8bit_name(fuzzer: ImapFuzzer) -> None:
    # an 8-bit field name through SEARCH HEADER (mime.Part.field): no match, never SERVERBUG
    stats = fuzzer.replay([b"a SELECT INBOX\r\n", b'b SEARCH HEADER "\xff" "x"\r\n',
                           b'c UID SEARCH HEADER "x\xfe" ""\r\n'])
    assert dict(stats.counts) == {}
    assert stats.replies["NO"] == 0


def test_idle_on_a_deleted_mailbox(fuzzer: ImapFuzzer) -> None:
    stats = fuzzer.replay([b"a CREATE Fuzz\r\n", b"b SELECT Fuzz\r\n", b"c DELETE Fuzz\r\n", b"d IDLE\r\n",
                           b"DONE\r\n", b"e NOOP\r\n"])
    assert dict(stats.counts) == {}


def test_rename_onto_existing_children(fuzzer: ImapFuzzer) -> None:
    stats = fuzzer.replay([b"a CREATE Foo\r\n", b"b CREATE Foo/Sub\r\n", b"c CREATE Bar/Sub\r\n",
                           b"d RENAME Foo Bar\r\n"])
    assert dict(stats.counts) == {}
    names = sorted(os.listdir(fuzzer.world.box("bob")))
    # refused whole (ALREADYEXISTS) or done whole: never .Foo renamed while .Foo.Sub stays
    assert (".Foo" in names) == (".Foo.Sub" in names), names


def test_selected_mailbox_deleted_by_another_session_during_idle(fuzzer: ImapFuzzer) -> None:
    # bob's Fuzz folder goes away under an IDLE (another session, or the agent's own CLI): DONE gets a BYE, as
    # Dovecot's "Selected mailbox was deleted, have to disconnect", never SERVERBUG
    import shutil

    from agentmail.imap.maildir.backend import MaildirBackend
    from tests.imap.session.test_session import Client

    client = Client(MaildirBackend(fuzzer.world.cfg))
    client.login("bob", fuzzer.world.passwords["bob"])
    assert client.send(b"a CREATE Fuzz\r\n").endswith(b"a OK CREATE completed\r\n")
    assert b"b OK [READ-WRITE]" in client.send(b"b SELECT Fuzz\r\n")
    assert client.send(b"c IDLE\r\n").endswith(b"+ idling\r\n")
    shutil.rmtree(os.path.join(fuzzer.world.box("bob"), ".Fuzz"))
    done = client.send(b"DONE\r\n")
    assert done == b"* BYE Selected mailbox was deleted, have to disconnect\r\n" and client.session.closed


def test_search_header_with_non_ascii_charset_name(fuzzer: ImapFuzzer) -> None:
    message = b"Subject: =?utf-8\xc3\xa9?q?x?=\r\n\r\nbody\r\n"
    stats = fuzzer.replay([b"a APPEND INBOX " + literal(message) + b"\r\n", b"b SELECT INBOX\r\n",
                           b"c SEARCH SUBJECT x\r\n", b"d SEARCH TEXT x\r\n"])
    assert dict(stats.counts) == {}


def test_login_with_8bit_password(fuzzer: ImapFuzzer) -> None:
    stats = fuzzer.replay([b'a LOGIN bob "\xff"\r\n', b"b LOGIN bob {1+}\r\n\xfe\r\n"], account="")
    assert dict(stats.counts) == {}
