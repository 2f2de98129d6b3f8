"""A mail server for client homes to use: the real `agentmail serve` on loopback ports that survive a restart,
with accounts alice, bob and carol; and `machines`, client homes that stand for other machines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.remotehome import Machine, Machines, machines
from tests.support.servers import Serve, free_port
from tests.support.store import Store, make_store


@dataclass
class Server:
    store: Store
    smtp_port: int
    imap_port: int
    serve: Serve | None = None

    @property
    def imap(self) -> str:
        return f"imap://127.0.0.1:{self.imap_port}"

    @property
    def smtp(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp_port}"

    def start(self) -> Server:
        self.serve = Serve.start(self.store, "--smtp-port", str(self.smtp_port), "--imap-port", str(self.imap_port))
        return self

    def stop(self) -> None:
        if self.serve is not None:
            self.serve.stop()
            self.serve = None

    def connect(self, machine: Machine, *extra: str, password: str | None = None) -> Machine:
        """`remote set` on `machine` for its account on this server; fails the test unless it works."""
        machine.connect(self.imap, self.smtp, password or self.store.passwords[machine.name], *extra).ok()
        return machine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = make_store(tmp_path_factory.mktemp("server") / "store")
    found = Server(store, free_port(), free_port()).start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machines]:
    yield from machines(tmp_path)
