"""One IMAP client connection: an ``asyncio.Protocol`` moving bytes between its socket and a ``Session``.

Everything protocol-related is in the sans-IO layers (parser.py, session.py); this module reads, feeds the
parser, writes responses and keeps time. Two paths answer a command:

- the fast path, inside ``data_received``: when the connection's task is waiting for data, the bytes just
  read hold one cheap command (``cheap``) and its mailbox needs no listing, the command is answered right
  there and written to the transport: one event-loop iteration, no task switch and no stream wake-up,
  which were most of a NOOP's, SELECT's or STATUS's round trip on an unchanged mailbox;
- the task (``serve``), for everything else: a command on the worker thread, a reply too long for one
  chunk, pipelined commands (one each, with a turn for the other clients between them), logins with their
  delay, IDLE, autologout and the end of the connection.

Data arriving while the task is busy (maybe parsing a long line on the worker, which must not race with the
loop appending to the parser's buffer) is held aside and handed to the parser when the task comes back; over
``HOLD`` bytes held, the transport stops reading, so a client pipelining without reading its replies is
slowed down as a stream reader would do it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar, cast

from ..config import Config
from .maildir.backend import MaildirBackend
from .protocol import commands as c
from .protocol import response as r
from .protocol.errors import ImapError, internal_error
from .protocol.parser import CommandParser, Event
from .session.listing import decode_mailbox
from .session.session import Session

log = logging.getLogger("agentmail.imap")
T = TypeVar("T")

MAX_LINE = 64 * 1024
CHUNK = 256 * 1024
HOLD = 2 * MAX_LINE  # bytes held while the task is busy before the transport stops reading (a stream's limit)
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


class Host(Protocol):
    """What a connection needs of its server (``server.ImapServer``): settings, the backend and its worker, and
    the bookkeeping of connections."""

    cfg: Config
    backend: MaildirBackend
    idle_poll: float
    login_delay: float
    max_failures: int
    autologout: float
    preauth_timeout: float
    connections: set[asyncio.Task[None]]
    waiting: dict[Connection, None]
    evicting: int

    async def _run(self, fn: Callable[..., T], *args: object) -> T: ...
    def worker_idle(self) -> bool: ...
    def _admit(self) -> bool: ...


class Connection(asyncio.Protocol):
    def __init__(self, server: Host) -> None:
        self.server = server
        self.session = Session(server.backend)
        self.parser = CommandParser(max_line=PREAUTH_LINE, max_literal=PREAUTH_LITERAL)
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()  # kept: asking for it costs a getpid() on Python < 3.12
        self.task: asyncio.Task[None] | None = None
        self.busy = False  # a command is being answered
        self.evicted = False
        self.eof = False  # no more bytes will come: EOF, or the connection is gone
        self.lost = False  # the connection is gone: nothing can be written
        self._held: list[bytes] = []  # read while the task was busy, for the parser
        self._held_size = 0
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None  # the task waits for the transport to drain
        self._waiter: asyncio.Future[None] | None = None  # the task waits for data; set: the fast path may run
        self._pending: Event | None = None  # parsed by the fast path, for the task to answer
        self._started: Iterator[r.Response] | None = None  # and the rest of its answer, when its first chunk is sent
        # the autologout clock: one timer per connection, moved on lazily (_watch), instead of one armed and
        # cancelled around every wait
        self._deadline: float | None = None  # when the wait going on now times out (None: not waiting)
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    # ------------------------------------------------------------------ transport callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.task = self.loop.create_task(self._run())
        self.server.connections.add(self.task)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # the task is busy (maybe parsing on the worker): the parser is not ours to touch
            self._held.append(data)
            self._held_size += len(data)
            if self._held_size > HOLD and not self._reading_paused and self.transport is not None:
                self.transport.pause_reading()
                self._reading_paused = True
            return
        self.parser.receive_data(data)
        try:
            if self._fast():
                return
        except Exception:  # a bug: the command's state is unknown, so the connection ends (the others go on)
            log.exception("IMAP command on the fast path failed")
            self.session.closed = True  # nothing pipelined after it runs
            if self.transport is not None:
                self.transport.close()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return True  # half-closed: the replies to what was sent before EOF are still written

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = self.lost = True
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # ------------------------------------------------------------------ the fast path
    def _fast(self) -> bool:
        """Answer the command just read here, in the transport's callback, if that is safe and cheap; False:
        the task must take over (``_pending`` / ``_started`` hold what it starts with)."""
        session, parser, server = self.session, self.parser, self.server
        if self._deadline is not None:  # any bytes read start the autologout clock again (the armed timer follows)
            limit = server.autologout if session.account else server.preauth_timeout
            self._deadline = self.loop.time() + limit
        if session.idling or self._writing_paused or parser.buffered >= BIG_PARSE:
            return False
        event = parser.next_event()
        if event is None:
            return True  # an incomplete command: wait for the rest
        if not (cheap(event) and server.worker_idle() and self._current(session, event)):
            self._pending = event
            return False
        stream = session.stream(event)
        data, done = take(stream)
        assert self.transport is not None
        self.transport.write(data)
        if not done:
            self._pending, self._started = event, stream
            return False
        if session.wants_line:
            parser.expect_line()
        return not (session.closed or parser.buffered)  # else the task ends the connection, or answers the next
        # pipelined command after a turn for the others

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

    # ------------------------------------------------------------------ the task
    def _wake(self) -> None:
        """Let the task run: from now on bytes are held for it, not parsed here."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _take_held(self) -> None:
        if self._held:
            self.parser.receive_data(b"".join(self._held))
            self._held.clear()
            self._held_size = 0
        if self._reading_paused and self.transport is not None and not self.lost:
            self.transport.resume_reading()
            self._reading_paused = False

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.lost:
            raise ConnectionResetError("the client went away")
        if self._writing_paused:
            self._drained = drained = self.loop.create_future()
            await drained
            if self.lost:
                raise ConnectionResetError("the client went away")

    async def send(self, responses: list[r.Response]) -> None:
        if responses:
            self.write(b"".join(resp.to_bytes() for resp in responses))
            await self.drain()

    def evict(self) -> None:
        """Close this unauthenticated connection to make room for a newer one."""
        self.evicted = True
        self.server.evicting += 1
        self.server.waiting.pop(self, None)
        self.write(r.bye("Too many connections waiting to log in; the oldest is closed").to_bytes())
        if self.transport is not None:
            self.transport.close()  # connection_lost follows: the task ends

    def _logged_in(self) -> None:
        """Now authenticated: out of the waiting room, lines of 64 KiB and literals up to the message size cap."""
        self.server.waiting.pop(self, None)
        self.parser.max_line = MAX_LINE
        self.parser.set_max_literal(self.server.cfg.max_message)

    async def _run(self) -> None:
        server, transport = self.server, self.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        try:
            if not server._admit():
                self.write(r.bye("Too many connections, try again later").to_bytes())
                await self.drain()
                return
            server.waiting[self] = None
            await self.serve()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.write(r.bye("Server shutting down").to_bytes())
                await asyncio.wait_for(self.drain(), 1.0)
        except (ConnectionError, OSError):
            pass  # the client went away: nothing it sent half-way was acted on
        except Exception:  # one broken connection must not disturb the others
            log.exception("IMAP connection from %s failed", peer)
        finally:
            self.stop_timer()
            self._waiter = None
            assert self.task is not None
            server.connections.discard(self.task)
            server.waiting.pop(self, None)
            if self.evicted:
                server.evicting -= 1
            transport.close()

    async def serve(self) -> None:
        session, parser = self.session, self.parser
        await self.send(session.greeting())
        while not session.closed:
            started, self._started = self._started, None
            event, self._pending = self._pending, None
            if event is None:
                # the loop serves everyone (SMTP too): a long line or a big literal is framed and parsed on the worker
                big = parser.buffered >= BIG_PARSE
                event = await self.server._run(parser.next_event) if big else parser.next_event()
            if event is None:
                if self._held:  # only now: the parser never holds more than a command and one read beyond it
                    self._take_held()
                    continue
                if not await self._wait():
                    return  # EOF (or autologout): a half-received command is dropped
                continue
            await self._answer(event, started)

    async def _answer(self, event: Event, stream: Iterator[r.Response] | None) -> None:
        """Answer one command; ``stream``: the fast path sent its first chunk, the rest is to go."""
        session, server = self.session, self.server
        on_loop = False
        self.busy = True
        if stream is not None:
            data, done = b"", False
        else:
            failures = session.failed_logins
            stream = session.stream(event)
            on_loop = cheap(event) and server.worker_idle() and self._current(session, event)
            if on_loop:
                data, done = take(stream)  # a round trip to the worker costs more than the command
            else:
                data, done = await server._run(take, stream)
            if session.failed_logins > failures:
                await asyncio.sleep(server.login_delay)
                if session.failed_logins >= server.max_failures:
                    data = r.bye("Too many failed logins").to_bytes() + data
                    session.closed = True
        while True:
            if data:
                self.write(data)
                await self.drain()
            if done:
                break
            data, done = await server._run(take, stream)
        self.busy = False
        if session.account is not None and self in server.waiting:
            self._logged_in()
        if session.wants_line:
            self.parser.expect_line()
        if on_loop and (self.parser.buffered or self._held):  # pipelined NOOPs: let the others run between them
            await asyncio.sleep(0)

    def _watch(self) -> None:
        """The autologout timer: a wait going on since before the deadline ends (``_wait`` says BYE); a deadline
        moved on by later commands re-arms the timer for it; no wait going on: the next one arms it."""
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        loop = self.loop
        if loop.time() < deadline:
            self._timer = loop.call_at(deadline, self._watch)
            return
        self._expired = True
        self._wake()

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _wait(self) -> bool:
        """Wait for client data (answering cheap commands meanwhile, in ``data_received``); while idling, poll
        the mailbox and push updates. False: no more commands (EOF, or autologout, said with BYE)."""
        if self._held or self._pending is not None:
            return True
        if self.eof:
            return False
        self._take_held()  # reading was paused: resume it
        limit = self.server.autologout if self.session.account else self.server.preauth_timeout
        loop = self.loop
        if self.session.idling:
            return await self._idle(loop.time() + limit)
        deadline = self._deadline = loop.time() + limit
        if self._timer is None or self._timer.when() > deadline:
            self.stop_timer()
            self._timer = loop.call_at(deadline, self._watch)
        self._waiter = loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
            self._deadline = None
            expired, self._expired = self._expired, False
        if expired and self._pending is None and not self._held:  # a command came in the same pass: answered
            await self.send([r.bye("Autologout; idle for too long")])
            return False
        return True

    async def _idle(self, deadline: float) -> bool:
        loop = self.loop
        while True:
            if self._held or self.eof:  # came during the last poll (DONE, or the end): the parser's order is kept
                return not self.eof or bool(self._held) or self.parser.buffered > 0
            left = deadline - loop.time()
            if left <= 0:
                await self.send([r.bye("Autologout; idle for too long")])
                return False
            self._waiter = waiter = loop.create_future()
            try:
                done, _ = await asyncio.wait({waiter}, timeout=min(left, self.server.idle_poll))
            finally:
                self._waiter = None
            if done or self._held or self.eof:
                return not self.eof or bool(self._held) or self.parser.buffered > 0
            try:  # an unchanged mailbox is polled on the loop: a few stats, no hop to the worker
                if self.server.worker_idle() and self._current(self.session, IDLE_POLL):
                    updates = self.session.idle_poll()
                else:
                    updates = await self.server._run(self.session.idle_poll)
            except ImapError as err:  # e.g. the mailbox was deleted under us
                await self.send([r.bye(f"Selected mailbox is gone: {err.text}")])
                return False
            except Exception:  # a bug: logged with its traceback; polling it again would repeat it
                no = internal_error(None, "IDLE")
                await self.send([r.bye(no.text, no.code)])
                return False
            await self.send(updates)
