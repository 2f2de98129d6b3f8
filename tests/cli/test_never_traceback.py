"""No command ever prints a Python traceback: what no layer turned into an error with a sysexits code is a bug, and
`agentmail` says so in one line and exits 70 (EX_SOFTWARE). `AGENTMAIL_TRACEBACK=1` shows where it came from.

The real input used: a standard output that is closed (`agentmail inbox >&-`), which Python turns into
`sys.stdout = None`; the fast path (`inbox`) and the click application (`directory`) both meet it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agentmail import config
from tests.support.cli import clean_env
from tests.support.store import AGENTMAIL, create_accounts


def run_with_stdout_closed(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([AGENTMAIL, *args], stdout=None, stderr=subprocess.PIPE, env=clean_env(home, **env),
                          preexec_fn=lambda: os.close(1), timeout=60)


@pytest.mark.parametrize("args", [("--as", "bob", "inbox"), ("--as", "bob", "directory")])
def test_unexpected_exception_is_one_line_and_exit_70(home: Path, args: tuple[str, ...]) -> None:
    create_accounts(config.load(str(home)), "bob")
    proc = run_with_stdout_closed(home, *args)
    err = proc.stderr.decode()
    assert proc.returncode == 70, err
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("agentmail: internal error (a bug in agentmail, please report it)")
    traced = run_with_stdout_closed(home, *args, AGENTMAIL_TRACEBACK="1")
    assert traced.returncode == 70 and b"Traceback (most recent call last)" in traced.stderr
