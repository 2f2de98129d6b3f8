"""The `store` fixture: a temporary AGENTMAIL_HOME, and the stand-in Claude Code sessions started on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.hookkit import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    for session in s.sessions:
        session.close()
