"""Response serialisation (objects in, bytes out)."""

from __future__ import annotations

import pytest

from agentmail.imap.protocol import response as r
from agentmail.imap.protocol import wire
from agentmail.imap.protocol.errors import ImapBad, ImapBye, ImapNo


@pytest.mark.parametrize(
    ("resp", "wire_bytes"),
    [
        (r.ok("a1", "LOGIN completed"), b"a1 OK LOGIN completed\r\n"),
        (r.no("a2", "Mailbox does not exist", r.ResponseCode("NONEXISTENT")),
         b"a2 NO [NONEXISTENT] Mailbox does not exist\r\n"),
        (r.no("a3", "Create it first", r.ResponseCode("TRYCREATE")), b"a3 NO [TRYCREATE] Create it first\r\n"),
        (r.ok("a4", "SELECT completed", r.ResponseCode("READ-ONLY")), b"a4 OK [READ-ONLY] SELECT completed\r\n"),
        (r.bad(None, "Missing tag"), b"* BAD Missing tag\r\n"),
        (r.ok(None, "", r.ResponseCode("UIDVALIDITY", "1700000000")), b"* OK [UIDVALIDITY 1700000000]\r\n"),
        (r.ok(None, "Flags permitted.", r.code_permanentflags(["\\Seen", "\\*"])),
         b"* OK [PERMANENTFLAGS (\\Seen \\*)] Flags permitted.\r\n"),
        (r.ok("t", "APPEND completed", r.ResponseCode("APPENDUID", "1700000000 7")),
         b"t OK [APPENDUID 1700000000 7] APPEND completed\r\n"),
        (r.bye("Logging out"), b"* BYE Logging out\r\n"),
        (r.ok("t", "multi\r\nline"), b"t OK multi  line\r\n"),
        (r.ContinuationRequest(), b"+ Ready\r\n"),
        (r.ContinuationRequest("idling"), b"+ idling\r\n"),
        (r.ContinuationRequest(data=b""), b"+ \r\n"),
        (r.CapabilityResponse(("IMAP4rev1", "LITERAL+", "SASL-IR", "IDLE")),
         b"* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR IDLE\r\n"),
        (r.ListResponse(("\\HasNoChildren",), "/", "INBOX"), b'* LIST (\\HasNoChildren) "/" INBOX\r\n'),
        (r.ListResponse(("\\HasNoChildren", "\\Sent"), "/", "Sent Items"),
         b'* LIST (\\HasNoChildren \\Sent) "/" "Sent Items"\r\n'),
        (r.ListResponse(("\\Noselect",), None, ""), b'* LIST (\\Noselect) NIL ""\r\n'),
        (r.ListResponse((), "/", "NIL"), b'* LIST () "/" "NIL"\r\n'),
        (r.ListResponse((), "/", "Gr&APwA3w-e", command="LSUB"), b'* LSUB () "/" Gr&APwA3w-e\r\n'),
        (r.StatusDataResponse("Sent", (("MESSAGES", 3), ("UIDNEXT", 9))),
         b"* STATUS Sent (MESSAGES 3 UIDNEXT 9)\r\n"),
        (r.FlagsResponse(("\\Answered", "\\Seen", "$MDNSent")), b"* FLAGS (\\Answered \\Seen $MDNSent)\r\n"),
        (r.exists(12), b"* 12 EXISTS\r\n"),
        (r.recent(0), b"* 0 RECENT\r\n"),
        (r.expunge(3), b"* 3 EXPUNGE\r\n"),
        (r.SearchResponse(()), b"* SEARCH\r\n"),
        (r.SearchResponse((1, 5, 9)), b"* SEARCH 1 5 9\r\n"),
        (r.EnabledResponse(()), b"* ENABLED\r\n"),
        (r.Untagged((r.Atom("ID"), None)), b"* ID NIL\r\n"),
        (r.Untagged((r.Atom("ID"), ["name", "agentmail"])), b'* ID ("name" "agentmail")\r\n'),
        (r.FetchResponse(1, [("UID", 7), ("FLAGS", r.flag_list(["\\Seen"]))]), b"* 1 FETCH (UID 7 FLAGS (\\Seen))\r\n"),
        (r.FetchResponse(2, [("FLAGS", r.flag_list([]))]), b"* 2 FETCH (FLAGS ())\r\n"),
        (r.FetchResponse(3, [("BODY[]", r.Literal(b"a\r\nb"))]), b"* 3 FETCH (BODY[] {4}\r\na\r\nb)\r\n"),
        (r.FetchResponse(4, [("INTERNALDATE", "03-Jun-2024 10:00:00 +0000")]),
         b'* 4 FETCH (INTERNALDATE "03-Jun-2024 10:00:00 +0000")\r\n'),
    ],
)
def test_serialise(resp: r.Response, wire_bytes: bytes) -> None:
    assert resp.to_bytes() == wire_bytes


@pytest.mark.parametrize(
    ("value", "out"),
    [
        (None, b"NIL"),
        (0, b"0"),
        (4294967295, b"4294967295"),
        (b"", b'""'),
        ("plain", b'"plain"'),
        ('say "hi"', b'"say \\"hi\\""'),
        ("a\\b", b'"a\\\\b"'),
        ('""""""', b'{6}\r\n""""""'),  # more than four escapes: a literal, as Dovecot does
        ("line\r\nbreak", b"{11}\r\nline\r\nbreak"),
        ("Grüße", b"{7}\r\nGr\xc3\xbc\xc3\x9fe"),
        (b"\xff", b"{1}\r\n\xff"),
        (r.Atom("\\Seen"), b"\\Seen"),
        (r.AString("INBOX"), b"INBOX"),
        (r.AString("two words"), b'"two words"'),
        (r.AString(""), b'""'),
        (r.Literal(b""), b"{0}\r\n"),
        ([1, [None, "x"], []], b'(1 (NIL "x") ())'),
        ((r.Raw(b"(raw)"), 2), b"((raw) 2)"),
        (r.Human(b"  padded   subject \t"), b"{14}\r\npadded subject"),
        (r.Human(b"simple subject"), b'"simple subject"'),
        (r.Human(b"   "), b'""'),
        (r.Human(b""), b'""'),
        (r.Human(b'with "quotes"'), b'{13}\r\nwith "quotes"'),
        (r.Human(b"nul\x00byte"), b"{8}\r\nnul\x80byte"),
        (r.Human(b"folded\r\n line"), b"{11}\r\nfolded line"),
    ],
)
def test_values(value: r.Value, out: bytes) -> None:
    assert r.encode_value(value) == out


def test_booleans_are_refused() -> None:
    with pytest.raises(TypeError):
        r.encode_value(True)


@pytest.mark.parametrize(
    ("data", "out"),
    [(b"a\r\n b", b'"a b"'), (b"a\r\nb", b'"a b"'), (b"a\n\tb", b'"a\tb"'), (None, b"NIL")],
)
def test_nstring_nolf(data: bytes | None, out: bytes) -> None:
    assert wire.nstring_nolf(data) == out


def test_errors_carry_their_reply() -> None:
    assert ImapNo("No such mailbox", "NONEXISTENT").response("a").to_bytes() == (
        b"a NO [NONEXISTENT] No such mailbox\r\n"
    )
    assert ImapNo("Mailbox exists", "ALREADYEXISTS").response("b").to_bytes() == (
        b"b NO [ALREADYEXISTS] Mailbox exists\r\n"
    )
    ro = ImapNo("Read-only mailbox", "READ-ONLY")
    assert ro.response("c").to_bytes() == b"c NO [READ-ONLY] Read-only mailbox\r\n"
    assert ImapNo("Authentication failed.", "AUTHENTICATIONFAILED").response("d").to_bytes() == (
        b"d NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    )
    assert ImapBad("Unknown command").response(None).to_bytes() == b"* BAD Unknown command\r\n"
    assert ImapBye("Too big", "LIMIT").response("ignored").to_bytes() == b"* BYE [LIMIT] Too big\r\n"


def test_status_texts_are_encoded_the_same_whether_kept_or_not() -> None:
    """Short resp-texts are cached once encoded; a long one (an error quoting 60 KiB a client sent) is encoded every
    time and never kept, so the cache cannot be filled with big strings; both get CR/LF/NUL blanked."""
    short = "Bad\r\nthing\x00 \udcff"  # a client's undecodable byte comes as a surrogate escape
    assert r.bad("a", short).to_bytes() == b"a BAD Bad  thing  \\udcff\r\n"
    assert r.bad("a", short).to_bytes() == b"a BAD Bad  thing  \\udcff\r\n"  # from the cache: the same
    kept = r._short_text.cache_info().currsize
    long = "x\r\n" * 20_000
    assert r.bad("b", long, r.ResponseCode("CANNOT")).to_bytes() == b"b BAD [CANNOT] " + b"x  " * 20_000 + b"\r\n"
    assert r._short_text.cache_info().currsize == kept
    assert r.ok(None, "", r.ResponseCode("CLOSED")).to_bytes() == b"* OK [CLOSED]\r\n"
    assert r.no("c", "").to_bytes() == b"c NO No\r\n"


def test_encoded_lines_are_written_as_they_are() -> None:
    assert r.Encoded(b"* 3 EXISTS\r\n* 0 RECENT\r\n").to_bytes() == b"* 3 EXISTS\r\n* 0 RECENT\r\n"
