"""The IMAP listener: asyncio streams moving bytes between sockets and ``Session`` objects.

Everything protocol-related is in the sans-IO layer (parser.py, session.py); this module only
reads, feeds the parser, writes responses and keeps time:

- backend work (file IO on the Maildirs) runs in one dedicated worker thread, so the event loop
  never blocks on a big directory scan and the backend needs no locks; commands that cost less
  than the hop to that thread (``cheap``: NOOP, UNSELECT, a FETCH or STORE of a few messages, SELECT,
  EXAMINE and STATUS) run on the loop instead, but only while the worker has nothing queued or running
  and the mailbox they look at needs no listing (``MaildirBackend.is_current``);
- IDLE (RFC 2177): the selected mailbox is polled every ``idle_poll`` seconds (three stats, on the
  loop, when nothing changed) and updates are pushed at once;
- failed logins are answered after ``login_delay`` seconds; after ``max_failures`` the connection
  is closed with BYE;
- autologout (RFC 3501 5.4): 30 minutes without a command, 60 s before authentication;
- at most ``max_connections`` connections, of which at most ``max_unauthenticated`` not logged in
  yet: when a new one comes and there is no room, the oldest unauthenticated one is closed (as
  Dovecot's login processes do), so a flood of idle connections never keeps the user's client out;
- literal and line caps come from the parser: an oversized literal is refused without reading it;
  before login a line or a literal may hold at most 8 KiB (``PREAUTH_LINE``, ``PREAUTH_LITERAL``);
- a command's responses are pulled from ``Session.stream`` in chunks of about ``CHUNK`` bytes (in
  the worker), each written and drained before the next is built, so a whole-mailbox FETCH on
  100,000 messages never holds more than one chunk; a chunk also ends after ``SLICE`` seconds (a
  long SEARCH, COPY or LIST yields ``response.PAUSE`` as it goes), and the next chunk queues behind
  the other clients' work: no single command holds the worker, or the loop, for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import resource
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..config import Config
from .maildir.backend import MaildirBackend
from .protocol import commands as c
from .protocol import response as r
from .protocol.errors import ImapError, internal_error
from .protocol.parser import CommandParser
from .session.listing import decode_mailbox
from .session.session import Session

log = logging.getLogger("agentmail.imap")
TIMEOUT = getattr(asyncio, "timeout", None)  # Python 3.11+; 3.10 waits as while idling
T = TypeVar("T")

READ_SIZE = 64 * 1024
MAX_LINE = 64 * 1024
CHUNK = 256 * 1024
SLICE = 0.02  # seconds one command holds the worker (or the loop) before the others get a turn
PREAUTH_LITERAL = 8 * 1024  # LOGIN needs no more; a 10 MiB literal is for APPEND, after login
PREAUTH_LINE = 8 * 1024  # nor a longer line (AUTHENTICATE PLAIN's is < 1 KiB); Dovecot's imap-login is as strict
BIG_PARSE = 16 * 1024  # a command this long is parsed on the worker: a 60 KiB line takes ~20 ms, 10 MiB ~80 ms


def take(responses: Iterator[r.Response], limit: int | None = None, budget: float = SLICE) -> tuple[bytes, bool]:
    """Serialise responses until about ``limit`` (default ``CHUNK``) bytes are ready or ``budget``
    seconds have gone by; returns (data, whether the stream ended)."""
    limit = CHUNK if limit is None else limit
    out = bytearray()
    deadline = time.monotonic() + budget
    for resp in responses:
        out += resp.to_bytes()
        if len(out) >= limit or time.monotonic() >= deadline:
            return bytes(out), False
    return bytes(out), True


def raise_fd_limit(want: int) -> None:
    """Let the process hold ``want`` descriptors (every connection is one) if the hard limit allows: a
    default soft limit of 1024 would make accept() fail before ``max_connections`` is reached."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # pragma: no cover - a sandbox that forbids it
        log.warning("cannot raise the open file limit to %d: %s", want, exc)


IDLE_POLL = c.Noop("")  # what an IDLE poll does, for _current: new/ -> cur/ in a read-write mailbox
CHEAP_COMMANDS = (c.Capability, c.Noop, c.Check, c.Id, c.Enable, c.Namespace, c.Unselect)
CHEAP_SPAN = 16  # messages a FETCH/STORE may name to run on the loop
CHEAP_SELECT = 50_000  # messages a SELECT may copy into its view on the loop (~0.2 ms)


def cheap(event: object) -> bool:
    """Commands that cost less than a hop to the worker thread (~80 us): no scan of a directory
    that did not change, no password hash, a handful of messages at most; SELECT, EXAMINE and STATUS
    of a mailbox whose cached state is current. They run on the loop when the worker is idle (the
    backend is still only ever used by one thread at a time)."""
    if isinstance(event, c.Select) and event.qresync is not None:
        return False  # RFC 7162 3.2.5: what changed since is a walk over every message (and VANISHED a read)
    if isinstance(event, CHEAP_COMMANDS + (c.Select, c.Status)):
        return True
    if isinstance(event, c.Fetch) and event.changedsince is not None:
        return False  # CHANGEDSINCE looks at every message's mod-sequence, whatever the set names
    if isinstance(event, (c.Fetch, c.Store)):
        span = 0
        for lo, hi in event.sequence.ranges:
            if lo is None or hi is None:
                return False
            span += abs(hi - lo) + 1
        return span <= CHEAP_SPAN
    return False


class ImapServer:
    def __init__(self, cfg: Config, *, idle_poll: float = 0.5, login_delay: float = 1.0, max_failures: int = 3,
                 autologout: float = 30 * 60, preauth_timeout: float = 60, max_connections: int = 1000,
                 max_unauthenticated: int | None = None) -> None:
        self.cfg = cfg
        self.backend = MaildirBackend(cfg)
        self.idle_poll = idle_poll
        self.login_delay = login_delay
        self.max_failures = max_failures
        self.autologout = autologout
        self.preauth_timeout = preauth_timeout
        self.max_connections = max_connections
        self.max_unauthenticated = max_unauthenticated or max(1, max_connections // 10)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap")
        self._last: Future[Any] | None = None  # the job submitted last to the worker
        self.connections: set[asyncio.Task[None]] = set()
        self.waiting: dict[Connection, None] = {}  # not logged in yet, oldest first
        self.evicting = 0  # connections closed to make room that have not ended yet
        self.server: asyncio.AbstractServer | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.AbstractServer:
        raise_fd_limit(2 * self.max_connections + 1024)  # SMTP, the store and the web view need some too
        self.server = await asyncio.start_server(self._client, host, port, limit=MAX_LINE, backlog=1024,
                                                 reuse_address=True)
        return self.server

    def _admit(self) -> bool:
        """Make room for a new connection: over either cap, close the oldest unauthenticated connection
        (idle ones first). Only when every connection is logged in is the newcomer refused."""
        while (len(self.waiting) >= self.max_unauthenticated
               or len(self.connections) - self.evicting > self.max_connections):
            victim = next((conn for conn in self.waiting if not conn.busy), None) or next(iter(self.waiting), None)
            if victim is None:
                return False
            victim.evict()
        return True

    async def shutdown(self, grace: float = 0.0) -> None:
        """Stop accepting, tell every client BYE (RFC 3501 7.1.5), and wait for their tasks."""
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        if self.connections:
            await asyncio.wait(list(self.connections), timeout=max(grace, 1.0))
        self.worker.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        future: Future[T] = self.worker.submit(functools.partial(fn, *args))
        self._last = future
        return await asyncio.wrap_future(future)

    def worker_idle(self) -> bool:
        """Nothing queued or running on the worker (it runs jobs in order: the last one done means all
        are), so the loop may call the backend itself without two threads in it at once."""
        return self._last is None or self._last.done()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        peer = writer.get_extra_info("peername")
        conn = Connection(self, reader, writer)
        try:
            if not self._admit():
                writer.write(r.bye("Too many connections, try again later").to_bytes())
                await writer.drain()
                return
            self.waiting[conn] = None
            await conn.serve()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                writer.write(r.bye("Server shutting down").to_bytes())
                await asyncio.wait_for(writer.drain(), 1.0)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing it sent half-way was acted on
        except Exception:  # one broken connection must not disturb the others
            log.exception("IMAP connection from %s failed", peer)
        finally:
            conn.stop_timer()
            self.connections.discard(task)
            self.waiting.pop(conn, None)
            if conn.evicted:
                self.evicting -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


class Connection:
    def __init__(self, server: ImapServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.session = Session(server.backend)
        self.parser = CommandParser(max_line=PREAUTH_LINE, max_literal=PREAUTH_LITERAL)
        self.busy = False  # a command is being answered
        self.evicted = False
        # the autologout clock: one timer per connection, moved on lazily (_watch), instead of an asyncio.timeout
        # armed and cancelled around every read (~4 us of a NOOP's ~100)
        self._deadline: float | None = None  # when the read waiting now times out (None: not waiting)
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    def evict(self) -> None:
        """Close this unauthenticated connection to make room for a newer one."""
        self.evicted = True
        self.server.evicting += 1
        self.server.waiting.pop(self, None)
        with contextlib.suppress(Exception):
            self.writer.write(r.bye("Too many connections waiting to log in; the oldest is closed").to_bytes())
        self.writer.close()  # the reader sees EOF: serve() returns

    def _logged_in(self) -> None:
        """Now authenticated: out of the waiting room, lines of 64 KiB and literals up to the message size cap."""
        self.server.waiting.pop(self, None)
        self.parser.max_line = MAX_LINE
        self.parser.set_max_literal(self.server.cfg.max_message)

    def _current(self, session: Session, event: object) -> bool:
        """A cheap command may run on the loop only if the mailbox it looks at (the selected one, or the one
        SELECT, EXAMINE or STATUS names) needs no listing: a changed folder (100,000 files at worst) is always
        listed on the worker, never while other clients wait."""
        backend = self.server.backend
        if isinstance(event, (c.Select, c.Status)):
            if session.account is None:
                return True  # refused at once: not authenticated
            try:
                name = decode_mailbox(event.mailbox)
            except ImapError:
                return True  # refused at once: a bad name
            if isinstance(event, c.Select):
                return backend.is_current(session.account, name, CHEAP_SELECT, moving=not event.readonly)
            return backend.is_current(session.account, name)
        if session.selected is None or session.account is None or isinstance(event, c.Unselect):
            return True
        moving = isinstance(event, (c.Noop, c.Check)) and not session.selected.readonly  # new/ -> cur/ at a poll
        return backend.is_current(session.account, session.selected.name, moving=moving)

    async def send(self, responses: list[r.Response]) -> None:
        if responses:
            self.writer.write(b"".join(resp.to_bytes() for resp in responses))
            await self.writer.drain()

    async def serve(self) -> None:
        session, parser = self.session, self.parser
        await self.send(session.greeting())
        while not session.closed:
            # the loop serves everyone (SMTP too): a long line or a big literal is framed and parsed on the worker
            event = parser.next_event() if parser.buffered < BIG_PARSE else await self.server._run(parser.next_event)
            if event is None:
                data = await self._read()
                if not data:
                    return  # EOF (or autologout): a half-received command is dropped
                parser.receive_data(data)
                continue
            failures = session.failed_logins
            stream = session.stream(event)
            self.busy = True
            on_loop = cheap(event) and self.server.worker_idle() and self._current(session, event)
            if on_loop:
                data, done = take(stream)  # a round trip to the worker costs more than the command
            else:
                data, done = await self.server._run(take, stream)
            if session.failed_logins > failures:
                await asyncio.sleep(self.server.login_delay)
                if session.failed_logins >= self.server.max_failures:
                    data = r.bye("Too many failed logins").to_bytes() + data
                    session.closed = True
            while True:
                if data:
                    self.writer.write(data)
                    await self.writer.drain()
                if done:
                    break
                data, done = await self.server._run(take, stream)
            self.busy = False
            if session.account is not None and self in self.server.waiting:
                self._logged_in()
            if session.wants_line:
                parser.expect_line()
            if on_loop and parser.buffered:  # pipelined NOOPs would be answered without a pause: let the others run
                await asyncio.sleep(0)

    def _watch(self, task: asyncio.Task[Any]) -> None:
        """The autologout timer: the read waiting since before the deadline is cancelled (``_read`` says BYE); a
        deadline moved on by later reads re-arms the timer for it; no read waiting: the next read arms it."""
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < deadline:
            self._timer = loop.call_at(deadline, self._watch, task)
            return
        self._expired = True
        task.cancel()

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _read(self) -> bytes:
        """Wait for client data; while idling, poll the mailbox and push updates meanwhile."""
        limit = self.server.autologout if self.session.account else self.server.preauth_timeout
        loop = asyncio.get_running_loop()
        if not self.session.idling and TIMEOUT is not None:  # no task nor timer per read: most of a NOOP's cost
            task = asyncio.current_task()
            assert task is not None
            deadline = self._deadline = loop.time() + limit
            if self._timer is None or self._timer.when() > deadline:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(deadline, self._watch, task)
            try:
                return await self.reader.read(READ_SIZE)
            except asyncio.CancelledError:
                uncancel: Callable[[], int] = getattr(task, "uncancel")  # noqa: B009 - Python 3.11+ (TIMEOUT is)
                if not self._expired or uncancel() > 0:
                    raise  # a real cancellation (shutdown), maybe as well as the timeout
                self._deadline = None
                await self.send([r.bye("Autologout; idle for too long")])
                return b""
            finally:
                self._deadline, self._expired = None, False
        deadline = loop.time() + limit
        read = asyncio.ensure_future(self.reader.read(READ_SIZE))
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    await self.send([r.bye("Autologout; idle for too long")])
                    return b""
                step = min(left, self.server.idle_poll) if self.session.idling else left
                done, _ = await asyncio.wait({read}, timeout=step)
                if done:
                    return read.result()
                if self.session.idling:
                    try:  # an unchanged mailbox is polled on the loop: a few stats, no hop to the worker
                        if self.server.worker_idle() and self._current(self.session, IDLE_POLL):
                            updates = self.session.idle_poll()
                        else:
                            updates = await self.server._run(self.session.idle_poll)
                    except ImapError as err:  # e.g. the mailbox was deleted under us
                        await self.send([r.bye(f"Selected mailbox is gone: {err.text}")])
                        return b""
                    except Exception:  # a bug: logged with its traceback; polling it again would repeat it
                        no = internal_error(None, "IDLE")
                        await self.send([r.bye(no.text, no.code)])
                        return b""
                    await self.send(updates)
        finally:
            if not read.done():
                read.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await read


