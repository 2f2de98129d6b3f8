"""Property-based fuzzing (hypothesis, derandomized: the same examples every run) of the pure parsers and
encoders: the postcard/MDN readers, addresses, header encoding, dovecot-uidlist, and the IMAP message views
(MIME, ENVELOPE, BODYSTRUCTURE, address lists), modified UTF-7 and sequence sets. Only the documented error types
may escape; what is encoded must read back the same."""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmail.errors import DataError, UsageError
from agentmail.format import card, encoding, mdn, postcard
from agentmail.format.address import is_valid_name, normalize_name, parse_address, split_address
from agentmail.imap.message.address import parse_address_list
from agentmail.imap.message.bodystructure import body_structure
from agentmail.imap.message.envelope import envelope, envelope_bytes
from agentmail.imap.message.mime import header_end, parse_message
from agentmail.imap.message.search import decode_header_value
from agentmail.imap.protocol import utf7
from agentmail.imap.protocol.errors import ImapBad
from agentmail.imap.protocol.response import encode_value
from agentmail.imap.protocol.seqset import SequenceSet
from agentmail.store import uidlist

# AGENTMAIL_FUZZ_EXAMPLES raises the count for a longer local run (the examples stay derandomized).
FUZZ = settings(derandomize=True, database=None, deadline=None,
                max_examples=int(os.environ.get("AGENTMAIL_FUZZ_EXAMPLES", "400")),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DOMAIN = "agents.localhost"

# ---------------------------------------------------------------- message-shaped bytes

NAMES = st.sampled_from([b"From", b"To", b"Cc", b"Subject", b"Date", b"Message-ID", b"In-Reply-To", b"References",
                         b"Content-Type", b"Content-Transfer-Encoding", b"Content-Disposition", b"MIME-Version",
                         b"Disposition-Notification-To", b"Sender", b"Reply-To", b"X-Priority", b"Importance",
                         b"content-type", b"Bcc", b"Content-Language", b"Content-Location"])
ATOMS = st.sampled_from([
    b"alice@agents.localhost", b"<a@b>", b"Bob <bob@agents.localhost>", b"=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
    b"=?utf-8?B?w6k=?=", b"=?utf-8?B?", b"=?x?Q?a_b?=", b'"q\\"x"', b"(comment (nested))", b"multipart/mixed;",
    b"boundary=zz", b'boundary="z z"', b"text/plain;", b"charset=utf-8", b"charset=\"x-unknown\"", b"base64",
    b"quoted-printable", b"Mon, 3 Jun 2024 10:00:00 +0000", b"3 Jun 99999999999999999999 10:00:00 +0000",
    b"\xff\xfe", b"\r\n ", b"\n\t", b";", b",", b":", b"<", b">", b"group: a@b, c@d;", b"@route:a@b",
    b"attachment; filename*=utf-8''%e2%82%ac.txt", b"filename*0*=utf-8''a; filename*1=b", b"message/rfc822",
    b"multipart/report; report-type=disposition-notification", b"multipart/digest", b"1", b"high", b"\x00",
    b"automatic-action/MDN-sent-automatically; displayed", b"rfc822;bob@agents.localhost",
])
VALUE = st.lists(ATOMS | st.binary(max_size=12), max_size=6).map(b" ".join)
HEADER = st.tuples(NAMES | st.binary(max_size=8), VALUE).map(lambda t: t[0] + b": " + t[1])
BODY_LINES = st.sampled_from([b"--zz", b"--zz--", b"--z z", b"Content-Type: text/plain",
                              b"Content-Type: message/rfc822", b"Content-Type: message/disposition-notification",
                              b"Disposition: manual-action; x",
                              b"Final-Recipient: rfc822; a@b", b"Original-Message-ID: <x@y>", b"", b"hello",
                              b"=E2=82=AC=", b"aGVsbG8=", b".", b"\xff", b"Subject: inner", b"\t folded"])
MESSAGE = st.tuples(st.lists(HEADER, max_size=12), st.lists(BODY_LINES | st.binary(max_size=30), max_size=16),
                    st.sampled_from([b"\r\n", b"\n"])).map(lambda t: t[2].join([*t[0], b"", *t[1]]))
ANY_MESSAGE = MESSAGE | st.binary(max_size=400)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---------------------------------------------------------------- postcards and MDNs (agentmail/format)

@FUZZ
@given(ANY_MESSAGE)
def test_read_headers_never_fails_and_gives_one_line_values(data: bytes) -> None:
    headers = card.read_headers(data)
    for name, value in headers.items():
        assert name == name.lower() and ":" not in name
        assert not encoding.has_control(value), (name, value)


@FUZZ
@given(ANY_MESSAGE)
def test_card_parse_and_mdn_parse_never_fail(data: bytes) -> None:
    c = card.parse(data)
    assert isinstance(c.title, str) and not encoding.has_control(c.title)
    assert isinstance(c.body, str) and all(isinstance(a, str) for a in c.to + c.cc)
    assert mdn.parse_mdn(data) is None or isinstance(mdn.parse_mdn(data), mdn.MdnInfo)


@FUZZ
@given(st.text(max_size=60))
def test_decode_words_never_fails(text: str) -> None:
    assert isinstance(card.decode_words(text), str)
    assert isinstance(card.msgids(text), list) and isinstance(card.content_type(text), tuple)


TEXT = st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=200)


ONE_LINE = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=200)


@FUZZ
@given(ONE_LINE)
def test_subject_encoding_reads_back(text: str) -> None:
    """header_text folds or encodes any text without control characters (its callers refuse or replace those
    first) so that a reader gets the same one-line value back."""
    field = encoding.header_text("Subject", text)
    assert all(len(line.encode()) <= encoding.MAX_LINE for line in field.split("\n"))
    assert card.read_headers((field + "\n\nbody\n").encode())["subject"] == encoding.one_line(text)


@FUZZ
@given(title=TEXT, body=st.text(max_size=300), urgent=st.booleans(), receipt=st.booleans())
def test_postcard_build_refuses_or_reads_back(title: str, body: str, urgent: bool, receipt: bool) -> None:
    draft = postcard.Draft(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"], title, body, urgent=urgent, receipt=receipt,
                           date=1_700_000_000)
    try:
        built = postcard.build(draft, None, DOMAIN)
    except (DataError, UsageError) as err:
        assert str(err) and "\n" not in str(err)
        return
    c = card.parse(built.data)
    assert c.title == encoding.one_line(title.strip())
    assert c.body == encoding.normalize_body(body)
    assert c.message_id == built.message_id and c.urgent == urgent
    assert c.receipt_to == (f"alice@{DOMAIN}" if receipt else None)


# ---------------------------------------------------------------- addresses

ADDRESS_TEXT = st.text(st.sampled_from(string.ascii_letters + string.digits + "-_.@<>\" \t\r\n\0,;:()[]\\é\u212a"),
                       max_size=40) | st.text(max_size=20)


@FUZZ
@given(ADDRESS_TEXT)
def test_addresses_are_names_or_usage_errors(text: str) -> None:
    for fn in (normalize_name, lambda t: parse_address(t, DOMAIN)):
        try:
            name = fn(text)
        except UsageError as err:
            assert str(err) and "\n" not in str(err)
        else:
            assert is_valid_name(name), (text, name)
    try:
        local, domain = split_address(text)
    except UsageError:
        pass
    else:
        assert local and domain and not any(c in local + domain for c in "\r\n\0<>")


# ---------------------------------------------------------------- dovecot-uidlist

UIDLIST_LINES = st.sampled_from(["3 V1 N5 G0123", "3 V1700000000 N1", "3 V0 N1", "1 V1 N1", "3 N5", "3 V1 Nx",
                                 "3 V99999999999999999999 N1", "1 :a", "2 :b", "2 :b2", "10 W30 :c", "x :d", "5 :",
                                 "7 :e:2,S", "", " ", "3 V1 N5 Xext Ymore", "4 :f\udcff"])
UIDLIST = st.lists(UIDLIST_LINES | st.text(max_size=20), min_size=1, max_size=10).map("\n".join)


@FUZZ
@given(UIDLIST)
def test_uidlist_parses_or_refuses_and_rewrites_stably(text: str) -> None:
    try:
        parsed = uidlist.parse(text)
    except uidlist.UidListError:
        return
    uids = [u for u, _, _ in parsed.records]
    assert uids == sorted(set(uids))
    again = uidlist.parse(uidlist.format_uidlist(parsed))
    assert (again.uidvalidity, again.next_uid, again.guid, again.records) == \
        (parsed.uidvalidity, parsed.next_uid, parsed.guid, parsed.records)


# ---------------------------------------------------------------- the IMAP message views

@FUZZ
@given(ANY_MESSAGE)
def test_mime_views_never_fail(data: bytes) -> None:
    msg = crlf(data)
    root = parse_message(msg)
    assert encode_value(body_structure(root)).startswith(b"(")
    assert encode_value(envelope(root)).startswith(b"(")
    for value in (data, msg):
        parse_address_list(value)
    for f in root.fields:  # what SEARCH compares: any header value decodes to some text
        assert isinstance(decode_header_value(f.value), str)


@FUZZ
@given(ANY_MESSAGE)
def test_envelope_without_the_mime_parse_is_the_same(data: bytes) -> None:
    """envelope.py: envelope_bytes(header) is what encode_value(envelope(parse_message(header))) gives."""
    msg = crlf(data)
    header = msg[:header_end(msg, 0, len(msg))]
    assert envelope_bytes(header) == encode_value(envelope(parse_message(header)))


@FUZZ
@given(st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=30))
def test_utf7_round_trip(name: str) -> None:
    wire = utf7.encode(name)
    assert wire.isascii() and utf7.decode(wire) == name


@FUZZ
@given(st.text(st.sampled_from("&-+,/=AOk09azZ \xe9\x7f\x00"), max_size=20) | st.text(max_size=10))
def test_utf7_decode_refuses_cleanly(wire: str) -> None:
    try:
        name = utf7.decode(wire)
    except utf7.Utf7Error:
        return
    assert utf7.encode(name) == wire


@FUZZ
@given(st.text(st.sampled_from("0123456789:*,$ -"), max_size=24) | st.text(max_size=8))
def test_sequence_sets_parse_or_bad(text: str) -> None:
    try:
        seq = SequenceSet.parse(text)
    except ImapBad:
        return
    assert SequenceSet.parse(str(seq)) == seq
    assert all(1 <= n <= 50 for n in seq.resolve(50))
