"""Live IMAP tests: a real server on a free loopback port over a temp store.

`live` runs `ImapServer` in a background event loop of this process (fast to start, one per
test); `serve` runs the real `agentmail serve` as a subprocess. Mail is delivered with the
library (`compose.send`) or the installed `agentmail` command, never written by hand.
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from agentmail import compose, config
from agentmail.imap.server import ImapServer
from agentmail.store import passwd, registry

AGENTMAIL = os.path.join(os.path.dirname(sys.executable), "agentmail")
ACCOUNTS = ("alice", "bob", "carol")
IDENTITY_VARS = ("AGENTMAIL_ADDRESS", "AGENTMAIL_NAME", "AGENTMAIL_HOME", "AGENTMAIL_DOMAIN", "CLAUDE_SESSION_ID")


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARS}
    env["AGENTMAIL_HOME"] = str(home)
    return env


@dataclass
class Store:
    home: Path
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def cfg(self) -> config.Config:
        return config.load(str(self.home))

    def box(self, name: str, folder: str = "INBOX") -> Path:
        base = self.home / "maildirs" / name
        return base if folder == "INBOX" else base / f".{folder}"

    def names(self, name: str, folder: str = "INBOX", sub: str | None = None) -> list[str]:
        subs = (sub,) if sub else ("new", "cur")
        return sorted(p.name for s in subs for p in (self.box(name, folder) / s).iterdir())

    def send(self, sender: str, to: str, title: str, body: str = "hello") -> str:
        """Deliver a postcard with the library; returns the recipient's file name."""
        result = compose.send(self.cfg, sender, [to], title, body)
        return result.delivered[to][1]

    def snapshot(self) -> dict[str, tuple[int, int]]:
        out = {}
        for root, _, files in os.walk(self.home / "maildirs"):
            for f in files:
                p = os.path.join(root, f)
                st = os.stat(p)
                out[p] = (st.st_size, st.st_mtime_ns)
        return out


def make_store(path: Path) -> Store:
    cfg = config.load(str(path))
    registry.ensure_store(cfg)
    for name in ACCOUNTS:
        registry.create_account(cfg, name)
    store = Store(path)
    for name in (*ACCOUNTS, "human"):
        store.passwords[name] = passwd.password_for(cfg, name)
    return store


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


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]


@pytest.fixture
def serve(store: Store) -> Iterator[Serve]:
    """The real `agentmail serve` on free ports."""
    run_file = store.home / "run" / "serve.json"
    log = open(store.home / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([AGENTMAIL, "serve", "--smtp-port", "0", "--imap-port", "0"], env=env_for(store.home),
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            info = json.loads(run_file.read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("pid") == proc.pid:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError((store.home / "serve.log").read_text())
    yield Serve(proc, info)
    proc.terminate()
    assert proc.wait(20) == 0
    log.close()
