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
could be read) BAD response, and parsing resumes with the next line.

``expect_line()`` makes the next complete line come back as ``RawLine`` instead of being parsed:
the session uses it for the AUTHENTICATE continuation (RFC 3501 6.2.2) and for IDLE's DONE
(RFC 2177). Because events are pulled one at a time, a command pipelined behind AUTHENTICATE or
IDLE is not parsed before the session has had its say.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import commands as c
from .errors import ImapBad
from .fetchatt import parse_fetch_atts
from .lexer import Reader
from .response import ResponseCode, StatusResponse, bad, bye, no
from .searchkeys import parse_search
from .seqset import SEQSET_CHARS, SequenceSet

DEFAULT_MAX_LINE = 64 * 1024
DEFAULT_MAX_LITERAL = 64 * 1024 * 1024


@dataclass(frozen=True)
class NeedContinuation:
    """A synchronizing literal was announced: send ``+ Ready`` and feed the literal."""

    tag: str | None
    size: int


@dataclass(frozen=True)
class ParseError:
    """Send ``response``; when ``fatal``, close the connection after it (it is then a BYE)."""

    response: StatusResponse
    fatal: bool = False


@dataclass(frozen=True)
class RawLine:
    """A line read in raw mode (see ``expect_line``), without its line ending."""

    line: bytes


Event = c.Command | NeedContinuation | ParseError | RawLine

_LITERAL_AT_END = re.compile(rb"\{(\d+)(\+?)\}\r?\n\Z")
_TAG = re.compile(rb"[!#-'*,.-Z^-z|~\-\[\]]+")


def _tag_of(line: bytes) -> str | None:
    """The tag at the start of a command line, if it is a valid tag (RFC 3501 9: tag)."""
    m = _TAG.match(line)
    if m is None or line[m.end() : m.end() + 1] != b" " or b"+" in m.group():
        return None
    return m.group().decode("ascii")


class CommandParser:
    def __init__(self, max_line: int = DEFAULT_MAX_LINE, max_literal: int = DEFAULT_MAX_LITERAL,
                 max_command: int | None = None) -> None:
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
                self._buf[:0] = b""  # line already consumed
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
        tag = _tag_of(self._first_line(line or bytes(self._buf)))
        self._buf.clear() if skip else None
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
            tag = _tag_of(self._first_line(line))
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
        return parse_command(data)


# -------------------------------------------------------------------- command grammar
def parse_command(data: bytes) -> c.Command | ParseError:
    """Parse one complete command (literals included, final CRLF optional)."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    tag = _tag_of(data + b" ") if data else None
    try:
        if tag is None:
            raise ImapBad("Missing or invalid tag" if data.strip() else "Empty command line")
        if b"\x00" in _outside_literals(data):
            raise ImapBad("NUL byte in command")
        r = Reader(data)
        r.pos = len(tag)
        if r.data[r.pos :].strip() == b"":
            raise ImapBad("Missing command name")
        r.space()
        name = r.atom().upper()
        if name == "UID":
            r.space()
            sub = r.atom().upper()
            uid_handler = _UID_COMMANDS.get(sub)
            if uid_handler is None:
                raise ImapBad(f"Unknown UID command {sub}")
            cmd = uid_handler(tag, r)
        else:
            handler = _COMMANDS.get(name)
            if handler is None:
                raise ImapBad(f"Unknown command {name}")
            cmd = handler(tag, r)
        r.end()
        return cmd
    except ImapBad as err:
        return ParseError(err.response(tag))
    except Exception as err:  # never let a parser bug take the connection down
        return ParseError(bad(tag, f"Could not parse command ({type(err).__name__})"))


def _outside_literals(data: bytes) -> bytes:
    """The command text with literal contents cut out (for the NUL check)."""
    out = bytearray()
    pos = 0
    while True:
        m = re.search(rb"\{(\d+)\+?\}\r\n", data[pos:])
        if m is None:
            out += data[pos:]
            return bytes(out)
        out += data[pos : pos + m.end()]
        pos += m.end() + int(m.group(1))


Handler = Callable[[str, Reader], c.Command]


def _no_args(cls: type[c.Command]) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        return cls(tag)

    return handler


def _seqset(r: Reader) -> SequenceSet:
    r.space()
    text = r.sequence_set_token()
    if not r.at_end and r.peek() not in (" ", ")"):
        raise ImapBad(f"Invalid sequence set at {r.rest_preview()!r}")
    if "$" in text:
        raise ImapBad("The $ (SEARCHRES) sequence set is not supported")
    if not set(text) <= SEQSET_CHARS:
        raise ImapBad(f"Invalid sequence set {text!r}")
    return SequenceSet.parse(text)


def _id(tag: str, r: Reader) -> c.Command:
    r.space()
    if r.peek() != "(":
        if r.atom().upper() != "NIL":
            raise ImapBad("ID takes NIL or a parenthesised list")
        return c.Id(tag, None)
    r.expect("(")
    params: list[tuple[str, str | None]] = []
    while r.peek() != ")":
        if params:
            r.space()
        key = r.string_bytes().decode("utf-8", "replace")
        r.space()
        params.append((key, r.nstring()))
        if len(params) > 30:  # RFC 2971 3.3: at most 30 pairs
            raise ImapBad("Too many ID parameters")
    r.expect(")")
    return c.Id(tag, tuple(params))


def _enable(tag: str, r: Reader) -> c.Command:
    caps = []
    while not r.at_end:
        r.space()
        caps.append(r.atom().upper())
    if not caps:
        raise ImapBad("ENABLE needs at least one capability")
    return c.Enable(tag, tuple(caps))


def _login(tag: str, r: Reader) -> c.Command:
    r.space()
    user = r.astring()
    r.space()
    return c.Login(tag, user, r.astring())


def _authenticate(tag: str, r: Reader) -> c.Command:
    r.space()
    mech = r.atom().upper()
    initial = None
    if not r.at_end:
        r.space()
        initial = r.atom_until("")  # base64 / "="
        if initial == "=":
            initial = ""
        elif not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", initial):
            raise ImapBad("Invalid base64 in the initial response")
    return c.Authenticate(tag, mech, initial)


def _mailbox_cmd(cls: type[c.Delete] | type[c.Subscribe] | type[c.Unsubscribe]) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        r.space()
        return cls(tag, r.mailbox())

    return handler


def _select(cls: type[c.Select]) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        r.space()
        mailbox = r.mailbox()
        if not r.at_end:
            raise ImapBad(f"{cls.name} parameters are not supported (no CONDSTORE/QRESYNC)")
        return cls(tag, mailbox)

    return handler


def _create(tag: str, r: Reader) -> c.Command:
    r.space()
    mailbox = r.mailbox()
    use: tuple[str, ...] = ()
    if not r.at_end:
        r.space()
        r.expect("(")
        if r.atom().upper() != "USE":  # RFC 6154 3: create-param USE
            raise ImapBad("Unknown CREATE parameter")
        r.space()
        use = tuple(r.paren_list("flag"))
        r.expect(")")
    return c.Create(tag, mailbox, use)


def _rename(tag: str, r: Reader) -> c.Command:
    r.space()
    old = r.mailbox()
    r.space()
    return c.Rename(tag, old, r.mailbox())


_LIST_SELECT = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
_LIST_RETURN = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})


def _list(tag: str, r: Reader) -> c.Command:
    r.space()
    selection: list[str] = []
    extended = False
    if r.peek() == "(":  # RFC 5258 list-select-opts
        extended = True
        selection = [s.upper() for s in r.paren_list()]
        bad_opts = [s for s in selection if s not in _LIST_SELECT]
        if bad_opts:
            raise ImapBad(f"Unknown LIST selection option {bad_opts[0]}")
        if "RECURSIVEMATCH" in selection and len(selection) == 1:
            raise ImapBad("RECURSIVEMATCH needs another selection option (RFC 5258 3)")
        r.space()
    reference = r.astring()
    r.space()
    if r.peek() == "(":
        extended = True
        r.expect("(")
        patterns = [r.list_mailbox()]
        while r.peek() == " ":
            r.space()
            patterns.append(r.list_mailbox())
        r.expect(")")
    else:
        patterns = [r.list_mailbox()]
    returns: list[str] = []
    status_items: tuple[str, ...] = ()
    if not r.at_end:
        r.space()
        if r.atom().upper() != "RETURN":
            raise ImapBad("Expected RETURN after the LIST patterns")
        extended = True
        r.space()
        r.expect("(")
        while r.peek() != ")":
            if returns:
                r.space()
            opt = r.atom().upper()
            if opt not in _LIST_RETURN:
                raise ImapBad(f"Unknown LIST return option {opt}")
            if opt == "STATUS":  # RFC 5819
                r.space()
                status_items = _status_items(r)
            returns.append(opt)
        r.expect(")")
    return c.List(tag, reference, tuple(patterns), tuple(selection), tuple(returns), status_items, extended)


def _lsub(tag: str, r: Reader) -> c.Command:
    r.space()
    reference = r.astring()
    r.space()
    return c.Lsub(tag, reference, r.list_mailbox())


def _status_items(r: Reader) -> tuple[str, ...]:
    items = tuple(i.upper() for i in r.paren_list())
    if not items:
        raise ImapBad("STATUS needs at least one item")
    for item in items:
        if item not in c.STATUS_ITEMS:
            raise ImapBad(f"Unknown STATUS item {item}")
    return items


def _status(tag: str, r: Reader) -> c.Command:
    r.space()
    mailbox = r.mailbox()
    r.space()
    return c.Status(tag, mailbox, _status_items(r))


def _append(tag: str, r: Reader) -> c.Command:
    r.space()
    mailbox = r.mailbox()
    r.space()
    flags: tuple[str, ...] = ()
    date = None
    if r.peek() == "(":
        flags = tuple(r.paren_list("flag"))
        r.space()
    if r.peek() == '"':
        date = r.date_time()
        r.space()
    if r.peek() != "{":
        raise ImapBad("APPEND needs the message as a literal")
    message = r.string_bytes()
    if not r.at_end:
        raise ImapBad("Only one message per APPEND (no MULTIAPPEND)")
    return c.Append(tag, mailbox, flags, date, message)


def _fetch(uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        seq = _seqset(r)
        r.space()
        atts = parse_fetch_atts(r)
        if not r.at_end:
            raise ImapBad("FETCH modifiers are not supported")
        return c.Fetch(tag, seq, atts, uid)

    return handler


def _store(uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        seq = _seqset(r)
        r.space()
        if r.peek() == "(":
            raise ImapBad("STORE modifiers are not supported (no CONDSTORE)")
        item = r.atom().upper()
        mode = item[0] if item[:1] in ("+", "-") else ""
        base = item[len(mode) :]
        if base not in ("FLAGS", "FLAGS.SILENT"):
            raise ImapBad(f"Invalid STORE item {item} (expected [+|-]FLAGS[.SILENT])")
        r.space()
        flags = r.flag_list_or_single()
        return c.Store(tag, seq, mode, base.endswith(".SILENT"), tuple(flags), uid)

    return handler


def _search(uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        r.space()
        if r.peek() == "(" and r.data[r.pos : r.pos + 8].upper() == b"(RETURN ":
            raise ImapBad("SEARCH RETURN (ESEARCH) is not supported")
        charset, key = parse_search(r)
        return c.Search(tag, key, charset, uid)

    return handler


def _copy(cls: type[c.Copy], uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        seq = _seqset(r)
        r.space()
        return cls(tag, seq, r.mailbox(), uid)

    return handler


def _uid_expunge(tag: str, r: Reader) -> c.Command:
    return c.Expunge(tag, _seqset(r))


_COMMANDS: dict[str, Handler] = {
    "CAPABILITY": _no_args(c.Capability), "NOOP": _no_args(c.Noop), "LOGOUT": _no_args(c.Logout),
    "STARTTLS": _no_args(c.StartTls), "NAMESPACE": _no_args(c.Namespace), "CHECK": _no_args(c.Check),
    "CLOSE": _no_args(c.Close), "UNSELECT": _no_args(c.Unselect), "EXPUNGE": _no_args(c.Expunge),
    "IDLE": _no_args(c.Idle), "ID": _id, "ENABLE": _enable, "LOGIN": _login,
    "AUTHENTICATE": _authenticate, "SELECT": _select(c.Select), "EXAMINE": _select(c.Examine),
    "CREATE": _create, "DELETE": _mailbox_cmd(c.Delete), "RENAME": _rename,
    "SUBSCRIBE": _mailbox_cmd(c.Subscribe), "UNSUBSCRIBE": _mailbox_cmd(c.Unsubscribe),
    "LIST": _list, "LSUB": _lsub, "STATUS": _status, "APPEND": _append,
    "FETCH": _fetch(False), "STORE": _store(False), "SEARCH": _search(False),
    "COPY": _copy(c.Copy, False), "MOVE": _copy(c.Move, False),
}
_UID_COMMANDS: dict[str, Handler] = {
    "FETCH": _fetch(True), "STORE": _store(True), "SEARCH": _search(True),
    "COPY": _copy(c.Copy, True), "MOVE": _copy(c.Move, True), "EXPUNGE": _uid_expunge,
}
