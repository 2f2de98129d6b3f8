"""A folder's cache is built from scratch with the garbage collector paused (imap/maildir/gcpause.py): on again after
the build, whether it succeeded or failed, and left off when someone else had switched it off."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmail.imap.maildir import gcpause
from agentmail.imap.maildir.mailcache import MailboxCache
from agentmail.imap.protocol.errors import ImapNo
from tests.imap.server.test_incremental import fill


def maildir(tmp_path: Path, count: int) -> Path:
    box = tmp_path / "box"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    fill(box, count)
    return box


@pytest.fixture
def collector() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_off_during_the_build_on_after(tmp_path: Path, collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    box = maildir(tmp_path, 300)
    seen: list[bool] = []
    full = MailboxCache._full

    def watched(self: MailboxCache) -> object:
        seen.append(gc.isenabled())
        return full(self)

    monkeypatch.setattr(MailboxCache, "_full", watched)
    state = MailboxCache(str(box), 1 << 30).refresh()
    assert len(state.messages) == 300
    assert seen == [False] and gc.isenabled()


def test_on_again_when_the_build_fails(tmp_path: Path, collector: None) -> None:
    box = maildir(tmp_path, 3)
    cache = MailboxCache(str(box), 1 << 30)
    cache.dir_key()
    shutil.rmtree(box / "cur")  # gone between the first stat and the listing
    with pytest.raises(ImapNo):
        with gcpause.paused():
            cache._full()
    assert gc.isenabled()


def test_left_off_when_it_was_off(collector: None) -> None:
    gc.disable()
    with gcpause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    with gcpause.paused(), gcpause.paused():  # nested: the inner one leaves it to the outer
        pass
    assert not gc.isenabled()
    gc.enable()
    with gcpause.paused():
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
