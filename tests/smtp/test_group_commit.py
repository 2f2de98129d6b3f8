"""group_commit: batches give what deliver() gives, per message, with syncfs and with the fsync fallback; a failed
sync and a real full disk (a tmpfs), in a batch and through `agentmail serve`."""

from __future__ import annotations

import asyncio
import smtplib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agentmail.delivery.deliver import Delivery
from agentmail.delivery.group_commit import Committer, Syncer, deliver_many
from agentmail.errors import StoreIOError, UnknownRecipientError
from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.smtp.conftest import DOMAIN, lf, message, start_server, strip_trace
from tests.support import disk
from tests.support.store import Store, make_store


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


def test_sync_failure_fails_the_batch_and_leaves_nothing_staged(fresh_store: Store, tmp_path: Path) -> None:
    """The sync step itself fails (here: the directory it syncs through is gone, ENOENT): every message of the batch
    gets the error, none is linked, none stays in tmp/."""
    gone = tmp_path / "synced-through"
    gone.mkdir()
    syncer = Syncer(str(gone))
    gone.rmdir()
    results = deliver_many(fresh_store.cfg, [job(0), job(1)], syncer)
    assert all(isinstance(r, StoreIOError) and "No such file or directory" in str(r) for r in results), results
    assert fresh_store.files("alice") == [] and fresh_store.journal_count() == 0
    assert not [p for p in fresh_store.home.rglob("tmp/*") if p.is_file()]


def uids_match_files(store: Store, name: str) -> None:
    """dovecot-uidlist lists exactly the messages in the Maildir (none lost, none without a UID)."""
    box = Maildir(str(store.box(name)))
    recorded = uidlist.read(box)
    listed = {base for _, _, base in recorded.records} if recorded else set()
    assert listed == {p.name.split(":")[0] for p in store.files(name)}, (listed, store.files(name))


@pytest.mark.parametrize("leave", [0, 2 * disk.PAGE, 6 * disk.PAGE])
def test_full_disk_fails_each_message_that_does_not_fit_alone(tiny_tmpfs: Path, leave: int) -> None:
    """A real full disk (a tmpfs) under a batch: every message is either delivered whole (inbox, journal, a UID) or
    refused with 'disk full' and found nowhere, not even in the journal; nothing stays in tmp/; once space is back
    the refused ones go in (and the journal holds each message once)."""
    store = make_store(tiny_tmpfs / "home")
    store.send("bob", "alice", "before the disk filled")
    filler = disk.fill(tiny_tmpfs, leave)
    jobs = [job(n) for n in range(8)]
    results = deliver_many(store.cfg, jobs, Syncer(str(store.home)))
    refused = [n for n, r in enumerate(results) if not isinstance(r, Delivery)]
    assert refused, "the disk was full, yet every message fitted"
    for n, result in enumerate(results):
        if n in refused:
            assert isinstance(result, StoreIOError) and "(disk full)" in str(result), result
            assert not store.find("alice", f"gc-{n}@test")
        else:
            assert strip_trace(store.only("alice", f"gc-{n}@test")) == lf(jobs[n]["data"])
    journaled = store.journal_count()  # a refused message is not journaled (checked last, below)
    disk.no_partial_files(store.home)
    uids_match_files(store, "alice")
    filler.unlink()
    again = deliver_many(store.cfg, [jobs[n] for n in refused], Syncer(str(store.home)))
    assert all(isinstance(r, Delivery) for r in again), again
    assert len(store.files("alice")) == 1 + len(jobs)
    uids_match_files(store, "alice")
    assert (journaled, store.journal_count()) == (1 + len(jobs) - len(refused), 1 + len(jobs))


def test_serve_on_a_full_disk_answers_452_and_stores_nothing(tiny_tmpfs: Path, tmp_path: Path) -> None:
    """`agentmail serve` whose store's disk is full: the DATA gets 452 4.3.1 (try again later), nothing is stored, the
    server goes on, and once there is space the same message is accepted."""
    store = make_store(tiny_tmpfs / "home")
    store.send("bob", "alice", "before the disk filled")
    srv = start_server(store, log_path=tmp_path / "serve.log")  # the log is not on the full disk
    try:
        filler = disk.fill(tiny_tmpfs)
        before = disk.tree(store.home)
        data = message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", "full-disk", "y" * 1400 + "\r\n")
        with smtplib.SMTP(srv.host, srv.port, timeout=30) as smtp:
            smtp.login("bob", store.passwords["bob"])
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], data)
            assert refused.value.smtp_code == 452, refused.value  # RFC 5321 4.2.2 insufficient system storage
            assert refused.value.smtp_error.startswith(b"4.3.1 "), refused.value  # RFC 3463 mail system full
            assert b"(disk full)" in refused.value.smtp_error and b"try again later" in refused.value.smtp_error
            assert disk.tree(store.home) == before
            disk.no_partial_files(store.home)
            filler.unlink()
            smtp.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], data)  # the same session goes on
        assert strip_trace(store.only("alice", "full-disk@test")) == lf(data)
        uids_match_files(store, "alice")
    finally:
        assert srv.stop() == 0, srv.log()


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
