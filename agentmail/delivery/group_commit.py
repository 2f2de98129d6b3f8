"""Group commit for `agentmail serve`: many messages made durable by one sync instead of four fsyncs each.

`deliver()` makes one message durable with an fsync per copy and per directory. A server that receives messages on
many connections at once can do better without weakening anything. It runs the two phases of delivery.py over a
batch of messages:

1. stage: `delivery.stage(..., sync=False)` for every message of the batch (copies in tmp/, nothing visible);
2. sync: one syncfs(2) of the store's file system puts every staged file on disk;
3. publish: every file is linked into place, with one uidlist lock and append per mailbox for the whole batch;
   the journal copies last, only for messages someone got (as deliver() does);
4. sync again: the links are on disk. Only now are the messages acknowledged (SMTP 250).

As in deliver(), a message that any recipient got is delivered: what fails after its copies are linked (a UID
that could not be recorded, the journal copy, the last sync) is logged as a warning, never answered with an error
that would make the client send it again.

`Committer` pipelines batches on one worker thread: step 4 of a batch and step 2 of the next are the same syncfs,
and while a batch is being synced the next one collects, so batches grow with the load and a lone message waits
for nobody. Where syncfs(2) is missing (not Linux), staged files are fsynced one by one and step 4 fsyncs each
directory the batch touched.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING, Any

from ..errors import AgentmailError, StoreIOError
from ..store import uidlist
from ..store.changelog import Change, log_for
from ..store.dotlock import DotLock
from ..store.maildir import os_error, split_name
from .deliver import Delivery, PartialDeliveryError, Staging, box_lock, stage, sync_dir, warn

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..config import Config

MAX_BATCH = 64
DRAINERS = 2  # batches in flight: one can stage and link while the other waits for its sync
Result = Delivery | AgentmailError


class Syncer:
    """syncfs(2) on the store's file system when the platform has it (`available`), else per-directory fsyncs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._syncfs: Any = None
        try:
            import ctypes

            func = ctypes.CDLL(None, use_errno=True).syncfs
        except (OSError, AttributeError):
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if func(fd) == 0:
                self._syncfs = func
        finally:
            os.close(fd)

    @property
    def available(self) -> bool:
        return self._syncfs is not None

    def sync(self, dirs: set[str]) -> None:
        """Make everything written so far durable: syncfs, or an fsync of each of `dirs`."""
        if self._syncfs is None:
            for path in dirs:
                sync_dir(path)
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if self._syncfs(fd) != 0:
                import ctypes

                err = ctypes.get_errno()
                raise os_error(OSError(err, os.strerror(err)), self.path)
        finally:
            os.close(fd)


class Batch:
    """Messages going through the phases together; `results` holds a Delivery or an error per job."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.stagings: list[Staging] = []
        self.index: list[int] = []  # position in `results` of each staging
        self.failed: dict[int, AgentmailError] = {}  # staging number -> why its publication failed
        self.dirs: set[str] = set()  # directories that got links

    def fail_all(self, err: AgentmailError) -> None:
        for j in range(len(self.stagings)):
            self.failed.setdefault(j, err)

    def finish(self) -> list[Result]:
        for j, err in self.failed.items():
            st = self.stagings[j]
            st.abort()  # files not linked yet are removed; linked ones stay (they are delivered)
            done = [n for n in st.names if n in st.result.delivered]
            missed = [n for n in st.names if n not in done]
            if missed:
                self.results[self.index[j]] = PartialDeliveryError(str(err), done, missed, err)
            else:  # everyone got it: what failed afterwards must not make the client send it again
                warn(st.result.warnings, f"delivered, but {err}")
        return self.results


def stage_batch(cfg: Config, jobs: list[dict[str, Any]], sync_files: bool) -> Batch:
    batch = Batch()
    for job in jobs:
        try:
            staging = stage(cfg, sync=sync_files, **job)
        except AgentmailError as exc:  # unknown recipient, disk full: this message only
            batch.results.append(exc)
            continue
        batch.index.append(len(batch.results))
        batch.results.append(staging.result)
        batch.stagings.append(staging)
    return batch


def _publish_group(cfg: Config, batch: Batch, box_path: str, items: list[tuple[int, int]]) -> None:
    """Link every staged file of one Maildir; one uidlist lock and append for all of them (none for the journal).
    Raises only if nothing was linked (the lock); a file that cannot be linked fails its own message."""
    plan = [batch.stagings[j].plan[k] for j, k in items]
    if box_path == cfg.journal_path:
        for (j, _), (_, _, staged, subdir, flags) in zip(items, plan, strict=True):
            try:
                staged.commit(subdir, flags, sync=False)
            except AgentmailError as exc:
                batch.failed.setdefault(j, exc)
        return
    names: list[str] = []
    linked: list[int] = []
    with box_lock(box_path):
        lock = DotLock(os.path.join(box_path, uidlist.FILENAME))
        lock.acquire()
        try:
            with Change(plan[0][1], log_for(plan[0][1])) as change:  # caches over the folder follow (changelog.py)
                for (j, _), (account, _, staged, subdir, flags) in zip(items, plan, strict=True):
                    try:
                        names.append(staged.commit(subdir, flags, sync=False))
                    except AgentmailError as exc:
                        batch.failed.setdefault(j, exc)
                        continue
                    change.add(subdir, names[-1])
                    linked.append(j)
                    st = batch.stagings[j]
                    if account:
                        st.result.delivered[account] = (st.folder, names[-1])
                    else:
                        st.result.sent_copy = ("Sent", names[-1])
            if names:  # the linked files get their UIDs under the same lock, as in delivery._publish
                try:
                    uidlist.append(plan[0][1], [split_name(n)[0] for n in names], lock=lock)
                except AgentmailError as exc:
                    why = f"delivered to {box_path} but got no IMAP UID yet ({exc}); the next IMAP sync gives it one"
                    for j in dict.fromkeys(linked):
                        warn(batch.stagings[j].result.warnings, why)
        finally:
            lock.release()


def publish_batch(cfg: Config, batch: Batch) -> None:
    groups: dict[str, list[tuple[int, int]]] = {}
    journal: list[tuple[int, int]] = []
    for j, st in enumerate(batch.stagings):
        for k, item in enumerate(st.plan):
            if item[1].path == cfg.journal_path:
                journal.append((j, k))
            else:
                groups.setdefault(item[1].path, []).append((j, k))
    for box_path, items in groups.items():
        try:
            _publish_group(cfg, batch, box_path, items)
        except AgentmailError as exc:
            for j, _ in items:
                batch.failed.setdefault(j, exc)
        batch.dirs.update(os.path.join(box_path, batch.stagings[j].plan[k][3]) for j, k in items)
    # the journal copy only of a message someone got (its staged file is removed in finish() otherwise)
    journal = [(j, k) for j, k in journal if batch.stagings[j].result.delivered or batch.stagings[j].result.sent_copy]
    if journal:
        _publish_group(cfg, batch, cfg.journal_path, journal)
        batch.dirs.update(os.path.join(cfg.journal_path, batch.stagings[j].plan[k][3]) for j, k in journal)


def _error(exc: AgentmailError | OSError, cfg: Config) -> AgentmailError:
    return os_error(exc, cfg.home) if isinstance(exc, OSError) else exc


def deliver_many(cfg: Config, jobs: list[dict[str, Any]], syncer: Syncer) -> list[Result]:
    """`deliver(cfg, **job)` for every job, made durable together: a Delivery or the error of each, in order."""
    batch = stage_batch(cfg, jobs, sync_files=not syncer.available)
    try:
        syncer.sync(set())
        publish_batch(cfg, batch)
        syncer.sync(batch.dirs)
    except (AgentmailError, OSError) as exc:
        batch.fail_all(_error(exc, cfg))
    return batch.finish()


class Committer:
    """Takes messages from the asyncio loop and delivers them in pipelined batches on one worker thread."""

    def __init__(self, cfg: Config, executor: Executor) -> None:
        self.cfg = cfg
        self.executor = executor
        self.syncer = Syncer(cfg.home)
        self.lock = threading.Lock()
        self.pending: list[tuple[dict[str, Any], asyncio.Future[Delivery]]] = []
        self.running = 0  # drain threads at work
        self.batches = 0

    async def deliver(self, **job: Any) -> Delivery:
        """Deliver one message (the keyword arguments of delivery.deliver); returns once it is on disk."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Delivery] = loop.create_future()
        with self.lock:
            self.pending.append((job, fut))
            start = self.running < DRAINERS and (self.running == 0 or len(self.pending) > 1)
            self.running += start
        if start:
            loop.run_in_executor(self.executor, self._drain, loop)
        return await fut

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        linked: tuple[Batch, list[asyncio.Future[Delivery]]] | None = None  # published, links not yet synced
        while True:
            with self.lock:
                taken, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                if not taken and linked is None:
                    self.running -= 1
                    return
            try:
                batch = stage_batch(self.cfg, [job for job, _ in taken], not self.syncer.available)
                try:
                    # one sync: the previous batch's links and this batch's staged files reach the disk
                    self.syncer.sync(linked[0].dirs if linked else set())
                except (AgentmailError, OSError) as exc:
                    for b in ([linked[0]] if linked else []) + [batch]:
                        b.fail_all(_error(exc, self.cfg))
                if linked:
                    self._answer(loop, linked[1], linked[0].finish())
                    linked = None
                if batch.failed:
                    self._answer(loop, [fut for _, fut in taken], batch.finish())
                elif taken:
                    publish_batch(self.cfg, batch)
                    linked = (batch, [fut for _, fut in taken])
                    self.batches += 1
            except Exception as exc:  # a bug must not leave clients waiting forever
                err = StoreIOError(f"internal error: {exc!r}")
                futs = [fut for _, fut in taken] + (linked[1] if linked else [])
                self._answer(loop, futs, [err] * len(futs))
                linked = None

    @staticmethod
    def _answer(loop: asyncio.AbstractEventLoop, futs: list[asyncio.Future[Delivery]], results: list[Result]) -> None:
        for fut, res in zip(futs, results, strict=True):
            loop.call_soon_threadsafe(_settle, fut, res)


def _settle(fut: asyncio.Future[Delivery], res: Result) -> None:
    if fut.done():
        return
    if isinstance(res, BaseException):
        fut.set_exception(res)
    else:
        fut.set_result(res)
