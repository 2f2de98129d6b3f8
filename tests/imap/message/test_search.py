"""SEARCH evaluation: the Dovecot-recorded answers on the corpus, plus table-driven key tests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from agentmail.imap.message.crlf import to_crlf
from agentmail.imap.message.search import SearchMessage, decode_header_value, search
from agentmail.imap.protocol.commands import Search
from agentmail.imap.protocol.parser import parse_command

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ORACLE = json.loads((CORPUS / "dovecot.json").read_text())
NAMES: list[str] = ORACLE["names"]
TODAY = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.timezone.utc)


def corpus_messages() -> list[SearchMessage]:
    out = []
    for i, name in enumerate(NAMES, 1):
        data = to_crlf((CORPUS / f"{name}.eml").read_bytes())
        out.append(SearchMessage(i, i, frozenset({"\\Seen"}), TODAY, len(data), data))
    return out


def parse_search_cmd(text: bytes) -> Search:
    cmd = parse_command(b"t SEARCH " + text + b"\r\n")
    assert isinstance(cmd, Search), cmd
    return cmd


def key_bytes(query: str) -> bytes:
    raw = query.encode()
    if any(b > 127 for b in raw):
        word, value = query.split(" ", 1)
        lit = value.encode()
        return b"CHARSET UTF-8 " + word.encode() + b" {%d+}\r\n" % len(lit) + lit
    return raw


@pytest.mark.parametrize("query", list(ORACLE["search"]))
def test_matches_dovecot(query: str) -> None:
    cmd = parse_search_cmd(key_bytes(query))
    assert cmd.key is not None
    got = search(cmd.key, corpus_messages())
    expected = [int(n) for n in ORACLE["search"][query].split()[2:]]
    assert got == expected


def msgs(n: int = 5) -> list[SearchMessage]:
    flags = [
        frozenset({"\\Seen"}),
        frozenset({"\\Seen", "\\Flagged", "$MDNSent"}),
        frozenset({"\\Recent"}),
        frozenset({"\\Deleted", "\\Answered"}),
        frozenset({"\\Draft", "\\Recent", "\\Seen"}),
    ]
    out = []
    for i in range(n):
        data = (
            b"From: a%d@x\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= %d\r\nDate: %d Jun 2024 10:00:00 +0000\r\n"
            b"\r\nbody %d\r\n" % (i, i, i + 1, i)
        )
        out.append(SearchMessage(i + 1, (i + 1) * 10, flags[i], dt.datetime(2024, 6, i + 1, 23, 30), 100 * (i + 1),
                                 data))
    return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"ALL", [1, 2, 3, 4, 5]),
        (b"SEEN", [1, 2, 5]),
        (b"UNSEEN", [3, 4]),
        (b"NEW", [3]),
        (b"OLD", [1, 2, 4]),
        (b"RECENT", [3, 5]),
        (b"FLAGGED", [2]),
        (b"UNFLAGGED", [1, 3, 4, 5]),
        (b"DELETED", [4]),
        (b"UNDELETED", [1, 2, 3, 5]),
        (b"ANSWERED", [4]),
        (b"UNANSWERED", [1, 2, 3, 5]),
        (b"DRAFT", [5]),
        (b"UNDRAFT", [1, 2, 3, 4]),
        (b"KEYWORD $MDNSent", [2]),
        (b"KEYWORD $mdnsent", [2]),
        (b"UNKEYWORD $MDNSent", [1, 3, 4, 5]),
        (b"2:3", [2, 3]),
        (b"4:*", [4, 5]),
        (b"*", [5]),
        (b"*:4", [4, 5]),
        (b"1,3,5", [1, 3, 5]),
        (b"UID 20:30", [2, 3]),
        (b"UID *", [5]),
        (b"UID 45:*", [5]),
        (b"LARGER 250", [3, 4, 5]),
        (b"SMALLER 250", [1, 2]),
        (b"BEFORE 3-Jun-2024", [1, 2]),
        (b"ON 3-Jun-2024", [3]),
        (b'SINCE "3-Jun-2024"', [3, 4, 5]),
        (b"SENTBEFORE 2-Jun-2024", [1]),
        (b"SENTON 2-Jun-2024", [2]),
        (b"SENTSINCE 4-Jun-2024", [4, 5]),
        (b"CHARSET UTF-8 SUBJECT {6}\r\nGR\xc3\x9c\xc3\x9f", [1, 2, 3, 4, 5]),
        (b'SUBJECT "e 3"', [4]),
        (b"FROM a2@", [3]),
        (b"HEADER Date 2024", [1, 2, 3, 4, 5]),
        (b'HEADER X-None ""', []),
        (b"BODY body", [1, 2, 3, 4, 5]),
        (b"BODY subject", []),
        (b"TEXT subject", [1, 2, 3, 4, 5]),
        (b"NOT SEEN", [3, 4]),
        (b"OR FLAGGED DELETED", [2, 4]),
        (b"OR (SEEN FLAGGED) DRAFT", [2, 5]),
        (b"SEEN NOT RECENT", [1, 2]),
        (b"(SEEN (NOT FLAGGED))", [1, 5]),
        (b"NOT (OR 1 2)", [3, 4, 5]),
        (b"OR OR 1 2 3", [1, 2, 3]),
    ],
)
def test_keys(query: bytes, expected: list[int]) -> None:
    cmd = parse_search_cmd(query)
    assert cmd.key is not None
    got = search(cmd.key, msgs())
    assert got == expected


def test_uid_search_returns_uids() -> None:
    cmd = parse_search_cmd(b"2:3")
    assert cmd.key is not None
    assert search(cmd.key, msgs(), uid=True) == [20, 30]


def test_flag_search_does_not_read_the_message() -> None:
    def boom() -> bytes:
        raise AssertionError("message read for a flag search")

    m = SearchMessage(1, 1, frozenset({"\\Seen"}), TODAY, 10, boom)
    cmd = parse_search_cmd(b"SEEN UID 1 LARGER 5")
    assert cmd.key is not None
    assert search(cmd.key, [m]) == [1]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"plain", "plain"),
        (b"=?utf-8?b?R3LDvMOfZQ==?=", "Grüße"),
        (b"=?iso-8859-1?q?caf=E9?= au lait", "café au lait"),
        (b"folded\n line", "folded line"),
        (b"=?bogus-charset?q?x?=", "=?bogus-charset?q?x?="),
        ("raw ümlaut".encode(), "raw ümlaut"),
    ],
)
def test_decode_header_value(raw: bytes, text: str) -> None:
    assert decode_header_value(raw) == text
