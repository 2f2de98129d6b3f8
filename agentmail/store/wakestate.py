"""An account's wake record: what woke it lately, which threads are closed, which postcards the budget held.

    wake/<name>.json   {"wakes": [[time, thread, sender], ...],   the wakes of the last hour (the budgets count them)
                        "closed": {message-id: [time, closer]},    threads closed with --done: the thread's root
                                                                   and the closing postcard, each naming the closer
                        "held": {file base name: reason}}          postcards in new/ the budget kept from waking
    wake/<name>.lock   the flock every change holds (the waiter, the prompt hook and `send --done` all change it)

Small and bounded (an hour of wakes, the newest CLOSED_KEEP closures), written whole to a temporary file, fsynced and
renamed over the old one, so a crash leaves the old record or the new one, never half of either. A missing or
unreadable record is an empty one: nothing is lost but a budget count, and the next wake writes a good file.
"""

from __future__ import annotations

import os
import time

from .maildir import os_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from ..config import Config

    T = TypeVar("T")

WINDOW = 3600.0  # budgets count the wakes of the last hour
CLOSED_KEEP = 500  # closed threads remembered (the newest); a closure older than CLOSED_DAYS is forgotten
CLOSED_DAYS = 30


class WakeState:
    """The record in memory; `wakes` entries are (time, thread id, sender address)."""

    __slots__ = ("wakes", "closed", "held")

    def __init__(self, wakes: list[tuple[float, str, str]] | None = None,
                 closed: dict[str, tuple[float, str]] | None = None, held: dict[str, str] | None = None) -> None:
        self.wakes = wakes or []
        self.closed = closed or {}
        self.held = held or {}

    def recent(self, now: float) -> list[tuple[float, str, str]]:
        return [w for w in self.wakes if now - WINDOW < w[0] <= now + 60]

    def count(self, now: float, thread: str | None = None, sender: str | None = None) -> int:
        """Wakes in the last hour for this thread and/or sender (one wake may list several: counted once)."""
        return len({at for at, t, s in self.recent(now)
                    if (thread is None or t == thread) and (sender is None or s == sender)})

    def to_json(self, now: float) -> dict[str, Any]:
        closed = sorted(((t, mid, closer) for mid, (t, closer) in self.closed.items()
                         if now - t < CLOSED_DAYS * 86400), reverse=True)[:CLOSED_KEEP]
        return {"wakes": [list(w) for w in self.recent(now)], "closed": {mid: [t, c] for t, mid, c in closed},
                "held": dict(self.held)}


def path(cfg: Config, name: str) -> str:
    return cfg.path("wake", name + ".json")


def _parse(data: object) -> WakeState:
    if not isinstance(data, dict):
        return WakeState()
    wakes = []
    raw_wakes = data.get("wakes")
    for w in raw_wakes if isinstance(raw_wakes, list) else []:
        if (isinstance(w, list) and len(w) == 3 and isinstance(w[0], (int, float)) and isinstance(w[1], str)
                and isinstance(w[2], str)):
            wakes.append((float(w[0]), w[1], w[2]))
    raw = data.get("closed")
    closed = {k: (float(v[0]), v[1]) for k, v in raw.items()
              if isinstance(k, str) and isinstance(v, list) and len(v) == 2 and isinstance(v[0], (int, float))
              and isinstance(v[1], str)} if isinstance(raw, dict) else {}
    held = {k: v for k, v in (data.get("held") or {}).items()
            if isinstance(k, str) and isinstance(v, str)} if isinstance(data.get("held"), dict) else {}
    return WakeState(wakes, closed, held)


def read(cfg: Config, name: str) -> WakeState:
    """The record as it is now (no lock: a reader sees the old file or the new one)."""
    import json

    try:
        with open(path(cfg, name), encoding="utf-8") as fh:
            return _parse(json.load(fh))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError too
        return WakeState()


def _write(target: str, state: WakeState, now: float) -> None:
    import json

    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state.to_json(now), fh, separators=(",", ":"))
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise os_error(exc, target) from exc


def update(cfg: Config, name: str, change: Callable[[WakeState], T], now: float | None = None) -> T:
    """Read the record under its lock, let `change` edit it, write it back; returns what `change` returned."""
    import fcntl

    target = path(cfg, name)
    try:
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        fd = os.open(target[:-5] + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise os_error(exc, target) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = read(cfg, name)
        result = change(state)
        _write(target, state, time.time() if now is None else now)
        return result
    finally:
        os.close(fd)  # closing drops the flock
