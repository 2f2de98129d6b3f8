"""The IMAP listener: accepts connections (``connection.Connection``, one ``asyncio.Protocol`` each) and holds
what they share:

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
import functools
import logging
import resource
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..config import Config
from .connection import Connection
from .maildir.backend import MaildirBackend

log = logging.getLogger("agentmail.imap")
T = TypeVar("T")


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
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: Connection(self), host, port, backlog=1024,
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
