"""The store watcher and the fan-out behind the live view (web/events.py), on a real store and event loop: with
inotify and with the stat poller, deliveries, flag changes, presence, accounts created after the start."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent import compose
from agentmail.agent.mailbox import find, set_flags
from agentmail.store import presence, registry
from agentmail.web.events import Change, Hub, Watcher
from tests.support import wait
from tests.support.store import create_accounts


async def until(changes: list[Change], check: object, what: str, timeout: float = wait.DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(check(c) for c in changes):  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("use_inotify", [True, False], ids=["inotify", "poller"])
def test_the_watcher_reports_what_changed(tmp_path: Path, use_inotify: bool) -> None:
    cfg = config.load(str(tmp_path / "home"))
    create_accounts(cfg, "alice", "bob")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        changes: list[Change] = []
        with ThreadPoolExecutor(2) as pool:
            watcher = Watcher(cfg, pool, changes.append, use_inotify=use_inotify)
            await watcher.start()
            assert (watcher.inotify is not None) == use_inotify and (watcher.poller is not None) != use_inotify
            try:
                sent = await loop.run_in_executor(pool, lambda: compose.send(cfg, "alice", ["bob"], "hi", "x"))
                await until(changes, lambda c: c.journal and {"alice", "bob"} <= c.accounts, "the delivery")
                changes.clear()
                item = await loop.run_in_executor(pool, lambda: find(cfg, "bob", sent.key[:8]))
                await loop.run_in_executor(pool, lambda: set_flags(item, add="S"))
                await until(changes, lambda c: "bob" in c.accounts and not c.journal, "the flag change")
                changes.clear()
                await loop.run_in_executor(pool, lambda: presence.bind(cfg, "alice", 1, "sid-1"))
                await until(changes, lambda c: c.presence, "the presence change")
                changes.clear()
                await loop.run_in_executor(pool, lambda: registry.create_account(cfg, "carol"))
                await until(changes, lambda c: c.presence, "the new account")
                # its folders are watched once they exist: the event about maildirs/ brings a rescan
                deadline = loop.time() + wait.DEADLINE
                while ("mail", "carol") not in {*watcher.tags.values(), *watcher.path_tags.values()}:
                    assert loop.time() < deadline, "carol's folders are not watched"
                    await asyncio.sleep(0.02)
                changes.clear()
                await loop.run_in_executor(pool, lambda: compose.send(cfg, "bob", ["carol"], "hello carol", "x"))
                await until(changes, lambda c: "carol" in c.accounts, "mail to the new account")
            finally:
                watcher.stop()

    asyncio.run(scenario())


def test_the_hub_merges_a_slow_streams_backlog_and_ends_streams() -> None:
    async def scenario() -> None:
        hub = Hub(limit=2)
        fast, slow = hub.subscribe(), hub.subscribe()
        assert fast is not None and slow is not None and hub.subscribe() is None  # at most `limit` streams
        for n in range(20):
            change = Change()
            change.accounts.add(f"a{n}")
            hub.publish(change)
            assert (await fast.get()) is not None  # a reader that keeps up sees every event
        backlog = []
        while not slow.empty():
            backlog.append(slow.get_nowait())
        assert 1 <= len(backlog) <= 8 and any(b and b["everything"] for b in backlog)
        hub.close()
        assert (await fast.get()) is None and hub.subscribe() is None

    asyncio.run(scenario())
