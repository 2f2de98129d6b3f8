"""Real mail clients against the real `agentmail serve` (INTEROP.md invocations).

Every test gets a temp AGENTMAIL_HOME with accounts made by the CLI (`agentmail register`), postcards delivered by
`agentmail send`, and `agentmail serve` on free loopback ports (read back from run/serve.json). Tests assert on what
the client printed or wrote and on the store afterwards: file names and flags in the Maildir, dovecot-uidlist.

A missing client binary skips with its name; when CI is set it fails instead (CI installs every client).
"""

from __future__ import annotations

import imaplib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import Serve
from tests.support.store import AGENTMAIL, Store, env_for


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Served(Serve):
    """A running `agentmail serve` over a temp store, with accounts alice and bob."""

    @property
    def env(self) -> dict[str, str]:
        return env_for(self.home)

    def cli(self, *args: str) -> str:
        done = subprocess.run([AGENTMAIL, *args], env=self.env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def login(self, name: str) -> tuple[str, str]:
        """(user, password) from `agentmail login-info NAME --json`, which must name the running ports."""
        info = json.loads(self.cli("login-info", name, "--json"))
        assert info["imap"] == {"host": "127.0.0.1", "port": self.imap_port}, info
        return info["user"], info["password"]

    def send(self, sender: str, to: str, title: str, body: str = "hello") -> str:
        """`agentmail --as SENDER send TO TITLE BODY`; returns the base name the recipient's INBOX got."""
        before = set(self.files(to))
        self.cli("--as", sender, "send", to, title, body)
        new = set(self.files(to)) - before
        assert len(new) == 1, new
        return new.pop()

    def box(self, name: str, folder: str = "INBOX") -> Path:
        return self.store.box(name, folder)

    def files(self, name: str, folder: str = "INBOX") -> dict[str, str]:
        """{base name: flags} of every message in new/ and cur/ (flags '' for new/ and for `:2,`)."""
        out = {}
        for sub in ("new", "cur"):
            for entry in os.listdir(self.box(name, folder) / sub):
                base, _, flags = entry.partition(":2,")
                out[base] = flags
        return out

    def path(self, name: str, folder: str, base: str) -> Path:
        for sub in ("new", "cur"):
            for entry in os.listdir(self.box(name, folder) / sub):
                if entry.partition(":2,")[0] == base:
                    return self.box(name, folder) / sub / entry
        raise FileNotFoundError(base)

    def uids(self, name: str, folder: str = "INBOX") -> dict[str, int]:
        """{base name: UID} from the folder's dovecot-uidlist (header checked, records in UID order)."""
        lines = (self.box(name, folder) / "dovecot-uidlist").read_text().splitlines()
        assert lines[0].startswith("3 V"), lines[0]
        out = {}
        last = 0
        for line in lines[1:]:
            uid_text, _, base = line.partition(" :")
            uid = int(uid_text.split()[0])
            assert uid > last, lines
            last = uid
            out[base] = uid
        return out

    def imap(self, name: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        conn.login(*self.login(name))
        return conn


def start_serve(home: Path) -> Served:
    """Accounts alice and bob made by the CLI (`agentmail register`), then `agentmail serve`."""
    for name in ("alice", "bob"):
        subprocess.run([AGENTMAIL, "register", name], env=env_for(home), check=True, capture_output=True, timeout=30)
    return Served.start(Store(home))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    srv = start_serve(tmp_path / "home")
    yield srv
    assert srv.stop() == 0, srv.log()
