"""Read receipts: Message Disposition Notifications (RFC 8098).

`build_mdn` writes the receipt agentmail sends when a postcard asking for one is displayed (read by
its agent) or processed (filed by the clerk). `parse_mdn` reads those and the ones mail clients
such as Thunderbird send ("manual-action/MDN-sent-manually; displayed").
"""

from __future__ import annotations

import time

from ..errors import DataError, UsageError
from .card import Record, addresses, content_type, msgids, parse_date, raw_headers, read_headers
from .encoding import content_key, encode_body, format_date, has_control, header_text, one_line
from .postcard import Built

DISPOSITIONS = ("displayed", "processed")
AUTOMATIC = "automatic-action/MDN-sent-automatically"  # RFC 8098 3.2.6.1/3.2.6.2


class MdnInfo(Record):
    """What a receipt says: which message, read by whom, how."""

    __slots__ = ("original_message_id", "final_recipient", "disposition", "action_mode", "reporter", "date")

    def __init__(
        self,
        original_message_id: str,
        final_recipient: str,
        disposition: str,
        action_mode: str,
        reporter: str,
        date: float | None,
    ) -> None:
        self.original_message_id = original_message_id
        self.final_recipient = final_recipient  # the address, without the "rfc822;" type
        self.disposition = disposition  # "displayed", "processed", "deleted", ...
        self.action_mode = action_mode  # e.g. "automatic-action/MDN-sent-automatically"
        self.reporter = reporter  # the MDN's From address
        self.date = date


def _check(what: str, value: str) -> None:
    if not value.strip() or has_control(value) or not value.isascii():
        raise DataError(f"{what} {value!r} is empty, not ASCII or contains a control character")


def build_mdn(
    *,
    reader: str,
    original_message_id: str,
    original_sender: str,
    original_title: str,
    disposition: str,
    domain: str,
    date: float | None = None,
    reporting_ua: str = "agentmail",
) -> Built:
    """The receipt `reader` sends to `original_sender` for a message (RFC 8098 3).

    Like postcards it has a content-addressed Message-ID; it carries Auto-Submitted: auto-replied
    (RFC 3834 5) and never asks for a receipt itself (RFC 8098 2.1).
    """
    if disposition not in DISPOSITIONS:
        raise UsageError(f"disposition must be one of {', '.join(DISPOSITIONS)}, not {disposition!r}")
    _check("the reader", reader)
    _check("the original sender", original_sender)
    _check("the original Message-ID", original_message_id)
    _check("the Reporting-UA", reporting_ua)
    mid = original_message_id.strip()
    if not mid.startswith("<"):
        mid = f"<{mid}>"
    title = one_line(original_title)[:140].rstrip() or "(no title)"
    subject = ("Read: " if disposition == "displayed" else "Filed: ") + title
    date_value = format_date(time.time() if date is None else date)
    key = content_key("mdn-v1", [reader, original_sender, date_value, mid, subject, disposition, reporting_ua])
    message_id = f"<{key}@{domain}>"
    boundary = f"=_agentmail_{key}"

    if disposition == "displayed":
        human = f"Your postcard to {reader} was displayed to its recipient.\n"
    else:
        human = f"Your postcard to {reader} was filed by the recipient's clerk.\n"
    human += f"\nTitle: {title}\nMessage-ID: {mid}\n"
    cte, text = encode_body(human)
    head = "\n".join(
        [
            f"From: {reader}",
            f"To: {original_sender}",
            f"Date: {date_value}",
            header_text("Subject", subject),
            f"Message-ID: {message_id}",
            f"In-Reply-To: {mid}",
            f"References: {mid}",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=disposition-notification;",
            f' boundary="{boundary}"',
        ]
    )
    # RFC 8098 3.1: the second part is message/disposition-notification with these fields.
    report = (
        f"Reporting-UA: {reporting_ua}\n"
        f"Final-Recipient: rfc822;{reader}\n"
        f"Original-Message-ID: {mid}\n"
        f"Disposition: {AUTOMATIC}; {disposition}\n"
    )
    data = (
        f"{head}\n\n--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n"
    ).encode() + text
    data += (
        f"\n--{boundary}\nContent-Type: message/disposition-notification\n"
        f"Content-Transfer-Encoding: 7bit\n\n{report}\n--{boundary}--\n"
    ).encode()
    return Built(message_id, key, data)


def is_mdn(headers: dict[str, str]) -> bool:
    """True for multipart/report; report-type=disposition-notification (works on read_headers())."""
    ctype, params = content_type(headers.get("content-type", ""))
    return ctype == "multipart/report" and params.get("report-type", "").lower() == "disposition-notification"


def _report_fields(data: bytes) -> dict[str, str] | None:
    """The fields of the message/disposition-notification part, or None."""
    from email import message_from_bytes
    from email.message import Message

    msg = message_from_bytes(data)
    for part in msg.walk():
        if part.get_content_type() != "message/disposition-notification":
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            # The parser reads message/* bodies as header blocks: the fields are its "headers".
            return {k.lower(): one_line(str(v)) for k, v in reversed(payload[0].items())}
        raw = part.get_payload(decode=True)
        if isinstance(raw, bytes):
            return read_headers(raw)
    return None


def parse_mdn(data: bytes) -> MdnInfo | None:
    """What an MDN reports, or None if `data` is not an MDN or has no usable report part."""
    try:
        headers = read_headers(data)
        if not is_mdn(headers):
            return None
        fields = _report_fields(data)
        if fields is None or "disposition" not in fields:
            return None
        # RFC 8098 3.2.6: Disposition: action-mode/sending-mode; type[/modifier]
        mode, _, kind = fields["disposition"].partition(";")
        kind = kind.strip().lower().partition("/")[0].strip()
        # RFC 8098 3.2.4: Final-Recipient: address-type; address ("rfc822;bob@x", "rfc822; bob@x")
        _, semi, addr = fields.get("final-recipient", "").partition(";")
        final = addr.strip() if semi else fields.get("final-recipient", "").strip()
        raw = raw_headers(data)
        ids = msgids(fields.get("original-message-id", "")) or msgids(raw.get("in-reply-to", ""))
        sender = addresses(raw.get("from", ""))
        return MdnInfo(
            original_message_id=ids[0] if ids else "",
            final_recipient=final,
            disposition=kind,
            action_mode=mode.strip(),
            reporter=sender[0] if sender else "",
            date=parse_date(headers.get("date", "")),
        )
    except Exception:
        return None
