"""Who a message says it is from: over SMTP exactly one mailbox, the login's own, may stand in From (and in Sender),
whatever the syntax. Each case sends the exact header bytes through a running `agentmail serve` as alice; a
refusal stores nothing and leaves the session usable, an accepted message is stored byte for byte."""

from __future__ import annotations

import pytest

from agentmail.errors import DataError
from agentmail.format.submission import is_plain, mailboxes
from agentmail.store import passwd, registry
from tests.smtp.conftest import Server, lf, marker, start_server, strip_trace
from tests.smtp.wire import Raw
from tests.support.store import Store

OWN = b"alice@agents.localhost"


def letter(head: bytes, tag: str) -> bytes:
    """A message with the header fields `head` (CRLF lines, From/Sender among them) and a unique Subject."""
    return (head + b"To: carol@agents.localhost\r\nSubject: " + tag.encode() + b"\r\n"
            b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <" + tag.encode() + b"@test>\r\n"
            b"\r\nbody\r\n")


REFUSED = [
    # (the header fields, the reply code, a piece of the reply text)
    (b"From: bob@agents.localhost, A <alice@agents.localhost>\r\n", b"550 5.7.1",
     b"From: <bob@agents.localhost> is not alice@agents.localhost"),  # the case: bob shown as author
    (b"From: A <alice@agents.localhost>, bob@agents.localhost\r\n", b"550 5.7.1", b"<bob@agents.localhost>"),
    (b"From: alice@agents.localhost, alice@agents.localhost\r\n", b"554 5.6.0", b"names 2 mailboxes"),
    (b"From: x: bob@agents.localhost;\r\n", b"554 5.6.0", b"group syntax"),
    (b"From: x: alice@agents.localhost;\r\n", b"554 5.6.0", b"group syntax"),
    (b"From: undisclosed-recipients:;\r\n", b"554 5.6.0", b"group syntax"),
    (b"From: alice@agents.localhost\r\nFrom: bob@agents.localhost\r\n", b"554 5.6.0", b"2 From: fields"),
    (b"From: alice@agents.localhost\r\nFrom: alice@agents.localhost\r\n", b"554 5.6.0", b"2 From: fields"),
    (b"From: =?utf-8?q?=3Cbob=40agents=2Elocalhost=3E?= <alice@agents.localhost>\r\n", b"554 5.6.0",
     b"contains '<' or '>'"),
    (b'From: "<bob@agents.localhost>" <alice@agents.localhost>\r\n', b"554 5.6.0", b"contains '<' or '>'"),
    (b"From: alice@agents.localhost (<bob@agents.localhost>)\r\n", b"554 5.6.0", b"contains '<' or '>'"),
    (b"From: alice@agents.localhost <bob@agents.localhost>\r\n", b"554 5.6.0", b"not a valid mailbox list"),
    (b"From: bob@agents.localhost\r\n", b"550 5.7.1", b"<bob@agents.localhost> is not alice@agents.localhost"),
    (b"From: =?utf-8?q?alice?= <bob@agents.localhost>\r\n", b"550 5.7.1", b"<bob@agents.localhost>"),
    (b"From: alice@agents.localhost\r\nSender: bob@agents.localhost\r\n", b"550 5.7.1",
     b"Sender: <bob@agents.localhost> is not alice@agents.localhost"),
    (b"From: alice@agents.localhost\r\nSender: alice@agents.localhost, bob@agents.localhost\r\n", b"550 5.7.1",
     b"Sender: <bob@agents.localhost>"),
    (b"From: alice@agents.localhost\r\nSender: alice@agents.localhost\r\nSender: alice@agents.localhost\r\n",
     b"554 5.6.0", b"2 Sender: fields"),
    (b"From: alice@agents.localhost\r\nSender: \r\n", b"554 5.6.0", b"Sender: '' refused: it is empty"),
    (b"From: \r\n", b"554 5.6.0", b"From: '' refused: it is empty"),
    (b"From: <>\r\n", b"554 5.6.0", b"not a valid mailbox list"),
    (b"Subject: none\r\n", b"554 5.6.0", b"no From: header"),
    (b"From: Al\xffice <alice@agents.localhost>\r\n", b"554 5.6.0", b"not valid UTF-8"),
    (b"From: alice@agents.localhost\r\nX-Note: a\rFrom: bob@agents.localhost\r\n", b"554 5.6.0",
     b"CR that does not end a line"),
    (b"From: alice@agents.localhost\r\nX-Note: a\x00b\r\n", b"554 5.6.0", b"NUL byte"),
    (b"From: alice@agents.localhost.evil.com\r\n", b"550 5.7.1", b"<alice@agents.localhost.evil.com>"),
]


@pytest.mark.parametrize(("head", "code", "text"), REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_refused_and_nothing_stored(server: Server, head: bytes, code: bytes, text: bytes) -> None:
    tag = marker()
    before = server.store.journal_count()
    with Raw(server) as raw:
        raw.auth("alice")
        reply = raw.submit(letter(head, tag), sender="alice", rcpts=("carol",))
        assert reply.startswith(code) and text in reply, reply
        assert reply.count(b"\r\n") == 1 and all(32 <= c < 127 for c in reply[:-2])  # one printable line
        assert raw.cmd(b"NOOP").startswith(b"250")  # the session goes on
    assert server.store.find("carol", tag) == [] and server.store.journal_count() == before


ACCEPTED = [
    b"From: alice@agents.localhost\r\n",
    b"From: Alice Liddell <alice@agents.localhost>\r\n",
    b'From: "bob@agents.localhost" <alice@agents.localhost>\r\n',  # a display name, not a mailbox
    b"From: =?utf-8?q?bob=40agents=2Elocalhost?= <alice@agents.localhost>\r\n",  # the same, encoded
    b"From: =?utf-8?b?w4RsaWNl?= <alice@agents.localhost>\r\n",  # "Älice"
    b"From: \xc3\x84lice <alice@agents.localhost>\r\n",  # RFC 6532 UTF-8 display name
    b"From: alice@agents.localhost (bob@agents.localhost)\r\n",  # a comment, shown at most as a name
    b'From: "Liddell, Alice" <alice@agents.localhost>\r\n',
    b"From: Alice <ALICE@Agents.Localhost>\r\n",
    b"From: Alice\r\n <alice@agents.localhost>\r\n",  # folded
    b"From: alice@agents.localhost\r\nSender: Alice <alice@agents.localhost>\r\n",
]


@pytest.mark.parametrize("head", ACCEPTED, ids=[str(i) for i in range(len(ACCEPTED))])
def test_own_mailbox_accepted_byte_exact(server: Server, head: bytes) -> None:
    tag = marker()
    data = letter(head, tag)
    with Raw(server) as raw:
        raw.auth("alice")
        assert raw.submit(data, sender="alice", rcpts=("carol",)).startswith(b"250 ")
    assert strip_trace(server.store.only("carol", tag)) == lf(data)


def test_refusal_then_good_message_on_one_connection(server: Server) -> None:
    tag = marker()
    with Raw(server) as raw:
        raw.auth("alice")
        bad = letter(b"From: bob@agents.localhost, A <alice@agents.localhost>\r\n", tag + "-bad")
        assert raw.submit(bad, sender="alice", rcpts=("carol",)).startswith(b"550")
        good = letter(b"From: A <alice@agents.localhost>\r\n", tag + "-good")
        assert raw.submit(good, sender="alice", rcpts=("carol",)).startswith(b"250")
    assert server.store.find("carol", tag + "-bad") == [] and len(server.store.find("carol", tag + "-good")) == 1


@pytest.mark.parametrize(("value", "plain"), [
    ("alice@agents.localhost", True),
    ("Alice Liddell <alice@agents.localhost>", True),
    ("\u00c4lice <alice@agents.localhost>", True),
    ("bob@agents.localhost, A <alice@agents.localhost>", False),  # ',' and '@' are not atext
    ("x: bob@agents.localhost; <alice@agents.localhost>", False),
    ('"bob" <alice@agents.localhost>', False),
    ("=?utf-8?q?=3Cbob=40x=3E?= <alice@agents.localhost>", False),  # atext, but an encoded word
    ("(bob@agents.localhost) <alice@agents.localhost>", False),
    ("B\udcffob <alice@agents.localhost>", False),  # a byte that was not UTF-8
    ("Al\u202eice <alice@agents.localhost>", False),  # a bidi override is not printable
    ("alice@agents.localhost ", False),
])
def test_fast_path_only_takes_what_it_can_read(value: str, plain: bool) -> None:
    assert is_plain(value, "alice@agents.localhost") is plain
    if plain:
        assert mailboxes(value) == ["alice@agents.localhost"]  # the fast path agrees with the parser


@pytest.mark.parametrize(("value", "why"), [
    ("", "empty"), ("  ", "empty"), ("x:;", "group"), ("alice", "not a valid mailbox list"),
    ("Alice <alice@agents.localhost", "not a valid mailbox list"),
    ("alice@agents.localhost\rFrom: bob@agents.localhost", "not a valid mailbox list"),
    ("Alice (a comment with a \\) <bob@x>) <alice@agents.localhost>", "'<' or '>'"),
])
def test_mailboxes_refusals(value: str, why: str) -> None:
    with pytest.raises(DataError) as err:
        mailboxes(value)
    assert why in str(err.value)


def test_mailboxes_reads_obsolete_but_unambiguous_syntax() -> None:
    assert mailboxes("alice@agents.localhost, ") == ["alice@agents.localhost"]  # RFC 5322 4.4 obs-mbox-list
    assert mailboxes("<@relay.example:alice@agents.localhost>") == ["alice@agents.localhost"]  # obs-route
    assert mailboxes('"a \\" b" <alice@agents.localhost>') == ["alice@agents.localhost"]


def test_old_name_after_rename_is_still_own(fresh_store: Store) -> None:
    """A renamed account's old address is an alias of it: the login may use it in From, others may not."""
    registry.rename_account(fresh_store.cfg, "alice", "alicia")
    fresh_store.passwords["alicia"] = passwd.password_for(fresh_store.cfg, "alicia")
    server = start_server(fresh_store)
    try:
        tag = marker()
        with Raw(server) as raw:
            raw.auth("alicia")
            data = letter(b"From: Alice <alice@agents.localhost>\r\n", tag)
            assert raw.submit(data, sender="alicia", rcpts=("carol",)).startswith(b"250")
        with Raw(server) as raw:
            raw.auth("bob")
            reply = raw.submit(letter(b"From: alice@agents.localhost\r\n", tag + "-b"), sender="bob", rcpts=("carol",))
            assert reply.startswith(b"550 5.7.1 From: <alice@agents.localhost> is not bob@agents.localhost")
    finally:
        assert server.stop() == 0
    assert strip_trace(fresh_store.only("carol", tag)) == lf(data) and fresh_store.find("carol", tag + "-b") == []


def test_overlong_or_hostile_from_refused(server: Server) -> None:
    """The parser is quadratic on some inputs: a From it would have to read that is longer than one line (998) is
    refused unread, and a hostile one within it (a run of quotes costs the parser ~0.1 s) is refused after
    parsing, off the event loop. (A long plain `Name <own>` needs no parser and is accepted.)"""
    tag = marker()
    with Raw(server) as raw:
        raw.auth("alice")
        long_name = b'From: "' + b"A" * 1000 + b'" <alice@agents.localhost>\r\n'
        reply = raw.submit(letter(long_name, tag), sender="alice", rcpts=("carol",))
        assert reply.startswith(b"554 5.6.0 From: is 1027 characters long; one mailbox needs at most 998"), reply
        hostile = b"From: " + b'"' * 990 + b"\r\n"
        assert raw.submit(letter(hostile, tag), sender="alice", rcpts=("carol",)).startswith(b"554 5.6.0 From:")
        assert raw.cmd(b"NOOP").startswith(b"250")
    assert server.store.find("carol", tag) == []


@pytest.mark.parametrize(("frm", "code"), [(b"Alice <alice@agents.localhost>", b"250"),
                                           (b"bob@agents.localhost", b"550"),
                                           (b'"Liddell, Alice" <alice@agents.localhost>', b"250")])
def test_big_header_checked_in_a_worker(server: Server, frm: bytes, code: bytes) -> None:
    """A 2 MiB header (past the size checked on the event loop) with the From field last."""
    tag = marker()
    head = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 60) for i in range(30_000)) + b"From: " + frm + b"\r\n"
    data = letter(head, tag)
    with Raw(server) as raw:
        raw.auth("alice")
        assert raw.submit(data, sender="alice", rcpts=("carol",)).startswith(code)
    if code == b"250":
        assert strip_trace(server.store.only("carol", tag)) == lf(data)
    else:
        assert server.store.find("carol", tag) == []
