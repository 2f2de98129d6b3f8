"""Helpers for interop tests against real programs (mutt, neomutt, tmux, Dovecot).

A missing binary skips with its name on a developer's machine; in CI (CI=true) it fails instead, because .ci/run
installs every one of them first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(*binaries: str) -> dict[str, str]:
    """Paths of `binaries`; skip (or fail in CI) when one is missing."""
    found = {}
    for name in binaries:
        path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}")
                                           if os.access(p, os.X_OK)), None)
        if path is None:
            message = f"{name} is not installed (apt-get install dovecot-imapd mutt neomutt tmux)"
            if IN_CI:
                pytest.fail(message + " -- CI must install it", pytrace=False)
            pytest.skip(message)
        found[name] = path
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def world_dir():
    """A temp dir that other users (vmail, nobody) can enter: pytest's tmp_path is 0700 and owned by us."""
    top = Path(tempfile.mkdtemp(prefix="agentmail-interop-"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        subprocess.run(["chmod", "-R", "u+rwX", str(top)], check=False)
        shutil.rmtree(top, ignore_errors=True)
