"""Streaming a command's responses: the session builds them as they are taken, the selected view's
``sync`` is one merge walk (table-driven), and the server's ``take`` cuts the stream into chunks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from agentmail.imap.connection import take
from agentmail.imap.protocol import response as r
from agentmail.imap.protocol.parser import CommandParser
from agentmail.imap.session.backend import MailboxState, MessageInfo
from agentmail.imap.session.selected import SelectedMailbox
from agentmail.imap.session.session import Session

T0 = dt.datetime(2024, 6, 3, 10, 0, tzinfo=dt.timezone.utc)
SEEN = frozenset({"\\Seen"})
NONE: frozenset[str] = frozenset()


def state(*msgs: tuple[int, frozenset[str]]) -> MailboxState:
    return MailboxState(7, (msgs[-1][0] + 1) if msgs else 1, [MessageInfo(u, f, 10, T0) for u, f in msgs])


def command(line: bytes) -> Any:
    parser = CommandParser()
    parser.receive_data(line)
    return parser.next_event()


class CountingBackend:
    """Wraps the in-memory backend and counts message() calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads = 0

    def message(self, account: str, mailbox: str, uid: int) -> bytes:
        self.reads += 1
        data: bytes = self.inner.message(account, mailbox, uid)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_fetch_responses_are_built_as_they_are_taken(memory_backend: Any) -> None:
    for i in range(5):
        memory_backend.deliver("bob", "INBOX", b"Subject: %d\r\n\r\nbody\r\n" % i)
    backend = CountingBackend(memory_backend)
    session = Session(backend)
    session.handle(command(b"a LOGIN bob pw\r\n"))
    session.handle(command(b"b SELECT INBOX\r\n"))
    stream = session.stream(command(b"c FETCH 1:* BODY.PEEK[]\r\n"))
    first = next(stream)
    assert isinstance(first, r.FetchResponse) and first.seq == 1
    assert backend.reads == 1  # the other four messages are not read yet
    rest = list(stream)
    assert backend.reads == 5 and [x.seq for x in rest[:-1]] == [2, 3, 4, 5]  # type: ignore[attr-defined]
    assert rest[-1].to_bytes() == b"c OK FETCH completed\r\n"


def test_an_error_ends_the_stream_with_its_tagged_reply(memory_backend: Any) -> None:
    session = Session(memory_backend)
    session.handle(command(b"a LOGIN bob pw\r\n"))
    session.handle(command(b"b SELECT INBOX\r\n"))
    out = [x.to_bytes() for x in session.stream(command(b"c FETCH 1:3 FLAGS\r\n"))]
    assert out == [b"c BAD No messages in the mailbox\r\n"]


SYNC_CASES = [
    # (view before, state now, expunges allowed, responses, view after)
    ([(1, NONE), (2, NONE)], [(1, NONE), (2, NONE)], True, [], [1, 2]),
    ([(1, NONE), (2, NONE)], [(1, NONE), (2, SEEN)], True,
     [b"* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n"], [1, 2]),
    ([(1, NONE), (2, NONE), (3, NONE)], [(2, NONE)], True,
     [b"* 3 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"], [2]),
    ([(1, NONE), (2, NONE), (3, NONE)], [(2, NONE)], False, [], [1, 2, 3]),
    # flags of a message after an expunged one are reported with its new number
    ([(1, NONE), (2, NONE), (3, NONE)], [(2, NONE), (3, SEEN), (4, NONE)], True,
     [b"* 1 EXPUNGE\r\n", b"* 2 FETCH (UID 3 FLAGS (\\Seen))\r\n", b"* 3 EXISTS\r\n"], [2, 3, 4]),
    ([(1, NONE), (2, NONE), (3, NONE)], [(2, NONE), (3, SEEN), (4, NONE)], False,
     [b"* 3 FETCH (UID 3 FLAGS (\\Seen))\r\n", b"* 4 EXISTS\r\n"], [1, 2, 3, 4]),
    ([], [(5, NONE), (9, SEEN)], True, [b"* 2 EXISTS\r\n"], [5, 9]),
    ([(5, NONE), (9, SEEN)], [], True, [b"* 2 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"], []),
    ([(1, NONE), (4, NONE), (6, NONE)], [(1, SEEN), (6, SEEN), (7, NONE)], True,
     [b"* 2 EXPUNGE\r\n", b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n", b"* 2 FETCH (UID 6 FLAGS (\\Seen))\r\n",
      b"* 3 EXISTS\r\n"], [1, 6, 7]),
]


@pytest.mark.parametrize(("before", "now", "expunges", "expected", "after"), SYNC_CASES)
def test_sync(before: list[tuple[int, frozenset[str]]], now: list[tuple[int, frozenset[str]]], expunges: bool,
              expected: list[bytes], after: list[int]) -> None:
    view = SelectedMailbox("INBOX", False, state(*before))
    out = [x.to_bytes() for x in view.sync(state(*now), expunges)]
    assert out == expected
    assert view.uids == after and len(view.flags) == len(after)
    assert view.sync(view.state, expunges) == []  # the same state again: nothing to say


def test_take_cuts_the_stream_into_chunks() -> None:
    responses = iter([r.exists(n) for n in range(10)])
    chunks = []
    while True:
        data, done = take(responses, limit=30)
        chunks.append(data)
        if done:
            break
    assert b"".join(chunks) == b"".join(b"* %d EXISTS\r\n" % n for n in range(10))
    assert all(len(c) < 30 + 16 for c in chunks) and len(chunks) > 3
    assert take(iter([]), limit=30) == (b"", True)
