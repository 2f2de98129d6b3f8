"""Command grammar (RFC 3501 section 9 and the extensions we announce): one complete command,
literals included, to a typed Command object, or a ParseError carrying the BAD reply."""

from __future__ import annotations

import re
from collections.abc import Callable

from . import commands as c
from .errors import ImapBad
from .events import ParseError
from .fetchatt import parse_fetch_atts
from .lexer import _TAG, Reader
from .searchkeys import parse_keys, parse_search
from .seqset import SEQSET_CHARS, SequenceSet


def tag_of(line: bytes) -> str | None:
    """The tag at the start of a command line, if it is a valid tag followed by a space
    (RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">)."""
    m = _TAG.match(line)
    end = m.end() if m is not None else 0
    if end == 0 or line[end : end + 1] != b" ":
        return None
    return line[:end].decode("ascii")


def parse_command(data: bytes) -> c.Command | ParseError:
    """Parse one complete command (literals included, final CRLF optional)."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    tag = tag_of(data + b" ") if data else None
    try:
        if tag is None:
            raise ImapBad("Missing or invalid tag" if data.strip() else "Empty command line")
        if b"\x00" in data and b"\x00" in _outside_literals(data):
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
    except ImapBad as err:  # only a protocol error is a BAD; anything else is a bug (parser.py handles it)
        return ParseError(err.response(tag))


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
        condstore = False
        qresync = None
        if not r.at_end:  # RFC 7162 7: select-param list, "()" allowed as in Dovecot
            r.space()
            r.expect("(")
            while r.peek() != ")":
                if r.data[r.pos - 1 : r.pos] != b"(":
                    r.space()
                word = r.atom().upper()
                if word == "CONDSTORE":
                    condstore = True
                elif word == "QRESYNC" and qresync is None:
                    r.space()
                    qresync = _qresync(r)
                else:
                    raise ImapBad(f"Unknown {cls.name} parameter {word} (CONDSTORE or QRESYNC)")
            r.expect(")")
        return cls(tag, mailbox, condstore, qresync)

    return handler


def _qresync(r: Reader) -> c.Qresync:
    """``(uidvalidity mod-sequence-value [known-uids [seq-match-data]])`` (RFC 7162 3.2.5)."""
    r.expect("(")
    uidvalidity = r.nz_number()
    r.space()
    modseq = r.modseq("QRESYNC")
    if not modseq:
        raise ImapBad("Invalid QRESYNC modseq")
    known: SequenceSet | None = None
    match: tuple[SequenceSet, SequenceSet] | None = None
    if r.peek() == " ":
        r.space()
        if r.peek() != "(":
            known = _uid_set(r)
            if r.peek() == " ":
                r.space()
        if r.peek() == "(":
            r.expect("(")
            seqs = _uid_set(r)
            r.space()
            uids = _uid_set(r)
            r.expect(")")
            match = (seqs, uids)
    r.expect(")")
    return c.Qresync(uidvalidity, modseq, known, match)


def _uid_set(r: Reader) -> SequenceSet:
    """A sequence set of numbers (QRESYNC's known UIDs and sequence match data: no "*", RFC 7162 7)."""
    text = r.sequence_set_token()
    if not set(text) <= SEQSET_CHARS or "*" in text:
        raise ImapBad(f"Invalid QRESYNC sequence set {text!r}")
    return SequenceSet.parse(text)


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


MAX_LIST_PATTERNS = 100  # RFC 5258 3 allows a list; clients send one or two
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
            if len(patterns) > MAX_LIST_PATTERNS:  # each is matched against every mailbox
                raise ImapBad(f"Too many LIST patterns (limit {MAX_LIST_PATTERNS})", "LIMIT")
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
        changedsince: int | None = None
        vanished = False
        if not r.at_end:  # RFC 4466 fetch-modifiers: CHANGEDSINCE (RFC 7162 3.1.4.1), VANISHED (3.2.6)
            r.space()
            r.expect("(")
            while r.peek() != ")":
                if r.data[r.pos - 1 : r.pos] != b"(":
                    r.space()
                word = r.atom().upper()
                if word == "CHANGEDSINCE" and changedsince is None:
                    if r.peek() != " ":
                        raise ImapBad("Invalid CHANGEDSINCE modseq")
                    r.space()
                    changedsince = r.modseq("CHANGEDSINCE")
                elif word == "VANISHED" and uid and not vanished:
                    vanished = True
                elif word == "VANISHED" and not uid:
                    raise ImapBad("VANISHED needs UID FETCH (RFC 7162 3.2.6)")
                else:
                    raise ImapBad(f"Unknown FETCH modifier {word}")
            r.expect(")")
            if vanished and changedsince is None:
                raise ImapBad("VANISHED used without CHANGEDSINCE")
        return c.Fetch(tag, seq, atts, uid, changedsince, vanished)

    return handler


def _store(uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        seq = _seqset(r)
        r.space()
        unchangedsince: int | None = None
        if r.peek() == "(":  # RFC 4466 store-modifiers: UNCHANGEDSINCE (RFC 7162 3.1.3)
            r.expect("(")
            while r.peek() != ")":
                if r.data[r.pos - 1 : r.pos] != b"(":
                    r.space()
                word = r.atom().upper()
                if word != "UNCHANGEDSINCE" or unchangedsince is not None:
                    raise ImapBad(f"Unknown STORE modifier {word}")
                if r.peek() != " ":
                    raise ImapBad("Invalid STORE modifiers")
                r.space()
                unchangedsince = r.modseq("UNCHANGEDSINCE")
            r.expect(")")
            r.space()
        item = r.atom().upper()
        mode = item[0] if item[:1] in ("+", "-") else ""
        base = item[len(mode) :]
        if base not in ("FLAGS", "FLAGS.SILENT"):
            raise ImapBad(f"Invalid STORE item {item} (expected [+|-]FLAGS[.SILENT])")
        r.space()
        flags = r.flag_list_or_single()
        return c.Store(tag, seq, mode, base.endswith(".SILENT"), tuple(flags), uid, unchangedsince)

    return handler


def _search_returns(r: Reader) -> tuple[str, ...] | None:
    """RFC 4731 ``RETURN (opts) SP`` before the search keys, if there (None: a plain SEARCH)."""
    if r.data[r.pos : r.pos + 8].upper() != b"RETURN (":
        return None
    r.pos += 7
    options = tuple(dict.fromkeys(o.upper() for o in r.paren_list()))  # repeats count once, as Dovecot
    for opt in options:
        if opt not in c.SEARCH_RETURNS:  # SAVE (RFC 5182), PARTIAL, UPDATE ... are extensions we do not announce
            raise ImapBad(f"Unknown SEARCH return option {opt} (ESEARCH: MIN MAX ALL COUNT)")
    r.space()
    return options


def _search(uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        r.space()
        returns = _search_returns(r)
        charset, key = parse_search(r)
        return c.Search(tag, key, charset, uid, returns)

    return handler


def _charset(r: Reader) -> str:
    """SORT's and THREAD's mandatory charset (RFC 5256 3), then the space before the keys."""
    if r.at_end or r.peek() in ("(", ")", " "):
        raise ImapBad("Invalid charset argument")
    charset = r.astring()
    if not r.at_end:
        r.space()
    return charset


def _sort(uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        r.space()
        if r.peek() != "(":
            raise ImapBad("Invalid sort argument (expected a list of sort keys)")
        r.expect("(")
        criteria: list[tuple[str, bool]] = []
        reverse = ended_reverse = False
        seen: set[str] = set()
        while r.peek() != ")":
            if r.data[r.pos - 1 : r.pos] != b"(":
                r.space()
            if r.peek() in ("(", None):
                raise ImapBad("Invalid sort list argument")
            word = r.astring().upper()
            ended_reverse = word == "REVERSE"
            if ended_reverse:  # RFC 5256 3: REVERSE applies to the key after it (twice undoes it, as Dovecot)
                reverse = not reverse
                continue
            if word not in c.SORT_KEYS:
                raise ImapBad(f"Unknown sort argument: {word}")
            if word in seen:  # a key given twice sorts nothing more: the first one counts (its REVERSE
                continue  # passes on to the next key, as in Dovecot)
            seen.add(word)
            criteria.append((word, reverse))
            reverse = False
        r.expect(")")
        if ended_reverse:
            raise ImapBad("Sort list ends with REVERSE")
        if not criteria:
            raise ImapBad("Empty sort program")
        if r.at_end:
            raise ImapBad("Invalid charset argument")
        r.space()
        charset = _charset(r)
        return c.Sort(tag, tuple(criteria), charset, parse_keys(r), uid)

    return handler


def _thread(uid: bool) -> Handler:
    def handler(tag: str, r: Reader) -> c.Command:
        if r.at_end:
            raise ImapBad("THREAD needs an algorithm, a charset and search keys")
        r.space()
        algorithm = r.astring().upper()
        if algorithm not in c.THREAD_ALGORITHMS:
            raise ImapBad(f"Unknown thread algorithm {algorithm} (REFERENCES or ORDEREDSUBJECT)")
        if r.at_end:
            raise ImapBad("Invalid charset argument")
        r.space()
        charset = _charset(r)
        return c.Thread(tag, algorithm, charset, parse_keys(r), uid)

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
    "COPY": _copy(c.Copy, False), "MOVE": _copy(c.Move, False), "SORT": _sort(False), "THREAD": _thread(False),
}
_UID_COMMANDS: dict[str, Handler] = {
    "FETCH": _fetch(True), "STORE": _store(True), "SEARCH": _search(True),
    "COPY": _copy(c.Copy, True), "MOVE": _copy(c.Move, True), "EXPUNGE": _uid_expunge,
    "SORT": _sort(True), "THREAD": _thread(True),
}
