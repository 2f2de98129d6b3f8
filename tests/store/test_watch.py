"""store/watch.py: inotify through libc, and the stat poller used where there is none."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from agentmail.store.watch import IN_CREATE, IN_MOVED_FROM, IN_MOVED_TO, Inotify, Poller
from tests.support import wait


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")
def test_inotify_names_what_was_linked_and_renamed(tmp_path: Path) -> None:
    watched = tmp_path / "new"
    watched.mkdir()
    ino = Inotify()
    try:
        wd = ino.add(str(watched))
        assert ino.read() == []  # nothing yet, and the descriptor never blocks
        (watched / "one").write_bytes(b"x")
        os.rename(watched / "one", watched / "two")
        events: list[tuple[int, int, str]] = []
        wait.until(lambda: events.extend(ino.read()) or len(events) >= 3, "three events")
        assert all(e[0] == wd for e in events)
        assert (IN_CREATE, "one") in [(m & IN_CREATE, n) for _, m, n in events]
        assert any(m & IN_MOVED_FROM and n == "one" for _, m, n in events)
        assert any(m & IN_MOVED_TO and n == "two" for _, m, n in events)
    finally:
        ino.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")
def test_inotify_never_watches_through_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    ino = Inotify()
    try:
        with pytest.raises(OSError):
            ino.add(str(tmp_path / "link"))
        with pytest.raises(OSError):
            ino.add(str(tmp_path / "missing"))
    finally:
        ino.close()


def test_the_poller_names_changed_directories(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    poller = Poller()
    poller.add(str(a))
    poller.add(str(b))
    assert poller.changed() == []
    (a / "x").write_bytes(b"1")
    os.utime(a, ns=(1, 1))  # a new mtime whatever the clock's resolution
    assert poller.changed() == [str(a)]
    assert poller.changed() == []
    os.rmdir(b)
    assert poller.changed() == [str(b)]
