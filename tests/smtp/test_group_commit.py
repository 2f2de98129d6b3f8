"""group_commit: batches give what deliver() gives, per message, with syncfs and with the fsync fallback."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agentmail.errors import StoreIOError, UnknownRecipientError
from agentmail.group_commit import Committer, Syncer, deliver_many
from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.support.store import Store

from .conftest import DOMAIN, lf, message, strip_trace


def job(n: int, to: str = "alice", **extra: Any) -> dict[str, Any]:
    return {"data": message(f"bob@{DOMAIN}", to, f"gc-{n}"), "recipients": [to], "sender": "bob", "via": "smtp",
            "save_sent": False, **extra}


@pytest.mark.parametrize("syncfs", [True, False])
def test_batch_delivers_each_message_and_reports_errors_alone(fresh_store: Store, syncfs: bool) -> None:
    syncer = Syncer(str(fresh_store.home))
    if not syncfs:
        syncer._syncfs = None  # the portable path: fsync per staged file and per directory
    jobs = [job(0), job(1, "nobody"), job(2, "carol"), job(3, save_sent=True)]
    results = deliver_many(fresh_store.cfg, jobs, syncer)
    assert isinstance(results[1], UnknownRecipientError)
    for n, to in ((0, "alice"), (2, "carol"), (3, "alice")):
        assert strip_trace(fresh_store.only(to, f"gc-{n}@test")) == lf(jobs[n]["data"])
    assert fresh_store.find("bob", "gc-3@test", "Sent") and not fresh_store.find("bob", "gc-0@test", "Sent")
    uids = uidlist.read(Maildir(str(fresh_store.box("alice"))))
    assert uids is not None and [uid for uid, _, _ in uids.records] == [1, 2]
    assert fresh_store.journal_count() == 3
    assert not [p for p in fresh_store.home.rglob("tmp/*") if p.is_file()]


def test_sync_failure_fails_the_batch_and_leaves_nothing_staged(fresh_store: Store) -> None:
    syncer = Syncer(str(fresh_store.home))

    def broken(dirs: set[str]) -> None:
        raise StoreIOError("cannot write x: No space left on device (disk full)")

    syncer.sync = broken  # type: ignore[method-assign]
    results = deliver_many(fresh_store.cfg, [job(0), job(1)], syncer)
    assert all(isinstance(r, StoreIOError) for r in results)
    assert fresh_store.files("alice") == []
    assert not [p for p in fresh_store.home.rglob("tmp/*") if p.is_file()]


def test_committer_pipelines_concurrent_messages(fresh_store: Store) -> None:
    async def main() -> list[Any]:
        with ThreadPoolExecutor(2) as pool:
            committer = Committer(fresh_store.cfg, pool)
            jobs = [job(n, ("alice", "carol")[n % 2]) for n in range(40)] + [job(99, "nobody")]
            out = await asyncio.gather(*(committer.deliver(**j) for j in jobs), return_exceptions=True)
            assert committer.batches < 40  # messages that arrive together share syncs
            return out

    results = asyncio.run(main())
    assert isinstance(results[-1], UnknownRecipientError)
    assert all(r.delivered for r in results[:-1])
    assert len(fresh_store.files("alice")) == 20 and len(fresh_store.files("carol")) == 20
