"""Live updates for open views: a watcher over the store and a hub that fans its changes out to every SSE stream.

The watcher follows what a view shows: the journal (every accepted postcard, from any path), each account's folders
(a delivery, a flag change, a receipt filed), `directory/` (sessions coming and going) and `maildirs/` (new
accounts). With inotify (store/watch.py) a change is known at once and costs nothing while nothing happens;
without it the directories' mtimes are compared every POLL seconds. Changes are gathered for DEBOUNCE seconds, so a
burst of deliveries makes one event, and published as {"seq", "journal", "accounts", "presence"}: a view refetches
only what it shows. Presence states that live outside those directories (a session starting or ending a turn) are
looked at every PRESENCE_EVERY seconds and published when they differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from ..store import registry
from ..store.watch import ENTRIES, IN_Q_OVERFLOW, Inotify, Poller

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor
    from typing import Any

    from ..config import Config

log = logging.getLogger("agentmail.web")

DEBOUNCE = 0.03  # seconds of gathering after the first change
POLL = 0.5  # seconds between looks without inotify
RESCAN = 30.0  # seconds between looks for folders created behind the watcher's back
QUEUE = 8  # pending events per stream before they are merged into one "everything changed"


class Change:
    """What changed since the last event."""

    __slots__ = ("journal", "accounts", "presence", "everything")

    def __init__(self) -> None:
        self.journal = False
        self.accounts: set[str] = set()
        self.presence = False
        self.everything = False

    def __bool__(self) -> bool:
        return self.journal or bool(self.accounts) or self.presence or self.everything

    def data(self, seq: int) -> dict[str, Any]:
        return {"seq": seq, "journal": self.journal or self.everything, "accounts": sorted(self.accounts),
                "presence": self.presence or self.everything, "everything": self.everything}


class Hub:
    """The open SSE streams: each has a small queue; a slow reader's backlog is merged into one full refresh."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.seq = 0
        self.closed = False

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None] | None:
        if self.closed or len(self.queues) >= self.limit:
            return None
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE)
        self.queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self.queues.discard(queue)

    def publish(self, change: Change) -> None:
        self.seq += 1
        data = change.data(self.seq)
        for queue in self.queues:
            if queue.full():
                while not queue.empty():
                    queue.get_nowait()
                everything = Change()
                everything.everything = True
                data_all = everything.data(self.seq)
                queue.put_nowait(data_all)
            else:
                queue.put_nowait(data)

    def close(self) -> None:
        self.closed = True
        for queue in self.queues:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)  # the stream ends


class Watcher:
    """Watch the store; call `on_change(change)` on the event loop after each (debounced) burst."""

    def __init__(self, cfg: Config, executor: Executor, on_change: Callable[[Change], None],
                 use_inotify: bool = True) -> None:
        self.cfg = cfg
        self.use_inotify = use_inotify  # False: the poller, as where there is no inotify
        self.executor = executor
        self.on_change = on_change
        self.inotify: Inotify | None = None
        self.poller: Poller | None = None
        self.tags: dict[int, tuple[str, str]] = {}  # wd -> (kind, account)
        self.path_tags: dict[str, tuple[str, str]] = {}  # poller: path -> (kind, account)
        self.pending = Change()
        self.flush_handle: asyncio.TimerHandle | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- what is watched ---
    def targets(self) -> list[tuple[str, tuple[str, str]]]:
        """(directory, (kind, account)) for everything a view shows. Blocking (lists the store)."""
        out = [(os.path.join(self.cfg.journal_path, sub), ("journal", "")) for sub in ("new", "cur")]
        out.append((self.cfg.path("directory"), ("presence", "")))
        out.append((self.cfg.path("maildirs"), ("accounts", "")))
        for name in registry.names(self.cfg):
            root = self.cfg.maildir_path(name)
            boxes = [root] + [os.path.join(root, "." + f) for f in _folders(root)]
            out += [(os.path.join(box, sub), ("mail", name)) for box in boxes for sub in ("new", "cur")]
        return out

    def _add_all(self) -> None:
        """Watch every target not watched yet (a worker thread: it lists the store). Out of inotify watches, it asks
        the event loop to fall back to the poller."""
        try:
            targets = self.targets()
        except Exception as exc:  # noqa: BLE001 - looked at again at the next rescan
            log.warning("web view: cannot list the store to watch it: %s", exc)
            return
        inotify, poller = self.inotify, self.poller
        for path, tag in targets:
            if inotify is not None:
                try:
                    self.tags[inotify.add(path, ENTRIES)] = tag
                except OSError as exc:
                    if exc.errno not in (2, 20):  # ENOENT, ENOTDIR: not there (yet)
                        log.warning("web view: cannot watch %s (%s); looking every %.1f s instead", path, exc, POLL)
                        if self.loop is not None:
                            self.loop.call_soon_threadsafe(self._fall_back)
                        return
            if poller is not None and path not in self.path_tags:
                poller.add(path)
                self.path_tags[path] = tag

    def _fall_back(self) -> None:
        """inotify is missing or out of watches: compare mtimes instead (on the event loop)."""
        if self.inotify is not None:
            if self.loop is not None:
                self.loop.remove_reader(self.inotify.fd)
            self.inotify.close()
            self.inotify = None
        if self.poller is None and self.loop is not None:
            self.poller = Poller()
            self.tasks.append(self.loop.create_task(self._poll()))
            self.loop.run_in_executor(self.executor, self._add_all)

    # --- life cycle ---
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            self.inotify = Inotify() if self.use_inotify else None
        except OSError:
            self.inotify = None
        if self.inotify is not None:
            self.loop.add_reader(self.inotify.fd, self._readable)
            await self.loop.run_in_executor(self.executor, self._add_all)
        else:
            self._fall_back()
        self.tasks.append(self.loop.create_task(self._rescan()))

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.flush_handle is not None:
            self.flush_handle.cancel()
        if self.inotify is not None:
            if self.loop is not None:
                self.loop.remove_reader(self.inotify.fd)
            self.inotify.close()
            self.inotify = None

    # --- events ---
    def _readable(self) -> None:
        if self.inotify is None:
            return
        rescan = False
        for wd, mask, _ in self.inotify.read():
            if mask & IN_Q_OVERFLOW:
                self.pending.everything = True
                continue
            tag = self.tags.get(wd)
            if tag is None:
                continue
            rescan |= self._note(tag)
        if rescan and self.loop is not None:
            self.loop.call_later(0.2, self._rescan_soon)
        self._schedule()

    def _note(self, tag: tuple[str, str]) -> bool:
        kind, account = tag
        if kind == "journal":
            self.pending.journal = True
        elif kind == "mail":
            self.pending.accounts.add(account)
        elif kind == "presence":
            self.pending.presence = True
        else:  # maildirs/: an account was created or renamed; its folders appear just after its directory
            self.pending.presence = True
            return True
        return False

    def _rescan_soon(self) -> None:
        if self.loop is not None:
            self.loop.run_in_executor(self.executor, self._add_all)

    def _schedule(self) -> None:
        if self.pending and self.flush_handle is None and self.loop is not None:
            self.flush_handle = self.loop.call_later(DEBOUNCE, self._flush)

    def _flush(self) -> None:
        self.flush_handle = None
        change, self.pending = self.pending, Change()
        if change:
            self.on_change(change)

    def note(self, change: Change) -> None:
        """Merge a change found elsewhere (the presence check) into the next event."""
        self.pending.journal |= change.journal
        self.pending.accounts |= change.accounts
        self.pending.presence |= change.presence
        self._schedule()

    async def _poll(self) -> None:
        assert self.loop is not None
        while self.poller is not None:
            await asyncio.sleep(POLL)
            poller = self.poller
            changed = await self.loop.run_in_executor(self.executor, poller.changed)
            rescan = False
            for path in changed:
                tag = self.path_tags.get(path)
                if tag is not None:
                    rescan |= self._note(tag)
            if rescan:
                await self.loop.run_in_executor(self.executor, self._add_all)
            self._schedule()

    async def _rescan(self) -> None:
        assert self.loop is not None
        while True:
            await asyncio.sleep(RESCAN)
            with contextlib.suppress(Exception):
                await self.loop.run_in_executor(self.executor, self._add_all)


def _folders(root: str) -> list[str]:
    try:
        with os.scandir(root) as it:
            return [de.name[1:] for de in it if de.name.startswith(".") and not de.name.startswith("..")
                    and de.is_dir(follow_symlinks=False)]
    except OSError:
        return []
