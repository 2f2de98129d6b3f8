"""Incremental, sans-IO IMAP command parser (bytes in, objects out), in the style of h11.

    parser = CommandParser()
    parser.receive_data(chunk)
    while (event := parser.next_event()) is not None:
        ...   # Command, NeedContinuation, ParseError or RawLine

Framing (RFC 3501 2.2, 4.3): a command is a line ending in CRLF, except that a line ending in a
literal announcement ``{n}`` (synchronizing) or ``{n+}`` (LITERAL+, RFC 7888) is followed by n
bytes of data and then the rest of the command. For ``{n}`` the parser yields
``NeedContinuation``; the IO layer sends ``+ Ready`` (``response.ContinuationRequest``) and keeps
feeding. Literal sizes are checked against ``max_literal`` when announced, before a single byte of
the literal is buffered: an oversized synchronizing literal is refused with a tagged NO [LIMIT]
(the client never sends it, RFC 3501 7.5); an oversized non-synchronizing one cannot be skipped
safely, so the parser yields a fatal error (BYE) and stops (RFC 7888 4 leaves the server no
better choice). Lines longer than ``max_line`` are refused with BAD and skipped to the next LF.

Bad input never raises: it becomes a ``ParseError`` carrying the tagged (or untagged, when no tag
could be read) BAD response, and parsing resumes with the next line. Only protocol errors
(``ImapBad``) become BAD: any other exception from the grammar is a bug, logged with its traceback
and answered ``NO [SERVERBUG]`` (RFC 5530), and parsing resumes too.

``expect_line()`` makes the next complete line come back as ``RawLine`` instead of being parsed:
the session uses it for the AUTHENTICATE continuation (RFC 3501 6.2.2) and for IDLE's DONE
(RFC 2177). Because events are pulled one at a time, a command pipelined behind AUTHENTICATE or
IDLE is not parsed before the session has had its say.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .commands import Command
from .errors import internal_error
from .events import Event, NeedContinuation, ParseError, RawLine
from .grammar import parse_command, tag_of
from .response import ResponseCode, bad, bye, no

DEFAULT_MAX_LINE = 64 * 1024
DEFAULT_MAX_LITERAL = 64 * 1024 * 1024
_LITERAL_AT_END = re.compile(rb"\{(\d+)(\+?)\}\r?\n\Z")


class CommandParser:
    def __init__(self, max_line: int = DEFAULT_MAX_LINE, max_literal: int = DEFAULT_MAX_LITERAL,
                 max_command: int | None = None,
                 grammar: Callable[[bytes], Command | ParseError] = parse_command) -> None:
        self._grammar = grammar  # one complete command -> Command or ParseError (tests pass their own)
        self.max_line = max_line
        self.max_literal = max_literal
        self.max_command = max_command if max_command is not None else max_literal + 4 * max_line
        self._buf = bytearray()
        self._parts: list[bytes] = []  # pieces of the command being framed
        self._size = 0
        self._literal_left = 0  # literal bytes still to come
        self._skip_line = False  # discarding an overlong line up to its LF
        self._raw = False
        self.closed = False  # set after a fatal error; nothing more is parsed

    # ---------------------------------------------------------------- public API
    def set_max_literal(self, max_literal: int) -> None:
        """Change the literal cap (the server raises it after login), and the command cap with it."""
        self.max_command += max_literal - self.max_literal
        self.max_literal = max_literal

    def receive_data(self, data: bytes) -> None:
        if not self.closed:
            self._buf += data

    def expect_line(self) -> None:
        """Return the next complete line as a RawLine (AUTHENTICATE continuation, IDLE DONE)."""
        self._raw = True

    def feed(self, data: bytes) -> list[Event]:
        """receive_data + next_event until it returns None (convenient when raw mode is unused)."""
        self.receive_data(data)
        out: list[Event] = []
        while (ev := self.next_event()) is not None:
            out.append(ev)
        return out

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as events (what the next ``next_event`` may have to parse)."""
        return len(self._buf) + self._size

    @property
    def in_literal(self) -> bool:
        return self._literal_left > 0

    def next_event(self) -> Event | None:
        while not self.closed:
            if self._literal_left:
                if not self._buf:
                    return None
                take = bytes(self._buf[: self._literal_left])
                del self._buf[: len(take)]
                self._parts.append(take)
                self._literal_left -= len(take)
                continue
            nl = self._buf.find(b"\n")
            if self._skip_line:
                if nl < 0:
                    self._buf.clear()
                    return None
                del self._buf[: nl + 1]
                self._skip_line = False
                continue
            if nl < 0:
                if len(self._buf) > self.max_line:
                    return self._overlong(skip=True)
                return None
            line = bytes(self._buf[: nl + 1])
            del self._buf[: nl + 1]
            if len(line) > self.max_line + 2:
                return self._overlong(skip=False, line=line)
            if self._raw:
                self._raw = False
                return RawLine(line.rstrip(b"\r\n") if line.endswith(b"\r\n") else line[:-1])
            event = self._line(line)
            if event is not None:
                return event
        return None

    # ---------------------------------------------------------------- framing
    def _first_line(self, fallback: bytes) -> bytes:
        return self._parts[0] if self._parts else fallback

    def _reset(self) -> None:
        self._parts = []
        self._size = 0

    def _overlong(self, skip: bool, line: bytes = b"") -> ParseError:
        tag = tag_of(self._first_line(line or bytes(self._buf)))
        if skip:
            self._buf.clear()
        self._skip_line = skip
        self._reset()
        return ParseError(bad(tag, f"Command line too long (limit {self.max_line} bytes)"))

    def _line(self, line: bytes) -> Event | None:
        """Handle one complete line; None means "nothing to report yet, keep going"."""
        self._size += len(line)
        m = _LITERAL_AT_END.search(line)
        if m is not None:
            digits, plus = m.group(1), m.group(2)
            size = int(digits) if len(digits) <= 20 else 1 << 64
            tag = tag_of(self._first_line(line))
            if size > self.max_literal or self._size + size > self.max_command:
                self._reset()
                text = f"Literal too large ({size} bytes, limit {self.max_literal})"
                if plus:
                    # RFC 7888 4: the data is already on its way and cannot be told apart from
                    # commands, so the connection has to go.
                    self.closed = True
                    self._buf.clear()
                    return ParseError(bye(text, ResponseCode("LIMIT")), fatal=True)
                return ParseError(no(tag, text, ResponseCode("LIMIT")))
            self._parts.append(line)
            self._size += size
            self._literal_left = size
            if not plus:
                return NeedContinuation(tag, size)
            return None  # LITERAL+: just keep reading
        self._parts.append(line)
        data = b"".join(self._parts)
        self._reset()
        try:
            return self._grammar(data)
        except Exception:  # a bug, not the client's fault: logged with its traceback, NO [SERVERBUG]
            return ParseError(internal_error(tag_of(data), "parsing a command"))


__all__ = ["CommandParser", "Event", "NeedContinuation", "ParseError", "RawLine", "parse_command"]
