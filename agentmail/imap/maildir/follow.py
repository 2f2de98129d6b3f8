"""The folder's change log (store/changelog.py) as a shortcut past listing cur/: when an agent's hook moves a
postcard new/ -> cur/, the cache applies the logged names instead of listing 100,000 of them again.

The trust rules are the unread cache's (docs/on-disk-format.md, "Caches and the change log"), with one difference:
this cache lists a directory without marking it (the server writes no mtime), so a listing is a starting point for
the log only when nothing can hide behind its stamp:
- a *clean* listing: the directory's mtime was over DIRTY_NS old when it was listed, so any later change moves it;
- a listing at a *marker*: the stamp is the `after` of a log line that changed it (before != after, not dirty); a
  marker is never a clock tick, so any change after it moves the mtime off it, and the listing holds everything
  before it.
From a trusted stamp, a log line whose `before` is that stamp is applied and its `after` becomes the stamp; any other
line touching the directory (another program changed it, a torn or damaged line, a new generation or a cursor more
than one rotation behind) makes it untrusted, and the next change lists it as before. The log is used only when, at
the end, the stamp followed is the directory's stamp now, read under the log's shared lock (no agentmail change half
made); otherwise the directory is listed exactly as without the log. A wrong answer is far worse than a slow one.
Applying a line is idempotent (a name added is looked at with lstat, a name removed is dropped if known), so a line
whose change a listing already saw does no harm.
"""

from __future__ import annotations

import os
import time

from ...store import changelog
from ...store.maildir import Maildir

SUBS = ("new", "cur")
WAIT = 0.02  # seconds the shared worker waits for the log's lock before listing instead
CHECK_AFTER = 3600 * 1_000_000_000  # ns: list anyway this long after the last listing (changelog invariant 6)

Ops = list[tuple[str, str, str]]


def _marker(before: str, after: str) -> bool:
    return before != after and after != changelog.MISSING and not after.startswith("!")


class Follower:
    """Where the cache is in the log, and per directory the stamp its names are exact for (None: not trusted)."""

    __slots__ = ("box", "path", "cursor", "known", "listed", "tail", "checked", "follows")

    def __init__(self, box: Maildir) -> None:
        self.box = box
        self.path = changelog.log_for(box)  # None for the journal: nobody logs it
        self.cursor = ""  # "": no place in the log yet (the next look takes one); "*": the start of the next log
        self.known: dict[str, str | None] = dict.fromkeys(SUBS)
        self.listed: dict[str, str] = dict.fromkeys(SUBS, changelog.MISSING)  # the stamp of the last listing
        self.tail: dict[str, str | None] = dict.fromkeys(SUBS)  # the marker the last line read left, if any
        self.checked: dict[str, int] = dict.fromkeys(SUBS, 0)  # time.monotonic_ns() of the last listing
        self.follows = 0  # how often the log stood in for a listing (the tests and benchmarks look)

    def start(self) -> None:
        """Before a full listing: a place at the end of the log (lines after it are judged by the rules)."""
        self.known = dict.fromkeys(SUBS)
        self.tail = dict.fromkeys(SUBS)
        self.cursor = ""
        if self.path is None:
            return
        try:
            self.cursor = changelog.read_since(self.box, self.path, "", WAIT)[1]
        except changelog.LogBusy:
            if not os.path.lexists(self.path):
                self.cursor = "*"  # every line of a log made from now on comes after this listing

    def forget(self, *subs: str) -> None:
        """An unlogged change (ours) or a doubt: the names of ``subs`` are no longer known for a logged stamp."""
        for sub in subs or SUBS:
            self.known[sub] = None

    def was_listed(self, sub: str, ino: int, mtime: int, clean: bool) -> None:
        """``sub`` was listed (lstat, then the names) at this inode and mtime; ``clean``: over DIRTY_NS old then."""
        stamp = self.listed[sub] = f"{ino}:{mtime}"
        self.known[sub] = stamp if clean or stamp == self.tail[sub] else None
        self.checked[sub] = time.monotonic_ns()

    def follow(self, due: tuple[str, ...]) -> tuple[dict[tuple[str, str], str], dict[str, int]]:
        """What the log says changed in the ``due`` directories it accounts for: ({(sub, name): "+" or "-"}, the
        last word per name, and their mtime now), checked against the directories (an lstat per name: a name
        added that is not there, or removed that is, and the directory is listed instead)."""
        if self.path is None:
            return {}, {}
        try:
            lines, self.cursor, now = changelog.read_since(self.box, self.path, self.cursor, WAIT)
        except changelog.LogBusy:
            return {}, {}
        known, listed, tail = self.known, self.listed, self.tail
        ops: dict[str, Ops] = {sub: [] for sub in SUBS}
        if lines is None:  # lost our place: nothing the log says can be trusted
            self.forget()
            self.tail = dict.fromkeys(SUBS)
            return {}, {}
        for text in lines:
            parsed = changelog.parse_line(text)
            if parsed is None:  # damaged: whatever it did is unknown
                self.forget()
                self.tail = dict.fromkeys(SUBS)
                continue
            before, after, line_ops = parsed
            for sub in SUBS:
                b, a = before[sub], after[sub]
                marker = _marker(b, a)
                tail[sub] = a if marker else (tail[sub] if a == tail[sub] else None)
                if marker and a == listed[sub]:
                    known[sub] = a  # the line that made the stamp we listed at: the listing holds its change
                    ops[sub].clear()
                elif known[sub] is not None and b == known[sub] and not b.startswith("!"):
                    mine = [op for op in line_ops if op[1] == sub]
                    # a change always leaves a marker on what it touched: names without one are no change of ours
                    known[sub] = a if not a.startswith("!") and (marker or not mine) else None
                    ops[sub].extend(mine)
                else:
                    known[sub] = None
        mtimes: dict[str, int] = {}
        clock = time.monotonic_ns()
        for sub in SUBS:
            stamp = known[sub]
            if sub not in due:
                if ops[sub]:  # logged changes to a directory whose mtime we took as seen: doubt it
                    known[sub] = None
                continue
            if stamp is None or stamp != now[sub] or clock - self.checked[sub] > CHECK_AFTER:
                continue
            mtimes[sub] = int(stamp.rsplit(":", 1)[1])
        net = {(sub, name): op for sub in mtimes for op, _, name in ops[sub]}
        for (sub, name), op in net.items():  # never trust the log more than the directory
            if (op == "+") != os.path.lexists(os.path.join(self.box.path, sub, name)):
                mtimes.pop(sub, None)
                known[sub] = None
        if mtimes:
            self.follows += 1
        return {key: op for key, op in net.items() if key[0] in mtimes}, mtimes
