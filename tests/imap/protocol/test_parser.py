"""Table-driven tests of the incremental command parser (framing, grammar, bad input)."""

from __future__ import annotations

import datetime as dt

import pytest

from agentmail.imap.protocol import commands as c
from agentmail.imap.protocol import utf7
from agentmail.imap.protocol.fetchatt import FetchAtt, Section
from agentmail.imap.protocol.parser import CommandParser, NeedContinuation, ParseError, RawLine, parse_command
from agentmail.imap.protocol.searchkeys import SAnd, SDate, SFlag, SHeader, SNot, SOr, SSeq, SSize, SText
from agentmail.imap.protocol.seqset import SequenceSet


def one(line: bytes) -> c.Command:
    events = [e for e in CommandParser().feed(line) if not isinstance(e, NeedContinuation)]
    assert len(events) == 1, events
    cmd = events[0]
    assert isinstance(cmd, c.Command), cmd
    return cmd


def err(line: bytes, **kw: int) -> ParseError:
    events = CommandParser(**kw).feed(line)
    assert events and isinstance(events[0], ParseError), events
    return events[0]


S = SequenceSet.parse

COMMANDS: list[tuple[bytes, c.Command]] = [
    (b"a CAPABILITY", c.Capability("a")),
    (b"A0001.x]} CAPABILITY", c.Capability("A0001.x]}")),
    (b"a capability", c.Capability("a")),
    (b"a NOOP", c.Noop("a")),
    (b"a LOGOUT", c.Logout("a")),
    (b"a STARTTLS", c.StartTls("a")),
    (b"a NAMESPACE", c.Namespace("a")),
    (b"a CHECK", c.Check("a")),
    (b"a CLOSE", c.Close("a")),
    (b"a UNSELECT", c.Unselect("a")),
    (b"a EXPUNGE", c.Expunge("a")),
    (b"a IDLE", c.Idle("a")),
    (b"a ID NIL", c.Id("a", None)),
    (b'a ID ("name" "mutt" "version" NIL)', c.Id("a", (("name", "mutt"), ("version", None)))),
    (b"a ID ()", c.Id("a", ())),
    (b"a ENABLE UTF8=ACCEPT CONDSTORE", c.Enable("a", ("UTF8=ACCEPT", "CONDSTORE"))),
    (b"a LOGIN bob secret", c.Login("a", "bob", "secret")),
    (b'a LOGIN "bob@agents.localhost" "p\\"w\\\\d"', c.Login("a", "bob@agents.localhost", 'p"w\\d')),
    (b"a LOGIN {3}\r\nbob {2}\r\npw", c.Login("a", "bob", "pw")),
    (b"a LOGIN {3+}\r\nbob {2+}\r\npw", c.Login("a", "bob", "pw")),
    (b"a AUTHENTICATE PLAIN", c.Authenticate("a", "PLAIN", None)),
    (b"a AUTHENTICATE plain AGJvYgBwdw==", c.Authenticate("a", "PLAIN", "AGJvYgBwdw==")),
    (b"a AUTHENTICATE PLAIN =", c.Authenticate("a", "PLAIN", "")),
    (b"a SELECT INBOX", c.Select("a", "INBOX")),
    (b"a SELECT inbox", c.Select("a", "INBOX")),
    (b'a SELECT "Agents/bob/Sent"', c.Select("a", "Agents/bob/Sent")),
    (b"a EXAMINE Sent", c.Examine("a", "Sent")),
    # RFC 7162 select parameters
    (b"a SELECT INBOX (CONDSTORE)", c.Select("a", "INBOX", condstore=True)),
    (b"a SELECT INBOX ()", c.Select("a", "INBOX")),
    (b"a EXAMINE INBOX (QRESYNC (67890007 90060115194045000))",
     c.Examine("a", "INBOX", qresync=c.Qresync(67890007, 90060115194045000))),
    (b"a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))",
     c.Select("a", "INBOX", qresync=c.Qresync(67890007, 90060115194045000, S("41:211,214:541")))),
    (b"a SELECT INBOX (QRESYNC (1 8 1:10 (1:3 2:4)) CONDSTORE)",
     c.Select("a", "INBOX", True, c.Qresync(1, 8, S("1:10"), (S("1:3"), S("2:4"))))),
    (b"a SELECT INBOX (QRESYNC (1 8 (1,5 2,9)))", c.Select("a", "INBOX", qresync=c.Qresync(1, 8, None, (S("1,5"),
                                                                                                    S("2,9"))))),
    (b"a CREATE Todo", c.Create("a", "Todo")),
    (b"a CREATE Later (USE (\\Archive))", c.Create("a", "Later", ("\\Archive",))),
    (b"a DELETE Todo", c.Delete("a", "Todo")),
    (b"a RENAME Todo Done", c.Rename("a", "Todo", "Done")),
    (b'a RENAME "a b" {3}\r\nc d', c.Rename("a", "a b", "c d")),
    (b"a SUBSCRIBE Sent", c.Subscribe("a", "Sent")),
    (b"a UNSUBSCRIBE Sent", c.Unsubscribe("a", "Sent")),
    (b'a LIST "" ""', c.List("a", "", ("",))),
    (b'a LIST "" *', c.List("a", "", ("*",))),
    (b"a LIST Agents/ %", c.List("a", "Agents/", ("%",))),
    (b'a LIST "" "Agents/*"', c.List("a", "", ("Agents/*",))),
    (b"a LIST \"\" INBOX]", c.List("a", "", ("INBOX]",))),
    (
        b'a LIST "" "*" RETURN (SPECIAL-USE)',
        c.List("a", "", ("*",), (), ("SPECIAL-USE",), (), True),
    ),
    (
        b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "Sent*") RETURN (CHILDREN SUBSCRIBED)',
        c.List("a", "", ("INBOX", "Sent*"), ("SUBSCRIBED", "RECURSIVEMATCH"), ("CHILDREN", "SUBSCRIBED"), (),
               True),
    ),
    (
        b'a LIST (SPECIAL-USE) "" % RETURN (STATUS (MESSAGES UNSEEN))',
        c.List("a", "", ("%",), ("SPECIAL-USE",), ("STATUS",), ("MESSAGES", "UNSEEN"), True),
    ),
    (b'a LSUB "" *', c.Lsub("a", "", "*")),
    (b"a STATUS Sent (UIDVALIDITY)", c.Status("a", "Sent", ("UIDVALIDITY",))),
    (
        b"a STATUS INBOX (messages recent uidnext uidvalidity unseen)",
        c.Status("a", "INBOX", ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")),
    ),
    (b"a APPEND Sent {5}\r\nhello", c.Append("a", "Sent", (), None, b"hello")),
    (b"a APPEND Sent {5+}\r\nhello", c.Append("a", "Sent", (), None, b"hello")),
    (b"a APPEND Sent (\\Seen $MDNSent) {2}\r\nhi", c.Append("a", "Sent", ("\\Seen", "$MDNSent"), None, b"hi")),
    (b"a APPEND Sent () {2}\r\nhi", c.Append("a", "Sent", (), None, b"hi")),
    (
        b'a APPEND Sent (\\Seen) " 3-Jun-2024 10:00:00 +0200" {2}\r\nhi',
        c.Append("a", "Sent", ("\\Seen",),
                 dt.datetime(2024, 6, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), b"hi"),
    ),
    (
        b'a APPEND Sent "03-Jun-2024 10:00:00 -0700" {2}\r\nhi',
        c.Append("a", "Sent", (), dt.datetime(2024, 6, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
                 b"hi"),
    ),
    (b"a APPEND Sent {4}\r\n\r\n\r\n", c.Append("a", "Sent", (), None, b"\r\n\r\n")),
    (b"a FETCH 1 FLAGS", c.Fetch("a", S("1"), (FetchAtt("FLAGS"),))),
    # RFC 7162: MODSEQ, CHANGEDSINCE (0 allowed, as Dovecot), VANISHED with UID FETCH, 64-bit values
    (b"a FETCH 1 (MODSEQ FLAGS)", c.Fetch("a", S("1"), (FetchAtt("MODSEQ"), FetchAtt("FLAGS")))),
    (b"a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)", c.Fetch("a", S("1:*"), (FetchAtt("FLAGS"),), changedsince=12345)),
    (b"a FETCH 1 FLAGS (changedsince 0)", c.Fetch("a", S("1"), (FetchAtt("FLAGS"),), changedsince=0)),
    (b"a FETCH 1 FLAGS ()", c.Fetch("a", S("1"), (FetchAtt("FLAGS"),))),
    (b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 18446744073709551615 VANISHED)",
     c.Fetch("a", S("1:*"), (FetchAtt("FLAGS"),), True, 18446744073709551615, True)),
    (b"a UID FETCH 1:* FLAGS (VANISHED CHANGEDSINCE 5)", c.Fetch("a", S("1:*"), (FetchAtt("FLAGS"),), True, 5, True)),
    (b"a STORE 1:3 (UNCHANGEDSINCE 200) +FLAGS (\\Seen)",
     c.Store("a", S("1:3"), "+", False, ("\\Seen",), unchangedsince=200)),
    (b"a UID STORE 7 (UNCHANGEDSINCE 0) FLAGS.SILENT ()",
     c.Store("a", S("7"), "", True, (), uid=True, unchangedsince=0)),
    (b"a STATUS Sent (UIDNEXT HIGHESTMODSEQ)", c.Status("a", "Sent", ("UIDNEXT", "HIGHESTMODSEQ"))),
    (b"a FETCH 1:* (UID FLAGS)", c.Fetch("a", S("1:*"), (FetchAtt("UID"), FetchAtt("FLAGS")))),
    (b"a UID FETCH 5:3,9 (UID)", c.Fetch("a", S("5:3,9"), (FetchAtt("UID"),), uid=True)),
    (
        b"a FETCH 1 ALL",
        c.Fetch("a", S("1"), tuple(FetchAtt(n) for n in ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"))),
    ),
    (b"a FETCH 1 fast", c.Fetch("a", S("1"), tuple(FetchAtt(n) for n in ("FLAGS", "INTERNALDATE", "RFC822.SIZE")))),
    (
        b"a FETCH 1 FULL",
        c.Fetch("a", S("1"), tuple(FetchAtt(n) for n in ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                                                         "BODY"))),
    ),
    (
        b"a FETCH 1 (ENVELOPE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE INTERNALDATE)",
        c.Fetch("a", S("1"), tuple(FetchAtt(n) for n in ("ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822",
                                                         "RFC822.HEADER", "RFC822.TEXT", "RFC822.SIZE",
                                                         "INTERNALDATE"))),
    ),
    (b"a FETCH 1 BODY[]", c.Fetch("a", S("1"), (FetchAtt("BODY", Section()),))),
    (b"a FETCH 1 BODY.PEEK[]", c.Fetch("a", S("1"), (FetchAtt("BODY", Section(), peek=True),))),
    (b"a FETCH 1 body.peek[text]", c.Fetch("a", S("1"), (FetchAtt("BODY", Section(text="TEXT"), peek=True),))),
    (b"a FETCH 1 BODY[HEADER]", c.Fetch("a", S("1"), (FetchAtt("BODY", Section(text="HEADER")),))),
    (b"a FETCH 1 BODY[1.2.MIME]", c.Fetch("a", S("1"), (FetchAtt("BODY", Section((1, 2), "MIME")),))),
    (b"a FETCH 1 BODY[2.HEADER]", c.Fetch("a", S("1"), (FetchAtt("BODY", Section((2,), "HEADER")),))),
    (b"a FETCH 1 BODY[3.1.TEXT]", c.Fetch("a", S("1"), (FetchAtt("BODY", Section((3, 1), "TEXT")),))),
    (b"a FETCH 1 BODY[1]<0.1024>", c.Fetch("a", S("1"), (FetchAtt("BODY", Section((1,)), (0, 1024)),))),
    (
        b"a FETCH 1 BODY.PEEK[HEADER.FIELDS (From To \"Message-ID\")]",
        c.Fetch("a", S("1"), (FetchAtt("BODY", Section((), "HEADER.FIELDS", ("From", "To", "Message-ID")),
                                       peek=True),)),
    ),
    (
        b"a FETCH 1 BODY[1.HEADER.FIELDS.NOT (Received)]<5.10>",
        c.Fetch("a", S("1"), (FetchAtt("BODY", Section((1,), "HEADER.FIELDS.NOT", ("Received",)), (5, 10)),)),
    ),
    (b"a STORE 1 FLAGS (\\Seen)", c.Store("a", S("1"), "", False, ("\\Seen",))),
    (b"a STORE 1:3 +FLAGS (\\Seen \\Flagged)", c.Store("a", S("1:3"), "+", False, ("\\Seen", "\\Flagged"))),
    (b"a STORE 1 -FLAGS.SILENT (\\Deleted)", c.Store("a", S("1"), "-", True, ("\\Deleted",))),
    (b"a STORE 1 +flags.silent $MDNSent", c.Store("a", S("1"), "+", True, ("$MDNSent",))),
    (b"a STORE 1 FLAGS \\Seen \\Answered", c.Store("a", S("1"), "", False, ("\\Seen", "\\Answered"))),
    (b"a STORE 1 FLAGS ()", c.Store("a", S("1"), "", False, ())),
    (b"a UID STORE 7 +FLAGS.SILENT (\\Seen)", c.Store("a", S("7"), "+", True, ("\\Seen",), uid=True)),
    (b"a COPY 1:2 Sent", c.Copy("a", S("1:2"), "Sent")),
    (b"a UID COPY 4 \"Sent\"", c.Copy("a", S("4"), "Sent", uid=True)),
    (b"a MOVE 1 Archive", c.Move("a", S("1"), "Archive")),
    (b"a UID MOVE 1:* Archive", c.Move("a", S("1:*"), "Archive", uid=True)),
    (b"a UID EXPUNGE 3:5", c.Expunge("a", S("3:5"))),
    (b"a SEARCH ALL", c.Search("a", __import__("agentmail.imap.protocol.searchkeys", fromlist=["SAll"]).SAll())),
    (b"a UID SEARCH SEEN", c.Search("a", SFlag("\\Seen"), uid=True)),
    (b"a SEARCH 1:5 UNSEEN", c.Search("a", SAnd((SSeq(S("1:5")), SFlag("\\Seen", False))))),
    (
        b"a SEARCH CHARSET UTF-8 SUBJECT {6}\r\nGr\xc3\xbc\xc3\x9f",
        c.Search("a", SHeader("Subject", "Grüß"), charset="UTF-8"),
    ),
    (
        b"a SEARCH OR FROM alice (TO bob NOT CC carol)",
        c.Search("a", SOr(SHeader("From", "alice"),
                          SAnd((SHeader("To", "bob"), SNot(SHeader("Cc", "carol")))))),
    ),
    (
        b'a SEARCH HEADER "X-Priority" 1 BODY "hello world" TEXT x',
        c.Search("a", SAnd((SHeader("X-Priority", "1"), SText("BODY", "hello world"), SText("TEXT", "x")))),
    ),
    (
        b"a SEARCH SINCE 1-Jun-2024 SENTBEFORE \"2-Jul-2024\" LARGER 10 SMALLER 99",
        c.Search("a", SAnd((SDate("internal", "since", dt.date(2024, 6, 1)),
                            SDate("sent", "before", dt.date(2024, 7, 2)), SSize("larger", 10),
                            SSize("smaller", 99)))),
    ),
    (b"a SEARCH UID 2:* KEYWORD $MDNSent", c.Search("a", SAnd((SSeq(S("2:*"), True), SFlag("$MDNSent"))))),
    (b"a SEARCH NEW", c.Search("a", SAnd((SFlag("\\Recent"), SFlag("\\Seen", False))))),
    (b"a SEARCH *", c.Search("a", SSeq(S("*")))),
]


@pytest.mark.parametrize(("line", "expected"), COMMANDS, ids=[x[0].decode("latin-1")[:60] for x in COMMANDS])
def test_commands(line: bytes, expected: c.Command) -> None:
    assert one(line + b"\r\n") == expected


@pytest.mark.parametrize(("line", "expected"), COMMANDS[:40], ids=[x[0].decode("latin-1")[:60] for x in COMMANDS[:40]])
def test_byte_by_byte(line: bytes, expected: c.Command) -> None:
    p = CommandParser()
    got: list[object] = []
    for i in range(len(line) + 2):
        got += p.feed((line + b"\r\n")[i : i + 1])
    cmds = [e for e in got if not isinstance(e, NeedContinuation)]
    assert cmds == [expected]
    assert sum(isinstance(e, NeedContinuation) for e in got) == line.count(b"}\r\n") - line.count(b"+}\r\n")


def test_sync_literal_asks_for_continuation_before_data() -> None:
    p = CommandParser()
    assert p.feed(b"a1 LOGIN {3}\r\n") == [NeedContinuation("a1", 3)]
    assert p.in_literal
    assert p.feed(b"bo") == []
    assert p.feed(b"b {2}\r\n") == [NeedContinuation("a1", 2)]
    assert p.feed(b"pw\r\na2 NOOP\r\n") == [c.Login("a1", "bob", "pw"), c.Noop("a2")]


def test_literal_plus_needs_no_continuation() -> None:
    p = CommandParser()
    assert p.feed(b"a APPEND Sent {4+}\r\n") == []
    assert p.feed(b"x\r\ny\r\n") == [c.Append("a", "Sent", (), None, b"x\r\ny")]


def test_literal_may_contain_anything() -> None:
    data = bytes(range(256)) + b"\r\n)\"{3}\r\n"
    assert one(b"a APPEND Sent {%d}\r\n" % len(data) + data + b"\r\n") == c.Append("a", "Sent", (), None, data)


def test_zero_length_literals() -> None:
    p = CommandParser()
    assert p.feed(b"a LOGIN {0}\r\n") == [NeedContinuation("a", 0)]
    assert p.feed(b" {0+}\r\n\r\n") == [c.Login("a", "", "")]


def test_pipelined_commands_in_one_chunk() -> None:
    events = CommandParser().feed(b"a NOOP\r\nb CAPABILITY\r\nc LOGOUT\r\n")
    assert events == [c.Noop("a"), c.Capability("b"), c.Logout("c")]


def test_bare_lf_is_accepted() -> None:
    assert CommandParser().feed(b"a NOOP\n") == [c.Noop("a")]


def test_raw_lines_for_authenticate_and_idle() -> None:
    p = CommandParser()
    p.receive_data(b"a AUTHENTICATE PLAIN\r\nAGJvYgBwdw==\r\nb IDLE\r\nDONE\r\nc NOOP\r\n")
    assert p.next_event() == c.Authenticate("a", "PLAIN", None)
    p.expect_line()
    assert p.next_event() == RawLine(b"AGJvYgBwdw==")
    assert p.next_event() == c.Idle("b")
    p.expect_line()
    assert p.next_event() == RawLine(b"DONE")
    assert p.next_event() == c.Noop("c")
    assert p.next_event() is None


# ----------------------------------------------------------------- limits and bad input
def test_huge_sync_literal_is_refused_without_reading() -> None:
    p = CommandParser(max_literal=1000)
    (ev,) = p.feed(b"a APPEND Sent {2000000000}\r\n")
    assert isinstance(ev, ParseError) and not ev.fatal
    assert ev.response.to_bytes() == b"a NO [LIMIT] Literal too large (2000000000 bytes, limit 1000)\r\n"
    assert not p.in_literal
    # the client never sends the data; the next command parses normally
    assert p.feed(b"b NOOP\r\n") == [c.Noop("b")]


def test_huge_literal_plus_closes_the_connection() -> None:
    p = CommandParser(max_literal=1000)
    (ev,) = p.feed(b"a APPEND Sent {2000000000+}\r\nxxxxxxxx")
    assert isinstance(ev, ParseError) and ev.fatal
    assert ev.response.to_bytes().startswith(b"* BYE [LIMIT] Literal too large")
    assert p.closed
    assert p.feed(b"b NOOP\r\n") == []


def test_absurd_literal_digits() -> None:
    ev = err(b"a LOGIN {99999999999999999999999999999}\r\n")
    assert ev.response.code is not None and ev.response.code.name == "LIMIT"


def test_total_command_size_is_capped() -> None:
    p = CommandParser(max_literal=100, max_line=100, max_command=150)
    events = p.feed(b"a LOGIN {90+}\r\n" + b"x" * 90 + b" {90}\r\n")
    assert len(events) == 1 and isinstance(events[0], ParseError)
    assert events[0].response.to_bytes() == b"a NO [LIMIT] Literal too large (90 bytes, limit 100)\r\n"
    assert p.feed(b"b NOOP\r\n") == [c.Noop("b")]


def test_overlong_line_then_resync() -> None:
    p = CommandParser(max_line=100)
    events = p.feed(b"a LOGIN " + b"x" * 300)
    assert len(events) == 1 and isinstance(events[0], ParseError)
    assert events[0].response.to_bytes() == b"a BAD Command line too long (limit 100 bytes)\r\n"
    assert p.feed(b"y" * 500) == []
    assert p.feed(b"zz\r\nb NOOP\r\n") == [c.Noop("b")]


def test_overlong_complete_line() -> None:
    events = CommandParser(max_line=50).feed(b"a NOOP " + b"x" * 100 + b"\r\nb NOOP\r\n")
    assert isinstance(events[0], ParseError) and events[1] == c.Noop("b")


BAD: list[tuple[bytes, bytes]] = [
    (b"a FOO", b"a BAD Unknown command FOO"),
    (b"a UID FOO 1", b"a BAD Unknown UID command FOO"),
    (b"a", b"a BAD Missing command name"),
    (b"", b"* BAD Empty command line"),
    (b"   ", b"* BAD Empty command line"),
    (b"+ NOOP", b"* BAD Missing or invalid tag"),
    (b"a{ NOOP", b"* BAD Missing or invalid tag"),
    (b"* NOOP", b"* BAD Missing or invalid tag"),
    (b"a%b NOOP", b"* BAD Missing or invalid tag"),
    (b"a+b NOOP", b"* BAD Missing or invalid tag"),
    (b"a LOGIN bob", b"a BAD Missing argument"),
    (b"a LOGIN", b"a BAD Missing argument"),
    (b"a NOOP extra", b"a BAD Unexpected extra arguments: ' extra'"),
    (b"a SELECT", b"a BAD Missing argument"),
    (b"a SELECT INBOX (FOO)", b"a BAD Unknown SELECT parameter FOO (CONDSTORE or QRESYNC)"),
    (b"a SELECT INBOX CONDSTORE", b"a BAD Expected '(' at 'CONDSTORE'"),
    (b"a SELECT INBOX (QRESYNC (1 8)", b"a BAD Missing argument"),
    (b"a SELECT INBOX (QRESYNC)", b"a BAD Expected a space at ')'"),
    (b"a SELECT INBOX (QRESYNC (0 8))", b"a BAD Expected a non-zero number"),
    (b"a SELECT INBOX (QRESYNC (1 0))", b"a BAD Invalid QRESYNC modseq"),
    (b"a SELECT INBOX (QRESYNC (1 x))", b"a BAD Invalid QRESYNC modseq"),
    (b"a SELECT INBOX (QRESYNC (1 8 1:*))", b"a BAD Invalid QRESYNC sequence set '1:*'"),
    (b"a SELECT INBOX (QRESYNC (1 8 1:5 (1:3)))", b"a BAD Expected a space at ')))'"),
    (b"a SELECT INBOX (QRESYNC (1 99999999999999999999999))", b"a BAD Invalid QRESYNC modseq"),
    (b"a FETCH 1 (FLAGS", b"a BAD Missing argument"),
    (b"a FETCH 1 (FLAGS UID", b"a BAD Missing argument"),
    (b"a FETCH 1 FLAGS)", b"a BAD Expected a space at ')'"),
    (b"a FETCH 1 (FLAGS) (CHANGEDSINCE)", b"a BAD Invalid CHANGEDSINCE modseq"),
    (b"a FETCH 1 (FLAGS) (CHANGEDSINCE x)", b"a BAD Invalid CHANGEDSINCE modseq"),
    (b"a FETCH 1 (FLAGS) (CHANGEDSINCE 18446744073709551616)", b"a BAD Invalid CHANGEDSINCE modseq"),
    (b"a FETCH 1 (FLAGS) (FOO 1)", b"a BAD Unknown FETCH modifier FOO"),
    (b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)", b"a BAD Unknown FETCH modifier CHANGEDSINCE"),
    (b"a FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)", b"a BAD VANISHED needs UID FETCH (RFC 7162 3.2.6)"),
    (b"a UID FETCH 1 (FLAGS) (VANISHED)", b"a BAD VANISHED used without CHANGEDSINCE"),
    (b"a STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)", b"a BAD Invalid STORE modifiers"),
    (b"a STORE 1 (FOO 1) +FLAGS (\\Seen)", b"a BAD Unknown STORE modifier FOO"),
    (b"a STORE 1 (UNCHANGEDSINCE 5)", b"a BAD Missing argument"),
    (b"a SEARCH MODSEQ", b"a BAD Missing parameter for search key MODSEQ"),
    (b"a SEARCH MODSEQ x", b"a BAD Invalid MODSEQ value"),
    (b'a SEARCH MODSEQ "/flags/\\\\Seen" foo 1', b"a BAD Invalid MODSEQ type"),
    (b"a FETCH 1 BOGUS", b"a BAD Unknown FETCH attribute 'BOGUS'"),
    (b"a FETCH 1 (FLAGS ALL)", b"a BAD FETCH macro ALL cannot be combined with other items"),
    (b"a FETCH 1 BODY[MIME]", b"a BAD BODY[MIME] needs a part number (RFC 3501 6.4.5)"),
    (b"a FETCH 1 BODY[FOO]", b"a BAD Invalid BODY[] section 'FOO'"),
    (b"a FETCH 1 BODY[1", b"a BAD Expected ']' at end of line"),
    (b"a FETCH 1 BODY[]<5>", b"a BAD Expected '.' at '>'"),
    (b"a FETCH 1 BODY[]<5.0>", b"a BAD Expected a non-zero number"),
    (b"a FETCH 0 FLAGS", b"a BAD Invalid sequence set '0'"),
    (b"a FETCH 1:2:3 FLAGS", b"a BAD Invalid sequence set '1:2:3'"),
    (b"a FETCH 1,,2 FLAGS", b"a BAD Invalid sequence set '1,,2'"),
    (b"a FETCH x FLAGS", b"a BAD Expected a sequence set at 'x FLAGS'"),
    (b"a FETCH 1x FLAGS", b"a BAD Invalid sequence set at 'x FLAGS'"),
    (b"a FETCH $ FLAGS", b"a BAD The $ (SEARCHRES) sequence set is not supported"),
    (b"a FETCH 99999999999 FLAGS", b"a BAD Invalid sequence set '99999999999'"),
    (b"a STORE 1 FLAG (\\Seen)", b"a BAD Invalid STORE item FLAG (expected [+|-]FLAGS[.SILENT])"),
    (b"a STORE 1 +FLAGS (\\Seen", b"a BAD Missing argument"),
    (b"a SEARCH", b"a BAD Missing argument"),
    (b"a SEARCH FOO", b"a BAD Unknown SEARCH key 'FOO'"),
    (b"a SEARCH (SEEN", b"a BAD Unbalanced parentheses in SEARCH"),
    (b"a SEARCH SEEN)", b"a BAD Expected a space at ')'"),
    (b"a SEARCH OR SEEN", b"a BAD Missing argument"),
    (b"a SEARCH SINCE 31-Foo-2024", b"a BAD Invalid date '31-Foo-2024' (expected e.g. 1-Feb-2024)"),
    (b"a SEARCH SUBJECT gr\xc3\xbc", b"a BAD Expected a space at '\\\\xc3\\\\xbc'"),
    (b'a LOGIN "bob pw', b"a BAD Unterminated quoted string"),
    (b'a LOGIN "b\\ob" pw', b"a BAD Invalid escape in quoted string (only \\\" and \\\\ are allowed)"),
    (b"a LOGIN b\x00b pw", b"a BAD NUL byte in command"),
    (b"a STATUS INBOX (BOGUS)", b"a BAD Unknown STATUS item BOGUS"),
    (b"a STATUS INBOX ()", b"a BAD STATUS needs at least one item"),
    (b'a LIST (BOGUS) "" *', b"a BAD Unknown LIST selection option BOGUS"),
    (b'a LIST "" * RETURN (BOGUS)', b"a BAD Unknown LIST return option BOGUS"),
    (b'a LIST "" * FOO (CHILDREN)', b"a BAD Expected RETURN after the LIST patterns"),
    (b"a APPEND Sent hello", b"a BAD APPEND needs the message as a literal"),
    (
        b'a APPEND Sent "bad date" {1}\r\nx',
        b"a BAD Invalid date-time 'bad date' (expected e.g. \"01-Feb-2024 10:00:00 +0000\")",
    ),
    (b"a AUTHENTICATE PLAIN !!!", b"a BAD Invalid base64 in the initial response"),
    (b"a ENABLE", b"a BAD ENABLE needs at least one capability"),
    (b"a ID foo", b"a BAD ID takes NIL or a parenthesised list"),
    (b"\xff\xfe garbage", b"* BAD Missing or invalid tag"),
]


@pytest.mark.parametrize(("line", "expected"), BAD, ids=[x[0].decode("latin-1")[:50] for x in BAD])
def test_bad_input(line: bytes, expected: bytes) -> None:
    events = CommandParser().feed(line + b"\r\nz NOOP\r\n")
    events = [e for e in events if not isinstance(e, NeedContinuation)]
    assert len(events) == 2, events
    assert isinstance(events[0], ParseError) and not events[0].fatal
    assert events[0].response.to_bytes() == expected + b"\r\n"
    assert events[1] == c.Noop("z")  # resynchronised at the next line


def test_garbage_flood_never_raises() -> None:
    import random

    rnd = random.Random(7)
    p = CommandParser(max_line=200, max_literal=100)
    for _ in range(2000):
        chunk = bytes(rnd.choice(b"a1 {}()[]<>\"\\*%:,.+-\r\n\x00\xffFETCHBODY") for _ in range(rnd.randint(1, 40)))
        for ev in p.feed(chunk):
            assert isinstance(ev, (c.Command, NeedContinuation, ParseError, RawLine))
        if p.closed:
            p = CommandParser(max_line=200, max_literal=100)


# ----------------------------------------------------------------- sequence sets and UTF-7
@pytest.mark.parametrize(
    ("text", "largest", "members"),
    [
        ("1", 5, [1]),
        ("1:3", 5, [1, 2, 3]),
        ("3:1", 5, [1, 2, 3]),
        ("2,4:5", 5, [2, 4, 5]),
        ("*", 5, [5]),
        ("3:*", 5, [3, 4, 5]),
        ("*:3", 5, [3, 4, 5]),
        ("7:*", 5, [5]),
        ("1:*", 0, []),
        ("4,2,4,1:2", 5, [1, 2, 4]),
        ("10:12", 5, []),
    ],
)
def test_sequence_sets(text: str, largest: int, members: list[int]) -> None:
    s = SequenceSet.parse(text)
    assert s.resolve(largest) == members
    assert str(s) == text


def test_sequence_set_filter_for_uids() -> None:
    s = SequenceSet.parse("5:*")
    assert s.filter([1, 2, 3]) == [3]  # "*" is the largest UID in use
    assert SequenceSet.parse("2:4").filter([1, 3, 7]) == [3]
    assert str(SequenceSet.of([5, 1, 2, 3, 9, 10])) == "1:3,5,9:10"


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("INBOX", "INBOX"),
        ("Agents/bob/Sent", "Agents/bob/Sent"),
        ("A & B", "A &- B"),
        ("Grüße", "Gr&APwA3w-e"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("😀 smile", "&2D3eAA- smile"),
        ("&&", "&-&-"),
        ("", ""),
    ],
)
def test_utf7_round_trip(text: str, wire: str) -> None:
    assert utf7.encode(text) == wire
    assert utf7.decode(wire) == text


@pytest.mark.parametrize("wire", ["&", "&Jjo", "&AGE-", "&ZeVnLIqe", "Grüße", "&ZeVnLIqe-&ZeVnLIqe-x&U,BTFw"])
def test_utf7_rejects_invalid(wire: str) -> None:
    if wire == "&ZeVnLIqe-&ZeVnLIqe-x&U,BTFw":
        with pytest.raises(utf7.Utf7Error):
            utf7.decode(wire)
        return
    with pytest.raises(utf7.Utf7Error):
        utf7.decode(wire)


def test_parse_command_without_framer() -> None:
    assert parse_command(b"x NOOP") == c.Noop("x")
    assert parse_command(b"x NOOP\r\n") == c.Noop("x")


def test_command_states() -> None:
    assert c.Login.states == frozenset({"not-authenticated"})
    assert "selected" in c.Select.states and "not-authenticated" not in c.Select.states
    assert c.Fetch.states == frozenset({"selected"})
    assert c.Noop.states == frozenset({"not-authenticated", "authenticated", "selected"})
    assert c.Examine("t", "INBOX").readonly and not c.Select("t", "INBOX").readonly
