"""The real programs the tests drive: a missing one skips with its name on a developer's machine and fails when CI
is set, because CI (.ci/run) installs every one of them first."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
APT = "see .ci/run for the Debian packages"


def which(name: str) -> str | None:
    """`name` on PATH, else in /usr/sbin or /usr/bin (a non-root PATH often lacks the sbin directories)."""
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}")
                                       if os.access(p, os.X_OK)), None)


def need(*binaries: str) -> dict[str, str]:
    """Paths of `binaries`; skip when one is missing, fail when CI is set."""

    found = {}
    for name in binaries:
        path = which(name)
        if path is None:
            missing(f"{name} is not installed ({APT})")
        found[name] = path
    return found


def missing(message: str) -> NoReturn:
    """The one way a test gives up for something the machine lacks: skip on a laptop, fail in CI."""
    import pytest

    if IN_CI:
        pytest.fail(message + "; CI must install it", pytrace=False)
    pytest.skip(message)
