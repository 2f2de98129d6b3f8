"""SEARCH evaluation (RFC 3501 6.4.4): a pure function of a key tree and a message view.

Matching rules, chosen to agree with Dovecot on the test corpus:

* string keys are case-insensitive substring matches (``str.casefold``) against decoded text:
  RFC 2047 encoded words in headers are decoded, and so are base64 / quoted-printable bodies and
  their charsets; only text/* and message/* parts are searched (not binary attachments).
* HEADER name "" matches every message that has the field; FROM/TO/CC/BCC/SUBJECT are HEADER
  searches on those fields; TEXT searches the header and the body, BODY the body only.
* BEFORE/ON/SINCE compare the day of the internal date; SENTBEFORE/SENTON/SENTSINCE the day of
  the Date header as written (its own zone). A missing or unparsable Date counts as 1970-01-01,
  as Dovecot does, so it is "before" every date.
* LARGER/SMALLER use RFC822.SIZE (the CRLF size); ``*`` in a sequence set is the highest sequence
  number, and in UID sets the highest UID in the mailbox (RFC 3501 6.4.8).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.errors
import email.header
import email.utils
import quopri
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..protocol.searchkeys import SAll, SAnd, SDate, SearchKey, SFlag, SHeader, SModseq, SNot, SOr, SSeq, SSize, SText
from .address import parse_address_list, write_addresses
from .mime import Part, parse_message

_EPOCH = dt.date(1970, 1, 1)
ADDRESS_FIELDS = frozenset({b"from", b"to", b"cc", b"bcc", b"sender", b"reply-to"})


@dataclass
class SearchMessage:
    """What SEARCH needs to know about one message. ``data`` (CRLF, as served) may be a callable
    so that flag/size/UID-only searches never read the file. Decoded texts are kept while the
    message is being matched, so many keys on one field decode it once."""

    seq: int
    uid: int
    flags: frozenset[str]  # include "\\Recent" when the message is recent
    internal_date: dt.datetime | Callable[[], dt.datetime]  # a callable is asked only by date keys
    size: int
    data: bytes | Callable[[], bytes]
    modseq: int = 0  # RFC 7162 mod-sequence (0: the backend keeps none)
    _root: Part | None = field(default=None, repr=False)
    _body_text: str | None = field(default=None, repr=False)
    _folded: dict[str, object] = field(default_factory=dict, repr=False)

    def root(self) -> Part:
        if self._root is None:
            raw = self.data() if callable(self.data) else self.data
            self._root = parse_message(raw)
        return self._root

    def header_values(self, name: str) -> list[str]:
        key = name.lower().encode("utf-8", "surrogateescape")  # SEARCH HEADER names come from the client
        values = [f.value for f in self.root().fields if f.name.lower() == key]
        if key in ADDRESS_FIELDS:  # Dovecot looks in the address list as it writes it back, not the raw text
            values = [write_addresses(parse_address_list(v)) for v in values]
        return [decode_header_value(v) for v in values]

    def header_text(self) -> str:
        return "\n".join(
            f.name.decode("latin-1") + ": " + decode_header_value(f.value) for f in self.root().fields
        )

    def body_text(self) -> str:
        if self._body_text is None:
            root = self.root()
            self._body_text = "\n".join(_texts(root, top=True))
        return self._body_text

    # casefolded views, each computed once per message however many keys ask
    def folded_flags(self) -> frozenset[str]:
        got = self._folded.get("\0flags")
        if got is None:
            got = self._folded["\0flags"] = frozenset(f.casefold() for f in self.flags)
        return got  # type: ignore[return-value]

    def folded_header(self, name: str) -> list[str]:
        key = name.lower()
        got = self._folded.get(key)
        if got is None:
            got = self._folded[key] = [v.casefold() for v in self.header_values(name)]
        return got  # type: ignore[return-value]

    def folded_header_text(self) -> str:
        got = self._folded.get("\0header")
        if got is None:
            got = self._folded["\0header"] = self.header_text().casefold()
        return got  # type: ignore[return-value]

    def folded_body_text(self) -> str:
        got = self._folded.get("\0body")
        if got is None:
            got = self._folded["\0body"] = self.body_text().casefold()
        return got  # type: ignore[return-value]


def decode_header_value(value: bytes) -> str:
    """Unfold and decode RFC 2047 encoded words; undecodable input falls back to UTF-8/latin-1."""
    text = value.replace(b"\r\n", b"").replace(b"\n", b"")
    try:
        raw = text.decode("utf-8")
    except UnicodeDecodeError:
        raw = text.decode("latin-1")
    if "=?" not in raw:
        return raw
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (ValueError, LookupError, UnicodeError, email.errors.MessageError):  # CharsetError: a non-ASCII charset
        return raw


def _decode_body(part: Part) -> str:
    body = part.body
    cte = part.field("Content-Transfer-Encoding")
    enc = cte.value.strip().lower() if cte else b""
    if enc == b"base64":
        try:
            body = base64.b64decode(b"".join(body.split()), validate=False)
        except (binascii.Error, ValueError):
            pass
    elif enc == b"quoted-printable":
        body = quopri.decodestring(body)
    charset = "utf-8"
    if part.content_type is not None:
        cs = part.content_type.param("charset")
        if cs:
            charset = cs.decode("ascii", "replace")
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def _texts(part: Part, top: bool = False) -> list[str]:
    if part.is_multipart:
        out: list[str] = []
        for child in part.children:
            out += _texts(child)
        return out
    if part.message is not None:
        inner = part.message
        texts = [
            f.name.decode("latin-1") + ": " + decode_header_value(f.value) for f in inner.fields
        ]
        return ["\n".join(texts), *_texts(inner)]
    ct = part.content_type
    if ct is None or ct.is_("text") or ct.is_("message"):
        return [_decode_body(part)]
    return []


def _sent_date(msg: SearchMessage) -> dt.date:
    values = msg.header_values("Date")
    if not values:
        return _EPOCH
    try:
        parsed = email.utils.parsedate_to_datetime(values[0])
    except (TypeError, ValueError, IndexError, OverflowError):  # a 20-digit year overflows datetime
        return _EPOCH
    return parsed.date() if parsed is not None else _EPOCH


def _compare(day: dt.date, op: str, target: dt.date) -> bool:
    if op == "before":
        return day < target
    if op == "on":
        return day == target
    return day >= target  # since


Test = Callable[[SearchMessage], bool]


def compile_key(key: SearchKey, max_seq: int, max_uid: int) -> Test:
    """The key tree as one test, built once per SEARCH: needles casefolded, AND operands ordered cheap
    first, sequence sets merged for bisection, so the work per message is the matching alone (3,000
    keys or a 60,000-range set used to redo all that for every message). ``max_seq``/``max_uid``
    give ``*`` its value."""
    if isinstance(key, SAll):
        return _always
    if isinstance(key, SAnd):
        # cheap keys first, so most searches never parse the message
        tests = tuple(compile_key(k, max_seq, max_uid) for k in sorted(key.keys, key=_cost))

        def every(msg: SearchMessage) -> bool:
            return all(t(msg) for t in tests)
        return every
    if isinstance(key, SOr):
        left, right = compile_key(key.left, max_seq, max_uid), compile_key(key.right, max_seq, max_uid)
        return lambda msg: left(msg) or right(msg)
    if isinstance(key, SNot):
        inner = compile_key(key.key, max_seq, max_uid)
        return lambda msg: not inner(msg)
    if isinstance(key, SFlag):
        flag, present = key.flag.casefold(), key.present
        return lambda msg: (flag in msg.folded_flags()) == present
    if isinstance(key, SSeq):
        starts, ends = _intervals(key, max_uid if key.uid else max_seq)
        if key.uid:
            return lambda msg: _within(msg.uid, starts, ends)
        return lambda msg: _within(msg.seq, starts, ends)
    if isinstance(key, SModseq):  # RFC 7162 3.1.5: at least this mod-sequence
        least = key.modseq
        return lambda msg: msg.modseq >= least
    if isinstance(key, SSize):
        size, larger = key.size, key.op == "larger"
        return lambda msg: msg.size > size if larger else msg.size < size
    if isinstance(key, SDate):
        op, day = key.op, key.date
        if key.field == "internal":
            return lambda msg: _compare(_internal_day(msg), op, day)
        return lambda msg: _compare(_sent_date(msg), op, day)
    if isinstance(key, SHeader):
        name, needle = key.field, key.value.casefold()
        return lambda msg: any(needle in v for v in msg.folded_header(name))
    if isinstance(key, SText):
        needle, text = key.value.casefold(), key.where == "TEXT"
        return lambda msg: (text and needle in msg.folded_header_text()) or needle in msg.folded_body_text()
    raise TypeError(f"unknown search key {key!r}")


def _always(msg: SearchMessage) -> bool:
    return True


def _internal_day(msg: SearchMessage) -> dt.date:
    when = msg.internal_date
    if not isinstance(when, dt.datetime):
        when = msg.internal_date = when()
    return when.date()


def _intervals(key: SSeq, largest: int) -> tuple[list[int], list[int]]:
    """The set's ranges, "*" resolved, sorted and merged: (starts, ends) for bisection."""
    merged: list[list[int]] = []
    for lo, hi in sorted(tuple(sorted((largest if a is None else a, largest if b is None else b)))
                         for a, b in key.sequence.ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [m[0] for m in merged], [m[1] for m in merged]


def _within(n: int, starts: list[int], ends: list[int]) -> bool:
    i = bisect_right(starts, n) - 1
    return i >= 0 and n <= ends[i]


def matches(key: SearchKey, msg: SearchMessage, max_seq: int, max_uid: int) -> bool:
    """Does ``msg`` satisfy the key? (Compiles the key each time: use ``compile_key`` for many messages.)"""
    return compile_key(key, max_seq, max_uid)(msg)


def _cost(key: SearchKey) -> int:
    if isinstance(key, (SAll, SFlag, SSeq, SSize, SModseq)):
        return 0
    if isinstance(key, SDate) and key.field == "internal":
        return 0
    if isinstance(key, (SHeader, SDate)):
        return 1
    if isinstance(key, (SAnd, SOr, SNot)):
        return 2
    return 3


def search(key: SearchKey, messages: Iterable[SearchMessage], uid: bool = False,
           largest: tuple[int, int] | None = None) -> list[int]:
    """Sequence numbers (or UIDs when ``uid``) of the matching messages, in mailbox order.

    ``largest`` is (highest sequence number, highest UID), the values of ``*``; given it,
    ``messages`` may be a one-pass iterator (the session streams them, keeping none)."""
    if largest is None:
        messages = list(messages)
        largest = (max((m.seq for m in messages), default=0), max((m.uid for m in messages), default=0))
    test = compile_key(key, *largest)
    return [m.uid if uid else m.seq for m in messages if test(m)]
