"""Read receipts: agentmail.format.mdn (RFC 8098 MDNs).

Golden files: tests/format/golden/mdn-*.eml are compared byte for byte. After an intended format change,
regenerate them with `AGENTMAIL_REGEN_GOLDEN=1 .venv/bin/pytest tests/format`,
read the diff by eye, and commit them.
"""

from __future__ import annotations

import email
import email.message
import email.policy

import pytest

from agentmail.errors import DataError, UsageError
from agentmail.format.mdn import AUTOMATIC, MdnInfo, build_mdn, is_mdn, parse_mdn
from agentmail.format.postcard import Draft, build, parse, read_headers
from tests.support.golden import check_golden

DOMAIN = "agents.localhost"
BOB = "bob@agents.localhost"
ALICE = "alice@agents.localhost"
DATE = 1767225600.0  # 2026-01-01 00:00:00 UTC
ORIGINAL_ID = "<0123456789abcdef0123456789abcdef@agents.localhost>"


def mdn(**kw: object) -> bytes:
    args: dict[str, object] = dict(
        reader=ALICE,
        original_message_id=ORIGINAL_ID,
        original_sender=BOB,
        original_title="Build is green again",
        disposition="displayed",
        domain=DOMAIN,
        date=DATE,
    )
    args.update(kw)
    return build_mdn(**args).data  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        pytest.param("mdn-displayed.eml", {}, id="displayed"),
        pytest.param(
            "mdn-processed-unicode.eml", {"disposition": "processed", "original_title": "Grüße 🎉"}, id="filed"
        ),
    ],
)
def test_build_mdn_matches_golden_file_byte_for_byte(cet: None, name: str, fields: dict[str, object]) -> None:
    check_golden(name, mdn(**fields))


@pytest.mark.parametrize(("disposition", "prefix"), [("displayed", "Read: "), ("processed", "Filed: ")])
def test_build_mdn_parses_back_with_email_package(disposition: str, prefix: str) -> None:
    built = build_mdn(
        reader=ALICE, original_message_id=ORIGINAL_ID, original_sender=BOB, original_title="Grüße",
        disposition=disposition, domain=DOMAIN, date=DATE,
    )  # fmt: skip
    msg = email.message_from_bytes(built.data, policy=email.policy.default)
    assert msg["Subject"] == prefix + "Grüße"
    assert msg["Message-ID"] == built.message_id == f"<{built.key}@{DOMAIN}>"
    assert (msg["From"], msg["To"]) == (ALICE, BOB)
    assert msg["In-Reply-To"] == msg["References"] == ORIGINAL_ID
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Disposition-Notification-To"] is None
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "disposition-notification"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/disposition-notification"]
    assert "Grüße" in parts[0].get_content()
    payload = parts[1].get_payload()
    assert isinstance(payload, list) and isinstance(payload[0], email.message.Message)
    report = payload[0]
    assert report["Reporting-UA"] == "agentmail"
    assert report["Final-Recipient"] == f"rfc822;{ALICE}"
    assert report["Original-Message-ID"] == ORIGINAL_ID
    assert report["Disposition"] == f"automatic-action/MDN-sent-automatically; {disposition}"
    assert not msg.defects
    assert b"\r" not in built.data and built.data.endswith(b"--\n")


@pytest.mark.parametrize("disposition", ["displayed", "processed"])
def test_parse_mdn_reads_back_what_build_mdn_wrote(disposition: str) -> None:
    info = parse_mdn(mdn(disposition=disposition))
    assert info == MdnInfo(ORIGINAL_ID, ALICE, disposition, AUTOMATIC, ALICE, DATE)


def test_build_mdn_is_deterministic_and_content_addressed() -> None:
    assert mdn() == mdn()
    assert mdn() != mdn(date=DATE + 1)
    assert mdn() != mdn(disposition="processed")
    assert read_headers(mdn())["message-id"] != read_headers(mdn(reader="carol@agents.localhost"))["message-id"]


def test_build_mdn_adds_brackets_to_bare_original_id() -> None:
    data = mdn(original_message_id="0123456789abcdef0123456789abcdef@agents.localhost")
    assert f"\nIn-Reply-To: {ORIGINAL_ID}\n".encode() in data
    assert f"\nOriginal-Message-ID: {ORIGINAL_ID}\n".encode() in data


@pytest.mark.parametrize(
    ("title", "subject"),
    [
        ("evil\r\nBcc: eve@x", "Read: evil  Bcc: eve@x"),
        ("", "Read: (no title)"),
        ("x" * 300, "Read: " + "x" * 140),
    ],
)
def test_build_mdn_makes_foreign_titles_one_safe_line(title: str, subject: str) -> None:
    data = mdn(original_title=title)
    assert read_headers(data)["subject"] == subject
    assert b"\nBcc:" not in data


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"disposition": "deleted"}, UsageError),
        ({"disposition": "Displayed"}, UsageError),
        ({"reader": f"{ALICE}\r\nBcc: eve@x"}, DataError),
        ({"original_sender": f"{BOB}\n"}, DataError),
        ({"original_sender": ""}, DataError),
        ({"original_message_id": f"{ORIGINAL_ID}\r\nX: y"}, DataError),
        ({"reporting_ua": "agentmail\nX: y"}, DataError),
    ],
)
def test_build_mdn_refuses_bad_arguments(change: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        mdn(**change)


def test_is_mdn_works_on_read_headers_output() -> None:
    assert is_mdn(read_headers(mdn()))
    assert not is_mdn(read_headers(build(Draft(BOB, [ALICE], "t", "b"), None, DOMAIN).data))
    assert not is_mdn({"content-type": "multipart/report; report-type=delivery-status"})
    assert is_mdn({"content-type": 'Multipart/Report; boundary="x"; Report-Type="Disposition-Notification"'})
    assert not is_mdn({})


def test_parse_sees_mdn_as_card_with_is_mdn() -> None:
    card = parse(mdn())
    assert card.is_mdn and card.receipt_to is None and card.attachments == []
    assert card.title == "Read: Build is green again"
    assert card.in_reply_to == ORIGINAL_ID
    assert "was displayed" in card.body and "Title: Build is green again" in card.body


THUNDERBIRD_MDN = b"""\
Content-Type: multipart/report; report-type=disposition-notification;
 boundary="------------Ue9QnNpO3W0d2cWmVj8YbT1X"
Message-ID: <8c1f2a3b-4d5e-6f70-8192-a3b4c5d6e7f8@agents.localhost>
Date: Fri, 2 Jan 2026 09:15:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
From: Human Person <human@agents.localhost>
Subject: Return Receipt (displayed) - Build is green again
To: bob@agents.localhost

This is a multi-part message in MIME format.
--------------Ue9QnNpO3W0d2cWmVj8YbT1X
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

This is a Return Receipt for the mail that you sent to
human@agents.localhost.

Note: This Return Receipt only acknowledges that the message was
displayed on the recipient's computer. There is no guarantee that the
recipient has read or understood the message contents.

--------------Ue9QnNpO3W0d2cWmVj8YbT1X
Content-Type: message/disposition-notification; name="MDNPart2.txt"
Content-Disposition: inline
Content-Transfer-Encoding: 7bit

Reporting-UA: agents.localhost; Mozilla Thunderbird
Final-Recipient: rfc822;human@agents.localhost
Original-Message-ID: <0123456789abcdef0123456789abcdef@agents.localhost>
Disposition: manual-action/MDN-sent-manually; displayed

--------------Ue9QnNpO3W0d2cWmVj8YbT1X
Content-Type: text/rfc822-headers; name="MDNPart3.txt"
Content-Disposition: inline
Content-Transfer-Encoding: 7bit

From: bob@agents.localhost
To: human@agents.localhost
Subject: Build is green again
Message-ID: <0123456789abcdef0123456789abcdef@agents.localhost>

--------------Ue9QnNpO3W0d2cWmVj8YbT1X--
"""


def test_parse_mdn_reads_thunderbird_manual_receipt() -> None:
    info = parse_mdn(THUNDERBIRD_MDN)
    assert info is not None
    assert info.original_message_id == ORIGINAL_ID
    assert info.final_recipient == "human@agents.localhost"
    assert info.disposition == "displayed"
    assert info.action_mode == "manual-action/MDN-sent-manually"
    assert info.reporter == "human@agents.localhost"
    assert info.date == DATE + 86400 + 8 * 3600 + 15 * 60
    assert parse(THUNDERBIRD_MDN).attachments == []


@pytest.mark.parametrize(
    ("old", "new", "field", "value"),
    [
        (b"rfc822;human@", b"rfc822; human@", "final_recipient", "human@agents.localhost"),
        (b"rfc822;human@", b"RFC822 ;  human@", "final_recipient", "human@agents.localhost"),
        (b"; displayed\n", b";displayed/error\n", "disposition", "displayed"),
        (b"; displayed\n", b"; Deleted\n", "disposition", "deleted"),
        (b"MDN-sent-manually; displayed\n", b"MDN-sent-manually;\n displayed\n", "disposition", "displayed"),
        (b"\n", b"\r\n", "original_message_id", ORIGINAL_ID),
    ],
)
def test_parse_mdn_tolerates_spacing_case_modifiers_and_crlf(old: bytes, new: bytes, field: str, value: str) -> None:
    info = parse_mdn(THUNDERBIRD_MDN.replace(old, new))
    assert info is not None
    assert getattr(info, field) == value


def test_parse_mdn_falls_back_to_in_reply_to_without_original_message_id() -> None:
    data = THUNDERBIRD_MDN.replace(b"Original-Message-ID: <0123", b"X-Other: <0123").replace(
        b"To: bob@agents.localhost\n\nThis", b"To: bob@agents.localhost\nIn-Reply-To: <p@q>\n\nThis"
    )
    info = parse_mdn(data)
    assert info is not None and info.original_message_id == "<p@q>"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage \xff\x00",
        b"Subject: hi\n\nnot a report",
        THUNDERBIRD_MDN.replace(b"report-type=disposition-notification", b"report-type=delivery-status"),
        THUNDERBIRD_MDN.replace(b"message/disposition-notification", b"text/plain"),
        THUNDERBIRD_MDN.replace(b"Disposition: manual", b"X-Nothing: manual"),
        b"Content-Type: multipart/report; report-type=disposition-notification\n\n",
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"\n\n--b\n--b--\n',
    ],
)
def test_parse_mdn_returns_none_for_non_mdns_and_broken_ones(data: bytes) -> None:
    assert parse_mdn(data) is None


def test_parse_mdn_returns_none_for_a_postcard() -> None:
    assert parse_mdn(build(Draft(BOB, [ALICE], "t", "b"), None, DOMAIN).data) is None
