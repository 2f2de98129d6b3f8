"""Waiting for a condition instead of sleeping: tests on a loaded 2-core machine must not depend on how long
anything takes, only on what eventually happens (or, with a generous deadline, never does)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 20.0  # seconds: far past anything a healthy run needs, so only a real hang reaches it


def until(check: Callable[[], T], what: str, timeout: float = DEADLINE, interval: float = 0.02) -> T:
    """Call `check` until it returns something true, and return that; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)
