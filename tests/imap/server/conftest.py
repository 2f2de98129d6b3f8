"""Live IMAP tests: a real server on a free loopback port over a temp store.

`live` runs `ImapServer` in a background event loop of this process (fast to start, one per
test); `serve` runs the real `agentmail serve` as a subprocess. Mail is delivered with the
library (`compose.send`) or the installed `agentmail` command, never written by hand.
"""

from __future__ import annotations

import asyncio
import imaplib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from agentmail import config
from agentmail.imap.server import ImapServer
from tests.support.servers import Serve
from tests.support.store import Store, make_store


class ThreadServer:
    """An ImapServer on its own event loop thread."""

    def __init__(self, cfg: config.Config, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = ImapServer(cfg, **options)
        srv = asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop).result(10)
        self.port: int = srv.sockets[0].getsockname()[1]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(0), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Live:
    store: Store
    server: ThreadServer
    host: str = "127.0.0.1"

    @property
    def port(self) -> int:
        return self.server.port

    def imap(self, user: str | None = None) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        if user:
            conn.login(user, self.store.passwords[user.split("@")[0]])
        return conn

    def client(self, user: str) -> IMAPClient:
        c = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        c.login(user, self.store.passwords[user])
        return c


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "home")


@pytest.fixture
def live(store: Store) -> Iterator[Live]:
    srv = ThreadServer(store.cfg, login_delay=0.1, idle_poll=0.2)
    yield Live(store, srv)
    srv.stop()


@pytest.fixture
def serve(store: Store) -> Iterator[Serve]:
    """The real `agentmail serve` on free ports."""
    srv = Serve.start(store)
    yield srv
    assert srv.stop() == 0
