"""Generated IMAP client input for the fuzz suite (pure: a `random.Random` in, bytes out).

Two sources, mixed by `ImapGen.input()`:
- a grammar-aware generator: every command the server knows (and some it does not), with arguments drawn from
  valid values and their mutations: sequence sets (0, `*`, huge numbers, long lists, reversed ranges, `$`), FETCH
  attributes (sections, partials, HEADER.FIELDS lists, macros, nesting), SEARCH keys (nested, OR/NOT chains,
  dates, literals, 8-bit text), mailbox names (modified UTF-7, 8-bit, wildcards, `..`, Maildir++ dots, long names),
  strings as atoms, quoted strings and literals (`{n}` and `{n+}`, lengths right and wrong);
- byte-level mutation (bit flips, interesting bytes and tokens, deletion, duplication, truncation, splicing) of a
  seed corpus: what real clients send (../shared/INTEROP.md), the command lines of the parser and session tests,
  and generated commands.
The same seed always gives the same inputs.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAP_TESTS = HERE.parent / "imap"
CORPUS_DIR = IMAP_TESTS / "corpus"

# What each real client sends (../shared/INTEROP.md "What each client sends"); APPEND literals are added later.
CLIENT_LINES: tuple[bytes, ...] = (
    # mutt
    b"a1 AUTHENTICATE PLAIN AGJvYgBwdw==", b'a2 LIST "" ""', b'a3 SELECT "INBOX"',
    b"a4 FETCH 1:20 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT TO CC "
    b"MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL)])",
    b"a5 IDLE", b"a6 UID FETCH 3 BODY.PEEK[]", b"a7 UID STORE 3 +FLAGS.SILENT (\\Seen)", b"a8 EXPUNGE",
    b'a9 STATUS "Sent" (UIDVALIDITY)', b'a10 UID COPY 3 "Sent"', b"a11 CLOSE",
    # mbsync
    b"b1 LOGIN bob pw", b'b2 LIST "" "*"', b"b3 UID FETCH 1:4294967295 (UID FLAGS)", b"b4 UID FETCH 4 (BODY.PEEK[])",
    b"b5 UID STORE 4 +FLAGS (\\Flagged)", b"b6 CHECK", b"b7 UID EXPUNGE 4", b"b8 UID MOVE 4 Archive",
    b"b9 CREATE Todo", b"b10 NAMESPACE", b"b11 UID STORE 5 -FLAGS.SILENT (\\Deleted \\Flagged)",
    # offlineimap3
    b'c1 ID ("name" "offlineimap" "version" "8.0.0")', b"c2 EXAMINE INBOX", b"c3 FETCH 1:* (FLAGS UID INTERNALDATE)",
    b"c4 UID FETCH 2 (BODY.PEEK[])",
    # fetchmail
    b"d1 FETCH 1 RFC822.SIZE", b"d2 FETCH 1 RFC822.HEADER", b"d3 FETCH 1 BODY.PEEK[TEXT]", b"d4 SEARCH UNSEEN",
    # curl
    b"e1 SEARCH ALL", b"e2 UID FETCH 2 BODY[]", b'e3 LIST "" *', b"e4 UID STORE 1 +FLAGS (\\Seen)",
    # Thunderbird
    b"f1 UID FETCH 1:* (FLAGS)",
    b"f2 UID FETCH 1 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID "
    b"Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
    b"f3 UID FETCH 1 (UID RFC822.SIZE BODYSTRUCTURE)", b"f4 UID FETCH 1 (UID BODY.PEEK[1.MIME] BODY.PEEK[1])",
    b"f5 UID STORE 1 +FLAGS ($MDNSent)", b'f6 LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN SPECIAL-USE)',
    b'f7 LSUB "" "*"', b"f8 ENABLE UTF8=ACCEPT", b'f9 STATUS "Archive" (MESSAGES UNSEEN RECENT UIDNEXT SIZE)',
    # imapclient.livetest
    b'g1 LIST "" "%"', b"g2 UID SEARCH NOT DELETED", b"g3 FETCH 1:* ENVELOPE", b"g4 UNSELECT",
    b'g5 LIST "" * RETURN (STATUS (MESSAGES UIDNEXT))', b"g6 UID SEARCH OR SUBJECT green SINCE 1-Jan-2020",
)

FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent", "$MDNSent", "$Forwarded",
         "Junk", "\\*", "\\Bogus", "a]b", "k" * 300, "\\", "$", "(", "NIL")
ATTS = ("ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE", "RFC822.TEXT", "BODY",
        "BODYSTRUCTURE", "UID")
MACRO_ATTS = ("ALL", "FAST", "FULL")
BAD_ATTS = ("BODY.PEEK", "BINARY[]", "MODSEQ", "X-GM-MSGID", "", "BODY[", "RFC822.PEEK")
SECTION_TEXTS = ("", "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "BOGUS")
HEADER_NAMES = ("Subject", "From", "To", "Date", "Message-ID", "X-Priority", "Content-Type", "REFERENCES",
                "x" * 200, "", "Non-ASCII-\xe9", "a b")
SEARCH_WORDS = ("ALL", "NEW", "OLD", "RECENT", "SEEN", "UNSEEN", "ANSWERED", "UNANSWERED", "DELETED",
                "UNDELETED", "DRAFT", "UNDRAFT", "FLAGGED", "UNFLAGGED")
STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE")
BAD_STATUS_ITEMS = ("HIGHESTMODSEQ", "BOGUS", "APPENDLIMIT", "")
MAILBOXES = (
    "INBOX", "inbox", "InBoX", "Sent", "Archive", "Todo", "Receipts", "Fuzz", "Fuzz/Sub", "Fuzz/Sub/Deep",
    "Agents", "Agents/bob/INBOX", "Agents/alice/INBOX", "Agents/All", "Agents/alice/Sent", "INBOX/child",
    "&AOk-t&AOk-", "&ZeVnLIqe-", "&-", "&", "&-&-", "&Jjo-!", "&AGE-", "&2D3cAQ-", "&U,BTFw-", "&-AOk-",
    "&AO\xe9-", "&AOk\udcff-", "&\udcc3\udca9-", "Fuzz/&AO\xe9-", "&AOk=-", "&AO/-", "&2D3-", "&AOkA6Q-",
    "Gr\xfc\xdfe", "\u65e5\u672c", "..", ".", "../alice", "../../etc", "a/../b", "/", "//", "a//b", "", " ",
    ".Sent", "Sent.Deep", "a.b.c", "tmp", "cur", "new", "maildirfolder", "dovecot-uidlist", "%", "*", "Fu*",
    "F%z", "x" * 250, "y" * 1000, "NUL\x00x", "tab\tx", "quote\"x", "back\\x", "~", "-", "INBOX.",
)
DATES = ("1-Jan-2020", "01-Jan-2020", "31-Dec-9999", "1-Jan-1900", "29-Feb-2023", "32-Jan-2020", "1-Foo-2020",
         "1-jan-2020", "1-Jan-99999999999999999999", "", "1-Jan", "-", '"3-Jun-2024"')
DATETIMES = ('"03-Jun-2024 10:00:00 +0000"', '" 3-Jun-2024 10:00:00 -1200"', '"31-Dec-1969 23:59:59 +1400"',
             '"03-Jun-2024 25:61:61 +0000"', '"03-Jun-2024 10:00:00"', '"x"', '"29-Feb-2021 10:00:00 +0000"',
             '"01-Jan-0001 00:00:00 +9999"')
HUGE = ("0", "4294967295", "4294967296", "18446744073709551616", "99999999999999999999999", "-1", "00", "01")
TOKENS = (b"{0}\r\n", b"{5}\r\n", b"{4294967296}\r\n", b"{99999999999999999999999}\r\n", b"{3+}\r\nabc", b"NIL",
          b'"', b"((((((((((", b"))))", b"*", b"%", b"4294967295", b"-1", b"&AOk-", b"\xc3\xa9", b"\xff\xfe",
          b"\x00", b"\r", b"\n", b"\r\n", b"\\", b"[", b"]", b"<", b">", b"1:*", b"BODY[", b" ", b"  ", b"~{1}\r\n",
          b"\x1b[2J", b"\x7f", b"\t", b'"\\', b"{1}", b"$", b"UID ", b"\r\n+ ", b"\xe2\x80\xa8")
INTERESTING = b"\x00\xff\x80\x7f{}()\"\\*%& \r\n[]<>:,+$~.-/"


def _harvest() -> list[bytes]:
    """Command lines the parser and session tests already send (bytes constants that look like `tag CMD ...`)."""
    out: set[bytes] = set()
    for name in ("test_parser.py", "test_session.py"):
        path = IMAP_TESTS / name
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
                data = node.value
                words = data.split(b" ", 2)
                if (4 < len(data) < 4000 and data[:1].isalnum() and len(words) > 1
                        and words[1] not in (b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH")):
                    out.add(data if data.endswith(b"\n") else data + b"\r\n")
    return sorted(out)


def messages() -> list[bytes]:
    """The test corpus' messages (tests/imap/corpus/*.eml), CRLF, for APPEND literals."""
    out = []
    for path in sorted(CORPUS_DIR.glob("*.eml")):
        data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        out.append(data)
    return out or [b"Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n"]


class ImapGen:
    def __init__(self, rng: random.Random, mailbox_size: int = 100) -> None:
        self.rng = rng
        self.size = max(1, mailbox_size)
        self.messages = messages()
        self.seeds = [line + b"\r\n" for line in CLIENT_LINES] + _harvest()
        self.created: list[str] = ["Fuzz", "Fuzz/Sub"]  # names CREATE made, so DELETE/RENAME/COPY find them
        self.n = 0

    # ------------------------------------------------------------------ small pieces
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: tuple[str, ...] | list[str]) -> str:
        return items[self.rng.randrange(len(items))]

    def tag(self) -> str:
        self.n += 1
        if self.chance(0.97):
            return f"t{self.n}"
        return self.pick(("+", "*", "", "a+b", "t{1}", 'x"y', "\xe9", "a" * 500, "(", "t%", "1", "A.B"))

    def number(self) -> str:
        r = self.rng.random()
        if r < 0.6:
            return str(self.rng.randint(1, self.size + 2))
        if r < 0.75:
            return str(self.rng.randint(1, 5))
        if r < 0.93:
            return str(self.rng.randint(self.size - 3, self.size + 5) if self.size > 3 else 1)
        return self.pick(HUGE)

    def seqset(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return self.number()
        if r < 0.62:
            lo = self.rng.randint(1, self.size)
            return f"{lo}:{min(self.size, lo + self.rng.randint(0, 20))}"
        if r < 0.7:
            return self.pick(("1:*", "*", "*:1", "*:*", "1:4294967295", f"{self.size}:*", "2:*"))
        if r < 0.84:
            return ",".join(self.seqset_item() for _ in range(self.rng.randint(2, 8)))
        if r < 0.86:  # a long list: many ranges against every message
            return ",".join(str(self.rng.randint(1, self.size)) for _ in range(self.rng.randint(100, 6000)))
        if r < 0.9:
            return ",".join(f"{i}:{i + 1}" for i in range(1, min(self.size, 4000), 2))
        return self.pick(("", "$", "0", "0:5", "1:", ":1", "1,", ",1", "1::2", "1:2:3", "a", "1 2", "1:-1",
                          "4294967296:*", "*,*", "1.5", "\u0661", "1:*,$"))

    def seqset_item(self) -> str:
        if self.chance(0.5):
            return self.number()
        return f"{self.number()}:{self.number() if self.chance(0.8) else '*'}"

    def quoted(self, text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def string(self, text: str) -> bytes:
        """`text` as an atom, a quoted string or a literal (sometimes with a wrong length or LITERAL+)."""
        raw = text.encode("utf-8", "surrogateescape")
        r = self.rng.random()
        if r < 0.4 and raw and all(33 < b < 127 and b not in b'(){%*"\\]' for b in raw):
            return raw
        if r < 0.75:
            return self.quoted(text).encode("utf-8", "surrogateescape")
        size = len(raw)
        if self.chance(0.1):
            size = max(0, size + self.rng.choice((-2, -1, 1, 3)))
        plus = b"+" if self.chance(0.6) else b""
        return b"{%d%s}\r\n" % (size, plus) + raw

    def mailbox(self) -> bytes:
        r = self.rng.random()
        if r < 0.45:
            name = self.pick(("INBOX", "Sent", "Archive", "Fuzz", "Todo"))
        elif r < 0.65 and self.created:
            name = self.pick(self.created)
        elif r < 0.9:
            name = self.pick(MAILBOXES)
        else:
            name = self.pick(("Fuzz", "INBOX", "New")) + self.pick(("/", ".", "", "&", "/../", "%")) + \
                self.pick(MAILBOXES)
        return self.string(name)

    def flags(self) -> str:
        chosen = [self.pick(FLAGS) for _ in range(self.rng.randint(0, 4))]
        if self.chance(0.1):
            return self.pick(("(", "((\\Seen))", "(\\Seen", "\\Seen)", "()", "(NIL)", "NIL", '("\\Seen")'))
        return "(" + " ".join(chosen) + ")"

    # ------------------------------------------------------------------ FETCH / SEARCH
    def section(self) -> str:
        numbers = ("1", "2", "3", "1", "0", "99", "4294967296")
        parts = ".".join(self.pick(numbers) for _ in range(self.rng.randint(0, 3)))
        text = self.pick(SECTION_TEXTS)
        if text.startswith("HEADER.FIELDS"):
            names = [self.string(self.pick(HEADER_NAMES)).decode("utf-8", "replace")
                     for _ in range(self.rng.randint(0 if self.chance(0.1) else 1, 6))]
            text += " (" + " ".join(names) + ")"
        spec = f"{parts}.{text}" if parts and text else parts or text
        body = "BODY.PEEK" if self.chance(0.6) else "BODY"
        out = f"{body}[{spec}]"
        if self.chance(0.2):
            origin = self.pick(("0", "1", "5", "100", "4294967295", "-1", ""))
            count = self.pick(("1", "10", "0", "4294967296", "99999999999"))
            out += f"<{origin}.{count}>"
        return out

    def fetch_att(self) -> str:
        if self.chance(0.4):
            return self.section()
        return self.pick(BAD_ATTS) if self.chance(0.04) else self.pick(ATTS)

    def fetch_atts(self) -> str:
        r = self.rng.random()
        if r < 0.1:
            return self.pick(MACRO_ATTS)
        if r < 0.3:
            return self.fetch_att()
        atts = [self.fetch_att() for _ in range(self.rng.randint(0, 6))]
        out = "(" + " ".join(atts) + ")"
        if r > 0.95:
            out = "(" + out + ")" if self.chance(0.5) else out[:-1]
        return out

    def search_key(self, depth: int = 0) -> bytes:
        r = self.rng.random()
        if depth > 6 or r < 0.3:
            return self.pick(SEARCH_WORDS).encode()
        if r < 0.4:
            return self.seqset().encode() if self.chance(0.6) else b"UID " + self.seqset().encode()
        if r < 0.55:
            field = self.pick(("FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT"))
            return field.encode() + b" " + self.string(self.text())
        if r < 0.6:
            return b"HEADER " + self.string(self.pick(HEADER_NAMES)) + b" " + self.string(self.text())
        if r < 0.68:
            key = self.pick(("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"))
            return f"{key} {self.pick(DATES)}".encode()
        if r < 0.72:
            return f"{self.pick(('LARGER', 'SMALLER'))} {self.pick(HUGE + ('100', '2000'))}".encode()
        if r < 0.76:
            return f"{self.pick(('KEYWORD', 'UNKEYWORD'))} {self.pick(FLAGS)}".encode()
        if r < 0.84:
            return b"NOT " + self.search_key(depth + 1)
        if r < 0.92:
            return b"OR " + self.search_key(depth + 1) + b" " + self.search_key(depth + 1)
        if r < 0.97:
            return b"(" + b" ".join(self.search_key(depth + 1) for _ in range(self.rng.randint(1, 4))) + b")"
        return self.pick(("NOT NOT NOT ALL", "(" * 120 + "ALL" + ")" * 120, "NOT " * 150 + "ALL", "OR ALL",
                          "()", "BOGUS", "UID", "FROM", "CHARSET", "(ALL")).encode()

    def text(self) -> str:
        return self.pick(("green", "Build", "bob", "", " ", "agents.localhost", "Gr\xfc\xdfe", "\u65e5\u672c",
                          "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "a" * 2000, "%", "*", "\\", '"', "\x00", "\udcff"))

    # ------------------------------------------------------------------ commands
    def command(self) -> bytes:
        tag = self.tag().encode("utf-8", "surrogateescape")
        name, args = self._command()
        if self.chance(0.05):
            name = name.lower()
        line = tag + b" " + name.encode() + (b" " + args if args else b"")
        return line + b"\r\n"

    def _command(self) -> tuple[str, bytes]:
        rng = self.rng
        kind = rng.random()
        uid = self.chance(0.5)
        pre = "UID " if uid else ""
        if kind < 0.22:
            return pre + "FETCH", self.seqset().encode() + b" " + self.fetch_atts().encode("utf-8", "replace")
        if kind < 0.32:
            op = self.pick(("FLAGS", "+FLAGS", "-FLAGS", "FLAGS.SILENT", "+FLAGS.SILENT", "-FLAGS.SILENT",
                            "+FLAGS.BOGUS", "(UNCHANGEDSINCE 1)", "FLAGS"))
            return pre + "STORE", f"{self.seqset()} {op} {self.flags()}".encode()
        if kind < 0.44:
            charset = b""
            if self.chance(0.1):
                charset = b"CHARSET " + self.string(self.pick(("UTF-8", "US-ASCII", "KOI8-R", "", "utf-8"))) + b" "
            keys = b" ".join(self.search_key() for _ in range(rng.randint(1, 3)))
            return pre + "SEARCH", charset + keys
        if kind < 0.50:
            return pre + self.pick(("COPY", "MOVE")), self.seqset().encode() + b" " + self.mailbox()
        if kind < 0.53:
            return ("UID EXPUNGE", self.seqset().encode()) if uid else ("EXPUNGE", b"")
        if kind < 0.62:
            return self._list()
        if kind < 0.67:
            name = self.pick(("SELECT", "EXAMINE"))
            extra = b" (CONDSTORE)" if self.chance(0.05) else b""
            return name, self.mailbox() + extra
        if kind < 0.72:
            items = " ".join(self.pick(BAD_STATUS_ITEMS if self.chance(0.03) else STATUS_ITEMS)
                             for _ in range(rng.randint(0 if self.chance(0.05) else 1, 5)))
            return "STATUS", self.mailbox() + f" ({items})".encode()
        if kind < 0.78:
            return self._append()
        if kind < 0.86:
            return self._folder_op()
        if kind < 0.90:
            return self.pick(("SUBSCRIBE", "UNSUBSCRIBE")), self.mailbox()
        if kind < 0.96:
            return self.pick(("NOOP", "CHECK", "CAPABILITY", "NAMESPACE", "CLOSE", "UNSELECT", "IDLE")), b""
        return self._other()

    def _list(self) -> tuple[str, bytes]:
        if self.chance(0.2):
            return "LSUB", self.string(self.pick(("", "Fuzz/", "Agents"))) + b" " + self._pattern()
        sel = b""
        if self.chance(0.25):
            opts = [self.pick(("SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE", "BOGUS"))
                    for _ in range(self.rng.randint(0, 3))]
            sel = ("(" + " ".join(opts) + ") ").encode()
        ref = self.string(self.pick(("", "", "Fuzz/", "Agents/", "INBOX", "&AOk-", "*", "../")))
        if self.chance(0.2):
            pats = b"(" + b" ".join(self._pattern() for _ in range(self.rng.randint(1, 4))) + b")"
        else:
            pats = self._pattern()
        ret = b""
        if self.chance(0.2):
            opts = [self.pick(("SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS (MESSAGES UNSEEN)", "STATUS ()",
                               "BOGUS")) for _ in range(self.rng.randint(0, 3))]
            ret = (" RETURN (" + " ".join(opts) + ")").encode()
        return "LIST", sel + ref + b" " + pats + ret

    def _pattern(self) -> bytes:
        r = self.rng.random()
        if r < 0.5:
            return self.string(self.pick(("*", "%", "", "INBOX", "Fuzz/*", "Agents/%", "*/%", "%/%/%", "&AOk-*",
                                          "In%", "*Sub*", "Agents/*/INBOX")))
        if r < 0.7:  # many wildcards: a backtracking matcher takes exponential time on these
            n = self.rng.randint(5, 60)
            if self.chance(0.3):
                return self.string(self.pick(("*", "%", "*%")) * n + self.pick(("Z", "x", "/", "")))
            return self.string("".join(self.pick(("*", "%", "a", "*a", "%/")) for _ in range(n)) + "x")
        return self.mailbox()

    def _append(self) -> tuple[str, bytes]:
        msg = self.rng.choice(self.messages)
        if self.chance(0.4):
            msg = mutate(self.rng, msg, self.rng.randint(1, 8), [msg])
        if self.chance(0.05):
            msg = b""
        parts = [self.mailbox()]
        if self.chance(0.5):
            parts.append(self.flags().encode())
        if self.chance(0.3):
            parts.append(self.pick(DATETIMES).encode())
        size = len(msg)
        if self.chance(0.05):
            size += self.rng.choice((-5, -1, 1, 10))
        plus = b"+" if self.chance(0.7) else b""
        lit = b"{%d%s}\r\n" % (max(0, size), plus) + msg
        if self.chance(0.03):
            lit = b"{%d+}\r\n" % self.rng.choice((10**9, 2**31, 2**64))
        return "APPEND", b" ".join(parts) + b" " + lit

    def _folder_op(self) -> tuple[str, bytes]:
        r = self.rng.random()
        if r < 0.45:
            name = self.pick(("Fuzz", "Fuzz/Sub", "New", "Todo")) + self.pick(("", "", "/A", "/B/C", "x")) \
                if self.chance(0.6) else self.pick(MAILBOXES)
            if self.chance(0.5) and name not in self.created and len(self.created) < 40:
                self.created.append(name)
            extra = b" (USE (\\Drafts))" if self.chance(0.05) else b""
            return "CREATE", self.string(name) + extra
        if r < 0.75:
            return "DELETE", self.mailbox()
        return "RENAME", self.mailbox() + b" " + self.mailbox()

    def _other(self) -> tuple[str, bytes]:
        choice = self.pick(("NOOP", "CHECK", "CAPABILITY", "NAMESPACE", "CLOSE", "UNSELECT", "IDLE", "ID", "ENABLE",
                            "STARTTLS", "LOGIN", "AUTHENTICATE", "LOGOUT", "XYZZY", "UID", "UID XYZZY", "COMPRESS",
                            "GETQUOTAROOT", "SORT", "THREAD", "ESEARCH", "NOTIFY", "DONE", ""))
        if choice == "ID":
            values = ("NIL", '"v"', "{1}")
            pairs = " ".join(f"{self.quoted(self.text()[:20])} {self.pick(values)}"
                             for _ in range(self.rng.randint(0, 32)))
            return "ID", (f"({pairs})" if self.chance(0.9) else "NIL").encode("utf-8", "surrogateescape")
        if choice == "ENABLE":
            return "ENABLE", self.pick(("UTF8=ACCEPT", "CONDSTORE", "QRESYNC", "", "X Y Z")).encode()
        if choice == "LOGIN":
            return "LOGIN", self.string(self.pick(("bob", "alice", "human", "../bob", "", "\xe9"))) + b" " + \
                self.string(self.pick(("pw", "", "x" * 1000, "p\udcffw", "p\xe4ss", "\x00")))
        if choice == "AUTHENTICATE":
            return "AUTHENTICATE", self.pick(("PLAIN", "PLAIN =", "PLAIN AGJvYgB4", "PLAIN !!!", "LOGIN",
                                              "CRAM-MD5", "PLAIN " + "A" * 3000, "")).encode()
        if choice == "LOGOUT" and self.chance(0.7):
            choice = "NOOP"  # rarer: it ends the connection
        return choice, b""

    # ------------------------------------------------------------------ mixing
    def raw_line(self, auth: bool) -> bytes:
        """What a client sends while the server waits for a line (IDLE's DONE, an AUTHENTICATE response)."""
        if not auth and self.chance(0.8):
            return b"DONE\r\n" if self.chance(0.9) else b"done\r\n"
        return self.pick(("*", "AGJvYgB4", "", "====", "DONE", "\xff", "t1 NOOP")).encode("utf-8",
                                                                                         "surrogateescape") + b"\r\n"

    def input(self) -> bytes:
        r = self.rng.random()
        if r < 0.002:  # past the 64 KiB line limit (8 KiB before login), with or without its line end
            line = b"t0 SEARCH " + b"OR ALL " * self.rng.randint(1200, 12000) + b"ALL"
            return line + b"\r\n" if self.chance(0.5) else line
        if r < 0.62:
            data = self.command()
        elif r < 0.88:
            seed = self.rng.choice(self.seeds)
            data = mutate(self.rng, seed, self.rng.randint(1, 6), self.seeds)
        else:
            data = mutate(self.rng, self.command(), self.rng.randint(1, 4), self.seeds)
        if data.endswith(b"\n") or self.chance(0.05):
            return data  # sometimes a fragment: the next input completes (or confuses) it
        return data + b"\r\n"


def mutate(rng: random.Random, data: bytes, rounds: int, pool: list[bytes]) -> bytes:
    """`data` changed `rounds` times by a random byte-level mutation."""
    buf = bytearray(data)
    for _ in range(rounds):
        op = rng.randrange(10)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a bit
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # an interesting byte
            buf[min(pos, len(buf) - 1)] = INTERESTING[rng.randrange(len(INTERESTING))]
        elif op == 2:  # insert a token
            buf[pos:pos] = TOKENS[rng.randrange(len(TOKENS))]
        elif op == 3 and buf:  # delete a range
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 4 and buf:  # duplicate a range
            end = min(len(buf), pos + rng.randint(1, 32))
            buf[pos:pos] = buf[pos:end] * rng.randint(1, 20)
        elif op == 5:  # truncate
            del buf[pos:]
        elif op == 6 and pool:  # splice in part of another seed
            other = pool[rng.randrange(len(pool))]
            a = rng.randrange(len(other) + 1)
            buf[pos:] = other[a:]
        elif op == 7:  # a number made huge or zero
            digits = [i for i, b in enumerate(buf) if 48 <= b <= 57]
            if digits:
                i = rng.choice(digits)
                buf[i : i + 1] = rng.choice((b"0", b"4294967296", b"99999999999999999999", b"-1", b"00"))
        elif op == 8:  # random bytes
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif buf:  # swap case of a run (command names, keys)
            end = min(len(buf), pos + rng.randint(1, 12))
            buf[pos:end] = bytes(buf[pos:end]).swapcase()
    return bytes(buf)
