"""Postcards: agentmail.format.postcard (build, validate, read_headers, parse, ids).

Golden files: tests/format/golden/*.eml are compared byte for byte. After an intended format change,
regenerate them with `AGENTMAIL_REGEN_GOLDEN=1 .venv/bin/pytest tests/format`,
read the diff by eye, and commit them.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentmail.errors import EX_DATAERR, DataError
from agentmail.format.card import decode_words
from agentmail.format.encoding import format_date
from agentmail.format.postcard import (
    Attachment,
    Draft,
    Limits,
    build,
    key_of,
    normalize_body,
    parse,
    parse_date,
    read_headers,
    reply_title,
    unique_prefixes,
    validate,
)
from tests.support.golden import check_golden

DOMAIN = "agents.localhost"
BOB = "bob@agents.localhost"
ALICE = "alice@agents.localhost"
CAROL = "carol@agents.localhost"
DATE = 1767225600.0  # 2026-01-01 00:00:00 UTC: Thu, 01 Jan 2026 01:00:00 +0100 in CET
ORIGINAL_ID = "<0123456789abcdef0123456789abcdef@agents.localhost>"


def draft(**kw: object) -> Draft:
    args: dict[str, object] = {"sender": BOB, "to": [ALICE], "title": "Hello", "body": "Hi.", "date": DATE}
    args.update(kw)
    return Draft(**args)  # type: ignore[arg-type]


PLAIN = dict(
    title="Build is green again",
    body="The flaky test in tests/test_sync.py was a race on the lock file.\nFixed in 4f2a1c9; please rebase.\n",
)
UNICODE = dict(
    title="Grüße aus Köln — déjà vu with the café build 🎉 and a title long enough to fold",
    body="Zoë fixed the naïve UTF-8 handling.\r\nΑυτό δουλεύει τώρα. 日本語も大丈夫。\r\n",
    cc=[CAROL],
)
URGENT_REPLY = dict(
    sender=ALICE,
    to=[BOB],
    title=reply_title("Build is green again"),
    body="Rebased. The deploy is blocked on your review, please look now.",
    urgent=True,
    receipt=False,
    in_reply_to=ORIGINAL_ID,
    references=[ORIGINAL_ID],
)
WITH_ATTACHMENT = dict(
    title="Logs from the failing run",
    body="Two files attached.",
    attachments=[
        Attachment("run.log", "text/plain", b"line 1\nline 2: error\n" * 3),
        Attachment("résumé des tests.bin", "application/octet-stream", bytes(range(256))),
    ],
)

GOLDEN_CASES = [
    pytest.param("postcard-plain.eml", PLAIN, id="plain"),
    pytest.param("postcard-unicode.eml", UNICODE, id="unicode"),
    pytest.param("postcard-urgent-reply.eml", URGENT_REPLY, id="urgent-reply"),
    pytest.param("postcard-attachment.eml", WITH_ATTACHMENT, id="attachment"),
]


@pytest.mark.parametrize(("name", "fields"), GOLDEN_CASES)
def test_build_matches_golden_file_byte_for_byte(cet: None, name: str, fields: dict[str, object]) -> None:
    check_golden(name, build(draft(**fields), None, DOMAIN).data)


@pytest.mark.parametrize(("name", "fields"), GOLDEN_CASES)
def test_built_postcard_parses_back_with_email_package(cet: None, name: str, fields: dict[str, object]) -> None:
    d = draft(**fields)
    built = build(d, None, DOMAIN)
    msg = email.message_from_bytes(built.data, policy=email.policy.default)
    assert msg["Subject"] == d.title
    assert msg["Message-ID"] == built.message_id
    assert msg["From"] == d.sender
    assert [a.addr_spec for a in msg["To"].addresses] == d.to
    assert email.utils.parsedate_to_datetime(msg["Date"]).timestamp() == DATE
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content() == normalize_body(d.body)
    assert [(p.get_filename(), p.get_payload(decode=True)) for p in msg.iter_attachments()] == [
        (a.filename, a.data) for a in d.attachments
    ]
    assert not msg.defects


@pytest.mark.parametrize(("name", "fields"), GOLDEN_CASES)
def test_built_postcard_parses_back_with_parse(cet: None, name: str, fields: dict[str, object]) -> None:
    d = draft(**fields)
    built = build(d, None, DOMAIN)
    card = parse(built.data)
    assert (card.message_id, card.key) == (built.message_id, built.key)
    assert (card.sender, card.to, card.cc) == (d.sender, d.to, d.cc)
    assert (card.title, card.body, card.date) == (d.title, normalize_body(d.body), DATE)
    assert card.urgent == d.urgent
    assert card.receipt_to == (d.sender if d.receipt else None)
    assert card.in_reply_to == d.in_reply_to
    assert card.references == d.references
    assert card.attachments == [(a.filename, len(a.data)) for a in d.attachments]
    assert not card.is_mdn


def test_build_header_order_for_a_full_postcard(cet: None) -> None:
    built = build(draft(**URGENT_REPLY, cc=[CAROL]), None, DOMAIN)
    names = [line.split(":")[0] for line in built.data.decode().split("\n\n")[0].split("\n")]
    assert names == [
        "From", "To", "Cc", "Date", "Subject", "Message-ID", "In-Reply-To", "References", "Importance",
        "X-Priority", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    ]  # fmt: skip


def test_build_asks_for_receipt_unless_opted_out() -> None:
    assert b"\nDisposition-Notification-To: bob@agents.localhost\n" in build(draft(), None, DOMAIN).data
    assert b"Disposition-Notification-To" not in build(draft(receipt=False), None, DOMAIN).data


def test_build_reply_without_references_gets_parent_as_references() -> None:
    data = build(draft(in_reply_to=ORIGINAL_ID), None, DOMAIN).data
    assert f"\nIn-Reply-To: {ORIGINAL_ID}\nReferences: {ORIGINAL_ID}\n".encode() in data


def test_build_is_deterministic_and_id_is_content_addressed() -> None:
    a, b = build(draft(), None, DOMAIN), build(draft(), None, DOMAIN)
    assert a.data == b.data and a.message_id == b.message_id
    assert a.message_id == f"<{a.key}@{DOMAIN}>"
    assert len(a.key) == 32 and all(c in "0123456789abcdef" for c in a.key)
    assert a.data.endswith(b"\n") and b"\r" not in a.data


@pytest.mark.parametrize(
    "change",
    [
        {"body": "Hi!"},
        {"title": "Hello!"},
        {"date": DATE + 1},
        {"sender": CAROL},
        {"to": [CAROL]},
        {"to": [ALICE, CAROL]},
        {"cc": [CAROL]},
        {"attachments": [Attachment("a.txt", "text/plain", b"x")]},
    ],
)
def test_build_changes_id_when_content_changes(change: dict[str, object]) -> None:
    assert build(draft(**change), None, DOMAIN).key != build(draft(), None, DOMAIN).key


def test_build_date_none_means_now() -> None:
    before = time.time()
    built = build(draft(date=None), None, DOMAIN)
    date = parse(built.data).date
    assert date is not None and int(before) <= date <= time.time()


@pytest.mark.parametrize(
    ("body", "cte"),
    [
        ("plain ascii", "7bit"),
        ("x" * 998, "7bit"),
        ("naïve", "8bit"),
        ("é" * 499, "8bit"),  # 998 octets
        ("x" * 999, "quoted-printable"),
        ("é" * 500, "quoted-printable"),  # 1000 octets on one line
        ("short\n" + "word " * 250, "quoted-printable"),
    ],
)
def test_build_picks_transfer_encoding_by_content_and_line_length(body: str, cte: str) -> None:
    built = build(draft(body=body), None, DOMAIN)
    assert f"\nContent-Transfer-Encoding: {cte}\n".encode() in built.data
    assert all(len(line) <= 998 for line in built.data.split(b"\n"))
    if cte == "quoted-printable":
        assert all(len(line) <= 76 for line in built.data.split(b"\n\n", 1)[1].split(b"\n"))
    msg = email.message_from_bytes(built.data, policy=email.policy.default)
    assert msg.get_content() == normalize_body(body)


@pytest.mark.parametrize(
    ("body", "stored"),
    [("a\r\nb\r\n", b"a\nb\n"), ("a\rb", b"a\nb\n"), ("a\n\n", b"a\n\n"), ("", b"\n")],
)
def test_build_normalizes_line_endings_and_ends_body_with_newline(body: str, stored: bytes) -> None:
    assert build(draft(body=body), None, DOMAIN).data.split(b"\n\n", 1)[1] == stored


@pytest.mark.parametrize(
    "title",
    [
        "word " * 27 + "end",
        "a  double  spaced  title",
        "looks like =?utf-8?B?aGk=?= an encoded word",
        "é" * 140,
        "🎉" * 140,
        "mixed ascii and ünïcödé " * 5,
        "Re: 日本語のタイトル",
    ],
)
def test_build_title_round_trips_and_lines_stay_within_78(title: str) -> None:
    built = build(draft(title=title[:140].strip()), None, DOMAIN)
    head = built.data.split(b"\n\n", 1)[0].decode("ascii")
    assert all(len(line) <= 78 for line in head.split("\n"))
    msg = email.message_from_bytes(built.data, policy=email.policy.default)
    assert msg["Subject"] == title[:140].strip()
    assert read_headers(built.data)["subject"] == title[:140].strip()


def test_build_keeps_an_unbreakable_ascii_title_on_one_valid_line() -> None:
    built = build(draft(title="x" * 140), None, DOMAIN)
    assert b"\nSubject: " + b"x" * 140 + b"\n" in built.data
    assert parse(built.data).title == "x" * 140


def test_build_encoded_words_are_at_most_75_chars_and_never_split_utf8() -> None:
    title = "Grüße 🎉 ü" * 14
    subject = build(draft(title=title[:140]), None, DOMAIN).data.decode().split("Subject: ")[1]
    words = subject.split("\nMessage-ID")[0].replace("\n ", " ").split(" ")
    assert len(words) > 2
    for word in words:
        assert word.startswith("=?utf-8?B?") and word.endswith("?=") and len(word) <= 75
        decode_words(word).encode("utf-8")  # each word alone is whole characters
        assert "\ufffd" not in decode_words(word)


def test_build_multipart_layout_with_attachments() -> None:
    built = build(draft(**WITH_ATTACHMENT), None, DOMAIN)
    text = built.data.decode()
    boundary = f"=_agentmail_{built.key}"
    assert f'Content-Type: multipart/mixed;\n boundary="{boundary}"\n' in text
    parts = text.split(f"--{boundary}")
    assert len(parts) == 5 and parts[-1] == "--\n"
    assert parts[1].startswith("\nContent-Type: text/plain; charset=utf-8\n")
    assert 'Content-Disposition: attachment; filename="run.log"' in parts[2]
    assert "Content-Disposition: attachment;\n filename*=utf-8''r%C3%A9sum%C3%A9%20des%20tests.bin\n" in parts[3]
    assert all(len(line) <= 78 for line in text.split("\n"))
    for part in parts[2:4]:
        assert "Content-Transfer-Encoding: base64" in part
        assert all(len(line) <= 76 for line in part.split("\n\n", 1)[1].split("\n"))


@pytest.mark.parametrize("name", ["a" * 200 + ".txt", "é" * 20 + ".txt"])
def test_build_long_filename_param_moves_to_a_folded_line(name: str) -> None:
    built = build(draft(attachments=[Attachment(name, "text/plain", b"x")]), None, DOMAIN)
    assert b"Content-Disposition: attachment;\n filename" in built.data
    msg = email.message_from_bytes(built.data, policy=email.policy.default)
    assert [p.get_filename() for p in msg.iter_attachments()] == [name]
    assert parse(built.data).attachments == [(name, 1)]


def test_build_long_non_ascii_filename_uses_rfc2231_continuations() -> None:
    name = "é" * 100 + ".txt"
    built = build(draft(attachments=[Attachment(name, "text/plain", b"x")]), None, DOMAIN)
    assert b"filename*1*=" in built.data
    assert all(len(line) <= 78 for line in built.data.split(b"\n"))
    msg = email.message_from_bytes(built.data, policy=email.policy.default)
    assert [p.get_filename() for p in msg.iter_attachments()] == [name]


def test_build_allows_title_and_body_exactly_at_the_limits() -> None:
    validate(draft(title="t" * 140, body="b" * 1400))
    validate(draft(body="b" * 1400 + "\n"))  # the final newline does not count
    validate(draft(body="b\r\n" * 700))  # CRLF counts as one character
    validate(draft(title="t" * 10, body="b" * 20), Limits(max_title=10, max_body=20))
    validate(draft(attachments=[Attachment("a", "text/plain", b"x" * 1024 * 1024)]))


BAD_DRAFTS = [
    pytest.param({"title": ""}, "title is empty", id="empty-title"),
    pytest.param({"title": "   "}, "title is empty", id="blank-title"),
    pytest.param({"title": "t" * 141}, "141 characters", id="long-title"),
    pytest.param({"title": "Hi\nBcc: eve@x"}, "line break", id="title-lf-injection"),
    pytest.param({"title": "Hi\r\nBcc: eve@x"}, "line break", id="title-crlf-injection"),
    pytest.param({"title": "Hi\rX-Evil: 1"}, "line break", id="title-cr"),
    pytest.param({"title": "trailing newline\n"}, "line break", id="title-trailing-lf"),
    pytest.param({"title": "tab\there"}, "U+0009", id="title-tab"),
    pytest.param({"title": "nul\0"}, "U+0000", id="title-nul"),
    pytest.param({"title": "esc\x1b[31m"}, "U+001B", id="title-escape"),
    pytest.param({"title": "nel\x85"}, "U+0085", id="title-nel"),
    pytest.param({"title": "ls\u2028"}, "U+2028", id="title-line-separator"),
    pytest.param({"title": "bad \udcff"}, "surrogate", id="title-surrogate"),
    pytest.param({"body": "b" * 1401}, "1401 characters", id="long-body"),
    pytest.param({"body": "nul\0byte"}, "NUL", id="body-nul"),
    pytest.param({"body": "bad \udcff"}, "surrogate", id="body-surrogate"),
    pytest.param({"to": []}, "no recipient", id="no-recipient"),
    pytest.param({"to": [f"{ALICE}\r\nBcc: eve@x"]}, "line break", id="to-crlf-injection"),
    pytest.param({"to": [ALICE, "carol@x\n"]}, "line break", id="to-lf"),
    pytest.param({"cc": [f"{CAROL}\nBcc: eve@x"]}, "line break", id="cc-injection"),
    pytest.param({"sender": f"{BOB}\r\nX-Evil: 1"}, "line break", id="sender-injection"),
    pytest.param({"sender": ""}, "sender is empty", id="no-sender"),
    pytest.param({"to": ["zoë@x"]}, "not an ASCII mail address", id="non-ascii-address"),
    pytest.param({"in_reply_to": f"{ORIGINAL_ID}\r\nBcc: eve@x"}, "Message-ID", id="in-reply-to-injection"),
    pytest.param({"in_reply_to": "no-brackets@x"}, "Message-ID", id="in-reply-to-bare"),
    pytest.param({"references": ["<a@b>", "<c@d>\nX: y"]}, "Message-ID", id="references-injection"),
    pytest.param({"date": float("nan")}, "date", id="nan-date"),
    pytest.param({"date": -1.0}, "date", id="negative-date"),
    pytest.param({"attachments": [Attachment("big", "text/plain", b"x" * (1024 * 1024 + 1))]}, "limit", id="big"),
    pytest.param({"attachments": [Attachment("../etc/passwd", "text/plain", b"")]}, "'/'", id="file-slash"),
    pytest.param({"attachments": [Attachment("a\\b", "text/plain", b"")]}, "'\\\\'", id="file-backslash"),
    pytest.param({"attachments": [Attachment('a"b', "text/plain", b"")]}, "'\"'", id="file-quote"),
    pytest.param({"attachments": [Attachment("a\r\nb", "text/plain", b"")]}, "control", id="file-crlf"),
    pytest.param({"attachments": [Attachment("", "text/plain", b"")]}, "not a file name", id="file-empty"),
    pytest.param({"attachments": [Attachment("..", "text/plain", b"")]}, "not a file name", id="file-dotdot"),
    pytest.param({"attachments": [Attachment("a", "text/plain\nX: y", b"")]}, "type/subtype", id="ctype-inj"),
    pytest.param({"attachments": [Attachment("a", "text", b"")]}, "type/subtype", id="ctype-no-slash"),
]


@pytest.mark.parametrize(("change", "message"), BAD_DRAFTS)
def test_validate_refuses_with_data_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(DataError) as info:
        validate(draft(**change))
    assert info.value.exit_code == EX_DATAERR
    assert message in str(info.value)
    with pytest.raises(DataError):
        build(draft(**change), None, DOMAIN)


def test_validate_uses_custom_limits() -> None:
    with pytest.raises(DataError, match="limit is 10"):
        validate(draft(title="t" * 11), Limits(max_title=10))
    with pytest.raises(DataError, match="limit is 5"):
        validate(draft(body="b" * 6), Limits(max_body=5))
    with pytest.raises(DataError, match="limit is 3"):
        validate(draft(attachments=[Attachment("a", "text/plain", b"abcd")]), Limits(max_attachments=3))


def test_limits_from_config_reads_matching_attributes() -> None:
    class Cfg:
        max_title = 50
        max_body = 60
        max_attachments = 70

    assert Limits.from_config(Cfg()) == Limits(50, 60, 70)
    assert Limits.from_config(object()) == Limits()


def test_draft_accepts_single_recipient_string_and_copies_lists() -> None:
    to = [ALICE]
    d = Draft(BOB, to, "t", "b")
    to.append(CAROL)
    assert d.to == [ALICE] and Draft(BOB, ALICE, "t", "b").to == [ALICE]
    assert (d.cc, d.references, d.attachments, d.receipt, d.urgent, d.date) == ([], [], [], True, False, None)


@pytest.mark.parametrize(
    ("ts", "offset", "expected"),
    [
        (0, 0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (DATE, 3600, "Thu, 01 Jan 2026 01:00:00 +0100"),
        (DATE, -12600, "Wed, 31 Dec 2025 20:30:00 -0330"),
        (1782993845.9, 19800, "Thu, 02 Jul 2026 17:34:05 +0530"),
    ],
)
def test_format_date_is_rfc5322_with_english_names(ts: float, offset: int, expected: str) -> None:
    assert format_date(ts, offset) == expected
    assert email.utils.parsedate_to_datetime(expected).timestamp() == int(ts)


def test_format_date_uses_local_offset_of_the_date(cet: None) -> None:
    assert format_date(DATE) == "Thu, 01 Jan 2026 01:00:00 +0100"
    assert format_date(DATE + 182 * 86400) == "Thu, 02 Jul 2026 02:00:00 +0200"


@pytest.mark.parametrize(
    ("message_id", "key"),
    [
        (ORIGINAL_ID, "0123456789abcdef0123456789abcdef"),
        (f"  {ORIGINAL_ID}\n", "0123456789abcdef0123456789abcdef"),
        ("<CAF0123456789ABCDEF@mail.gmail.com>", None),
        ("<0123456789ABCDEF0123456789ABCDEF@x>", None),  # not lowercase hex: hashed
        ("<0123456789abcdef@x>", None),
    ],
)
def test_key_of_uses_our_hex_or_hashes_the_id(message_id: str, key: str | None) -> None:
    import hashlib

    expected = key or hashlib.sha256(message_id.strip().encode()).hexdigest()[:32]
    assert key_of(message_id) == expected


@pytest.mark.parametrize(
    ("keys", "min_len", "expected"),
    [
        ([], 8, {}),
        (["aaaaaaaa1111", "bbbbbbbb2222"], 8, {"aaaaaaaa1111": "aaaaaaaa", "bbbbbbbb2222": "bbbbbbbb"}),
        (["abcdefgh1", "abcdefgh2"], 8, {"abcdefgh1": "abcdefgh1", "abcdefgh2": "abcdefgh2"}),
        (["abcdefgh10", "abcdefgh11", "zz"], 8, {"abcdefgh10": "abcdefgh10", "abcdefgh11": "abcdefgh11", "zz": "zz"}),
        (["abc123", "abd456", "abc123"], 2, {"abc123": "abc", "abd456": "abd"}),
        (["abcdefghij", "abcdefghijkl"], 4, {"abcdefghij": "abcdefghij", "abcdefghijkl": "abcdefghijk"}),
    ],
)
def test_unique_prefixes_are_shortest_unambiguous(keys: list[str], min_len: int, expected: dict[str, str]) -> None:
    assert unique_prefixes(keys, min_len) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Build is green", "Re: Build is green"),
        ("Re: Build is green", "Re: Build is green"),
        ("RE: shouting", "RE: shouting"),
        ("re:lower", "re:lower"),
        ("Regarding the plan", "Re: Regarding the plan"),
        ("", "Re:"),
        ("line\r\nbreak", "Re: line  break"),
        ("x" * 140, "Re: " + "x" * 136),
    ],
)
def test_reply_title_adds_re_once_and_fits(title: str, expected: str) -> None:
    assert reply_title(title) == expected
    assert len(reply_title(title)) <= 140


def test_reply_title_respects_custom_limit() -> None:
    assert reply_title("abcdefgh", 8) == "Re: abcd"


SAMPLE = (
    b"Return-Path: <bob@x>\r\n"
    b"From: =?utf-8?q?Bob_B=C3=BCilder?= <bob@agents.localhost>\r\n"
    b"To: alice@agents.localhost,\r\n\tcarol@agents.localhost\r\n"
    b"Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n =?UTF-8?Q?_und_mehr?= plain\r\n"
    b"X-Dup: first\r\nX-Dup: second\r\n"
    b"Date: Thu, 01 Jan 2026 01:00:00 +0100\r\n"
    b"\r\n"
    b"Body-Looking: not a header\r\n"
)


def test_read_headers_unfolds_decodes_lowercases_and_keeps_first() -> None:
    headers = read_headers(SAMPLE)
    assert headers["from"] == "Bob Büilder <bob@agents.localhost>"
    assert headers["to"] == "alice@agents.localhost, carol@agents.localhost"
    assert headers["subject"] == "Grüße und mehr plain"
    assert headers["x-dup"] == "first"
    assert "body-looking" not in headers


def test_read_headers_gives_same_result_for_crlf_and_lf() -> None:
    assert read_headers(SAMPLE) == read_headers(SAMPLE.replace(b"\r\n", b"\n"))


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?utf-8?B?aGkNCkJjYzogZXZlQHg=?=", "hi  Bcc: eve@x"),  # encoded CRLF stays one line
        ("=?utf-8?Q?a=0Ab?=", "a b"),
        ("=?bogus-charset?Q?caf=C3=A9?=", "café"),
        ("=?utf-8?X?broken?= text", "=?utf-8?X?broken?= text"),
        ("=?utf-8?B?not base64!?=", "=?utf-8?B?not base64!?="),
        ("=?iso-8859-1?q?caf=E9?= =?utf-8?b?w6k=?=", "caféé"),
        ("=?utf-8*en?Q?hello?=", "hello"),
        ("a =? b ?= c", "a =? b ?= c"),
    ],
)
def test_read_headers_decodes_words_safely(raw: str, decoded: str) -> None:
    assert read_headers(f"Subject: {raw}\n\nbody".encode())["subject"] == decoded


def test_read_headers_on_headers_only_and_empty_input() -> None:
    assert read_headers(b"Subject: no body") == {"subject": "no body"}
    assert read_headers(b"") == {}
    assert read_headers(b"\n\nSubject: body") == {}


def _fresh_modules(code: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True, env=env, cwd=Path(__file__).resolve().parents[2],
    ).stdout  # fmt: skip
    return set(out.split())


def test_send_fast_path_imports_no_heavy_modules() -> None:
    base = _fresh_modules("")
    used = _fresh_modules(
        "from agentmail.format import address, postcard\n"
        "address.parse_address('Bob', 'x.localhost')\n"
        "b = postcard.build(postcard.Draft('a@x', ['b@x'], 'Grüße', 'hi'), None, 'x')\n"
        "postcard.read_headers(b.data)\n"
    )
    heavy = {"email", "re", "typing", "dataclasses", "hashlib", "secrets", "difflib", "json", "random"}
    assert (used - base) & heavy == set()


NASTY = [
    b"",
    b"\n",
    b"\r\n\r\n",
    b"\x00\xff\xfe" * 50,
    b"Subject: =?utf-8?B?====?=\n\n",
    b"Content-Type: multipart/mixed; boundary=\n\n--\n--\n",
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=x-unknown\n\n\xff\n--b--\n',
    b"Content-Type: text/plain; charset=base64\n\nhello",
    b"Content-Transfer-Encoding: base64\n\n!!!not base64",
    b"Content-Transfer-Encoding: quoted-printable\n\n=ZZ=\n",
    b"From: <<<@@@>>>\nTo: ,,,;;;\nDate: yesterday\nMessage-ID: no brackets\n\n",
    b"Message-ID: <a@b\nReferences: <<x> <y@z>>\nIn-Reply-To: >\n\n",
    b"Content-Type: message/rfc822\n\nnot a message",
    b"Content-Type: multipart/report; report-type=disposition-notification\n\n",
    b"X-Priority: \nImportance: \n\n",
    b"Subject: " + b"a" * 100000 + b"\n\n",
    (b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n' * 30),
    b"Content-Disposition: attachment; filename*=bogus''%ZZ\n\nx",
]


@pytest.mark.parametrize("data", NASTY)
def test_parse_never_crashes_on_nasty_input(data: bytes) -> None:
    card = parse(data)
    assert len(card.key) == 32
    assert "\n" not in card.title and "\r" not in card.title


def test_parse_never_crashes_on_random_mutations() -> None:
    rng = random.Random(8098)
    seeds = [build(draft(**fields), None, DOMAIN).data for fields in (PLAIN, UNICODE, URGENT_REPLY, WITH_ATTACHMENT)]
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 20)):
            pos = rng.randrange(len(data))
            data[pos : pos + rng.randint(0, 5)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 5)))
        card = parse(bytes(data))
        read_headers(bytes(data))
        assert len(card.key) == 32
    for _ in range(100):
        parse(bytes(rng.randrange(256) for _ in range(rng.randint(0, 400))))


def test_parse_message_without_id_gets_key_from_content() -> None:
    a, b = parse(b"Subject: one\n\nx"), parse(b"Subject: two\n\nx")
    assert a.message_id == "" and len(a.key) == 32 and a.key != b.key


THUNDERBIRD = b"""\
Message-ID: <5d6c1a2e-8f1b-4c1e-9d3a-2b7e1f0c9a11@example.org>
Date: Fri, 2 Jan 2026 09:15:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Subject: =?UTF-8?Q?Re=3A_Build_is_gr=C3=BCn?=
To: Bob <bob@agents.localhost>
Cc: "Builder, Carol" <carol@agents.localhost>
References: <0123456789abcdef0123456789abcdef@agents.localhost>
In-Reply-To: <0123456789abcdef0123456789abcdef@agents.localhost>
From: Human Person <human@agents.localhost>
X-Priority: 2 (High)
Content-Type: multipart/alternative;
 boundary="------------abc"

This is a multi-part message in MIME format.
--------------abc
Content-Type: text/plain; charset=ISO-8859-1; format=flowed
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe, looks good.

--------------abc
Content-Type: text/html; charset=UTF-8

<p>Gr\xc3\xbc\xc3\x9fe</p>
--------------abc--
"""


def test_parse_reads_a_thunderbird_reply() -> None:
    card = parse(THUNDERBIRD)
    assert card.title == "Re: Build is grün"
    assert card.sender == "human@agents.localhost"
    assert card.to == [BOB] and card.cc == [CAROL]
    assert card.body == "Grüße, looks good.\n"  # the last LF belongs to the boundary
    assert card.urgent and card.receipt_to is None
    assert card.in_reply_to == ORIGINAL_ID and card.references == [ORIGINAL_ID]
    assert card.key == key_of("<5d6c1a2e-8f1b-4c1e-9d3a-2b7e1f0c9a11@example.org>")
    assert card.date == parse_date("Fri, 2 Jan 2026 09:15:00 +0100") == DATE + 86400 + 8 * 3600 + 15 * 60
    assert card.attachments == []


@pytest.mark.parametrize(
    ("headers", "urgent"),
    [
        (b"Importance: High\n", True),
        (b"X-Priority: 1 (Highest)\n", True),
        (b"X-Priority: 2\n", True),
        (b"X-Priority: 3 (Normal)\n", False),
        (b"Priority: urgent\n", True),
        (b"Importance: low\n", False),
        (b"", False),
    ],
)
def test_parse_urgency_from_importance_and_priority(headers: bytes, urgent: bool) -> None:
    assert parse(headers + b"Subject: s\n\nbody").urgent is urgent


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu, 01 Jan 2026 01:00:00 +0100", DATE),
        ("1 Jan 2026 00:00:00 GMT", DATE),
        ("", None),
        ("yesterday", None),
        ("Thu, 99 Foo 2026 99:99:99 +9999", None),
    ],
)
def test_parse_date_returns_epoch_or_none(value: str, expected: float | None) -> None:
    assert parse_date(value) == expected


def test_header_text_never_writes_a_line_break_of_its_input() -> None:
    """Callers refuse CR/LF in titles first; header_text itself must still never turn one into a new header line."""
    from agentmail.format.encoding import header_text

    for text in ("a\nBcc: mallory@example.com", "a\r\nX-Evil: 1", "tab\there", "bell\x07"):
        out = header_text("Subject", text)
        lines = out.split("\n")
        assert lines[0].startswith("Subject: ") and all(line.startswith(" ") for line in lines[1:]), out
        assert "\r" not in out and "\x07" not in out and "\t" not in out and "=?" in out, out  # encoded words
