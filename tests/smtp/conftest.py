"""Fixtures for the SMTP / sendmail tests: a temp store with accounts, a real `agentmail serve` subprocess on a
free loopback port, and readers that take a delivered message back out of a Maildir."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import disk
from tests.support.servers import Serve
from tests.support.store import Store, make_store

DOMAIN = "agents.localhost"
TRACE = (b"return-path:", b"delivered-to:", b"received:")


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


class Server(Serve):
    """`agentmail serve` for the SMTP tests: `port` is its SMTP port."""

    @property
    def port(self) -> int:
        return self.smtp_port


def start_server(store: Store, *args: str, timeout: float = 15, log_path: Path | None = None) -> Server:
    return Server.start(store, *args, timeout=timeout, log_path=log_path)


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


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs to fill up (root only; see tests/support/disk.py)."""
    with disk.tiny_tmpfs(tmp_path / "tiny", "256k") as mnt:
        yield mnt
