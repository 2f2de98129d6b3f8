"""Fixtures for interop tests against real programs (mutt, neomutt, tmux, Dovecot); `tests.support.tools.need`
skips when one is missing on a developer's machine and fails in CI."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


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
