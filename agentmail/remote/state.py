"""What the mirror knows about each server folder, kept in `mirror/<folder>.json` across restarts.

    {"uidvalidity": 7, "uidnext": 42, "exists": 40, "modseq": 0,
     "map": {"<uid>": ["<local base name>", ["\\\\Seen", "$MDNSent"]]},  # the flags both sides last agreed on
     "gone": [<uid>, ...]}                                             # deleted here: never fetched again

Local files the mirror writes are named `<internaldate>.R<folder>V<uidvalidity>U<uid>.mirror,S=<size>,W=<size>`,
so a file written just before a crash (the state not yet saved) is recognised by its name on the next pass and
never fetched twice; a message moved on this side and then on the server is recognised by its Message-ID.
"""

from __future__ import annotations

import json
import os

from ..store.maildir import fsync_dir, os_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config

FOLDERS = ("INBOX", "Sent", "Receipts", "Todo", "Archive")  # INBOX first: it files into Sent and Receipts
HOST = "mirror"


def mirror_name(internaldate: int, folder: str, uidvalidity: int, uid: int, size: int, vsize: int) -> str:
    return f"{internaldate}.R{FOLDERS.index(folder)}V{uidvalidity}U{uid:010d}.{HOST},S={size},W={vsize}"


def parse_mirror_name(base: str) -> tuple[str, int, int] | None:
    """(folder, uidvalidity, uid) of a name `mirror_name` made, else None."""
    head, _, rest = base.partition(".")
    middle, _, host = rest.partition(".")
    if not head.isdigit() or not host.startswith(HOST) or not middle.startswith("R"):
        return None
    folder_no, _, rest = middle[1:].partition("V")
    validity, _, uid = rest.partition("U")
    if not (folder_no.isdigit() and validity.isdigit() and uid.isdigit()) or int(folder_no) >= len(FOLDERS):
        return None
    return FOLDERS[int(folder_no)], int(validity), int(uid)


class FolderState:
    __slots__ = ("folder", "uidvalidity", "uidnext", "exists", "modseq", "map", "gone", "dirty")

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.uidvalidity = 0
        self.uidnext = 0
        self.exists = -1
        self.modseq = 0
        self.map: dict[int, tuple[str, frozenset[str]]] = {}
        self.gone: set[int] = set()
        self.dirty = False

    def reset(self, uidvalidity: int) -> None:
        """A new UIDVALIDITY: every UID is new again (the local files are matched by Message-ID)."""
        self.uidvalidity = uidvalidity
        self.uidnext = 0
        self.exists = -1
        self.modseq = 0
        self.map.clear()
        self.gone.clear()
        self.dirty = True

    def by_base(self) -> dict[str, int]:
        return {base: uid for uid, (base, _) in self.map.items()}

    def put(self, uid: int, base: str, flags: frozenset[str]) -> None:
        self.map[uid] = (base, flags)
        self.dirty = True

    def drop(self, uid: int) -> None:
        if self.map.pop(uid, None) is not None:
            self.dirty = True

    def to_json(self) -> dict[str, Any]:
        return {"uidvalidity": self.uidvalidity, "uidnext": self.uidnext, "exists": self.exists,
                "modseq": self.modseq, "map": {str(uid): [base, sorted(flags)] for uid, (base, flags) in
                                               sorted(self.map.items())},
                "gone": sorted(self.gone)}

    @classmethod
    def from_json(cls, folder: str, data: dict[str, Any]) -> FolderState:
        state = cls(folder)
        state.uidvalidity = int(data.get("uidvalidity", 0))
        state.uidnext = int(data.get("uidnext", 0))
        state.exists = int(data.get("exists", -1))
        state.modseq = int(data.get("modseq", 0))
        for uid, (base, flags) in (data.get("map") or {}).items():
            state.map[int(uid)] = (str(base), frozenset(str(f) for f in flags))
        state.gone = {int(u) for u in data.get("gone") or []}
        return state


def state_dir(cfg: Config) -> str:
    return cfg.path("mirror")


def load(cfg: Config, folder: str) -> FolderState:
    """The saved state; a missing or damaged file is a fresh start (every file is then matched by name or
    Message-ID, never fetched twice)."""
    try:
        with open(os.path.join(state_dir(cfg), folder + ".json"), encoding="utf-8") as fh:
            data = json.load(fh)
        if isinstance(data, dict):
            return FolderState.from_json(folder, data)
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return FolderState(folder)


def save(cfg: Config, state: FolderState) -> None:
    if not state.dirty:
        return
    where = state_dir(cfg)
    os.makedirs(where, mode=0o700, exist_ok=True)
    path = os.path.join(where, state.folder + ".json")
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state.to_json(), fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(where)
    except OSError as exc:
        raise os_error(exc, path) from exc
    state.dirty = False
