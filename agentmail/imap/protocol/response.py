"""Response objects and their serialisation (objects in, bytes out).

RFC 3501 section 7 / RFC 9051 section 7. Every response object has ``to_bytes()`` giving the
complete wire form including the final CRLF. Data values inside responses are plain Python
objects, serialised by :func:`encode_value`:

=================  =====================================================================
``None``           NIL
``int``            a number
``bytes``/``str``  a string: quoted, or a literal when it holds CR/LF/8-bit (``wire.nstring``)
``Atom``           sent verbatim (flags, keywords, ``\\Noselect``, response-code atoms)
``AString``        an atom when possible, else a string (mailbox names)
``Literal``        always a literal (BODY[...] data, as Dovecot does)
``Human``          Dovecot's "string for humans" (subjects and display names in ENVELOPE)
``Raw``            pre-serialised bytes, inserted as they are
list/tuple         a parenthesised list
=================  =====================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Union

from . import wire


@dataclass(frozen=True)
class Atom:
    text: str


@dataclass(frozen=True)
class AString:
    text: str


@dataclass(frozen=True)
class Literal:
    data: bytes


@dataclass(frozen=True)
class Human:
    data: bytes


@dataclass(frozen=True)
class Raw:
    data: bytes


Value = Union[None, int, bytes, str, Atom, AString, Literal, Human, Raw, "list[Value]", "tuple[Value, ...]"]


def encode_value(value: Value) -> bytes:
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: Value, out: bytearray) -> None:
    if value is None:
        out += b"NIL"
    elif isinstance(value, bool):
        raise TypeError("booleans have no IMAP form")
    elif isinstance(value, int):
        out += str(value).encode()
    elif isinstance(value, (bytes, str)):
        out += wire.nstring(value)
    elif isinstance(value, Atom):
        out += value.text.encode()
    elif isinstance(value, AString):
        out += wire.astring(value.text)
    elif isinstance(value, Literal):
        out += wire.literal(value.data)
    elif isinstance(value, Human):
        out += wire.human(value.data)
    elif isinstance(value, Raw):
        out += value.data
    else:
        out += b"("
        for i, item in enumerate(value):
            if i:
                out += b" "
            _encode(item, out)
        out += b")"


# ---------------------------------------------------------------- response codes (RFC 3501 7.1)


@dataclass(frozen=True)
class ResponseCode:
    """``[NAME args]``: args are serialised verbatim after a space (e.g. ``APPENDUID 7 3``)."""

    name: str
    args: str | None = None

    def to_bytes(self) -> bytes:
        if self.args is None:
            return f"[{self.name}]".encode()
        return f"[{self.name} {self.args}]".encode()


def code_permanentflags(flags: Iterable[str]) -> ResponseCode:
    return ResponseCode("PERMANENTFLAGS", "(" + " ".join(flags) + ")")


# ---------------------------------------------------------------- responses


class Response:
    """Base class: everything the server writes."""

    def to_bytes(self) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError


_CONTROLS = {c: " " for c in (*range(0x20), 0x7F)}


def _encode_text(text: str) -> bytes:
    # resp-text may not hold CR/LF or NUL (RFC 3501 9: text = 1*TEXT-CHAR); a client's undecodable
    # bytes (surrogate escapes) are shown, never allowed to fail the encoding
    return text.translate(_CONTROLS).encode("utf-8", "backslashreplace")


_short_text = functools.lru_cache(maxsize=512)(_encode_text)
SHORT_TEXT = 80  # longer texts (an error quoting what a client sent) are not kept: a cache of 512 can't grow big


def _text(text: str) -> bytes:
    """Most texts are the same few constants ("NOOP completed"): encoded once, not at every reply."""
    return _short_text(text) if len(text) <= SHORT_TEXT else _encode_text(text)


@dataclass(frozen=True)
class StatusResponse(Response):
    """A tagged or untagged OK / NO / BAD / PREAUTH / BYE (RFC 3501 7.1)."""

    status: str
    text: str = ""
    code: ResponseCode | None = None
    tag: str | None = None  # None: untagged ("*")

    def to_bytes(self) -> bytes:
        code, text = self.code, self.text
        head = f"{self.tag or '*'} {self.status} ".encode()
        if code is None:
            return head + _text(text or self.status.capitalize()) + b"\r\n"
        if text:
            return head + code.to_bytes() + b" " + _text(text) + b"\r\n"
        return head + code.to_bytes() + b"\r\n"


@dataclass(frozen=True)
class Encoded(Response):
    """Lines already serialised, written as they are: a SELECT's fixed untagged responses, built once per
    flag set instead of as objects at every SELECT (the warm SELECT's cost is mostly such Python)."""

    data: bytes

    def to_bytes(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class Pause(Response):
    """Nothing on the wire: a point inside a long command (SEARCH over every message, COPY of 10,000)
    where the IO layer may stop pulling and give the worker to other clients for a while."""

    def to_bytes(self) -> bytes:
        return b""


PAUSE = Pause()


def ok(tag: str | None, text: str, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("OK", text, code, tag)


def no(tag: str | None, text: str, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("NO", text, code, tag)


def bad(tag: str | None, text: str, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("BAD", text, code, tag)


def bye(text: str, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("BYE", text, code, None)


@dataclass(frozen=True)
class ContinuationRequest(Response):
    """``+ text`` (RFC 3501 7.5); ``data`` is sent instead of text when set (SASL challenges)."""

    text: str = "Ready"
    data: bytes | None = None

    def to_bytes(self) -> bytes:
        if self.data is not None:
            return b"+ " + self.data + b"\r\n"
        return b"+ " + _text(self.text) + b"\r\n"


@dataclass(frozen=True)
class Untagged(Response):
    """``* <payload>``: payload items are values joined by spaces (generic untagged data)."""

    items: tuple[Value, ...]

    def to_bytes(self) -> bytes:
        return b"* " + b" ".join(encode_value(v) for v in self.items) + b"\r\n"


@dataclass(frozen=True)
class CapabilityResponse(Response):
    capabilities: tuple[str, ...]

    def to_bytes(self) -> bytes:
        return b"* CAPABILITY " + " ".join(self.capabilities).encode() + b"\r\n"


@dataclass(frozen=True)
class ListResponse(Response):
    """``* LIST (attrs) "delim" name`` (RFC 3501 7.2.2; extended data per RFC 5258)."""

    attributes: tuple[str, ...]
    delimiter: str | None
    mailbox: str  # on-the-wire (modified UTF-7) name
    command: str = "LIST"
    extended: tuple[Value, ...] = ()

    def to_bytes(self) -> bytes:
        out = b"* " + self.command.encode() + b" (" + " ".join(self.attributes).encode() + b") "
        out += encode_value(self.delimiter) + b" " + wire.astring(self.mailbox)
        if self.extended:
            out += b" " + encode_value(list(self.extended))
        return out + b"\r\n"


@dataclass(frozen=True)
class StatusDataResponse(Response):
    """``* STATUS mailbox (MESSAGES 3 UIDNEXT 9)`` (RFC 3501 7.2.4)."""

    mailbox: str
    items: tuple[tuple[str, int], ...]

    def to_bytes(self) -> bytes:
        body = " ".join(f"{k} {v}" for k, v in self.items).encode()
        return b"* STATUS " + wire.astring(self.mailbox) + b" (" + body + b")\r\n"


@dataclass(frozen=True)
class FlagsResponse(Response):
    flags: tuple[str, ...]

    def to_bytes(self) -> bytes:
        return b"* FLAGS (" + " ".join(self.flags).encode() + b")\r\n"


@dataclass(frozen=True)
class NumberResponse(Response):
    """``* n EXISTS`` / ``* n RECENT`` / ``* n EXPUNGE`` (RFC 3501 7.3, 7.4.1)."""

    number: int
    name: str

    def to_bytes(self) -> bytes:
        return b"* %d %s\r\n" % (self.number, self.name.encode())


def exists(n: int) -> NumberResponse:
    return NumberResponse(n, "EXISTS")


def recent(n: int) -> NumberResponse:
    return NumberResponse(n, "RECENT")


def expunge(n: int) -> NumberResponse:
    return NumberResponse(n, "EXPUNGE")


@dataclass(frozen=True)
class SearchResponse(Response):
    """``* SEARCH 2 5`` (RFC 3501 7.2.5), or ``* SORT 5 2`` (RFC 5256 4) with ``name`` SORT; ``modseq``: the
    highest mod-sequence of the hits, ``* SEARCH 2 5 (MODSEQ 917)`` (RFC 7162 3.1.5), sent only with hits."""

    numbers: Sequence[int]
    name: str = "SEARCH"
    modseq: int | None = None

    def to_bytes(self) -> bytes:
        tail = b" (MODSEQ %d)" % self.modseq if self.modseq is not None and self.numbers else b""
        return b"* " + self.name.encode() + b"".join(b" %d" % n for n in self.numbers) + tail + b"\r\n"


@dataclass(frozen=True)
class VanishedResponse(Response):
    """``* VANISHED [(EARLIER)] uid-set`` (RFC 7162 3.2.10): ``ranges`` of UIDs, (first, last), ascending."""

    ranges: Sequence[tuple[int, int]]
    earlier: bool = False

    def to_bytes(self) -> bytes:
        text = b",".join(b"%d" % a if a == b else b"%d:%d" % (a, b) for a, b in self.ranges)
        return b"* VANISHED " + (b"(EARLIER) " if self.earlier else b"") + text + b"\r\n"


def sequence_set(numbers: Sequence[int]) -> bytes:
    """Ascending numbers as a compact sequence set, ``1:3,7`` (RFC 4731 3.1 ALL)."""
    out: list[bytes] = []
    i, count = 0, len(numbers)
    while i < count:
        j = i
        while j + 1 < count and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(b"%d" % numbers[i] if i == j else b"%d:%d" % (numbers[i], numbers[j]))
        i = j + 1
    return b",".join(out)


@dataclass(frozen=True)
class ESearchResponse(Response):
    """``* ESEARCH (TAG "a1") UID MIN 2 MAX 9 ALL 2:4,9 COUNT 4`` (RFC 4731 3.1): ``matches`` are the
    ascending hits; only the ``returns`` asked are sent, and MIN/MAX/ALL only when something matched
    (in Dovecot's order: MIN MAX ALL COUNT)."""

    tag: str
    uid: bool
    returns: frozenset[str]
    matches: Sequence[int]
    modseq: int | None = None  # RFC 7162 3.1.5: "MODSEQ n" last, with hits

    def to_bytes(self) -> bytes:
        out = b"* ESEARCH (TAG " + wire.nstring(self.tag) + b")" + (b" UID" if self.uid else b"")
        hits = self.matches
        if hits:
            if "MIN" in self.returns:
                out += b" MIN %d" % hits[0]
            if "MAX" in self.returns:
                out += b" MAX %d" % hits[-1]
            if "ALL" in self.returns:
                out += b" ALL " + sequence_set(hits)
        if "COUNT" in self.returns:
            out += b" COUNT %d" % len(hits)
        if self.modseq is not None and hits:
            out += b" MODSEQ %d" % self.modseq
        return out + b"\r\n"


class ThreadNode:
    """One message of a thread (``number`` 0: a dummy parent, RFC 5256 2.2) and its replies. Plain lists, no
    recursion anywhere: a chain of 10,000 replies is as deep as it is long."""

    __slots__ = ("number", "children")

    def __init__(self, number: int, children: list[ThreadNode] | None = None) -> None:
        self.number = number
        self.children: list[ThreadNode] = [] if children is None else children

    def __repr__(self) -> str:
        return f"ThreadNode({self.number}, {len(self.children)} children)"


def encode_threads(threads: Sequence[ThreadNode]) -> bytes:
    """Dovecot's form (RFC 5256 4): a lone child continues its parent's list ("1 2 3"); siblings are each
    parenthesised ("(2)(3)"); a dummy parent has no number of its own ("((1)(2))"). Iterative (see ThreadNode)."""
    out = bytearray()
    stack: list[bytes | tuple[Sequence[ThreadNode], bool]] = [(threads, True)]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out += item
            continue
        nodes, top = item
        if len(nodes) == 1 and not top:
            node = nodes[0]
            out += b"%d" % node.number
            if node.children:
                out += b" "
                stack.append((node.children, False))
            continue
        for node in reversed(nodes):  # pushed last first, so they come out in order
            if not node.children:
                stack.append(b"(%d)" % node.number)
                continue
            stack.append(b")")
            stack.append((node.children, False))
            stack.append(b"(" if node.number == 0 else b"(%d " % node.number)
    return bytes(out)


@dataclass(frozen=True)
class ThreadResponse(Response):
    """``* THREAD (2)(3 6 (4 23)(44 7 96))`` (RFC 5256 4)."""

    threads: Sequence[ThreadNode]

    def to_bytes(self) -> bytes:
        return b"* THREAD " + encode_threads(self.threads) + b"\r\n"


@dataclass(frozen=True)
class FetchResponse(Response):
    """``* seq FETCH (name value ...)`` (RFC 3501 7.4.2); names are sent verbatim."""

    seq: int
    items: Sequence[tuple[str, Value]] = field(default_factory=tuple)

    def to_bytes(self) -> bytes:
        out = bytearray(b"* %d FETCH (" % self.seq)
        for i, (name, value) in enumerate(self.items):
            if i:
                out += b" "
            out += name.encode("utf-8", "surrogateescape") + b" "  # echoes a client's HEADER.FIELDS names as sent
            _encode(value, out)
        out += b")\r\n"
        return bytes(out)


@dataclass(frozen=True)
class EnabledResponse(Response):
    capabilities: tuple[str, ...]

    def to_bytes(self) -> bytes:
        return b"* ENABLED" + b"".join(b" " + c.encode() for c in self.capabilities) + b"\r\n"


def flag_list(flags: Iterable[str]) -> Raw:
    """A parenthesised flag list, e.g. ``(\\Seen $MDNSent)``."""
    return Raw(b"(" + " ".join(flags).encode() + b")")
