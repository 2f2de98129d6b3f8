"""The console scripts the tests drive run this checkout's code, and the guard that says so can fail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import checkout
from tests.support.store import AGENTMAIL, SENDMAIL, env_for


def other_checkout(tmp_path: Path) -> Path:
    """A second tree with its own copy of the package, as an editable venv of another checkout would import."""
    other = tmp_path / "other-checkout"
    shutil.copytree(checkout.PACKAGE, other / "agentmail", ignore=shutil.ignore_patterns("__pycache__"))
    return other


@pytest.mark.parametrize("command", [[AGENTMAIL, "--help"], [SENDMAIL]], ids=["agentmail", "agentmail-sendmail"])
def test_scripts_import_this_checkout_even_with_another_on_the_path(tmp_path: Path, command: list[str]) -> None:
    other = other_checkout(tmp_path)
    stray = {**env_for(tmp_path), "PYTHONPATH": str(other)}  # another tree first, as a stray PYTHONPATH puts it
    assert checkout.imported_from(command, stray) == [str(other / "agentmail" / "__init__.py")]
    with pytest.raises(AssertionError, match="not from the checkout under test"):
        checkout.check([command], stray)
    # env_for puts this checkout ahead of anything else on PYTHONPATH
    fixed = env_for(tmp_path, PYTHONPATH=str(other))
    assert fixed["PYTHONPATH"].split(os.pathsep) == [str(checkout.REPO), str(other)]
    assert checkout.imported_from(command, fixed) == [str(checkout.PACKAGE / "__init__.py")]
    checkout.check([command], fixed)
