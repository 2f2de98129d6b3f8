"""The real `agentmail serve` as a subprocess on free loopback ports, found through its run/serve.json."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.support.store import AGENTMAIL, Store, env_for

S = TypeVar("S", bound="Serve")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parent_of(pid: int) -> int | None:
    """The parent pid of `pid` (Linux /proc), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Send `sig` (if it still runs) and wait; kill it if it has not exited after `timeout` s. Its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


@dataclass
class Serve:
    """A running `agentmail serve` over `store`; `info` is its run/serve.json (pid, host, smtp_port, imap_port)."""

    store: Store
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    log_path: Path

    @classmethod
    def start(cls: type[S], store: Store, *args: str, timeout: float = 15, prefix: Sequence[str] = (),
              log_path: Path | None = None) -> S:
        """`agentmail serve --smtp-port 0 --imap-port 0 --web-port 0 ARGS`, once its run/serve.json names its pid.

        `prefix` runs it under another program (strace): the server is then that program's child. The log goes to
        `log_path`, by default a file in the store (give another place when the store's disk is to be filled)."""
        run_file = store.home / "run" / "serve.json"
        log_path = log_path or store.home / f"serve-{uuid.uuid4().hex[:6]}.log"
        with open(log_path, "wb") as log:
            ports = ["--smtp-port", "0", "--imap-port", "0", "--web-port", "0"]
            proc = subprocess.Popen([*prefix, AGENTMAIL, "serve", *ports, *args],
                                    env=env_for(store.home), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {log_path.read_text()}")
            try:
                info = json.loads(run_file.read_text())
            except (OSError, ValueError):
                info = {}
            pid = info.get("pid")
            if pid == proc.pid or (prefix and isinstance(pid, int) and parent_of(pid) == proc.pid):
                return cls(store, proc, info, log_path)
            time.sleep(0.05)
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"serve did not start in {timeout} s: {log_path.read_text()}")

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def home(self) -> Path:
        return self.store.home

    @property
    def smtp_port(self) -> int:
        return int(self.info["smtp_port"])

    @property
    def imap_port(self) -> int:
        return int(self.info["imap_port"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def pid(self) -> int:
        """The server's own pid (under a `prefix`, not that of `proc`)."""
        return int(self.info["pid"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send `sig` and wait for the exit status (the server is killed if it has not exited after `timeout` s)."""
        if self.pid != self.proc.pid and self.proc.poll() is None:
            os.kill(self.pid, sig)  # under a prefix: signal the server, whose exit ends the prefix program
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
        return stop_process(self.proc, sig, timeout)
