"""Reading messages: a fast header reader for hooks and listings, and a full, never-failing parse.

`read_headers` imports nothing beyond binascii: RFC 2047 words are decoded by hand. `parse` and
`parse_date` import the `email` package lazily. Everything read from a message is untrusted: any
bytes must give a Card, and decoded values never carry control characters (an encoded CR/LF in a
Subject must not start a new line in a hook's output).
"""

from __future__ import annotations

import binascii

from .encoding import one_line, sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message


class Record:
    """A plain value class: __slots__ fields, repr and equality (cheaper to import than dataclasses)."""

    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


# --- RFC 2047 encoded words ---------------------------------------------------------------------


def _decode_word(charset: str, enc: str, text: str) -> str | None:
    try:
        raw = text.encode("ascii")
        if enc == "B":
            data = binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
        else:  # "Q": QP with "_" for space (RFC 2047 4.2)
            data = binascii.a2b_qp(raw, header=True)
        try:
            return data.decode(charset.partition("*")[0], "replace")  # RFC 2231 5: charset*lang
        except LookupError:
            return data.decode("utf-8", "replace")
    except Exception:
        return None


def decode_words(value: str) -> str:
    """`value` with RFC 2047 encoded words (`=?charset?B|Q?text?=`) decoded; whitespace between two
    adjacent encoded words is dropped (RFC 2047 6.2). Malformed words are left as they are."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    after_word = False
    while True:
        start = value.find("=?", pos)
        if start < 0:
            break
        q1 = value.find("?", start + 2)
        end = value.find("?=", q1 + 3) if q1 > 0 and value[q1 + 2 : q1 + 3] == "?" else -1
        decoded = None
        if end > 0:
            charset, enc, text = value[start + 2 : q1], value[q1 + 1].upper(), value[q1 + 3 : end]
            if charset and enc in "BQ" and " " not in charset + text:
                decoded = _decode_word(charset, enc, text)
        if decoded is None:
            out.append(value[pos : start + 2])
            pos, after_word = start + 2, False
            continue
        between = value[pos:start]
        if not (after_word and not between.strip(" \t")):
            out.append(between)
        out.append(decoded)
        pos, after_word = end + 2, True
    out.append(value[pos:])
    return "".join(out)


# --- headers ------------------------------------------------------------------------------------


def raw_headers(data: bytes) -> dict[str, str]:
    """Header fields up to the first blank line, unfolded (RFC 5322 2.2.3), names lowercased, first
    occurrence wins, values stripped but not decoded. CRLF or LF; undecodable bytes become U+FFFD."""
    end = len(data)
    for sep in (b"\n\n", b"\n\r\n"):
        i = data.find(sep)
        if 0 <= i < end:
            end = i
    if data.startswith((b"\n", b"\r\n")):
        end = 0
    out: dict[str, str] = {}
    name: str | None = None
    value = ""
    for raw in data[:end].split(b"\n"):
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if line[:1] in (" ", "\t"):
            if name is not None:
                value += line
            continue
        if name is not None and name not in out:
            out[name] = value.strip()
        field, colon, rest = line.partition(":")
        field = field.strip().lower()
        if colon and field and " " not in field:
            name, value = field, rest
        else:
            name = None  # garbage line (or an mbox "From " line): skipped
    if name is not None and name not in out:
        out[name] = value.strip()
    return out


def read_headers(data: bytes) -> dict[str, str]:
    """Fast header reader: like `raw_headers`, with RFC 2047 words decoded and control characters
    (including decoded CR/LF) replaced by spaces, so every value is one safe line."""
    return {k: one_line(decode_words(v)) for k, v in raw_headers(data).items()}


def msgids(value: str) -> list[str]:
    """The `<...>` tokens in a Message-ID, In-Reply-To or References value (RFC 5322 3.6.4)."""
    ids: list[str] = []
    pos = 0
    while True:
        start = value.find("<", pos)
        end = value.find(">", start + 1) if start >= 0 else -1
        if end < 0:
            return ids
        inner = value.find("<", start + 1)
        if 0 <= inner < end:  # "<a <b@c>": start again at the inner "<"
            pos = inner
            continue
        token = value[start : end + 1]
        if len(token) > 2 and " " not in token:
            ids.append(token)
        pos = end + 1


def content_type(value: str) -> tuple[str, dict[str, str]]:
    """(lowercased type/subtype, lowercased-name parameters) of a Content-Type value; simple and
    forgiving, enough for report-type and boundary checks."""
    parts = value.split(";")
    params: dict[str, str] = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        if eq:
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].strip().lower(), params


def key_of(message_id: str) -> str:
    """The short-id key of a message: the 32-hex local part of our own Message-IDs, else the first
    32 hex of sha256 over the stripped Message-ID, so mail from any client has a key."""
    mid = message_id.strip()
    local = mid.strip("<>").partition("@")[0]
    if len(local) == 32 and all(c in "0123456789abcdef" for c in local):
        return local
    return sha256(mid.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def parse_date(value: str) -> float | None:
    """Epoch seconds of an RFC 5322 date, None if missing or unparseable."""
    if not value or not value.strip():
        return None
    from email.utils import mktime_tz, parsedate_tz

    try:
        t = parsedate_tz(value)
        return None if t is None else float(mktime_tz(t))
    except Exception:
        return None


# --- full parse ---------------------------------------------------------------------------------


class Card(Record):
    """A parsed message. Addresses are bare (`bob@agents.localhost`); `title` and `body` are decoded
    text (a `format=flowed` body with its soft line breaks joined); `date` is epoch seconds;
    `attachments` lists (filename, decoded size)."""

    __slots__ = (
        "message_id", "key", "sender", "to", "cc", "date", "title", "body", "urgent", "receipt_to",
        "in_reply_to", "references", "attachments", "is_mdn", "headers",
    )  # fmt: skip

    def __init__(self, headers: dict[str, str], message_id: str, key: str) -> None:
        self.headers = headers  # read_headers() of the message
        self.message_id = message_id
        self.key = key
        self.sender = ""
        self.to: list[str] = []
        self.cc: list[str] = []
        self.date: float | None = None
        self.title = headers.get("subject", "")
        self.body = ""
        self.urgent = False
        self.receipt_to: str | None = None
        self.in_reply_to: str | None = None
        self.references: list[str] = []
        self.attachments: list[tuple[str, int]] = []
        self.is_mdn = False


def addresses(value: str) -> list[str]:
    """The bare addresses in an address-list header value (raw, not RFC 2047-decoded)."""
    from email.utils import getaddresses

    try:
        return [one_line(addr) for _, addr in getaddresses([value]) if one_line(addr)]
    except Exception:
        return []


def _leaves(msg: Message, depth: int = 0) -> Iterator[Message]:
    """The non-multipart parts, depth first; message/* parts are leaves (not descended into)."""
    from email.message import Message as _Message

    if msg.is_multipart() and msg.get_content_maintype() != "message" and depth < 20:
        for sub in msg.get_payload():
            if isinstance(sub, _Message):
                yield from _leaves(sub, depth + 1)
    else:
        yield msg


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        text = payload.decode(part.get_content_charset() or "utf-8", "replace")
    except Exception:  # unknown or non-text charset
        text = payload.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _fill_structure(card: Card, data: bytes) -> None:
    # compat32 (the default policy) rather than email.policy.default: headers come from raw_headers
    # already, and compat32 never raises while parsing or decoding payloads.
    from email import message_from_bytes

    from .flowed import decode_flowed, flowed_params

    msg = message_from_bytes(data)
    body_part = None
    for i, part in enumerate(_leaves(msg)):
        if i >= 200:
            break
        ctype = part.get_content_type()
        disp = part.get_content_disposition()
        if body_part is None and ctype == "text/plain" and disp != "attachment":
            body_part = part
            card.body = _text(part)
            flowed, delsp = flowed_params(str(part.get("content-type", "")))
            if flowed:  # shown as the sender wrote it; the stored file is untouched (RFC 3676)
                card.body = decode_flowed(card.body, delsp)
            continue
        if card.is_mdn and ctype in ("message/disposition-notification", "text/rfc822-headers"):
            continue
        filename = part.get_filename()
        if disp == "attachment" or filename:
            raw = part.get_payload(decode=True)
            size = len(raw) if isinstance(raw, bytes) else len(str(part.get_payload()))
            card.attachments.append((one_line(decode_words(str(filename or ""))) or "unnamed", size))


def parse(data: bytes) -> Card:
    """A Card for any bytes: missing or malformed parts are left empty, never an exception."""
    raw = raw_headers(data)
    headers = {k: one_line(decode_words(v)) for k, v in raw.items()}
    ids = msgids(raw.get("message-id", ""))
    message_id = ids[0] if ids else one_line(raw.get("message-id", ""))
    key = key_of(message_id) if message_id else sha256(data).hexdigest()[:32]
    card = Card(headers, message_id, key)
    from_ = addresses(raw.get("from", ""))
    card.sender = from_[0] if from_ else ""
    card.to = addresses(raw.get("to", ""))
    card.cc = addresses(raw.get("cc", ""))
    card.date = parse_date(raw.get("date", ""))
    prio = headers.get("x-priority", "")
    card.urgent = (
        headers.get("importance", "").lower() == "high"
        or prio[:1] in ("1", "2")
        or headers.get("priority", "").lower() == "urgent"
    )
    dnt = addresses(raw.get("disposition-notification-to", ""))
    card.receipt_to = dnt[0] if dnt else None
    reply = msgids(raw.get("in-reply-to", ""))
    card.in_reply_to = reply[0] if reply else None
    card.references = msgids(raw.get("references", ""))
    ctype, params = content_type(raw.get("content-type", ""))
    card.is_mdn = ctype == "multipart/report" and params.get("report-type", "").lower() == "disposition-notification"
    try:
        _fill_structure(card, data)
    except Exception:  # a structure the email package chokes on: keep what the headers gave
        pass
    return card
