"""Fixtures for every test directory."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.support import checkout


@pytest.fixture(scope="session", autouse=True)
def checkout_under_test(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every subprocess runs this checkout's code (this tree first on PYTHONPATH), and the console scripts prove it."""
    from tests.support.store import AGENTMAIL, SENDMAIL, env_for

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", checkout.pythonpath(os.environ.get("PYTHONPATH")))
        checkout.check([[AGENTMAIL, "--help"], [SENDMAIL]], env_for(tmp_path_factory.mktemp("checkout")))
        yield


@pytest.fixture
def cet() -> Iterator[None]:
    """Run in Central European Time (a POSIX TZ rule: no tzdata needed), then restore the zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "CET-1CEST,M3.5.0,M10.5.0/3"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()
