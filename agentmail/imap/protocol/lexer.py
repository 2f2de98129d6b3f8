"""Token reader over one complete command (RFC 3501 section 9 grammar).

The framer (parser.py) hands over a command whose literals are all present, so a ``{n}`` here is
always followed by CRLF and n bytes. Every method raises ``ImapBad`` with a readable text on a
syntax error; nothing else escapes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from .errors import ImapBad
from .wire import is_astring_char, is_atom_char

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUM = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}


def _run_of(ok: Callable[[int], bool]) -> re.Pattern[bytes]:
    """A pattern matching the longest run of bytes ``ok`` accepts: token classes scanned by the regex engine, not
    a Python call per byte (the parser's share of a small command's round trip)."""
    return re.compile(b"[" + b"".join(re.escape(bytes([b])) for b in range(256) if ok(b)) + b"]*")


_ATOM = _run_of(is_atom_char)
_SEQSET = _run_of(lambda b: b in b"0123456789:*,$")
_TAG = _run_of(lambda b: is_astring_char(b) and b != 0x2B)
_DIGITS = _run_of(lambda b: 0x30 <= b <= 0x39)
_ASTRING = _run_of(is_astring_char)
_LIST_MAILBOX = _run_of(lambda b: is_atom_char(b) or b in b"%*]")
_DATE_WORD = _run_of(lambda b: b not in b' ")')
_UNTIL: dict[str, re.Pattern[bytes]] = {}
# a well-formed list of atoms in one match (STATUS items, FETCH macros); anything else takes the token-by-token path
_ATOM_LIST = re.compile(rb"\((%s+(?: %s+)*)?\)" % ((_ATOM.pattern[:-1],) * 2))


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    # -------------------------------------------------------------- basics
    def peek(self) -> str | None:
        return chr(self.data[self.pos]) if self.pos < len(self.data) else None

    def peek_digit(self) -> bool:
        return self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def rest_preview(self) -> str:
        return self.data[self.pos : self.pos + 20].decode("ascii", "backslashreplace")

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            got = "end of line" if self.at_end else repr(self.rest_preview())
            raise ImapBad(f"Expected {ch!r} at {got}")
        self.pos += 1

    def space(self) -> None:
        if self.peek() != " ":
            raise ImapBad("Missing argument" if self.at_end else f"Expected a space at {self.rest_preview()!r}")
        self.pos += 1

    def end(self) -> None:
        if not self.at_end:
            raise ImapBad(f"Unexpected extra arguments: {self.rest_preview()!r}")

    # -------------------------------------------------------------- atoms and numbers
    def _take(self, run: re.Pattern[bytes]) -> bytes:
        m = run.match(self.data, self.pos)
        if m is None:  # pragma: no cover - a run of zero bytes always matches
            return b""
        self.pos = m.end()
        return m.group()

    def atom(self) -> str:
        tok = self._take(_ATOM)
        if not tok:
            raise ImapBad("Missing argument" if self.at_end else f"Expected an atom at {self.rest_preview()!r}")
        return tok.decode("ascii")

    def atom_until(self, stops: str) -> str:
        """An atom that also stops at the given characters (e.g. "[" in BODY[)."""
        run = _UNTIL.get(stops)
        if run is None:
            stop = frozenset(stops.encode())
            run = _UNTIL[stops] = _run_of(lambda b: is_atom_char(b) and b not in stop)
        tok = self._take(run)
        if not tok:
            raise ImapBad("Missing argument" if self.at_end else f"Expected an atom at {self.rest_preview()!r}")
        return tok.decode("ascii")

    def sequence_set_token(self) -> str:
        """The characters of a sequence set ("*" is not an atom character, so not atom())."""
        tok = self._take(_SEQSET)
        if not tok:
            where = "Missing sequence set" if self.at_end else f"Expected a sequence set at {self.rest_preview()!r}"
            raise ImapBad(where)
        return tok.decode("ascii")

    def tag(self) -> str:
        tok = self._take(_TAG)
        if not tok:
            raise ImapBad("Missing or invalid tag")
        return tok.decode("ascii")

    def number(self) -> int:
        tok = self._take(_DIGITS)
        if not tok:
            raise ImapBad(f"Expected a number at {self.rest_preview()!r}")
        n = int(tok)
        if n > 0xFFFFFFFF:  # RFC 3501 9: number is a 32-bit unsigned integer
            raise ImapBad("Number out of range")
        return n

    def modseq(self, what: str) -> int:
        """mod-sequence-valzer (RFC 7162 7): digits, read as Dovecot reads them (up to 2^64 - 1; 0 is allowed:
        the caller refuses it where a mod-sequence-value is required)."""
        tok = self._take(_DIGITS)
        if not tok or len(tok) > 20 or int(tok) > 0xFFFFFFFFFFFFFFFF:
            raise ImapBad(f"Invalid {what} modseq" if what else "Invalid MODSEQ value")
        return int(tok)

    def nz_number(self) -> int:
        n = self.number()
        if n == 0:
            raise ImapBad("Expected a non-zero number")
        return n

    # -------------------------------------------------------------- strings
    def _literal(self) -> bytes:
        self.expect("{")
        n = self.number()
        if self.peek() == "+":  # LITERAL+ (RFC 7888)
            self.pos += 1
        self.expect("}")
        if self.data[self.pos : self.pos + 2] != b"\r\n":
            raise ImapBad("Literal announcement must end the line")
        self.pos += 2
        if self.pos + n > len(self.data):  # pragma: no cover - the framer guarantees this
            raise ImapBad("Literal data missing")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _quoted(self) -> bytes:
        self.expect('"')
        out = bytearray()
        d = self.data
        while self.pos < len(d):
            b = d[self.pos]
            self.pos += 1
            if b == 0x22:
                return bytes(out)
            if b == 0x5C:  # RFC 3501 9: "\" quoted-specials
                if self.pos < len(d) and d[self.pos] in (0x22, 0x5C):
                    out.append(d[self.pos])
                    self.pos += 1
                    continue
                raise ImapBad("Invalid escape in quoted string (only \\\" and \\\\ are allowed)")
            if b in (0x0D, 0x0A):
                raise ImapBad("CR or LF in quoted string")
            out.append(b)
        raise ImapBad("Unterminated quoted string")

    def string_bytes(self) -> bytes:
        """string = quoted / literal"""
        ch = self.peek()
        if ch == '"':
            return self._quoted()
        if ch == "{":
            return self._literal()
        raise ImapBad("Missing argument" if self.at_end else f"Expected a string at {self.rest_preview()!r}")

    def astring_bytes(self) -> bytes:
        if self.peek() in ('"', "{"):
            return self.string_bytes()
        tok = self._take(_ASTRING)
        if not tok:
            raise ImapBad("Missing argument" if self.at_end else f"Expected a string at {self.rest_preview()!r}")
        return tok

    def astring(self) -> str:
        return self.astring_bytes().decode("utf-8", "surrogateescape")

    def nstring(self) -> str | None:
        if self.data[self.pos : self.pos + 3].upper() == b"NIL" and not is_atom_char(
            self.data[self.pos + 3] if self.pos + 3 < len(self.data) else 0x20
        ):
            self.pos += 3
            return None
        return self.string_bytes().decode("utf-8", "surrogateescape")

    def list_mailbox(self) -> str:
        """list-mailbox = 1*list-char / string; list-char adds % * ] to ATOM-CHAR."""
        if self.peek() in ('"', "{"):
            return self.string_bytes().decode("utf-8", "surrogateescape")
        tok = self._take(_LIST_MAILBOX)
        if not tok:
            raise ImapBad("Missing mailbox pattern")
        return tok.decode("utf-8", "surrogateescape")

    def mailbox(self) -> str:
        """mailbox = "INBOX" / astring; INBOX in any case is INBOX (RFC 3501 5.1)."""
        name = self.astring()
        return "INBOX" if name.upper() == "INBOX" else name

    # -------------------------------------------------------------- lists
    def paren_list(self, item: str = "atom") -> list[str]:
        """``(a b c)`` of atoms (flags: a leading backslash is allowed) or astrings."""
        if item == "atom" and (m := _ATOM_LIST.match(self.data, self.pos)) is not None:
            self.pos = m.end()
            return m.group(1).decode("ascii").split(" ") if m.group(1) else []
        self.expect("(")
        out: list[str] = []
        while self.peek() != ")":
            if out:
                self.space()
            out.append(self.flag() if item == "flag" else self.astring() if item == "astring" else self.atom())
        self.expect(")")
        return out

    def flag(self) -> str:
        """flag = "\\" atom / atom (keywords); ``\\*`` only appears in PERMANENTFLAGS."""
        if self.peek() == "\\":
            self.pos += 1
            return "\\" + self.atom()
        return self.atom()

    def flag_list_or_single(self) -> list[str]:
        if self.peek() == "(":
            return self.paren_list("flag")
        out = [self.flag()]
        while self.peek() == " " and self.pos + 1 < len(self.data) and self.data[self.pos + 1] != 0x28:
            self.space()
            out.append(self.flag())
        return out

    # -------------------------------------------------------------- dates
    def date(self) -> dt.date:
        """date = date-text / DQUOTE date-text DQUOTE; date-text = d[d]-Mon-yyyy"""
        quoted = self.peek() == '"'
        if quoted:
            self.pos += 1
        tok = self._take(_DATE_WORD).decode("latin-1")
        if quoted:
            self.expect('"')
        try:
            day, mon, year = tok.split("-")
            # date-day = 1*2DIGIT, date-year = 4DIGIT: a 20-digit year is a syntax error, not an OverflowError
            if not (day.isdigit() and len(day) <= 2 and year.isdigit() and len(year) == 4 and day.isascii()
                    and year.isascii()):
                raise ValueError(tok)
            return dt.date(int(year), _MONTH_NUM[mon.lower()], int(day))
        except (ValueError, KeyError):
            raise ImapBad(f"Invalid date {tok!r} (expected e.g. 1-Feb-2024)") from None

    def date_time(self) -> dt.datetime:
        """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE"""
        raw = self._quoted().decode("latin-1")
        try:
            return dt.datetime.strptime(raw.strip(), "%d-%b-%Y %H:%M:%S %z")
        except ValueError:
            raise ImapBad(f"Invalid date-time {raw!r} (expected e.g. \"01-Feb-2024 10:00:00 +0000\")") from None
