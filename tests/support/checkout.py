"""The checkout under test: every `agentmail` a test starts must import this tree, not whatever the venv points at.

A venv made with `pip install -e` for another checkout runs that checkout's code from `.venv/bin/agentmail`; a test
that drives the console script would then pass or fail for code it never looked at. `env_for` puts this tree first
on PYTHONPATH (ahead of site-packages and any editable install), and `check()` proves it by running the real console
scripts with PYTHONVERBOSE, which makes Python print the path of every module it imports.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "agentmail"


def pythonpath(existing: str | None) -> str:
    """PYTHONPATH with this checkout first (once), then whatever else `existing` holds."""
    rest = [p for p in (existing or "").split(os.pathsep) if p and os.path.abspath(p) != str(REPO)]
    return os.pathsep.join([str(REPO), *rest])


def imported_from(command: list[str], env: dict[str, str]) -> list[str]:
    """The `agentmail/__init__.py` files `command` (a Python console script) imports, from its verbose trace."""
    proc = subprocess.run(command, env={**env, "PYTHONVERBOSE": "1"}, cwd="/", stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace", timeout=60)
    return sorted(set(re.findall(r"(/\S*?/agentmail/__init__\.py)\b", proc.stderr)))


def check(commands: list[list[str]], env: dict[str, str]) -> None:
    """Fail loudly unless this process and every one of `commands` imports agentmail from this checkout."""
    import agentmail

    here = Path(agentmail.__file__).resolve()
    assert here.is_relative_to(PACKAGE), f"the tests import agentmail from {here}, not from this checkout {REPO}"
    for command in commands:
        found = imported_from(command, env)
        assert found, f"{command[0]} imported no agentmail package (PYTHONVERBOSE shows none)"
        wrong = [p for p in found if not Path(p).resolve().is_relative_to(PACKAGE)]
        assert not wrong, (f"{command[0]} runs agentmail from {wrong[0]}, not from the checkout under test {REPO}: "
                           "its venv holds another checkout (reinstall with `pip install -e .` here)")
