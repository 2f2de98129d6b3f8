"""A temp store for tests: the environment a subprocess gets on it, its accounts, and `Store` to look into it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agentmail import config
from agentmail.agent import compose
from agentmail.store import passwd, registry
from tests.support.checkout import pythonpath

BIN_DIR = os.path.dirname(sys.executable)
AGENTMAIL = os.path.join(BIN_DIR, "agentmail")
SENDMAIL = os.path.join(BIN_DIR, "agentmail-sendmail")
ACCOUNTS = ("alice", "bob", "carol")

# Variables that pick an identity or a store: a developer's own shell must not leak into the tests.
IDENTITY_VARS = ("AGENTMAIL_ADDRESS", "AGENTMAIL_NAME", "AGENTMAIL_HOME", "AGENTMAIL_DOMAIN",
                 "CLAUDE_SESSION_ID", "AGENTMAIL_NO_FAST_PATH")


def env_for(home: Path, drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """This process's environment without IDENTITY_VARS (and `drop`), with AGENTMAIL_HOME=home, then `extra`; this
    checkout always comes first on PYTHONPATH (so the console scripts run the code under test: see checkout.py)."""
    env = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARS and k not in drop}
    env["AGENTMAIL_HOME"] = str(home)
    env.update(extra)
    env["PYTHONPATH"] = pythonpath(env.get("PYTHONPATH"))
    return env


def create_accounts(cfg: config.Config, *names: str) -> None:
    """Agent accounts made directly through the registry (no presence binding)."""
    registry.ensure_store(cfg)
    for name in names:
        registry.create_account(cfg, name)


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

    def names(self, name: str, folder: str = "INBOX", sub: str | None = None) -> list[str]:
        subs = (sub,) if sub else ("new", "cur")
        return sorted(p.name for s in subs for p in (self.box(name, folder) / s).iterdir())

    def find(self, name: str, marker: str | bytes, folder: str = "INBOX") -> list[Path]:
        needle = marker.encode() if isinstance(marker, str) else marker
        return [p for p in self.files(name, folder) if needle in p.read_bytes()]

    def only(self, name: str, marker: str | bytes, folder: str = "INBOX") -> bytes:
        found = self.find(name, marker, folder)
        assert len(found) == 1, f"expected one message with {marker!r} in {name}/{folder}, found {len(found)}"
        return found[0].read_bytes()

    def journal_count(self) -> int:
        return sum(1 for sub in ("new", "cur") for _ in (self.home / "journal" / sub).iterdir())

    def send(self, sender: str, to: str, title: str, body: str = "hello") -> str:
        """Deliver a postcard with the library; returns the recipient's file name."""
        result = compose.send(self.cfg, sender, [to], title, body)
        return result.delivered[to][1]

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """{path: (size, mtime_ns)} of every file under maildirs/."""
        out = {}
        for root, _, files in os.walk(self.home / "maildirs"):
            for f in files:
                p = os.path.join(root, f)
                st = os.stat(p)
                out[p] = (st.st_size, st.st_mtime_ns)
        return out


def make_store(path: Path) -> Store:
    """A store at `path` with ACCOUNTS, and the IMAP/SMTP passwords of those and of `human`."""
    cfg = config.load(str(path))
    create_accounts(cfg, *ACCOUNTS)
    store = Store(path)
    for name in (*ACCOUNTS, "human"):
        store.passwords[name] = passwd.password_for(cfg, name)
    return store
