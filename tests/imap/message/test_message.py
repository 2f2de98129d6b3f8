"""FETCH data from message bytes, checked byte for byte against Dovecot 2.3's answers.

tests/imap/corpus/dovecot.json was recorded by tests/imap/dovecot_oracle.py (Dovecot 2.3.19.1
serving the same LF Maildir files); re-run that script when the corpus changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentmail.imap.message.crlf import to_crlf
from agentmail.imap.message.fetch import message_item, section_bytes
from agentmail.imap.message.mime import parse_message
from agentmail.imap.protocol.fetchatt import FetchAtt, Section, parse_fetch_atts
from agentmail.imap.protocol.lexer import Reader
from agentmail.imap.protocol.response import FetchResponse
from agentmail.store.maildir import crlf_size, to_lf

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ORACLE = json.loads((CORPUS / "dovecot.json").read_text())
NAMES = ORACLE["names"]
CASES = [
    (name, item)
    for name in NAMES
    for item, expected in ORACLE["fetch"][name].items()
    if expected  # "" marks a command Dovecot rejected (BODY[MIME])
]


def served(name: str) -> bytes:
    return to_crlf((CORPUS / f"{name}.eml").read_bytes())


def fetch_line(name: str, item: str) -> bytes:
    seq = NAMES.index(name) + 1
    root = parse_message(served(name))
    atts = parse_fetch_atts(Reader(item.encode()))
    return FetchResponse(seq, [(a.response_name, message_item(a, root)) for a in atts]).to_bytes()


@pytest.mark.parametrize(("name", "item"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_matches_dovecot(name: str, item: str) -> None:
    expected = ORACLE["fetch"][name][item].encode("latin-1")
    assert fetch_line(name, item) == expected


@pytest.mark.parametrize(
    ("lf", "crlf"),
    [
        (b"", b""),
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"a\r\nb\n", b"a\r\nb\r\n"),
        (b"no newline", b"no newline"),
        (b"\n\n", b"\r\n\r\n"),
        (b"lone\rcr\n", b"lone\rcr\r\n"),
        (b"\r\n\n\r\n", b"\r\n\r\n\r\n"),
    ],
)
def test_crlf(lf: bytes, crlf: bytes) -> None:
    assert to_crlf(lf) == crlf
    assert crlf_size(lf) == len(crlf)


def test_to_lf_round_trip() -> None:
    for name in NAMES:
        raw = (CORPUS / f"{name}.eml").read_bytes()
        assert to_lf(to_crlf(raw)) == raw


@pytest.mark.parametrize("name", NAMES)
def test_size_is_crlf_size(name: str) -> None:
    raw = (CORPUS / f"{name}.eml").read_bytes()
    expected = ORACLE["fetch"][name]["RFC822.SIZE"]
    assert expected == f"* {NAMES.index(name) + 1} FETCH (RFC822.SIZE {crlf_size(raw)})\r\n"


def test_sections_partition_the_message() -> None:
    root = parse_message(served("multipart"))
    header = section_bytes(root, Section(text="HEADER"))
    text = section_bytes(root, Section(text="TEXT"))
    assert header + text == served("multipart")
    assert section_bytes(root, Section((3,))) == b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    assert section_bytes(root, Section((2, 2), "MIME")).startswith(b"Content-Type: text/html")


def test_pathological_nesting_is_bounded() -> None:
    msg = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(200)
    ) + b"\r\nbody\r\n"
    root = parse_message(msg)
    depth = 0
    part = root
    while part.children:
        part = part.children[0]
        depth += 1
    assert depth <= 60


def test_multipart_without_parts_is_empty_text() -> None:
    msg = b"Content-Type: multipart/mixed; boundary=x\r\n\r\nno parts here\r\n"
    root = parse_message(msg)
    out = FetchResponse(1, [("BODY", message_item(FetchAtt("BODY"), root))]).to_bytes()
    assert out == b'* 1 FETCH (BODY (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed"))\r\n'
