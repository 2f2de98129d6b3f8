"""Hostile and odd input to the sans-IO layer (issue 8): every one gets a protocol reply, never an exception,
and only protocol errors are BAD; a bug of ours is NO [SERVERBUG] with its traceback in the log."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmail.imap.connection import take
from agentmail.imap.message.search import SearchMessage, compile_key
from agentmail.imap.protocol import commands as c
from agentmail.imap.protocol import utf7
from agentmail.imap.protocol.errors import ImapNo
from agentmail.imap.protocol.events import ParseError
from agentmail.imap.protocol.grammar import parse_command
from agentmail.imap.protocol.parser import CommandParser
from agentmail.imap.protocol.searchkeys import MAX_KEYS, SSeq
from agentmail.imap.protocol.seqset import SequenceSet
from agentmail.imap.session.backend import MailboxInfo, MailboxState
from agentmail.imap.session.listing import list_attributes, parents, with_parents
from agentmail.imap.session.selected import BATCH
from tests.imap.conftest import MemoryBackend
from tests.imap.session.test_session import POSTCARD, Client


@pytest.fixture
def bob(memory_backend: MemoryBackend) -> Client:
    cl = Client(memory_backend)
    cl.backend.deliver("bob", "INBOX", POSTCARD)
    cl.login()
    return cl


# ---------------------------------------------------------------- a sequence set on an empty mailbox

@pytest.mark.parametrize(("command", "reply"), [
    # Dovecot 2.3: a message sequence set is BAD when there are no messages, "*" included; UID forms are OK
    (b"FETCH * FLAGS", b"BAD No messages in the mailbox"),
    (b"FETCH 1:* FLAGS", b"BAD No messages in the mailbox"),
    (b"FETCH 1 FLAGS", b"BAD No messages in the mailbox"),
    (b"STORE * +FLAGS (\\Seen)", b"BAD No messages in the mailbox"),
    (b"COPY * INBOX", b"BAD No messages in the mailbox"),
    (b"MOVE * INBOX", b"BAD No messages in the mailbox"),
    (b"UID FETCH * FLAGS", b"OK UID FETCH completed"),
    (b"UID FETCH 1:* FLAGS", b"OK UID FETCH completed"),
    (b"UID STORE * +FLAGS (\\Seen)", b"OK UID STORE completed"),
    (b"UID COPY * INBOX", b"OK UID COPY completed (no messages)"),
    (b"UID MOVE 1:* INBOX", b"OK UID MOVE completed (no messages)"),
    (b"UID EXPUNGE *", b"OK UID EXPUNGE completed"),
])
def test_star_on_an_empty_mailbox(bob: Client, command: bytes, reply: bytes) -> None:
    assert bob.send(b"s SELECT Archive\r\n").endswith(b"s OK [READ-WRITE] SELECT completed\r\n")
    assert bob.send(b"t " + command + b"\r\n") == b"t " + reply + b"\r\n"


@pytest.mark.parametrize(("command", "verb"), [(b"SEARCH *", b"SEARCH"), (b"UID SEARCH *", b"UID SEARCH"),
                                             (b"SEARCH UID *", b"SEARCH"), (b"SEARCH 1:* NOT *", b"SEARCH")])
def test_search_star_on_an_empty_mailbox(bob: Client, command: bytes, verb: bytes) -> None:
    bob.send(b"s SELECT Archive\r\n")
    assert bob.send(b"t " + command + b"\r\n") == b"* SEARCH\r\nt OK " + verb + b" completed\r\n"


# ---------------------------------------------------------------- 8-bit and broken modified UTF-7 names

@pytest.mark.parametrize("name", ['"&\xc3\xa9-"', '"\xc3\xa9"', '"&-\xc3\xa9"', '"&Jjo"', '"&AGE-"', '"&Jj=-"',
                                  '"&Jj/-"', '{4}\r\n\xff\xfe&-'])
@pytest.mark.parametrize("verb", ["SELECT", "EXAMINE", "CREATE", "DELETE", "SUBSCRIBE", "STATUS"])
def test_bad_utf7_names_are_refused(bob: Client, verb: str, name: str) -> None:
    """8-bit bytes in a name (no UTF8=ACCEPT here) are NO, as Dovecot ("Mailbox name is not valid mUTF-7")."""
    tail = " (MESSAGES)" if verb == "STATUS" else ""
    out = bob.send(f"a {verb} {name}{tail}\r\n".encode("latin-1")).removeprefix(b"+ Ready\r\n")  # literal
    assert out.startswith(b"a NO [CANNOT] Invalid mailbox name: "), out
    assert out.isascii() and out.count(b"\r\n") == 1
    assert bob.send(b"b NOOP\r\n") == b"b OK NOOP completed\r\n"  # the connection goes on


@pytest.mark.parametrize("pattern", ['"&\xc3\xa9-"', '"\xc3\xa9*"', '"&Jjo*"', '"*&AGE-"'])
def test_list_with_a_bad_utf7_pattern_lists_nothing(bob: Client, pattern: str) -> None:
    for verb in ("LIST", "LSUB"):
        assert bob.send(f'a {verb} "" {pattern}\r\n'.encode("latin-1")) == f"a OK {verb} completed\r\n".encode()
    assert bob.send('a LIST "&\xc3\xa9-" "*"\r\n'.encode("latin-1")) == b"a OK LIST completed\r\n"


@pytest.mark.parametrize("wire", ["&\xe9-", "&\udcc3\udca9-", "&Jj/-", "&Jj=-", "&Jjo", "\x7f", "a\r\nb", "&-\xe9"])
def test_utf7_decode_raises_only_its_own_error(wire: str) -> None:
    with pytest.raises(utf7.Utf7Error) as err:
        utf7.decode(wire)
    assert str(err.value).isascii()


# ---------------------------------------------------------------- only protocol errors are BAD

@pytest.mark.parametrize("command", [
    b'a SEARCH ON "1-Feb-99999999999999999999"', b"a SEARCH SENTON 31-Feb-99999999999999999999",
    b"a SEARCH SINCE 123-Feb-2024", b"a SEARCH BEFORE 1-Feb-24",
])
def test_absurd_dates_are_protocol_errors(command: bytes) -> None:
    event = parse_command(command)
    assert isinstance(event, ParseError)
    assert event.response.to_bytes().startswith(b"a BAD Invalid date "), event.response


def exploding_grammar(data: bytes) -> c.Command | ParseError:
    """The real grammar, except that a command holding BOOM hits a bug (a stand-in for any parser bug)."""
    if b"BOOM" in data:
        raise OverflowError("int too large to convert")
    return parse_command(data)


def test_a_parser_bug_is_serverbug_not_bad(caplog: pytest.LogCaptureFixture) -> None:
    parser = CommandParser(grammar=exploding_grammar)
    with caplog.at_level(logging.ERROR, logger="agentmail.imap"):
        events = parser.feed(b"a SEARCH BOOM\r\nb NOOP\r\n")
    assert len(events) == 2 and events[1] == c.Noop("b")  # parsing goes on with the next command
    assert isinstance(events[0], ParseError) and not events[0].fatal
    wire = events[0].response.to_bytes()
    assert wire.startswith(b"a NO [SERVERBUG] Internal error occurred. Refer to server log for more information. [")
    assert b"BAD" not in wire
    record = next(r for r in caplog.records if r.name == "agentmail.imap")
    assert record.exc_info is not None and record.exc_info[0] is OverflowError  # the traceback is in the log


class BrokenBackend(MemoryBackend):
    """The in-memory backend with one bug: reading message ``bad_uid`` or any state of ``bad_box`` fails."""

    bad_uid = 2
    bad_box = "Archive"

    def message(self, account: str, mailbox: str, uid: int) -> bytes:
        if uid == self.bad_uid:
            raise KeyError(uid)
        return super().message(account, mailbox, uid)

    def state(self, account: str, mailbox: str) -> MailboxState:
        if mailbox == self.bad_box:
            raise ZeroDivisionError("division by zero")
        return super().state(account, mailbox)

    def copy(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        raise RuntimeError("copy failed half-way")


def test_a_session_bug_is_serverbug_and_the_session_stays_usable(caplog: pytest.LogCaptureFixture) -> None:
    cl = Client(BrokenBackend())
    for _ in range(3):
        cl.backend.deliver("bob", "INBOX", POSTCARD)
    cl.login()
    with caplog.at_level(logging.ERROR, logger="agentmail.imap"):
        out = cl.send(b"a SELECT INBOX\r\nb SELECT Archive\r\n")
        assert b"a OK [READ-WRITE]" in out
        assert out.split(b"a OK [READ-WRITE] SELECT completed\r\n")[1].startswith(
            b"* OK [CLOSED] Previous mailbox closed.\r\nb NO [SERVERBUG] Internal error")
        assert cl.session.state == "authenticated" and cl.session.selected is None  # SELECT failed: nothing selected
        assert cl.send(b"c FETCH 1 FLAGS\r\n").startswith(b"c BAD FETCH requires a selected mailbox")
        cl.send(b"d SELECT INBOX\r\n")
        out = cl.send(b"e FETCH 1:3 BODY.PEEK[]\r\nf NOOP\r\n")
    # message 1 went out, message 2 hit the bug: the stream ends with a tagged NO, then the next command runs
    assert out.startswith(b"* 1 FETCH (BODY[] {")
    assert b"* 2 FETCH" not in out and b"e NO [SERVERBUG] Internal error" in out
    assert out.endswith(b"f OK NOOP completed\r\n")
    assert b"BAD" not in out
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ZeroDivisionError, KeyError]
    assert cl.send(b"g COPY 1 Sent\r\n").startswith(b"g NO [SERVERBUG]")


def test_a_bug_after_authenticate_leaves_no_half_state(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenLogin(MemoryBackend):
        def login(self, user: str, password: str) -> str | None:
            raise UnicodeError("bad password encoding")

    cl = Client(BrokenLogin())
    with caplog.at_level(logging.ERROR, logger="agentmail.imap"):
        assert cl.send(b"a AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
        out = cl.send(b"AGJvYgBwdw==\r\n")  # \0bob\0pw
    assert out.startswith(b"a NO [SERVERBUG] Internal error")
    assert cl.session.state == "not-authenticated" and not cl.session.wants_line
    assert cl.send(b"b NOOP\r\n") == b"b OK NOOP completed\r\n"  # parsed as a command, not as a SASL line


# ---------------------------------------------------------------- bounded work per command

def test_search_key_and_depth_limits(bob: Client) -> None:
    bob.send(b"s SELECT INBOX\r\n")
    many = b" ".join(b"UNSEEN" for _ in range(MAX_KEYS))
    assert bob.send(b"a SEARCH " + many + b"\r\n") == b"* SEARCH 1\r\na OK SEARCH completed\r\n"
    assert bob.send(b"b SEARCH " + many + b" SEEN\r\n") == (
        b"b BAD [LIMIT] Too many SEARCH keys (limit 1000)\r\n")
    assert bob.send(b"c SEARCH " + b"NOT " * 101 + b"ALL\r\n") == (
        b"c BAD [LIMIT] SEARCH keys nested too deeply (limit 100)\r\n")
    assert bob.send(b"d SEARCH " + b"(" * 101 + b"ALL" + b")" * 101 + b"\r\n").startswith(b"d BAD [LIMIT]")


def test_list_pattern_limit(bob: Client) -> None:
    pats = " ".join(f"%a{i}*" for i in range(100))
    assert bob.send(f'a LIST "" ({pats})\r\n'.encode()) == b"a OK LIST completed\r\n"
    assert bob.send(f'b LIST "" ({pats} x)\r\n'.encode()) == b"b BAD [LIMIT] Too many LIST patterns (limit 100)\r\n"


bounds = st.one_of(st.none(), st.integers(1, 40))


@settings(max_examples=500, deadline=None)
@given(ranges=st.lists(st.tuples(bounds, bounds), min_size=1, max_size=8), largest=st.integers(0, 40),
       n=st.integers(1, 45), uid=st.booleans())
def test_compiled_sequence_sets_agree(ranges: list[tuple[int | None, int | None]], largest: int, n: int,
                                      uid: bool) -> None:
    """SEARCH bisects merged ranges (a 60,000-range set took 9 s on 10,000 messages): same answers as before."""
    key = SSeq(SequenceSet(tuple(ranges)), uid=uid)
    msg = SearchMessage(n, n, frozenset(), dt.datetime(2024, 1, 1), 1, b"")
    assert compile_key(key, largest, largest)(msg) == key.sequence.contains(n, largest)


@settings(max_examples=500, deadline=None)
@given(ranges=st.lists(st.tuples(bounds, bounds), min_size=1, max_size=8),
       existing=st.lists(st.integers(1, 45), max_size=30), largest=st.one_of(st.none(), st.integers(0, 45)))
def test_filter_bisects_merged_ranges_with_the_same_answers(ranges: list[tuple[int | None, int | None]],
                                                           existing: list[int], largest: int | None) -> None:
    """UID EXPUNGE/STORE filter the mailbox's UIDs by bisecting merged ranges (a 3,000-range UID set over 10,000
    UIDs held the worker for seconds when every UID was tested against every range): the same members as before."""
    seq = SequenceSet(tuple(ranges))
    nums = sorted(set(existing))
    top = largest if largest is not None else (nums[-1] if nums else 0)
    assert seq.filter(nums, largest) == [n for n in nums if seq.contains(n, top)]


def test_parents_agree_with_the_pairwise_test() -> None:
    names = ["INBOX", "A", "A/B/C", "AB", "Agents/bob/INBOX", "Agents/bob/Todo/Later", "x/y", "x"]
    boxes = with_parents([MailboxInfo(n) for n in names])
    having = parents(boxes)
    for box in boxes:
        assert list_attributes(box, boxes, True, having) == list_attributes(box, boxes)


def test_long_commands_pause_and_take_stops_at_its_budget(bob: Client) -> None:
    for i in range(300):
        bob.backend.deliver("bob", "INBOX", POSTCARD.replace(b"Build is green", b"number %d" % i))
    bob.send(b"s SELECT INBOX\r\n")
    for command, last in ((b"a SEARCH TEXT nothing", b"a OK SEARCH completed\r\n"),
                          (b"b COPY 1:* Archive", b"b OK [COPYUID 1003 1:301 1:301] COPY completed\r\n"),
                          (b"c STORE 1:* +FLAGS.SILENT (x)", b"c OK STORE completed\r\n")):
        stream = bob.session.stream(bob.parser.feed(command + b"\r\n")[0])
        # a budget of 0 ends every chunk at the first response: the rest waits for the next turn on the worker
        chunks = []
        while True:
            data, done = take(stream, budget=0)
            chunks.append(data)
            if done:
                break
        assert len(chunks) > 300 // BATCH, command  # many turns, not one
        assert b"".join(chunks).endswith(last)
    assert len(bob.backend.boxes["bob"]["Archive"].messages) == 301
    assert all("x" in m[1] for m in bob.backend.boxes["bob"]["INBOX"].messages.values())


def test_copy_and_move_in_batches(bob: Client) -> None:
    for _ in range(2 * BATCH + 5):
        bob.backend.deliver("bob", "INBOX", POSTCARD)
    n = 2 * BATCH + 6
    bob.send(b"s SELECT INBOX\r\n")
    assert bob.send(b"a COPY 1:* Archive\r\n") == b"a OK [COPYUID 1003 1:%d 1:%d] COPY completed\r\n" % (n, n)
    out = bob.send(b"b MOVE 2:* Sent\r\n")
    assert out.startswith(b"* OK [COPYUID 1002 2:%d 1:%d] Moved\r\n" % (n, n - 1))
    assert out.count(b" EXPUNGE\r\n") == n - 1 and out.endswith(b"b OK MOVE completed\r\n")
    assert bob.send(b"c SEARCH ALL\r\n") == b"* SEARCH 1\r\nc OK SEARCH completed\r\n"


class FailingCopy(MemoryBackend):
    """Copying fails on the second batch (say the disk filled up): a bug-free NO from the backend."""

    calls = 0

    def copy(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        self.calls += 1
        if self.calls == 2:
            raise ImapNo("Cannot copy: No space left on device", "SERVERBUG")
        return super().copy(account, mailbox, uids, dest)


def test_a_copy_failing_half_way_leaves_the_destination_as_it_was() -> None:
    cl = Client(FailingCopy())
    for _ in range(BATCH + 3):
        cl.backend.deliver("bob", "INBOX", POSTCARD)
    cl.login()
    cl.send(b"s SELECT INBOX\r\n")
    assert cl.send(b"a COPY 1:* Archive\r\n") == b"a NO [SERVERBUG] Cannot copy: No space left on device\r\n"
    assert cl.backend.boxes["bob"]["Archive"].messages == {}  # RFC 3501 6.4.7
    assert len(cl.backend.boxes["bob"]["INBOX"].messages) == BATCH + 3
