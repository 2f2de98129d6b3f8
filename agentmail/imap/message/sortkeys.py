"""What SORT and THREAD (RFC 5256) read of a message, and the keys they compare, as Dovecot 2.3 derives them.

``Fields.parse(header)`` keeps the first value of each header SORT and THREAD look at (Dovecot uses the first
Subject/From/Date..., where ENVELOPE shows the last), with the Message-ID and references already parsed, so
a session can keep them per UID (a message's bytes never change) and sort again without reading files.

* ``sent_date``: the Date header as Dovecot's message-date.c reads it ("[Day,] dd Mon [yy]yy hh:mm[:ss] zone",
  ":" or "." between the time parts, two-digit years after 1970, unknown zones as +0000) in seconds since the
  epoch, kept as Dovecot's index keeps it (32 bits); 0 when missing or unreadable, and then the INTERNALDATE
  stands in (RFC 5256 2.2).
* ``mailbox_key`` / ``display_key``: the first address's local part (RFC 5256 SORT FROM/TO/CC), or its display
  name, decoded, else "local@domain" (RFC 5957 DISPLAYFROM/DISPLAYTO), case-mapped as the base subject is.
* message IDs follow Dovecot's message-id.c: "<...>" holding an "@", blanks removed; a quoted local part or a
  comment takes the careful way; IDs compare case-sensitively.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache
from typing import Any

from .address import parse_address_list
from .mime import header_end
from .rfc822 import Lexer
from .subject import base_subject, casemap, decode, utf8_text

WANTED = (b"subject", b"from", b"to", b"cc", b"date", b"message-id", b"references", b"in-reply-to")
# one of those fields: its name, the first line's value after the colon and its blanks (None: a line of just
# the name), then its continuation lines (as envelope.py reads the ENVELOPE fields)
_FIELD = re.compile(rb"^(" + b"|".join(re.escape(n) for n in WANTED) + rb")"
                    rb"(?:[ \t]*:[ \t]*([^\r\n]*)|(?=\r?\n|\Z))((?:\r?\n[ \t][^\r\n]*)*)", re.I | re.M)
_MONTHS = (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec")
_STRIP = bytes.maketrans(b"", b"")
_DIGITS = frozenset(b"0123456789")
_U32 = 1 << 32


class Fields:
    """The first Subject/From/To/Cc of a message (raw), its Date in seconds, its Message-ID and what it refers to
    (References, else In-Reply-To). Kept per message by the session layer, so small: equal header values are
    shared through ``intern`` and the keys derived from them are worked out once per value (``_derived``), not
    per message (about 0.5 KiB a message, all told)."""

    __slots__ = ("subject", "from_", "to", "cc", "sent_at", "msgid", "refs")

    def __init__(self, subject: bytes | None, from_: bytes | None, to: bytes | None, cc: bytes | None,
                 sent_at: int, msgid: str | None, refs: tuple[str, ...]) -> None:
        self.subject = subject
        self.from_ = from_
        self.to = to
        self.cc = cc
        self.sent_at = sent_at
        self.msgid = msgid
        self.refs = refs

    @classmethod
    def parse(cls, header: bytes, intern: dict[Any, Any] | None = None) -> Fields:
        """From a header block (the first blank line and what follows may be there or not). Values and message
        IDs go through ``intern`` when given, so a mailbox's messages share equal ones."""
        first: dict[bytes, bytes] = {}
        block = header[: header_end(header, 0, len(header))]
        for m in _FIELD.finditer(block):  # header_values' reading, for these fields only
            name = m.group(1).lower()
            if name not in first:
                value, more = m.group(2) or b"", m.group(3)
                first[name] = value + more.replace(b"\r\n", b"\n") if more else value
        ids = message_ids(first[b"message-id"]) if b"message-id" in first else []
        msgid = ids[0] if ids else None
        refs = message_ids(first[b"references"]) if b"references" in first else []
        if not refs and b"in-reply-to" in first:  # Dovecot: In-Reply-To only without usable References
            refs = message_ids(first[b"in-reply-to"])[:1]
        sent = parse_date(first[b"date"]) if b"date" in first else 0
        values = [first.get(b"subject"), first.get(b"from"), first.get(b"to"), first.get(b"cc")]
        if intern is not None:
            msgid = None if msgid is None else intern.setdefault(msgid, msgid)
            refs = [intern.setdefault(r, r) for r in refs]
            values = [None if v is None else intern.setdefault(v, v) for v in values]
        return cls(values[0], values[1], values[2], values[3], sent, msgid, tuple(refs))

    def base_subject(self) -> tuple[str, bool]:
        """(RFC 5256 base subject, whether the subject said Re/Fwd); ("", False) without a Subject."""
        return _base_subject(self.subject) if self.subject is not None else ("", False)

    def address_key(self, kind: str) -> str:
        """The SORT key FROM, TO, CC (the first local part) or DISPLAYFROM, DISPLAYTO."""
        if kind == "FROM":
            return _mailbox_key(self.from_)
        if kind == "TO":
            return _mailbox_key(self.to)
        if kind == "CC":
            return _mailbox_key(self.cc)
        return _display_key(self.from_ if kind == "DISPLAYFROM" else self.to)

    def sent(self) -> int:
        """The Date header in seconds (Dovecot's 32-bit value), 0 when there is none that reads."""
        return self.sent_at


# the keys derived from a header value, once per value (agents write the same From, Re: subjects repeat)
_DERIVED = 65536
_base_subject = lru_cache(maxsize=_DERIVED)(base_subject)


@lru_cache(maxsize=_DERIVED)
def _mailbox_key(value: bytes | None) -> str:
    return mailbox_key(value)


@lru_cache(maxsize=_DERIVED)
def _display_key(value: bytes | None) -> str:
    return display_key(value)


def sent_or_arrival(fields: Fields, internal: int) -> int:
    """RFC 5256 2.2 sent date: the Date header, else the INTERNALDATE."""
    return fields.sent() or internal


# ---------------------------------------------------------------- dates (Dovecot's message-date.c)
def _token(lex: Lexer) -> bytes | None:
    """An atom and the blanks/comments after it; None when the cursor is not at one."""
    word = lex.atom()
    if word is not None:
        lex.skip_cfws()
    return word


def _zone(word: bytes) -> int:
    """A zone in minutes east of UTC; what is not known counts as UTC (as Dovecot: "better a mostly right
    answer")."""
    if len(word) == 5 and word[:1] in (b"+", b"-") and all(b in _DIGITS for b in word[1:]):
        minutes = int(word[1:3]) * 60 + int(word[3:5])
        return minutes if word[:1] == b"+" else -minutes
    up = word.upper()
    if len(word) == 1:  # military zones, the RFC 822 way round being wrong (RFC 1123 5.2.14)
        ch = up[0]
        if ch < 0x4A:  # "J"
            return (ch - 0x40) * 60
        if ch == 0x4A:
            return 0
        if ch <= 0x4D:  # "M"
            return (ch - 0x41) * 60
        if ch < 0x5A:  # "Z"
            return (0x4D - ch) * 60
        return 0
    if len(word) == 3 and word[2:3] == b"T":
        base = {0x45: -5, 0x43: -6, 0x4D: -7, 0x50: -8}.get(up[0])  # E C M P
        if base is None:
            return 0
        if up[1] == 0x44:  # daylight
            return base * 60 + 60
        if up[1] == 0x53:
            return base * 60
    return 0


def _time_sep(lex: Lexer) -> bool:
    if lex.peek() in (0x3A, 0x2E):  # ":" (RFC 5322) or "." (seen in the wild)
        lex.pos += 1
        lex.skip_cfws()
        return True
    return False


def _two_digits(word: bytes | None) -> int | None:
    if word is None or len(word) != 2 or not all(b in _DIGITS for b in word):
        return None
    return int(word)


# the common form, which the general reading below gives the same value for: "[Day,] d Mon yyyy hh:mm[:ss] +zzzz"
_PLAIN_DATE = re.compile(rb"[ \t]*(?:[A-Za-z]{3},[ \t]*)?([0-9]{1,2})[ \t]+([A-Za-z]{3})[ \t]+([0-9]{4})[ \t]+"
                         rb"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?[ \t]+([+-])([0-9]{2})([0-9]{2})[ \t]*")


def parse_date(value: bytes) -> int:
    """Seconds since the epoch of an RFC 5322 date (RFC 5322 3.3), modulo 2**32 as Dovecot's index keeps them;
    0 when it does not read."""
    m = _PLAIN_DATE.fullmatch(value)
    if m is not None and m.group(2).lower() in _MONTHS and int(m.group(3)) >= 1900:
        day, _, year, hour, minute, second, sign, zh, zm = m.groups()
        stamp = calendar.timegm((int(year), _MONTHS.index(m.group(2).lower()) + 1, 1, int(hour), int(minute),
                                 min(int(second or 0), 59))) + (int(day) - 1) * 86400
        zone = int(zh) * 60 + int(zm)
        return (stamp - (zone if sign == b"+" else -zone) * 60) % _U32
    lex = Lexer(value)
    lex.skip_cfws()
    word = _token(lex)
    if word is None:
        return 0
    if len(word) == 3:  # the day of the week, which must be followed by ","
        if lex.peek() != 0x2C:
            return 0
        lex.pos += 1
        lex.skip_cfws()
        word = _token(lex)
        if word is None:
            return 0
    if not 1 <= len(word) <= 2 or not all(b in _DIGITS for b in word):
        return 0
    day = int(word)
    word = _token(lex)
    if word is None or len(word) < 3 or word[:3].lower() not in _MONTHS:
        return 0
    month = _MONTHS.index(word[:3].lower()) + 1
    word = _token(lex)
    if word is None or len(word) not in (2, 4) or not all(b in _DIGITS for b in word):
        return 0
    year = int(word)
    if len(word) == 2:
        year += 2000 if year < 70 else 1900
    elif year < 1900:
        return 0
    word = _token(lex)
    if word is None or not 1 <= len(word) <= 2 or not all(b in _DIGITS for b in word):
        return 0
    hour = int(word)
    if not _time_sep(lex):
        return 0
    minute = _two_digits(_token(lex))
    if minute is None:
        return 0
    second = 0
    if _time_sep(lex):
        got = _two_digits(_token(lex))
        if got is None:
            return 0
        second = min(got, 59)  # a leap second counts as :59
    zone = 0  # no zone: UTC
    if not lex.at_end:
        word = _token(lex)
        if word is None:
            return 0
        zone = _zone(word)
    try:
        stamp = calendar.timegm((year, month, 1, hour, minute, second)) + (day - 1) * 86400
    except (OverflowError, ValueError):
        return 0
    return (stamp - zone * 60) % _U32


# ---------------------------------------------------------------- message IDs (Dovecot's message-id.c)
def _careful_msgid(value: bytes, pos: int) -> tuple[str | None, int]:
    """ "<" id-left "@" id-right ">" with CFWS, a quoted local part: (the ID, where it ends) or (None, pos)."""
    lex = Lexer(value)
    lex.pos = pos
    lex.skip_cfws()
    left = lex.quoted_string() if lex.peek() == 0x22 else lex.dot_atom()
    if left is None:
        return None, pos
    lex.skip_cfws()
    if lex.peek() != 0x40:  # "@"
        return None, pos
    lex.pos += 1
    lex.skip_cfws()
    right = lex.dot_atom()
    if right is None:
        return None, pos
    lex.skip_cfws()
    if lex.peek() != 0x3E:  # ">"
        return None, pos
    return (left + b"@" + right).decode("utf-8", "surrogateescape"), lex.pos + 1


def next_msgid(value: bytes, pos: int) -> tuple[str | None, int]:
    """The next valid message ID in ``value`` from ``pos``, and where to look for the one after it."""
    n = len(value)
    while True:
        lt = value.find(b"<", pos)
        if lt < 0:
            return None, n
        start = p = lt + 1
        found_at = False
        while p < n:
            b = value[p]
            if b >= 0x41:  # most characters ("[" too: Dovecot's quick scan never stops at it)
                p += 1
                continue
            if b == 0x40:
                found_at = True
            elif b in (0x3E, 0x22, 0x28):  # > " (
                break
            p += 1
        if p >= n:
            return None, n  # an unterminated "<...": nothing more
        if value[p] == 0x3E:
            if found_at:
                return value[start:p].translate(_STRIP, b" \t\r\n").decode("utf-8", "surrogateescape"), p + 1
            pos = p + 1
            continue
        msgid, after = _careful_msgid(value, start)
        if msgid is not None:
            return msgid, after
        pos = start


_BRACKETED = re.compile(rb"<([^>]*)>")


def message_ids(value: bytes) -> list[str]:
    """Every valid message ID in a References (or In-Reply-To) value, in order."""
    if b'"' not in value and b"(" not in value:  # no quoted local part, no comment: Dovecot's quick scan, at once
        return [m.translate(_STRIP, b" \t\r\n").decode("utf-8", "surrogateescape")
                for m in _BRACKETED.findall(value) if b"@" in m]
    out: list[str] = []
    pos = 0
    while True:
        msgid, pos = next_msgid(value, pos)
        if msgid is None:
            return out
        out.append(msgid)


# ---------------------------------------------------------------- address keys
def mailbox_key(value: bytes | None) -> str:
    """SORT FROM/TO/CC (RFC 5256 3): the first address's local part (a group's name for a group), case-mapped;
    "" when there is no such header or address."""
    if value is None:
        return ""
    addresses = parse_address_list(value)
    if not addresses or addresses[0].mailbox is None:
        return ""
    return casemap(utf8_text(addresses[0].mailbox))  # a local part has no encoded words


def display_key(value: bytes | None) -> str:
    """SORT DISPLAYFROM/DISPLAYTO (RFC 5957): the first address's display name, decoded, else its
    "local@domain", case-mapped; "" when there is none."""
    if value is None:
        return ""
    addresses = parse_address_list(value)
    if not addresses:
        return ""
    first = addresses[0]
    if first.name is not None:
        name = decode(first.name)
        if name:
            return casemap(name)
    if first.mailbox is not None and first.host is not None:
        return casemap(utf8_text(first.mailbox + b"@" + first.host))
    if first.mailbox is not None:
        return casemap(utf8_text(first.mailbox))
    return ""
