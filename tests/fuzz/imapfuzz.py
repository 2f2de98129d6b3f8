"""The IMAP fuzzer: generated input through the real parser and session over a real Maildir store, in process.

Each "connection" is a fresh `Session` and `CommandParser` (the limits `agentmail serve` uses) on one shared
`MaildirBackend`, driven exactly as agentmail/imap/server.py drives them (events pulled one at a time,
`session.stream` drained in CHUNK-sized pieces, `expect_line` when the session wants a raw line). A connection
starts with a prelude (log in as bob and select INBOX, mostly; sometimes as human on the read-only views, sometimes
not logged in at all), then gets generated inputs (tests/fuzz/imapgen.py) until it closes or its length is reached.

Findings (anything but the protocol's own replies):
- `exception:<Type>@<file:line>`: an exception escaped the parser or the session (the server would log a traceback
  and drop the connection);
- `internal:<Type>@<file:line>`: the code under test logged an exception with its traceback (and answered
  `NO [SERVERBUG]`, as agentmail/imap/protocol/errors.py `internal_error` does);
- `masked:<Type>`: a catch-all turned an internal error into `BAD Could not parse command (<Type>)`;
- `hang`: one event took longer than the watchdog (SIGALRM; an unbounded loop or regex backtracking);
- `protocol:<what>`: a command without exactly one tagged completion as the last reply, a reply line with a bare
  CR or LF, a continuation where none belongs;
- `serverbug:<text>`: a tagged `NO [SERVERBUG]` with nothing logged (the store failed on input it should have refused);
- `leak`: bob's session saw alice's mail; `store:<what>`: the checks of tests/fuzz/world.py after each connection,
  files of other accounts or outside bob's maildir touched, a message removed by a command that may not remove it.
Every command's time (parse + all replies) is kept; the slowest inputs are reported with the longest single
chunk (the longest the server's one worker thread is held, i.e. what every other client waits).
"""

from __future__ import annotations

import base64
import heapq
import logging
import os
import random
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from agentmail.imap.connection import CHUNK, MAX_LINE, SLICE
from agentmail.imap.maildir.backend import MaildirBackend
from agentmail.imap.protocol import commands as c
from agentmail.imap.protocol import response as r
from agentmail.imap.protocol.errors import ImapError
from agentmail.imap.protocol.events import NeedContinuation, ParseError, RawLine
from agentmail.imap.protocol.parser import CommandParser
from agentmail.imap.session.session import Session
from tests.fuzz.imapgen import ImapGen
from tests.fuzz.world import OWNER, SECRET, Location, World

REMOVERS = (c.Expunge, c.Close, c.Move, c.Delete, c.Rename)


class Recorder(logging.Handler):
    """Keeps the log records of the IMAP code (an internal error is logged with its traceback, then answered
    NO [SERVERBUG]); while it is installed they do not reach the console."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Recorder:
        self.logger = logging.getLogger("agentmail.imap")
        self.saved = self.logger.propagate
        self.logger.addHandler(self)
        self.logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = self.saved


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so that no `except Exception` in the code under test eats it."""


@dataclass
class Finding:
    kind: str
    detail: str
    data: bytes  # the input that showed it
    context: tuple[bytes, ...]  # everything the connection was sent before it (prelude first)


@dataclass
class Stats:
    inputs: int = 0
    events: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    checks: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)  # findings by kind
    examples: dict[str, Finding] = field(default_factory=dict)  # the first finding of each kind
    slowest: list[tuple[float, float, bytes, str]] = field(default_factory=list)  # heap: (s, chunk s, input, where)

    def finding(self, f: Finding) -> None:
        self.counts[f.kind] += 1
        self.examples.setdefault(f.kind, f)

    def timed(self, seconds: float, chunk: float, data: bytes, where: str, keep: int) -> None:
        item = (seconds, chunk, data, where)
        if len(self.slowest) < keep:
            heapq.heappush(self.slowest, item)
        elif seconds > self.slowest[0][0]:
            heapq.heapreplace(self.slowest, item)


def where_from(exc: BaseException) -> str:
    """file:line of the innermost agentmail frame of a traceback (groups findings by the code that failed)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/agentmail/" in f.filename]
    if not frames:
        return "?"
    f = frames[-1]
    return f"{os.path.relpath(f.filename, Path(__file__).resolve().parents[2])}:{f.lineno}"


class Conn:
    """One client connection: a Session and a CommandParser fed like the server feeds them."""

    def __init__(self, backend: MaildirBackend, max_literal: int) -> None:
        self.session = Session(backend)
        self.parser = CommandParser(max_line=MAX_LINE, max_literal=max_literal)
        self.dead = False  # an exception escaped: the server drops such a connection
        self.exists: int | None = None  # the client's idea of the selected mailbox's size (EXISTS - EXPUNGE)

    @property
    def closed(self) -> bool:
        return self.dead or self.session.closed or self.parser.closed

    @property
    def waiting_line(self) -> str | None:
        s = self.session
        if s.idling is not None:
            return "idle"
        if getattr(s, "_pending_auth", None) is not None:
            return "auth"
        return None


class ImapFuzzer:
    def __init__(self, world: World, seed: int, watchdog: float = 10.0, keep_slowest: int = 10,
                 mean_length: int = 40) -> None:
        self.world = world
        self.rng = random.Random(seed)
        self.gen = ImapGen(self.rng, world.size)
        self.backend = MaildirBackend(world.cfg)
        self.watchdog = watchdog
        self.keep = keep_slowest
        self.mean_length = mean_length
        # On a small mailbox every event is checked for removed messages (the finding names the input that did
        # it); on a big one only the commands that may remove messages are, and the rest is checked per connection.
        self.every_event = world.size <= 2000
        self.stats = Stats()
        self.recorder = Recorder()
        self._context: list[bytes] = []
        self._data = b""
        self._who = OWNER  # the account whose files the connection may change
        self._explained: set[Location] = set()  # locations removed by commands allowed to remove them

    # ------------------------------------------------------------------ driving one event
    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        raise Hang()

    def _guarded(self, fn: Callable[[], object]) -> object:
        if self.watchdog <= 0:
            return fn()
        old = signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, self.watchdog)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    def feed(self, conn: Conn, data: bytes, count: bool = True) -> None:
        """Send `data` on `conn` and handle every event it completes; findings go to the stats. The time kept is
        the parser's and the session's only (the checks in between are not counted)."""
        account = conn.session.account
        busy = longest = 0.0
        conn.parser.receive_data(data)
        self._data = data
        try:
            while not conn.closed:
                t0 = time.perf_counter()
                event = self._guarded(conn.parser.next_event)
                busy += time.perf_counter() - t0
                if event is None:
                    break
                assert isinstance(event, (c.Command, NeedContinuation, ParseError, RawLine))
                self.stats.events[type(event).__name__] += 1
                watch = conn.session.account == self._who and (
                    isinstance(event, REMOVERS) or (self.every_event and isinstance(event, (c.Command, RawLine))))
                if watch:
                    selected = conn.session.selected
                    folder = selected.name if selected is not None else None
                    # a command that may remove messages is checked on the whole account, any other one on the
                    # selected folder (the rest is compared once per connection)
                    only = None if isinstance(event, REMOVERS) else self._folder_dir(folder)
                    if only is not None or isinstance(event, REMOVERS):
                        before = self.world.snapshot(self._who, only)
                    else:
                        watch = False
                replies, chunk, spent = self._run(conn, event)
                busy += spent
                longest = max(longest, chunk)
                if watch:
                    self._check_removal(event, folder, before, replies, data, only)
                self._check_replies(conn, event, replies, data, account, self._logged())
                self._check_numbers(conn, event, replies, data)
                if conn.session.wants_line:
                    conn.parser.expect_line()
        except Hang:
            self._found("hang", f"no reply within {self.watchdog:g} s", data)
            conn.dead = True
        except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
            self._found(f"exception:{type(exc).__name__}@{where_from(exc)}", f"{exc!r}"[:300], data)
            conn.dead = True
        if count:
            self.stats.inputs += 1
            state = conn.session.selected.name if conn.session.selected is not None else conn.session.state
            self.stats.timed(busy, longest, data, state, self.keep)
        self._context.append(data)

    def _run(self, conn: Conn, event: object) -> tuple[list[r.Response], float, float]:
        """All replies to one event (without the session's pauses), pulled in pieces as connection.take does; the
        longest piece's time and the whole time."""
        stream: Iterator[r.Response] = conn.session.stream(event)  # type: ignore[arg-type]
        replies: list[r.Response] = []
        longest = 0.0

        def piece() -> bool:  # what connection.take does: CHUNK bytes or SLICE seconds, whichever comes first
            size = 0
            deadline = time.monotonic() + SLICE
            for resp in stream:
                if not isinstance(resp, r.Pause):
                    replies.append(resp)
                    size += len(resp.to_bytes())
                if size >= CHUNK or time.monotonic() >= deadline:
                    return False
            return True

        start = mark = time.perf_counter()
        while True:
            done = self._guarded(piece)
            now = time.perf_counter()
            longest, mark = max(longest, now - mark), now
            if done:
                return replies, longest, now - start
            if self.watchdog > 0 and now - start > 6 * self.watchdog:
                raise Hang()  # pieces that never end: each short, the command endless

    # ------------------------------------------------------------------ checks
    def _found(self, kind: str, detail: str, data: bytes) -> None:
        self.stats.finding(Finding(kind, detail, data, tuple(self._context)))

    def _logged(self) -> bool:
        """Findings for the exceptions the code under test logged since the last call; whether there were any."""
        records, self.recorder.records = self.recorder.records, []
        for rec in records:
            if rec.exc_info and rec.exc_info[1] is not None:
                exc = rec.exc_info[1]
                self._found(f"internal:{type(exc).__name__}@{where_from(exc)}", f"{exc!r}"[:300], self._data)
            elif rec.levelno >= logging.ERROR:
                self._found("logged-error", rec.getMessage()[:300], self._data)
        return bool(records)

    def _check_replies(self, conn: Conn, event: object, replies: list[r.Response], data: bytes,
                       account: str | None, logged: bool) -> None:
        for resp in replies:
            if isinstance(resp, r.StatusResponse):
                self.stats.replies[resp.status] += 1
                if resp.status == "BAD" and resp.text.startswith("Could not parse command ("):
                    self._found(f"masked:{resp.text[26:-1]}", resp.text, data)
                if resp.code is not None and resp.code.name == "SERVERBUG" and not logged:
                    self._found(f"serverbug:{resp.text.partition(':')[0][:40]}", resp.text[:200], data)
                line = resp.to_bytes()
                if b"\r" in line[:-2] or b"\n" in line[:-2]:
                    self._found("protocol:line-break-in-status", repr(line[:200]), data)
        if account == OWNER and any(SECRET in resp.to_bytes() for resp in replies):
            self._found("leak", "bob's session saw alice's mail", data)
        tagged = [x for x in replies if isinstance(x, r.StatusResponse) and x.tag is not None]
        last = replies[-1] if replies else None
        if isinstance(event, c.Command):
            waits = conn.session.idling is not None or getattr(conn.session, "_pending_auth", None) is not None
            if waits:
                ok = isinstance(last, r.ContinuationRequest) and not tagged
            else:
                ok = isinstance(last, r.StatusResponse) and last.tag == event.tag and len(tagged) == 1
                # RFC 3501 7.1.5: a server closing the connection (the selected mailbox deleted) ends with BYE instead
                ok = ok or (conn.session.closed and isinstance(last, r.StatusResponse) and last.status == "BYE"
                            and not tagged)
            if not ok:
                self._found(f"protocol:completion:{type(event).__name__}",
                            f"{[type(x).__name__ for x in replies]}", data)
        elif isinstance(event, NeedContinuation):
            if len(replies) != 1 or not isinstance(last, r.ContinuationRequest):
                self._found("protocol:continuation", repr(replies)[:200], data)
        elif isinstance(event, ParseError):
            if len(replies) != 1 or not isinstance(last, r.StatusResponse):
                self._found("protocol:parse-error", repr(replies)[:200], data)
        elif len(tagged) > 1 or last is None:
            self._found("protocol:raw-line", repr(replies)[:200], data)

    def _check_numbers(self, conn: Conn, event: object, replies: list[r.Response], data: bytes) -> None:
        """Message sequence numbers as a client tracks them (RFC 3501 7.3.1, 7.4.1, 7.4.2): EXISTS never shrinks,
        EXPUNGE names an existing message and renumbers the rest, FETCH and SEARCH name existing messages."""
        if isinstance(event, c.Select):
            conn.exists = None  # a new SELECT (even a failed one) leaves the old mailbox first
        for resp in replies:
            problem = None
            if isinstance(resp, r.NumberResponse) and resp.name == "EXISTS":
                if conn.exists is not None and resp.number < conn.exists:
                    problem = f"EXISTS {resp.number} after {conn.exists}"
                conn.exists = resp.number
            elif isinstance(resp, r.NumberResponse) and resp.name == "EXPUNGE":
                if conn.exists is None or not 1 <= resp.number <= conn.exists:
                    problem = f"EXPUNGE {resp.number} of {conn.exists}"
                elif conn.exists is not None:
                    conn.exists -= 1
            elif isinstance(resp, r.FetchResponse):
                if conn.exists is None or not 1 <= resp.seq <= conn.exists:
                    problem = f"FETCH {resp.seq} of {conn.exists}"
            elif isinstance(resp, r.SearchResponse) and isinstance(event, c.Search) and not event.uid:
                if resp.numbers and (conn.exists is None or not all(1 <= n <= conn.exists for n in resp.numbers)):
                    problem = f"SEARCH {max(resp.numbers)} of {conn.exists}"
            if problem:
                self._found("protocol:sequence-numbers", problem, data)
                conn.exists = None  # one finding per confusion
                return
        if conn.session.selected is None:
            conn.exists = None

    def _check_removal(self, event: object, folder: str | None, before: dict[Location, tuple[int, str]],
                       replies: list[r.Response], data: bytes, only: str | None) -> None:
        """A message may leave a folder only by EXPUNGE/CLOSE of a \\Deleted message of the selected folder, by
        MOVE out of the selected folder (then it is somewhere else), by DELETE of its folder or RENAME."""
        after = self.world.snapshot(self._who, only)
        gone = [loc for loc in before if loc not in after]
        if not gone:
            return
        if not isinstance(event, REMOVERS):
            self._found(f"store:removed-by-{type(event).__name__}", f"{gone[0]} and {len(gone) - 1} more", data)
            return
        inodes = {ino for ino, _ in after.values()}
        sel_dir = self._folder_dir(folder)
        for loc in gone:
            ino, flags = before[loc]
            if isinstance(event, (c.Expunge, c.Close)):
                ok = loc[0] == sel_dir and "T" in flags
            elif isinstance(event, c.Move):
                ok = loc[0] == sel_dir and ino in inodes
            elif isinstance(event, c.Rename):
                ok = ino in inodes
            else:  # DELETE takes a whole folder
                ok = not os.path.isdir(os.path.join(self.world.box(self._who), loc[0], "cur"))
            if not ok:
                self._found(f"store:removed-by-{type(event).__name__}", f"{loc} flags {flags!r}", data)
                return
        self._explained.update(gone)

    def _folder_dir(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name == "INBOX":
            return ""
        try:
            place = self.backend.ns.place(self._who, name)
        except Exception:  # noqa: BLE001 - a name the namespace refuses selects nothing
            return None
        rel = os.path.relpath(place.path, self.world.box(self._who))
        return "" if rel == "." else rel

    # ------------------------------------------------------------------ connections
    def prelude(self) -> tuple[str, list[bytes]]:
        pw = self.world.passwords
        roll = self.rng.random()
        login = b"p1 LOGIN bob " + pw[OWNER].encode() + b"\r\n"
        if roll < 0.6:
            return OWNER, [login, b"p2 SELECT INBOX\r\n"]
        if roll < 0.68:
            box = self.rng.choice((b"EXAMINE INBOX", b"SELECT Fuzz", b"SELECT Sent", b"SELECT Archive"))
            return OWNER, [login, b"p2 " + box + b"\r\n"]
        if roll < 0.76:
            return OWNER, [login]
        if roll < 0.82:
            creds = base64.b64encode(b"\0bob\0" + pw[OWNER].encode())
            return OWNER, [b"p1 AUTHENTICATE PLAIN " + creds + b"\r\n", b"p2 SELECT INBOX\r\n"]
        if roll < 0.88:
            box = self.rng.choice((b"Agents/bob/INBOX", b"Agents/All", b"INBOX", b"Agents/alice/INBOX"))
            return "human", [b"p1 LOGIN human " + pw["human"].encode() + b"\r\n", b"p2 SELECT " + box + b"\r\n"]
        return "", []

    def connection(self, budget: int) -> None:
        account, prelude = self.prelude()
        who = self._who = account or OWNER
        self.stats.connections += 1
        before = self.world.snapshot(who)
        outside = self.world.outside(who, metadata=who != "human")
        self._explained = set()
        self._context = []
        conn = Conn(self.backend, self.world.cfg.max_message)
        for data in prelude:
            self.feed(conn, data, count=False)
        other = self._other(who) if self.rng.random() < 0.3 else None
        length = min(budget, max(1, int(self.rng.expovariate(1 / self.mean_length))))
        for _ in range(length):
            if conn.closed:
                break
            if other is not None and not other.closed and self.rng.random() < 0.1:
                self.feed(other, self._other_command(), count=False)
            waiting = conn.waiting_line
            if waiting == "idle":
                self.poll(conn)
            data = self.gen.raw_line(waiting == "auth") if waiting and self.rng.random() < 0.9 else self.gen.input()
            self.feed(conn, data)
        self.checkpoint(who, before, outside)

    def poll(self, conn: Conn) -> None:
        """What the server does every half second while a client idles (RFC 2177): push the mailbox's changes."""
        try:
            replies = self._guarded(conn.session.poll)
        except Hang:
            self._found("hang", "IDLE poll", b"(idle poll)")
            conn.dead = True
            return
        except Exception as exc:  # noqa: BLE001 - the server answers BYE; any other exception is a finding
            if not isinstance(exc, ImapError):
                self._found(f"exception:{type(exc).__name__}@{where_from(exc)}", f"{exc!r}"[:300], b"(idle poll)")
            conn.dead = True
            return
        assert isinstance(replies, list)
        self._logged()
        self._check_numbers(conn, None, replies, b"(idle poll)")

    def _other(self, who: str) -> Conn | None:
        """A second client of bob's on INBOX, changing it under the first one (its untagged EXPUNGE and EXISTS
        replies and sequence numbers must stay right)."""
        if who != OWNER:
            return None
        other = Conn(self.backend, self.world.cfg.max_message)
        pw = self.world.passwords[OWNER].encode()
        for data in (b"o1 LOGIN bob " + pw + b"\r\n", b"o2 SELECT INBOX\r\n"):
            self.feed(other, data, count=False)
        return other

    def _other_command(self) -> bytes:
        n = self.rng.randint(1, max(1, min(self.world.size, 40)))
        return self.rng.choice((
            b"o STORE %d +FLAGS (\\Deleted)\r\n" % n, b"o STORE 1:%d +FLAGS.SILENT (\\Deleted)\r\n" % n,
            b"o EXPUNGE\r\n", b"o MOVE %d Archive\r\n" % n, b"o UID MOVE %d:* Sent\r\n" % (n * 3),
            b"o APPEND INBOX {21+}\r\nSubject: other\r\n\r\nhi\r\n", b"o NOOP\r\n",
            b"o STORE %d -FLAGS (\\Seen)\r\n" % n, b"o COPY %d INBOX\r\n" % n))

    def checkpoint(self, who: str, before: dict[Location, tuple[int, str]], outside: dict[str, int]) -> None:
        self.stats.checks += 1
        data = self._context[-1] if self._context else b""
        problems = self.world.check_account(who)
        after = self.world.snapshot(who)
        lost = [loc for loc in before if loc not in after and loc not in self._explained]
        if lost:
            problems.append(("store:lost", f"{len(lost)} files, e.g. {lost[0]}"))
        problems += self.world.check_sizes(who, [loc for loc in after if loc not in before][:200])
        now = self.world.outside(who, metadata=who != "human")
        changed = sorted(set(now.items()) ^ set(outside.items()))
        if changed:
            problems.append(("store:outside-touched", f"{changed[:3]}"))
        for kind, detail in problems:
            self._found(kind, detail, data)
        self.world.maintain(OWNER)

    def run(self, inputs: int, progress: Callable[[Stats], None] | None = None, every: float = 30.0) -> Stats:
        start = last = time.perf_counter()
        with self.recorder:
            while self.stats.inputs < inputs:
                self.connection(inputs - self.stats.inputs)
                now = time.perf_counter()
                if progress is not None and now - last > every:
                    last = now
                    self.stats.seconds = now - start
                    progress(self.stats)
        self.stats.seconds = time.perf_counter() - start
        return self.stats

    # ------------------------------------------------------------------ reproducing
    def replay(self, inputs: list[bytes], account: str = OWNER) -> Stats:
        """Feed `inputs` on one fresh connection (after logging in as `account` unless the first input is a
        LOGIN); returns the stats of just that run (its findings)."""
        saved, self.stats = self.stats, Stats()
        try:
            with self.recorder:
                conn = Conn(self.backend, self.world.cfg.max_message)
                self._context, self._who, self._explained = [], account or OWNER, set()
                if account and b" LOGIN " not in inputs[0] and b" AUTHENTICATE " not in inputs[0]:
                    pw = self.world.passwords[account].encode()
                    self.feed(conn, b"p1 LOGIN " + account.encode() + b" " + pw + b"\r\n", count=False)
                for data in inputs:
                    if not conn.closed:
                        self.feed(conn, data)
                return self.stats
        finally:
            self.stats = saved

    def minimise(self, finding: Finding) -> list[bytes]:
        """The shortest input list found (by dropping context lines, then the prelude's SELECT) that still gives a
        finding of the same kind; the full context if nothing shorter does."""
        full = [*finding.context[-40:], finding.data]
        best = full
        tails = [full[i:] for i in range(len(full))]
        for candidate in ([b"p2 SELECT INBOX\r\n", finding.data], [finding.data], *tails):
            if len(candidate) < len(best) and finding.kind in self.replay(list(candidate)).counts:
                best = list(candidate)
        return best
