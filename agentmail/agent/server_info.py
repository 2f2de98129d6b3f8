"""Where `agentmail serve` listens: `run/serve.json` ({pid, host, imap_port, smtp_port, started_at})."""

from __future__ import annotations

import os

from ..store.presence import pid_alive
from ..store.registry import read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_IMAP_PORT = 1143
DEFAULT_SMTP_PORT = 8025
RUN_FILE = "serve.json"


def run_file(cfg: Config) -> str:
    return cfg.path("run", RUN_FILE)


def server_info(cfg: Config) -> dict[str, Any]:
    """The running server's address and ports, or the defaults with running=False."""
    data = read_json(run_file(cfg)) or {}
    pid = data.get("pid")
    running = isinstance(pid, int) and pid != os.getpid() and pid_alive(pid)
    if not running:
        data = {}
    return {
        "running": running, "pid": pid if running else None,
        "host": data.get("host", DEFAULT_HOST),
        "imap_port": data.get("imap_port", DEFAULT_IMAP_PORT),
        "smtp_port": data.get("smtp_port", DEFAULT_SMTP_PORT),
    }
