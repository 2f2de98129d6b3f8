"""SORT, THREAD and ESEARCH in the session: transcripts over the in-memory backend, the pauses that let other
clients in while headers are read, and the sort fields kept per UID so a second SORT reads nothing."""

from __future__ import annotations

from typing import Any

from agentmail.imap.protocol import response as r
from agentmail.imap.session.session import Session
from tests.imap.session.test_session import Client
from tests.imap.session.test_stream import CountingBackend, command


def mailbox(backend: Any, count: int) -> None:
    for i in range(count):
        subject = f"Re: item {count - i:03d}" if i % 2 else f"item {count - i:03d}"
        backend.deliver("bob", "INBOX", f"Subject: {subject}\r\nMessage-ID: <m{i}@x>\r\n"
                        f"Date: {i % 28 + 1} Jun 2024 10:00 +0000\r\n\r\nbody {'x' * 10 * i}\r\n".encode())


def test_transcript(memory_backend: Any) -> None:
    mailbox(memory_backend, 4)
    client = Client(memory_backend)
    client.login()
    client.send(b"s SELECT INBOX\r\n")
    assert client.send(b"a SORT (SUBJECT) UTF-8 ALL\r\n") == b"* SORT 4 3 2 1\r\na OK SORT completed\r\n"
    assert client.send(b"b UID SORT (REVERSE SIZE) UTF-8 NOT SUBJECT 1\r\n") == (
        b"* SORT 3 2 1\r\nb OK UID SORT completed\r\n")
    assert client.send(b"c THREAD ORDEREDSUBJECT UTF-8 ALL\r\n") == (
        b"* THREAD (1)(2)(3)(4)\r\nc OK THREAD completed\r\n")
    assert client.send(b"d THREAD REFERENCES US-ASCII SUBJECT item\r\n") == (
        b"* THREAD (1)(2)(3)(4)\r\nd OK THREAD completed\r\n")
    assert client.send(b"e SEARCH RETURN (COUNT MAX) SUBJECT re\r\n") == (
        b'* ESEARCH (TAG "e") MAX 4 COUNT 2\r\ne OK SEARCH completed\r\n')
    assert client.send(b"f SORT (DATE) KOI8-R ALL\r\n") == (
        b"f NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R\r\n")


def test_headers_are_read_once_per_uid_with_pauses_between(memory_backend: Any) -> None:
    mailbox(memory_backend, 30)
    backend = CountingBackend(memory_backend)
    session = Session(backend)
    session.handle(command(b"a LOGIN bob pw\r\n"))
    session.handle(command(b"b SELECT INBOX\r\n"))
    out = list(session.stream(command(b"c SORT (SUBJECT) UTF-8 ALL\r\n")))
    assert backend.reads == 30
    assert sum(isinstance(x, r.Pause) for x in out) >= 30  # the worker is free between two files
    assert out[-2].to_bytes().startswith(b"* SORT 30 29 28")
    out = list(session.stream(command(b"d THREAD REFERENCES UTF-8 ALL\r\n")))
    assert backend.reads == 30  # the fields of every UID are kept: nothing read again
    memory_backend.deliver("bob", "INBOX", b"Subject: a late one\r\n\r\nx\r\n")
    session.handle(command(b"e NOOP\r\n"))
    out = list(session.stream(command(b"f SORT (SUBJECT) UTF-8 ALL\r\n")))
    assert backend.reads == 31 and out[-2].to_bytes().startswith(b"* SORT 31 30 29")
    out = list(session.stream(command(b"g SORT (ARRIVAL SIZE) UTF-8 ALL\r\n")))  # no header needed at all
    assert backend.reads == 31


def test_create_with_a_special_use_is_refused(memory_backend: Any) -> None:
    client = Client(memory_backend)
    client.login()
    assert client.send(b"a CREATE Drafts (USE (\\Drafts))\r\n") == (
        b"a NO [USEATTR] Special-use attributes cannot be given to new mailboxes here\r\n")
    assert b"Drafts" not in client.send(b'b LIST "" "*"\r\n')
