"""The unread part of a folder's cur/ (the names without the Seen flag), kept current through the change log.

`cache/<account>.<folder>.unread` holds a header line (`agentmail-unread 2 <log cursor> <cur/ stamp> <checked>`)
and one name per line (escaped as in the log). Bringing it up to date costs the log lines written since, so
`agentmail inbox` costs the same with 100,000 read postcards in cur/ as with none, also right after a postcard was
announced or read; a change made by another program lists cur/ once (store/changelog.py). The file is only an
optimisation: deleting it, or a cache directory that cannot be written, costs a listing of cur/, never a message.
"""

from __future__ import annotations

import os
import time

from . import changelog
from .maildir import Maildir, split_name

MAGIC = "agentmail-unread 2"
CHECK_AFTER = 3600.0  # seconds: list cur/ again now and then anyway (what a same-tick foreign change could hide)


def unseen(name: str) -> bool:
    return "S" not in split_name(name)[1]


def _load(path: str) -> tuple[str, str, float, set[str]] | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            header, *names = fh.read().split("\n")
    except (OSError, ValueError):
        return None
    fields = header.rsplit(" ", 3)
    if len(fields) != 4 or fields[0] != MAGIC or names[-1:] != [""]:
        return None  # an older format, or torn
    try:
        checked = float(fields[3])
    except ValueError:
        return None
    return fields[1], fields[2], checked, {changelog.unescape(n) for n in names if n}


def _save(path: str, cursor: str, cur_stamp: str, checked: float, names: set[str]) -> None:
    tmp = f"{path}.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(f"{MAGIC} {cursor} {cur_stamp} {checked}\n"
                     + "".join(changelog.escape(n) + "\n" for n in sorted(names)))
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def unread_cur(box: Maildir, log: str, cache: str) -> list[str]:
    """The names in `box`'s cur/ without the Seen flag (in no particular order)."""
    box.check(("cur",))
    state = _load(cache)
    now = time.time()
    cursor, cur_stamp, checked, names = state if state is not None else ("", changelog.MISSING, 0.0, set())
    try:
        result = changelog.catch_up(box, log, cursor, {"cur": cur_stamp}, ("cur",),
                                    relist=("cur",) if now - checked > CHECK_AFTER else ())
    except changelog.LogBusy:
        return [n for n in box.list_cur() if unseen(n)]
    if "cur" in result.listed:
        names = {n for n in result.listed["cur"] if unseen(n)}
        checked = now
    else:
        for line in result.lines:
            for op, _, name in line:
                if op == "-":
                    names.discard(name)
                elif unseen(name):
                    names.add(name)
    if state is None or (result.cursor, result.stamps["cur"], checked) != (cursor, cur_stamp, state[2]) \
            or "cur" in result.listed or result.lines:
        _save(cache, result.cursor, result.stamps["cur"], checked, names)
    return list(names)
