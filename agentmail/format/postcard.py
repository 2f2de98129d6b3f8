"""Postcards: short RFC 5322 messages (DESIGN.md, "The postcard profile"; docs/postcard-profile.md).

`build` turns a Draft into bytes with LF line endings and a content-addressed Message-ID. It is on
the `agentmail send` fast path, so this module imports only binascii, time and SHA-256 (through
`encoding`), and uses plain classes with __slots__ (dataclasses costs ~13 ms to import). Reading
(`read_headers`, `parse`, `Card`) lives in `card` and is re-exported here.
"""

from __future__ import annotations

import time

from ..errors import DataError
from .card import Card, Record, key_of, parse, parse_date, read_headers
from .encoding import (
    base64_lines,
    content_key,
    encode_body,
    filename_param,
    format_date,
    has_control,
    header_ids,
    header_list,
    header_text,
    is_control,
    normalize_body,
    one_line,
    sha256,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Attachment",
    "Built",
    "Card",
    "Draft",
    "Limits",
    "build",
    "key_of",
    "normalize_body",
    "parse",
    "parse_date",
    "read_headers",
    "reply_title",
    "unique_prefixes",
    "validate",
]

MIB = 1024 * 1024
# DESIGN.md, "Waking an idle agent": headers any mail client can set too (docs/postcard-profile.md).
WAKE_HEADER = "X-Agentmail-Wake"  # "no": this postcard never wakes an idle agent
THREAD_HEADER = "X-Agentmail-Thread"  # "done": the sender closes the thread; later replies in it do not wake


class Attachment(Record):
    """A file attached to a postcard: sent as a base64 MIME part."""

    __slots__ = ("filename", "content_type", "data")

    def __init__(self, filename: str, content_type: str = "application/octet-stream", data: bytes = b"") -> None:
        self.filename = filename
        self.content_type = content_type
        self.data = data


class Draft(Record):
    """What a sender wants to send. Addresses are full (`bob@agents.localhost`); `date` is epoch
    seconds (None: now); `in_reply_to` and `references` are Message-IDs with angle brackets."""

    __slots__ = (
        "sender", "to", "cc", "title", "body", "date", "urgent", "receipt",
        "in_reply_to", "references", "attachments", "wake", "done",
    )  # fmt: skip

    def __init__(
        self,
        sender: str,
        to: list[str] | str,
        title: str,
        body: str,
        cc: list[str] | None = None,
        date: float | None = None,
        urgent: bool = False,
        receipt: bool = True,
        in_reply_to: str | None = None,
        references: list[str] | None = None,
        attachments: list[Attachment] | None = None,
        wake: bool = True,
        done: bool = False,
    ) -> None:
        self.sender = sender
        self.to = [to] if isinstance(to, str) else list(to)
        self.title = title
        self.body = body
        self.cc = list(cc or [])
        self.date = date
        self.urgent = urgent
        self.receipt = receipt
        self.in_reply_to = in_reply_to
        self.references = list(references or [])
        self.attachments = list(attachments or [])
        self.wake = wake
        self.done = done


class Limits(Record):
    """Size limits: title and body in characters, attachments in total bytes."""

    __slots__ = ("max_title", "max_body", "max_attachments")

    def __init__(self, max_title: int = 140, max_body: int = 1400, max_attachments: int = MIB) -> None:
        self.max_title = max_title
        self.max_body = max_body
        self.max_attachments = max_attachments

    @classmethod
    def from_config(cls, cfg: object) -> Limits:
        """The limits of an `agentmail.config.Config` (duck-typed: no import of config here)."""
        d = cls()
        return cls(
            int(getattr(cfg, "max_title", d.max_title)),
            int(getattr(cfg, "max_body", d.max_body)),
            int(getattr(cfg, "max_attachments", d.max_attachments)),
        )


class Built(Record):
    """A built message: `data` is the whole message (LF line endings, ends with a newline)."""

    __slots__ = ("message_id", "key", "data")

    def __init__(self, message_id: str, key: str, data: bytes) -> None:
        self.message_id = message_id
        self.key = key
        self.data = data


def _first_control(text: str) -> str:
    return next(f"U+{ord(c):04X}" for c in text if is_control(c))


def _check_unicode(what: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{what} is not valid Unicode (it contains a lone surrogate)") from None


def _check_address(what: str, addr: str) -> None:
    if not isinstance(addr, str) or not addr.strip():
        raise DataError(f"{what} is empty")
    if has_control(addr):
        # CR/LF here would start a new header (header injection).
        raise DataError(f"{what} {addr!r} contains a line break or control character")
    if not addr.isascii() or "@" not in addr:
        raise DataError(f"{what} {addr!r} is not an ASCII mail address")


def _check_msgid(what: str, mid: str) -> None:
    if has_control(mid) or not (mid.startswith("<") and mid.endswith(">")) or " " in mid or not mid.isascii():
        raise DataError(f"{what} {mid!r} is not a Message-ID like <id@domain>")


def _check_filename(name: str) -> None:
    if not name or name in (".", ".."):
        raise DataError(f"attachment filename {name!r} is not a file name")
    for c in name:
        if is_control(c) or c in '"\\/':
            shown = "a control character" if is_control(c) else repr(c)
            raise DataError(
                f"attachment filename {name!r} contains {shown}; quotes, slashes and control characters are not allowed"
            )
    if len(name) > 255:
        raise DataError(f"attachment filename is {len(name)} characters long; the limit is 255")
    _check_unicode("attachment filename", name)


_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~")


def _check_content_type(ct: str) -> None:
    # RFC 2045 5.1: type "/" subtype, both tokens; parameters are not accepted here.
    main, slash, sub = ct.partition("/")
    if not slash or not main or not sub or not all(c in _TOKEN for c in main + sub):
        raise DataError(f"attachment content type {ct!r} is not like type/subtype")


def validate(draft: Draft, limits: Limits | None = None) -> None:
    """Raise DataError (exit 65) with a one-line reason if `draft` breaks the postcard profile."""
    limits = limits or Limits()
    if has_control(draft.title):
        # Never folded into a new header line: that would be header injection.
        raise DataError(
            f"the title contains a line break or control character ({_first_control(draft.title)}); a title is one line"
        )
    title = draft.title.strip()
    if not title:
        raise DataError("the title is empty")
    if len(title) > limits.max_title:
        raise DataError(f"the title is {len(title)} characters long; the limit is {limits.max_title}")
    _check_unicode("the title", title)
    body = normalize_body(draft.body)
    count = len(body) - 1  # a line break counts as one character; the final newline does not count
    if count > limits.max_body:
        raise DataError(f"the body is {count} characters long; the limit is {limits.max_body}")
    if "\0" in body:
        raise DataError("the body contains a NUL character")
    _check_unicode("the body", body)
    _check_address("the sender", draft.sender)
    if not draft.to:
        raise DataError("there is no recipient")
    for addr in draft.to + draft.cc:
        _check_address("the recipient", addr)
    if draft.in_reply_to is not None:
        _check_msgid("In-Reply-To", draft.in_reply_to)
    for ref in draft.references:
        _check_msgid("the reference", ref)
    if draft.date is not None and not (0 <= draft.date < 253402300800):  # also refuses NaN
        raise DataError(f"the date {draft.date!r} is not a time between 1970 and 9999")
    total = 0
    for att in draft.attachments:
        _check_filename(att.filename)
        _check_content_type(att.content_type)
        total += len(att.data)
    if total > limits.max_attachments:
        raise DataError(f"the attachments total {total} bytes; the limit is {limits.max_attachments}")


def build(draft: Draft, limits: Limits | None, domain: str) -> Built:
    """The message for `draft`: validated, encoded, with a Message-ID `<key@domain>` derived from
    its content, so the same draft (same date) always gives the same bytes and id."""
    validate(draft, limits)
    title = draft.title.strip()
    body = normalize_body(draft.body)
    date = format_date(time.time() if draft.date is None else draft.date)
    atts = draft.attachments
    fields = [
        draft.sender, str(len(draft.to)), *draft.to, str(len(draft.cc)), *draft.cc, date, title, body,
        "urgent" if draft.urgent else "", "receipt" if draft.receipt else "", draft.in_reply_to or "",
        str(len(draft.references)), *draft.references, str(len(atts)),
    ]  # fmt: skip
    for att in atts:
        fields += [att.filename, att.content_type, sha256(att.data).hexdigest()]
    # Only when set, so every postcard built before these flags existed keeps its key.
    fields += [f for f, on in (("no-wake", not draft.wake), ("thread-done", draft.done)) if on]
    key = content_key("postcard-v1", fields)
    message_id = f"<{key}@{domain}>"

    head = [header_list("From", [draft.sender]), header_list("To", draft.to)]
    if draft.cc:
        head.append(header_list("Cc", draft.cc))
    head += [f"Date: {date}", header_text("Subject", title), f"Message-ID: {message_id}"]
    if draft.in_reply_to:
        head.append(f"In-Reply-To: {draft.in_reply_to}")
    refs = list(draft.references)
    if draft.in_reply_to and draft.in_reply_to not in refs:
        refs.append(draft.in_reply_to)  # RFC 5322 3.6.4: References ends with the parent's id
    if refs:
        head.append(header_ids("References", refs))
    if draft.urgent:
        head += ["Importance: high", "X-Priority: 1"]  # RFC 2156 / de-facto, shown by mail clients
    if draft.receipt:
        head.append(f"Disposition-Notification-To: {draft.sender}")  # RFC 8098 2.1
    if not draft.wake:
        head.append(f"{WAKE_HEADER}: no")
    if draft.done:
        head.append(f"{THREAD_HEADER}: done")
    head.append("MIME-Version: 1.0")

    cte, text = encode_body(body)
    text_headers = f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n"
    if not atts:
        return Built(message_id, key, ("\n".join(head) + "\n" + text_headers + "\n").encode() + text)

    # RFC 2046 5.1: the boundary is derived from the key; "=_" cannot occur in base64 or QP output.
    boundary = f"=_agentmail_{key}"
    head.append(f'Content-Type: multipart/mixed;\n boundary="{boundary}"')
    # The LF before a delimiter belongs to the delimiter (RFC 2046 5.1.1): add one so the text
    # keeps its final newline.
    out = [("\n".join(head) + f"\n\n--{boundary}\n" + text_headers + "\n").encode(), text, b"\n"]
    for att in atts:
        part = (
            f"--{boundary}\nContent-Type: {att.content_type}\n"
            f"Content-Disposition: attachment{filename_param(att.filename)}\n"
            "Content-Transfer-Encoding: base64\n\n"
        )
        out += [part.encode(), base64_lines(att.data)]
    out.append(f"--{boundary}--\n".encode())
    return Built(message_id, key, b"".join(out))


def unique_prefixes(keys: Iterable[str], min_len: int = 8) -> dict[str, str]:
    """For each key, its shortest prefix of at least `min_len` characters that no other key shares."""
    ordered = sorted(set(keys))
    result: dict[str, str] = {}
    for i, key in enumerate(ordered):
        need = min_len
        for j in (i - 1, i + 1):  # in sorted order the longest shared prefix is with a neighbour
            if 0 <= j < len(ordered):
                other = ordered[j]
                n = 0
                while n < len(key) and n < len(other) and key[n] == other[n]:
                    n += 1
                need = max(need, n + 1)
        result[key] = key[:need]
    return result


def reply_title(title: str, max_title: int = 140) -> str:
    """`Re: <title>` unless the title already starts with `Re:` (any case), cut to `max_title`."""
    title = one_line(title)
    if title[:3].lower() != "re:":
        title = "Re: " + title if title else "Re:"
    return title[:max_title].rstrip()
