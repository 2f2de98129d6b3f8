"""SORT and THREAD's pure parts (RFC 5256): base subjects, Dovecot's case mapping, dates, message IDs, the
REFERENCES and ORDEREDSUBJECT algorithms. The whole against Dovecot's own answers is in
tests/imap/server/test_sort_thread.py and test_dovecot_sort.py; these pin the pieces."""

from __future__ import annotations

import datetime as dt

import pytest

from agentmail.imap.message.sort import SortItem, needs_fields, sort_items
from agentmail.imap.message.sortkeys import Fields, display_key, mailbox_key, message_ids, next_msgid, parse_date
from agentmail.imap.message.subject import base_subject, casemap, decode
from agentmail.imap.message.thread import ThreadItem, ordered_subject, references
from agentmail.imap.protocol.response import ThreadNode, encode_threads


@pytest.mark.parametrize(("subject", "base", "reply"), [
    (b"Plan", "PLAN", False),
    (b"Re: Plan", "PLAN", True),
    (b"RE: re: Fwd: plan", "PLAN", True),
    (b"Fw: plan", "PLAN", True),
    (b"[list] Re: [x] Fwd: plan (fwd)", "PLAN", True),  # RFC 5256 2.1 steps 2-5
    (b"re [2]: plan", "PLAN", True),  # subj-refwd: "re" *WSP [subj-blob] ":"
    (b"[Fwd: Re: plan]", "PLAN", True),  # step 6
    (b"[team] plan", "PLAN", False),  # step 4: a blob goes when something is left
    (b"[team]", "[TEAM]", False),  # ... and stays when nothing would be
    (b"plan (fwd) (FWD)  ", "PLAN", True),
    (b"   spaced\t  out \n ", "SPACED OUT", False),
    (b"Re:", "", True),
    (b"Rex: plan", "REX: PLAN", False),  # not a reply prefix
    (b"=?utf-8?q?R=C3=A9union?=", "RE\u0301UNION", False),  # decoded, titlecased, decomposed
    (b"=?utf-8?q?Re=3A_x?=", "X", True),  # a "Re:" inside an encoded word counts
    (b"", "", False),
])
def test_base_subject(subject: bytes, base: str, reply: bool) -> None:
    assert base_subject(subject) == (base, reply)


def test_casemap_is_decomposed_titlecase() -> None:
    assert casemap("abc") == "ABC"
    assert casemap("é") == casemap("E\u0301") == "E\u0301"
    assert casemap("ß") == "ß"  # no one-character titlecase: kept
    assert casemap("ﬁ") == "fi"  # compatibility decomposition
    assert casemap("ǆ") == "Dz\u030c"  # titlecase (ǅ), not upper case (Ǆ), then decomposed


@pytest.mark.parametrize(("value", "text"), [
    (b"plain", "plain"),
    (b"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words goes
    (b"x =?utf-8?q?a?= y", "x a y"),
    (b"=?iso-8859-1?q?caf=E9?=", "café"),
    (b"=?utf-8?b?w6k=?=", "é"),
    (b"=?x-unknown?q?abc?=", "abc"),
    (b"=?utf-8?q?broken", "=?utf-8?q?broken"),
    (b"bad \xff\xfe bytes", "bad \ufffd bytes"),  # one replacement for a run
])
def test_decode(value: bytes, text: str) -> None:
    assert decode(value) == text


def _utc(*parts: int) -> int:
    return int(dt.datetime(*parts, tzinfo=dt.timezone.utc).timestamp())


@pytest.mark.parametrize(("value", "expected"), [
    (b"Tue, 4 Jun 2024 10:00:00 +0200", _utc(2024, 6, 4, 8)),
    (b"4 Jun 2024 10:00 -0000", _utc(2024, 6, 4, 10)),
    (b"Tue, 04 June 2024 10.00.30 +0000 (UTC)", _utc(2024, 6, 4, 10, 0, 30)),
    (b"4 Jun 24 10:00 EDT", _utc(2024, 6, 4, 14)),
    (b"4 Jun 99 10:00 GMT", _utc(1999, 6, 4, 10)),
    (b"4 Jun 2024 10:00 A", _utc(2024, 6, 4, 9)),  # military, the sane way round
    (b"4 Jun 2024 10:00 XYZ", _utc(2024, 6, 4, 10)),  # unknown zone: UTC
    (b"31 Feb 2024 00:00 +0000", _utc(2024, 3, 2)),  # normalised, as timegm does
    (b"1 Jan 1968 00:00 +0000", _utc(1968, 1, 1) % (1 << 32)),  # Dovecot's index keeps 32 bits
    (b"Tue 4 Jun 2024 10:00:00 +0000", 0),  # a weekday needs its comma
    (b"4 Jun 1899 10:00 +0000", 0),
    (b"4 Jun 2024", 0),
    (b"4 Jun 2024 10:00:00 ,", 0),
    (b"", 0),
])
def test_parse_date(value: bytes, expected: int) -> None:
    assert parse_date(value) == expected


def test_message_ids() -> None:
    assert message_ids(b"<a@b> <c@d>\r\n <e f@g> junk <noat> <\"q x\"@y> <(c)a@b>") == [
        "a@b", "c@d", "ef@g", "q x@y", "a@b"]
    assert message_ids(b"<a@b> <unterminated@x") == ["a@b"]
    assert next_msgid(b"  <ABC@def>", 0) == ("ABC@def", 11)  # case kept: IDs compare exactly
    assert next_msgid(b"no id here", 0) == (None, 10)


def test_fields_take_the_first_header_and_in_reply_to_only_without_references() -> None:
    f = Fields.parse(b"Subject: Re: first\r\nSubject: second\r\nMessage-ID: <m@x>\r\n"
                     b"In-Reply-To: <p@x>\r\nReferences: junk\r\n\r\nbody")
    assert f.base_subject() == ("FIRST", True) and f.msgid == "m@x" and f.refs == ("p@x",)
    g = Fields.parse(b"References: <a@x> <b@x>\r\nIn-Reply-To: <p@x>\r\n\r\n")
    assert g.refs == ("a@x", "b@x") and g.msgid is None and g.subject is None and g.sent() == 0


@pytest.mark.parametrize(("value", "mailbox", "display"), [
    (b'"Zed" <a@x>', "A", "ZED"),
    (b"bob@x", "BOB", "BOB@X"),
    (b"=?utf-8?q?Zo=C3=AB?= <zoe@y>", "ZOE", "ZOE\u0308"),
    (b"Team: ann@x;", "TEAM", "TEAM"),  # a group: its name
    (b"<@x>", "MISSING_MAILBOX", "MISSING_MAILBOX@MISSING_DOMAIN"),
    (None, "", ""),
])
def test_address_keys(value: bytes | None, mailbox: str, display: str) -> None:
    assert mailbox_key(value) == mailbox
    assert display_key(value) == display


def item(number: int, header: str, internal: int = 0, size: int = 0) -> SortItem:
    return SortItem(number, Fields.parse(header.encode()), internal, size)


def test_sort_ties_stay_in_mailbox_order_whichever_way() -> None:
    items = [item(1, "Subject: b\r\n", 5, 10), item(2, "Subject: a\r\n", 5, 10), item(3, "Subject: b\r\n", 1, 10)]
    assert sort_items(items, [("SUBJECT", False)]) == [2, 1, 3]
    assert sort_items(items, [("SUBJECT", True)]) == [1, 3, 2]
    assert sort_items(items, [("SIZE", True)]) == [1, 2, 3]  # REVERSE never reverses the tie-break
    assert sort_items(items, [("ARRIVAL", False), ("SUBJECT", True)]) == [3, 1, 2]
    assert not needs_fields([("ARRIVAL", False), ("SIZE", True)]) and needs_fields([("DATE", False)])


def thread(headers: list[str], dates: list[int] | None = None) -> bytes:
    items = [ThreadItem(i, Fields.parse(h.encode()), (dates or [0] * len(headers))[i - 1])
             for i, h in enumerate(headers, 1)]
    steps = list(references(items))
    last = steps[-1]
    assert last is not None and all(s is None for s in steps[:-1])
    return encode_threads(last)


def test_references_threads() -> None:
    msgs = ["Message-ID: <a@x>\r\nSubject: plan\r\n",
            "Message-ID: <b@x>\r\nReferences: <a@x>\r\nSubject: Re: plan\r\n",
            "Message-ID: <c@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: plan\r\n",
            "Message-ID: <d@x>\r\nSubject: other\r\n"]
    assert thread(msgs, [1, 2, 3, 4]) == b"(1 (2)(3))(4)"
    # a reply before its parent, a parent that is not there (one reply: it tops; two: a dummy above them)
    assert thread(["Message-ID: <r@x>\r\nReferences: <p@x>\r\n", "Message-ID: <p@x>\r\n"], [2, 1]) == b"(2 1)"
    assert thread(["References: <gone@x>\r\n"]) == b"(1)"
    assert thread(["References: <gone@x>\r\n", "In-Reply-To: <gone@x>\r\n"], [1, 2]) == b"((1)(2))"
    # a loop is never made; a second message with the same Message-ID is a message of its own
    assert thread(["Message-ID: <l1@x>\r\nReferences: <l2@x>\r\n", "Message-ID: <l2@x>\r\nReferences: <l1@x>\r\n"],
                  [1, 2]) == b"(2 1)"
    assert thread(["Message-ID: <d@x>\r\n", "Message-ID: <d@x>\r\n"], [1, 2]) == b"(1)(2)"
    # the same subject without references: the original above the reply, two originals under a dummy
    assert thread(["Subject: w\r\n", "Subject: Re: w\r\n", "Subject: w\r\n"], [1, 2, 3]) == b"((1 2)(3))"


def test_a_long_chain_needs_no_recursion() -> None:
    """10,000 replies each to the one before (with the last 20 references, as agentmail writes them): one
    thread, as deep as it is long; neither threading nor encoding recurses."""
    headers = []
    for i in range(10_000):
        refs = " ".join(f"<m{j}@x>" for j in range(max(0, i - 20), i))
        headers.append(f"Message-ID: <m{i}@x>\r\n" + (f"References: {refs}\r\n" if refs else ""))
    out = thread(headers, list(range(10_000)))
    assert out.startswith(b"(1 2 3 ") and out.endswith(b" 9999 10000)") and out.count(b"(") == 1


def test_ordered_subject() -> None:
    items = [ThreadItem(i, Fields.parse(h.encode()), d) for i, (h, d) in enumerate(
        [("Subject: b\r\n", 5), ("Subject: a\r\n", 9), ("Subject: Re: b\r\n", 1), ("Subject: re: a\r\n", 10),
         ("Subject: a\r\n", 11)], 1)]
    assert encode_threads(ordered_subject(items)) == b"(3 1)(2 (4)(5))"  # by the first message's date


def test_encoding_follows_rfc_5256() -> None:
    tree = [ThreadNode(2), ThreadNode(3, [ThreadNode(6, [ThreadNode(4, [ThreadNode(23)]),
                                                          ThreadNode(44, [ThreadNode(7, [ThreadNode(96)])])])])]
    assert encode_threads(tree) == b"(2)(3 6 (4 23)(44 7 96))"  # RFC 5256 4's example
    assert encode_threads([ThreadNode(0, [ThreadNode(1), ThreadNode(2)])]) == b"((1)(2))"
    assert encode_threads([]) == b""
