"""What every request of the web view shares: the store, the worker threads, sessions, the journal index, the hub.

Sessions live in the server's memory only (a restart signs every browser out; a new one-time link signs it in
again). A session is a random 32-byte id in an HttpOnly, SameSite=Strict cookie, and carries its own random CSRF
token that the page reads from /api/session and sends back in a header on every write (a page of another site can
neither read it nor make the browser add that header).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time

from aiohttp import web

from .events import Hub
from .journal import JournalIndex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor
    from typing import Any, TypeVar

    from ..config import Config

    T = TypeVar("T")

SESSION_IDLE = 12 * 3600.0  # seconds without a request before a session ends
SESSION_MAX = 7 * 86400.0  # seconds a session lasts at most
MAX_SESSIONS = 64  # the oldest session ends when one more signs in
MAX_STREAMS = 100  # open live views (SSE streams) in all


class Session:
    __slots__ = ("id", "account", "csrf", "created", "last_seen")

    def __init__(self, account: str) -> None:
        self.id = secrets.token_urlsafe(32)
        self.account = account
        self.csrf = secrets.token_urlsafe(32)
        self.created = self.last_seen = time.monotonic()


class Sessions:
    def __init__(self) -> None:
        self.by_id: dict[str, Session] = {}

    def new(self, account: str) -> Session:
        self._expire()
        while len(self.by_id) >= MAX_SESSIONS:
            oldest = min(self.by_id.values(), key=lambda s: s.last_seen)
            del self.by_id[oldest.id]
        session = Session(account)
        self.by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 100:
            return None
        session = self.by_id.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > SESSION_IDLE or now - session.created > SESSION_MAX:
            del self.by_id[session.id]
            return None
        session.last_seen = now
        return session

    def drop(self, session: Session) -> None:
        self.by_id.pop(session.id, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for s in [s for s in self.by_id.values()
                  if now - s.last_seen > SESSION_IDLE or now - s.created > SESSION_MAX]:
            del self.by_id[s.id]


class WebState:
    """The web view's shared state (one per `agentmail serve`)."""

    def __init__(self, cfg: Config, executor: Executor, *, host: str, port: int, tls: bool, remote: bool) -> None:
        self.cfg = cfg
        self.executor = executor
        self.host = host
        self.port = port
        self.tls = tls
        self.remote = remote
        self.sessions = Sessions()
        self.journal = JournalIndex(cfg)
        self.journal_dirty = True
        self.journal_lock = asyncio.Lock()
        self.hub = Hub(MAX_STREAMS)

    @property
    def cookie(self) -> str:
        # one cookie name per port: browsers share cookies across ports of a host, two stores must not clash
        return f"agentmail_{self.port}"

    def allowed_hosts(self) -> set[str]:
        """Host header values a loopback server answers (a DNS-rebound name is refused)."""
        names = {self.host, "127.0.0.1", "localhost", "[::1]", "::1"}
        return {f"{n}:{self.port}" for n in names} | ({f"[{self.host}]:{self.port}"} if ":" in self.host else set())

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a worker thread: store access never blocks the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def fresh_journal(self) -> JournalIndex:
        """The journal index, brought up to date first if the journal changed (one refresh at a time): what the
        watcher reported, or what the directories' stamps show (a postcard sent just before this request)."""
        async with self.journal_lock:
            force, self.journal_dirty = self.journal_dirty, False
            try:
                await self.run(self.journal.refresh, force)
            except BaseException:
                self.journal_dirty = True
                raise
        return self.journal


STATE: web.AppKey[WebState] = web.AppKey("state", WebState)
SESSION_KEY = "agentmail.session"  # the request's Session, set by the session middleware
