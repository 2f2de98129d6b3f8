"""SEARCH keys (RFC 3501 6.4.4) as a small tree, and their parser."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .errors import ImapBad
from .lexer import Reader
from .seqset import SequenceSet


@dataclass(frozen=True)
class SAll:
    pass


@dataclass(frozen=True)
class SAnd:
    keys: tuple[SearchKey, ...]


@dataclass(frozen=True)
class SOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class SNot:
    key: SearchKey


@dataclass(frozen=True)
class SFlag:
    """A system flag (``\\Seen``) or keyword, present or absent."""

    flag: str
    present: bool = True


@dataclass(frozen=True)
class SSeq:
    sequence: SequenceSet
    uid: bool = False


@dataclass(frozen=True)
class SHeader:
    """FROM/TO/CC/BCC/SUBJECT/HEADER: case-insensitive substring of the (decoded) field.
    An empty value matches every message that has the field (RFC 3501 6.4.4 HEADER)."""

    field: str
    value: str


@dataclass(frozen=True)
class SText:
    """BODY (body only) or TEXT (header and body)."""

    where: str
    value: str


@dataclass(frozen=True)
class SDate:
    """``field`` is "internal" (BEFORE/ON/SINCE) or "sent" (SENTBEFORE/...); ``op`` is
    "before", "on" or "since"; comparisons are by day, ignoring time and zone (RFC 3501 6.4.4)."""

    field: str
    op: str
    date: dt.date


@dataclass(frozen=True)
class SSize:
    op: str  # "larger" or "smaller"
    size: int


@dataclass(frozen=True)
class SModseq:
    """RFC 7162 3.1.5 MODSEQ: messages whose mod-sequence is at least ``modseq``. The optional entry name and type
    (a flag's own mod-sequence) are read and checked, and answered with the message's, as Dovecot does."""

    modseq: int


SearchKey = SAll | SAnd | SOr | SNot | SFlag | SSeq | SHeader | SText | SDate | SSize | SModseq
MODSEQ_ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})  # RFC 7162 7 entry-type-req

_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "DELETED": ("\\Deleted", True), "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True), "SEEN": ("\\Seen", True), "RECENT": ("\\Recent", True),
    "UNANSWERED": ("\\Answered", False), "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False), "UNFLAGGED": ("\\Flagged", False), "UNSEEN": ("\\Seen", False),
    "OLD": ("\\Recent", False),
}
_HEADER_KEYS = {"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc", "SUBJECT": "Subject"}
_DATE_KEYS = {
    "BEFORE": ("internal", "before"), "ON": ("internal", "on"), "SINCE": ("internal", "since"),
    "SENTBEFORE": ("sent", "before"), "SENTON": ("sent", "on"), "SENTSINCE": ("sent", "since"),
}
_MAX_DEPTH = 100
# Real clients send a handful of keys; each key costs a test per message, so a 64 KiB line of 3,000
# TEXT keys made one SEARCH take 12 s on 10,000 messages. Past this: BAD [LIMIT] (RFC 5530).
MAX_KEYS = 1000


class _Count:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


def parse_search(r: Reader) -> tuple[str | None, SearchKey]:
    """``[CHARSET x SP] 1*search-key`` up to the end of the command."""
    charset = None
    if r.data[r.pos : r.pos + 8].upper() == b"CHARSET ":
        r.pos += 8
        charset = r.astring()
        r.space()
    return charset, parse_keys(r)


def parse_keys(r: Reader) -> SearchKey:
    """``1*search-key`` up to the end of the command (SORT and THREAD give the charset first)."""
    if r.at_end:
        raise ImapBad("Missing search parameters")
    count = _Count()
    keys = [_key(r, 0, count)]
    while not r.at_end:
        r.space()
        keys.append(_key(r, 0, count))
    return keys[0] if len(keys) == 1 else SAnd(tuple(keys))


def _seqset(r: Reader) -> SequenceSet:
    text = r.sequence_set_token()
    if "$" in text:
        raise ImapBad("The $ (SEARCHRES) sequence set is not supported")
    if not r.at_end and r.peek() not in (" ", ")"):
        raise ImapBad(f"Invalid sequence set at {r.rest_preview()!r}")
    return SequenceSet.parse(text)


def _modseq(r: Reader) -> SModseq:
    """``MODSEQ [entry-name SP entry-type-req SP] mod-sequence-valzer`` (RFC 7162 3.1.5)."""
    if r.at_end:
        raise ImapBad("Missing parameter for search key MODSEQ")
    r.space()
    if r.peek() in ('"', "{"):
        r.string_bytes()  # the entry name ("/flags/\\Seen"): every flag shares the message's mod-sequence here
        r.space()
        if r.atom_until("()").upper() not in MODSEQ_ENTRY_TYPES:
            raise ImapBad("Invalid MODSEQ type")
        r.space()
    return SModseq(r.modseq(""))


def has_modseq(key: SearchKey) -> bool:
    """Does the key use MODSEQ anywhere (the answer then carries the highest mod-sequence found, RFC 7162 3.1.5)?"""
    stack = [key]
    while stack:
        k = stack.pop()
        if isinstance(k, SModseq):
            return True
        if isinstance(k, SAnd):
            stack.extend(k.keys)
        elif isinstance(k, SOr):
            stack += [k.left, k.right]
        elif isinstance(k, SNot):
            stack.append(k.key)
    return False


def _value(r: Reader) -> str:
    r.space()
    return r.astring()


def _key(r: Reader, depth: int, count: _Count) -> SearchKey:
    if depth > _MAX_DEPTH:
        raise ImapBad(f"SEARCH keys nested too deeply (limit {_MAX_DEPTH})", "LIMIT")
    count.n += 1
    if count.n > MAX_KEYS:
        raise ImapBad(f"Too many SEARCH keys (limit {MAX_KEYS})", "LIMIT")
    if r.peek() == "(":
        r.expect("(")
        keys = [_key(r, depth + 1, count)]
        while r.peek() == " ":
            r.space()
            keys.append(_key(r, depth + 1, count))
        if r.peek() != ")":
            raise ImapBad("Unbalanced parentheses in SEARCH")
        r.expect(")")
        return keys[0] if len(keys) == 1 else SAnd(tuple(keys))
    if r.peek() is not None and (r.peek_digit() or r.peek() == "*"):
        return SSeq(_seqset(r))
    word = r.atom_until("()").upper()
    if word == "ALL":
        return SAll()
    if word == "NEW":  # RFC 3501: RECENT UNSEEN
        return SAnd((SFlag("\\Recent"), SFlag("\\Seen", False)))
    if word in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[word]
        return SFlag(flag, present)
    if word in ("KEYWORD", "UNKEYWORD"):
        r.space()
        return SFlag(r.atom(), word == "KEYWORD")
    if word in _HEADER_KEYS:
        return SHeader(_HEADER_KEYS[word], _value(r))
    if word == "HEADER":
        name = _value(r)
        return SHeader(name, _value(r))
    if word in ("BODY", "TEXT"):
        return SText(word, _value(r))
    if word in _DATE_KEYS:
        r.space()
        fld, op = _DATE_KEYS[word]
        return SDate(fld, op, r.date())
    if word in ("LARGER", "SMALLER"):
        r.space()
        return SSize(word.lower(), r.number())
    if word == "UID":
        r.space()
        return SSeq(_seqset(r), uid=True)
    if word == "MODSEQ":
        return _modseq(r)
    if word == "NOT":
        r.space()
        return SNot(_key(r, depth + 1, count))
    if word == "OR":
        r.space()
        left = _key(r, depth + 1, count)
        r.space()
        return SOr(left, _key(r, depth + 1, count))
    raise ImapBad(f"Unknown SEARCH key {word!r}")
