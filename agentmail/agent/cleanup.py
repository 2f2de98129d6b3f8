"""`agentmail cleanup`: stale presence, dead process bindings, stale locks and stuck tmp files. Never mail.

A file in tmp/ older than 36 hours is a delivery that died before publishing (the Maildir spec's own rule);
nothing in new/ or cur/ is ever touched. What every reader skips there (links, FIFOs, sockets, devices, directories,
files over the read cap, linked Maildir directories) is listed, one line each, and left in place (`odd_files`).
"""

from __future__ import annotations

import os
import time

from ..store import presence, registry
from ..store.dotlock import break_stale, is_stale, owner_of, pid_dead
from ..store.maildir import Maildir
from ..store.msgfile import read_cap, shown_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config

TMP_MAX_AGE = 36 * 3600


def _maildirs(cfg: Config) -> list[Maildir]:
    boxes = [Maildir(cfg.journal_path)]
    for name in registry.names(cfg):
        root = Maildir(cfg.maildir_path(name))
        boxes.append(root)
        boxes.extend(root.folder(f) for f in root.folders())
    return [box for box in boxes if not box.odd_dirs(("tmp",))]  # never clean through a link out of the store


def cleanup(cfg: Config, dry_run: bool = False, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    actions: list[str] = []
    for info in presence.all_presence(cfg):
        if info.get("online") and not presence.is_live(info):
            actions.append(f"mark {info.get('name')} offline (pid {info.get('pid')} is gone)")
            if not dry_run:
                presence.mark_offline(cfg, str(info.get("name")))
    try:
        bindings = os.listdir(cfg.path("sessions"))
    except FileNotFoundError:
        bindings = []
    for entry in bindings:
        if entry.startswith("pid-") and entry[4:].isdigit():
            with open(cfg.path("sessions", entry), encoding="utf-8", errors="replace") as fh:
                _, _, started = fh.readline().strip().partition(" ")
            if not presence.pid_alive(int(entry[4:]), started or None):
                actions.append(f"remove binding {entry} (process gone)")
                if not dry_run:
                    os.unlink(cfg.path("sessions", entry))
    for box in _maildirs(cfg):
        tmp = os.path.join(box.path, "tmp")
        try:
            names = os.listdir(tmp)
        except FileNotFoundError:
            names = []
        for name in names:
            path = os.path.join(tmp, name)
            try:
                old = now - os.stat(path).st_mtime > TMP_MAX_AGE
            except FileNotFoundError:
                continue
            if old:
                actions.append(f"remove stuck tmp file {path}")
                if not dry_run:
                    os.unlink(path)
        actions += _stale_locks(box.path, LOCKS, dry_run, now)
        actions += _lock_temps(box.path, dry_run)
    actions += _stale_locks(cfg.home, ("passwd.lock",), dry_run, now)
    actions += _lock_temps(cfg.home, dry_run)
    actions += odd_files(cfg)
    return actions


def odd_files(cfg: Config) -> list[str]:
    """One line for each thing in a Maildir that no reader serves (store/msgfile.py), which is reported nowhere else
    but the server log. Never changes anything: it may be something a person put there, and only they can say."""
    cap = read_cap(cfg.max_message)
    lines = []
    for box in [Maildir(cfg.journal_path), *(Maildir(cfg.maildir_path(name)) for name in registry.names(cfg))]:
        found = box.survey(cap)
        if not any(path == box.path for path, _ in found):  # never into a linked account Maildir
            for folder in box.folders():
                found += box.folder(folder).survey(cap)
        lines += [f"leave odd file {shown_path(path)} alone ({why}): not a message, no reader serves it"
                  for path, why in found]
    return lines


LOCKS = ("dovecot-uidlist.lock", "dovecot-keywords.lock", "subscriptions.lock")


def _stale_locks(root: str, names: tuple[str, ...], dry_run: bool, now: float) -> list[str]:
    """Dot-locks whose owner is dead, or unchanged past Dovecot's 2-minute rule (dotlock.py); taken away the
    same race-free way a writer takes one over, so a lock some process just took is never removed."""
    actions = []
    for name in names:
        path = os.path.join(root, name)
        if not is_stale(path, now):
            continue
        found = owner_of(path)
        dead = found is not None and found[1] == os.uname().nodename and pid_dead(found[0])
        why = f"pid {found[0]} is gone" if found and dead else "unchanged for 2 minutes"
        actions.append(f"remove stale lock {path} ({why})")
        if not dry_run:
            break_stale(path, now)
    return actions


def _lock_temps(root: str, dry_run: bool) -> list[str]:
    """`<lock>.<pid>.<thread>.tmp` files a killed writer left behind (see dotlock.py) whose process is gone."""
    actions = []
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    for name in names:
        parts = name.split(".")
        if ".lock." not in name or not name.endswith(".tmp") or len(parts) < 4 or not parts[-3].isdigit():
            continue
        if presence.pid_alive(int(parts[-3])):
            continue
        path = os.path.join(root, name)
        actions.append(f"remove stale lock temp file {path}")
        if not dry_run:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    return actions
