"""The web view as a listener of `agentmail serve`: aiohttp's AppRunner on serve's own event loop.

`WebService.start(host, port)` binds the socket itself (so serve learns the port, 0 meaning a free one), hands it
to an aiohttp `SockSite` (TLS when serve listens beyond loopback), starts the store watcher that feeds the live
streams, and warms the journal index in a worker thread so the first conversation list is quick. `shutdown` ends
the live streams first (they would otherwise hold the runner's graceful close), then the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from aiohttp import web

from .app import build_app
from .events import Change, Watcher
from .state import WebState

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from concurrent.futures import Executor
    from typing import Any

    from ..config import Config

log = logging.getLogger("agentmail.web")

PRESENCE_EVERY = 5.0  # seconds between looks at session states (turns, waiters) that no watched directory shows


class Bound(asyncio.AbstractServer):
    """What serve needs of a listener: its sockets (for the port) and close(); the runner does the rest."""

    def __init__(self, sock: socket.socket) -> None:
        self.sockets = (sock,)

    def close(self) -> None:
        pass  # the shutdown step stops the site and the runner

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def is_serving(self) -> bool:
        return True

    async def start_serving(self) -> None:
        pass

    async def serve_forever(self) -> None:
        raise NotImplementedError

    async def wait_closed(self) -> None:
        pass


class WebService:
    def __init__(self, cfg: Config, executor: Executor, tls_context: ssl.SSLContext | None, remote: bool,
                 verbose: int = 0) -> None:
        self.cfg = cfg
        self.executor = executor
        self.tls_context = tls_context if remote else None  # beyond loopback only, as serve's rules say
        self.remote = remote
        self.verbose = verbose
        self.state: WebState | None = None
        self.runner: web.AppRunner | None = None
        self.watcher: Watcher | None = None
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self, host: str, port: int) -> asyncio.AbstractServer:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=128)
        sock.setblocking(False)
        try:
            bound_port = int(sock.getsockname()[1])
            state = WebState(self.cfg, self.executor, host=host, port=bound_port, tls=self.tls_context is not None,
                             remote=self.remote)
            self.state = state
            self.runner = web.AppRunner(build_app(state), handle_signals=False, shutdown_timeout=5.0,
                                        access_log=logging.getLogger("agentmail.web.access") if self.verbose else None)
            await self.runner.setup()
            site = web.SockSite(self.runner, sock, ssl_context=self.tls_context, shutdown_timeout=5.0)
            await site.start()
        except BaseException:
            sock.close()
            raise
        self.watcher = Watcher(self.cfg, self.executor, self._changed)
        await self.watcher.start()
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self._warm()))
        self.tasks.append(loop.create_task(self._presence()))
        return Bound(sock)

    def _changed(self, change: Change) -> None:
        assert self.state is not None
        if change.journal or change.everything:
            self.state.journal_dirty = True
        self.state.hub.publish(change)

    async def _warm(self) -> None:
        assert self.state is not None
        with contextlib.suppress(Exception):
            await self.state.fresh_journal()

    async def _presence(self) -> None:
        """Publish a presence change when session states move without a file in a watched directory changing."""
        from . import views

        assert self.state is not None
        state = self.state
        last: Any = None
        while True:
            await asyncio.sleep(PRESENCE_EVERY)
            if not state.hub.queues:
                last = None
                continue
            try:
                rows = await state.run(views.directory, self.cfg)
            except Exception:  # noqa: BLE001 - looked at again next time
                continue
            now = [(r["name"], r["online"], r["state"], r["wakeable"]) for r in rows]
            if last is not None and now != last and self.watcher is not None:
                change = Change()
                change.presence = True
                self.watcher.note(change)
            last = now

    async def shutdown(self, grace: float) -> None:
        for task in self.tasks:
            task.cancel()
        if self.watcher is not None:
            self.watcher.stop()
        if self.state is not None:
            self.state.hub.close()
            await asyncio.sleep(0)
        if self.runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.runner.cleanup(), timeout=max(grace, 1.0))

