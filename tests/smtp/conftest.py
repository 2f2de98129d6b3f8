"""Fixtures for the SMTP / sendmail tests: a temp store with accounts, a real `agentmail serve` subprocess on a
free loopback port, and readers that take a delivered message back out of a Maildir."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentmail import config
from agentmail.store import passwd, registry

BIN_DIR = os.path.dirname(sys.executable)
AGENTMAIL = os.path.join(BIN_DIR, "agentmail")
SENDMAIL = os.path.join(BIN_DIR, "agentmail-sendmail")
DOMAIN = "agents.localhost"
ACCOUNTS = ("alice", "bob", "carol")
IDENTITY_VARS = ("AGENTMAIL_ADDRESS", "AGENTMAIL_NAME", "AGENTMAIL_HOME", "AGENTMAIL_DOMAIN",
                 "CLAUDE_SESSION_ID", "AGENTMAIL_NO_FAST_PATH")
TRACE = (b"return-path:", b"delivered-to:", b"received:")


def need(binary: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin")
    if not path:
        pytest.skip(f"{binary} is not installed (Debian package; .ci/run installs it)")
    return path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARS}
    env["AGENTMAIL_HOME"] = str(home)
    env.update(extra)
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

    def files(self, name: str, folder: str = "INBOX") -> list[Path]:
        box = self.box(name, folder)
        return sorted(p for sub in ("new", "cur") if (box / sub).is_dir() for p in (box / sub).iterdir())

    def find(self, name: str, marker: str | bytes, folder: str = "INBOX") -> list[Path]:
        needle = marker.encode() if isinstance(marker, str) else marker
        return [p for p in self.files(name, folder) if needle in p.read_bytes()]

    def only(self, name: str, marker: str | bytes, folder: str = "INBOX") -> bytes:
        found = self.find(name, marker, folder)
        assert len(found) == 1, f"expected one message with {marker!r} in {name}/{folder}, found {len(found)}"
        return found[0].read_bytes()

    def journal_count(self) -> int:
        return sum(1 for sub in ("new", "cur") for _ in (self.home / "journal" / sub).iterdir())


def make_store(path: Path) -> Store:
    cfg = config.load(str(path))
    registry.ensure_store(cfg)
    for name in ACCOUNTS:
        registry.create_account(cfg, name)
    store = Store(path)
    for name in (*ACCOUNTS, "human"):
        store.passwords[name] = passwd.password_for(cfg, name)
    return store


def strip_trace(stored: bytes) -> bytes:
    """The stored file without the trace fields deliver() prepends (Return-Path, Delivered-To, Received)."""
    lines = stored.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].lower().startswith(TRACE):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def marker() -> str:
    return uuid.uuid4().hex[:12]


def message(frm: str, to: str, subject: str, body: str = "hello\n", extra: str = "") -> bytes:
    text = (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            f"Message-ID: <{subject}@test>\r\n{extra}MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}")
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


@dataclass
class Server:
    store: Store
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def start_server(store: Store, *args: str, timeout: float = 15) -> Server:
    run_file = store.home / "run" / "serve.json"
    log_path = store.home / f"serve-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([AGENTMAIL, "serve", "--smtp-port", "0", "--imap-port", "0", *args],
                                env=env_for(store.home), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {log_path.read_text()}")
        try:
            info = json.loads(run_file.read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("pid") == proc.pid:
            return Server(store, proc, int(info["smtp_port"]), log_path)
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"serve did not start in {timeout} s: {log_path.read_text()}")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def server(store: Store) -> Iterator[Server]:
    srv = start_server(store)
    yield srv
    code = srv.stop()
    assert code == 0, srv.log()


@pytest.fixture
def fresh_store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "home")
