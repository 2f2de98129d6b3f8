"""Mod-sequences (RFC 7162 CONDSTORE and QRESYNC) of one Maildir folder, kept in ``agentmail-modseq`` in the folder.

Dovecot keeps its mod-sequences in its index (``dovecot.index*``), never in the Maildir, and with ``INDEX=MEMORY``
(INTEROP.md's configuration) has none that last. Ours live in their own file beside ``dovecot-uidlist``; Dovecot
ignores it (only dot-directories are folders to it), it goes with its folder on RENAME and DELETE, and nothing in the
Maildir is renamed, rewritten or renumbered for it.

- **Values.** A change gets max(the highest mod-sequence so far + 1, the clock in microseconds). A mod-sequence
  therefore never goes back, even when the file is lost, damaged or restored from a backup, or the server stopped
  before its last records reached the disk: whatever is given out later is above the clock then, so above anything
  given before (no fsync per change is needed for that). The changes of one batch (one STORE, one listing) share a
  value, as in Dovecot.
- **What changes a mod-sequence**: a message added, expunged, or whose flags changed (new/ -> cur/ alone does not),
  by anyone: this server's own STORE/APPEND/COPY/EXPUNGE as they are made, and another program's changes (the CLI,
  a hook, Dovecot, mutt) when the folder's cache lists them. While the server is stopped nothing is watched: each
  message's info letters are recorded with its mod-sequence, and at the next start a message whose letters differ
  (its flags changed meanwhile) gets a new mod-sequence, one that is gone is recorded as expunged, one that is new
  gets one, and UIDs given and taken away meanwhile (above the highest the file knew) are recorded as expunged too.
- **Expunges** are remembered with their mod-sequences, the last ``WINDOW`` of them, for QRESYNC's VANISHED
  (EARLIER); ``floor`` is the mod-sequence from which that memory is complete. Asked for earlier ones, the caller
  answers with every UID it cannot find (RFC 7162 3.2.5.2 allows that).

The file: a checkpoint, then an append-only log of changes.
``agentmail-modseq 1 V<uidvalidity> H<highest> F<floor> U<next uid> N<count> X<expunges> T<table bytes> C<crc32>``,
a line of the distinct info strings (``,`` + the letters, escaped as in the change log), then little-endian arrays:
N UIDs (u32), their mod-sequences (u64), their info indexes (u32), X expunged UIDs (u32) and theirs (u64); then one
line per change, ``+<uid> <modseq> ,<info>`` or ``-<uid> <modseq>``. A torn last line is ignored; a damaged
checkpoint (CRC), another UIDVALIDITY or a missing file start afresh. Past ``COMPACT`` bytes of log (or the
checkpoint's size, if larger) the file is rewritten whole: written beside it, fsynced, renamed over it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, MutableSequence, Sequence
from itertools import compress
from operator import ne

from ...store.changelog import escape, unescape
from .snapshot import Entry

log = logging.getLogger("agentmail.imap")

FILENAME = "agentmail-modseq"
MAGIC = "agentmail-modseq 1"
WINDOW = 65_536  # expunges remembered for VANISHED (EARLIER)
COMPACT = 256 * 1024  # log bytes before the file is rewritten (or the checkpoint's size, if larger)
LITTLE = sys.byteorder == "little"


def clock() -> int:
    return time.time_ns() // 1000


def _le(arr: array) -> bytes:  # type: ignore[type-arg]
    if not LITTLE:
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _from_le(code: str, data: bytes) -> array:  # type: ignore[type-arg]
    arr = array(code)
    arr.frombytes(data)
    if not LITTLE:
        arr.byteswap()
    return arr


class Recorded:
    """What the file says: messages (UIDs ascending, mod-sequences, info strings) and expunges."""

    __slots__ = ("uids", "mods", "infos", "xuids", "xmods", "highest", "floor", "next_uid")

    def __init__(self) -> None:
        # UIDs and mod-sequences as arrays (no int object per message while the file is compared with a listing)
        self.uids: MutableSequence[int] = array("I")
        self.mods: MutableSequence[int] = array("Q")
        self.infos: list[str] = []
        self.xuids: list[int] = []
        self.xmods: list[int] = []
        self.highest = 0
        self.floor = 0
        self.next_uid = 1


def _parse(data: bytes, uidvalidity: int) -> tuple[Recorded, int] | None:
    """The file's content and the length of what was read (a torn last line is not); None when it is not ours, is
    damaged, or belongs to another UIDVALIDITY."""
    head, sep, rest = data.partition(b"\n")
    fields = head.decode("ascii", "replace").split(" ")
    if not sep or len(fields) != 10 or " ".join(fields[:2]) != MAGIC:
        return None
    values: dict[str, int] = {}
    for f in fields[2:]:
        if not f[1:].isdigit():
            return None
        values[f[:1]] = int(f[1:])
    if set(values) != set("VHFUNXTC") or values["V"] != uidvalidity:
        return None
    n, x, t = values["N"], values["X"], values["T"]
    size = t + 16 * n + 12 * x
    if len(rest) < size or zlib.crc32(rest[:size]) != values["C"]:
        return None
    rec = Recorded()
    rec.highest, rec.floor, rec.next_uid = values["H"], values["F"], values["U"]
    table = [unescape(tok[1:]) for tok in rest[:t - 1].decode("utf-8", "surrogateescape").split(" ")] if t else []
    pos = t
    rec.uids = _from_le("I", rest[pos:pos + 4 * n])
    pos += 4 * n
    rec.mods = _from_le("Q", rest[pos:pos + 8 * n])
    pos += 8 * n
    idx = _from_le("I", rest[pos:pos + 4 * n])
    pos += 4 * n
    rec.xuids = _from_le("I", rest[pos:pos + 4 * x]).tolist()
    pos += 4 * x
    rec.xmods = _from_le("Q", rest[pos:pos + 8 * x]).tolist()
    try:
        rec.infos = [table[i] for i in idx] if n else []
    except IndexError:
        return None
    tail = rest[size:]
    end = tail.rfind(b"\n") + 1
    if end and not _replay(rec, tail[:end].decode("utf-8", "surrogateescape").split("\n")[:-1]):
        return None
    return rec, len(head) + 1 + size + end


def _replay(rec: Recorded, lines: list[str]) -> bool:
    """Apply the log's lines to the checkpoint (most fall past its last UID: new mail)."""
    changed: dict[int, tuple[int, str | None]] = {}
    for line in lines:
        uid_text, _, more = line[1:].partition(" ")
        mod_text, _, info = more.partition(" ")
        if line[:1] not in "+-" or not uid_text.isdigit() or not mod_text.isdigit():
            return False
        uid, mod = int(uid_text), int(mod_text)
        rec.highest = max(rec.highest, mod)
        rec.next_uid = max(rec.next_uid, uid + 1)
        if line[0] == "+":
            if info[:1] != ",":
                return False
            changed[uid] = (mod, unescape(info[1:]))
        else:
            changed[uid] = (mod, None)
            rec.xuids.append(uid)
            rec.xmods.append(mod)
    if not changed:
        return True
    uids, mods, infos = rec.uids, rec.mods, rec.infos
    last = uids[-1] if uids else 0
    tail = sorted(u for u in changed if u > last)
    inside = [u for u in changed if u <= last]
    if inside:  # flag changes and expunges of older messages: in place, then the expunged taken out
        gone: set[int] = set()
        for uid in inside:
            i = bisect_right(uids, uid) - 1
            mod, letters = changed[uid]
            if i >= 0 and uids[i] == uid:
                if letters is None:
                    gone.add(i)
                else:
                    mods[i], infos[i] = mod, letters
            elif letters is not None:
                tail.append(uid)  # a UID the checkpoint never had (listed late): merged below
        if gone:
            keep = [i not in gone for i in range(len(uids))]
            rec.uids, rec.mods, rec.infos = array("I", compress(uids, keep)), array("Q", compress(mods, keep)), \
                list(compress(infos, keep))
    adds = sorted(u for u in tail if changed[u][1] is not None)
    if adds and adds[0] <= last:  # rare: merged by sorting everything
        rows = sorted([*zip(rec.uids, rec.mods, rec.infos, strict=True),
                       *((u, changed[u][0], changed[u][1] or "") for u in adds)])
        rec.uids, rec.mods = array("I", (r[0] for r in rows)), array("Q", (r[1] for r in rows))
        rec.infos = [r[2] for r in rows]
    elif adds:  # new mail: past the end
        rec.uids.extend(adds)
        rec.mods.extend(changed[u][0] for u in adds)
        rec.infos += [changed[u][1] or "" for u in adds]
    return True


class Modseqs:
    """The mod-sequences of one folder: the file, and what the cache's changes add to it."""

    def __init__(self, folder: str, entries: Callable[[], Iterable[Entry]]) -> None:
        self.path = os.path.join(folder, FILENAME)
        self.entries = entries  # the folder's messages now, in UID order (to rewrite the file)
        self.uidvalidity = 0
        self.highest = 0
        self.floor = 0
        self.pending = 0  # the value of the batch being made (0: none yet)
        self.next_uid = 1  # above every UID recorded
        self.xuids: list[int] = []  # expunged, in the order of their mod-sequences
        self.xmods: list[int] = []
        self._lines: list[str] = []  # made since the last commit
        self._key: tuple[int, int] | None = None  # (inode, size) of the file as we last wrote or read it
        self._base = 0  # its checkpoint's size
        self._failed = False  # the folder cannot be written (logged once): mod-sequences in memory only

    def value(self) -> int:
        """The mod-sequence of the batch being made."""
        if not self.pending:
            self.pending = max(self.highest + 1, clock())
        return self.pending

    # ------------------------------------------------------------------ changes, as the cache makes them
    def changed(self, e: Entry) -> None:
        """``e`` was added, or its flags changed: a new mod-sequence."""
        e.modseq = mod = self.value()
        self._lines.append(f"+{e.uid} {mod} ,{escape(e.info or '')}\n")
        if e.uid >= self.next_uid:
            self.next_uid = e.uid + 1

    def expunged(self, uid: int) -> None:
        mod = self.value()
        self.xuids.append(uid)
        self.xmods.append(mod)
        self._lines.append(f"-{uid} {mod}\n")
        if uid >= self.next_uid:
            self.next_uid = uid + 1

    def commit(self) -> int:
        """End the batch: its value becomes the highest, its records go to the file. Returns the highest."""
        if self.pending:
            self.highest, self.pending = self.pending, 0
            if len(self.xmods) > 2 * WINDOW:  # amortised: drop the older half
                cut = len(self.xmods) - WINDOW
                self.floor = self.xmods[cut - 1]
                del self.xmods[:cut], self.xuids[:cut]
            self._append()
        return self.highest

    def vanished(self, since: int) -> list[int] | None:
        """UIDs expunged after mod-sequence ``since``, ascending; None when that is before what is remembered."""
        if since < self.floor:
            return None
        return sorted(set(self.xuids[bisect_right(self.xmods, since):]))

    # ------------------------------------------------------------------ loading
    def load(self, uidvalidity: int, entries: Sequence[Entry], next_uid: int) -> None:
        """Give every message of a fresh listing (``entries``, UIDs ascending) its mod-sequence: the recorded one
        where its info letters are as recorded, a new one where they are not; record what changed meanwhile."""
        self.uidvalidity = uidvalidity
        self._lines, self.pending = [], 0
        rec = self._read(uidvalidity)
        if rec is None:  # no file (or not a usable one): everything is new from now on
            self.highest = self.floor = 0
            self.xuids, self.xmods = [], []
            mod = self.floor = self.value()
            for e in entries:
                e.modseq = mod
            self.next_uid = max(next_uid, entries[-1].uid + 1 if entries else 1)
            self._key = None  # written whole by the commit
            self.commit()
            return
        self.highest, self.floor, self.next_uid = rec.highest, rec.floor, rec.next_uid
        self.xuids, self.xmods = rec.xuids, rec.xmods
        uids = [e.uid for e in entries]
        infos = [e.info or "" for e in entries]
        count = len(rec.uids)
        # the batches' values shared, one int object each (a message's own would cost ~32 bytes)
        shared: dict[int, int] = {}
        mods = list(map(shared.setdefault, rec.mods, rec.mods))
        if len(uids) >= count and array("I", uids[:count]) == rec.uids:
            # nothing expunged meanwhile: compare the letters at C speed
            for e, mod in zip(entries, mods, strict=False):  # entries may go on past the recorded ones
                e.modseq = mod
            for i in compress(range(count), map(ne, infos, rec.infos)):
                self.changed(entries[i])
            for e in entries[count:]:
                self.changed(e)
        else:
            rec.mods = mods
            self._merge(entries, rec)
        gaps = self._gaps(uids, rec.next_uid, next_uid)
        if gaps is None:  # too many to list: nothing before now is told apart
            self.floor = self.value()
        else:
            for uid in gaps:
                self.expunged(uid)
        self.next_uid = max(self.next_uid, next_uid)
        self.commit()

    def _merge(self, entries: Sequence[Entry], rec: Recorded) -> None:
        """The general case (messages expunged while nobody watched): a merge walk of both UID lists."""
        i, count = 0, len(rec.uids)
        for e in entries:
            while i < count and rec.uids[i] < e.uid:
                self.expunged(rec.uids[i])
                i += 1
            if i < count and rec.uids[i] == e.uid:
                e.modseq = rec.mods[i]
                if rec.infos[i] != (e.info or ""):
                    self.changed(e)
                i += 1
            else:
                self.changed(e)
        for uid in rec.uids[i:]:
            self.expunged(uid)

    @staticmethod
    def _gaps(uids: list[int], known: int, next_uid: int) -> list[int] | None:
        """UIDs from ``known`` (the first the file never saw) up to ``next_uid`` that no message has: given and
        taken away while nobody watched. None when there are more than ``WINDOW``."""
        if next_uid <= known:
            return []
        present = uids[bisect_right(uids, known - 1):]
        if next_uid - known - len(present) > WINDOW:
            return None
        out: list[int] = []
        low = known
        for uid in present:
            out.extend(range(low, uid))
            low = uid + 1
        out.extend(range(low, next_uid))
        return out

    def reset(self, uidvalidity: int) -> None:
        """A new UIDVALIDITY: nothing recorded holds (the next ``load`` starts afresh)."""
        self.uidvalidity = uidvalidity
        self._key = None

    # ------------------------------------------------------------------ the file
    def _read(self, uidvalidity: int) -> Recorded | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            data = os.pread(fd, st.st_size, 0) if st.st_size else b""
        except OSError:
            return None
        finally:
            os.close(fd)
        parsed = _parse(data, uidvalidity)
        if parsed is None:
            return None
        rec, used = parsed
        self._key = (st.st_ino, st.st_size) if used == len(data) else None  # a torn tail: rewritten at once
        self._base = used
        return rec

    def _append(self) -> None:
        lines, self._lines = self._lines, []
        if self._failed or not self.uidvalidity:
            return
        size = self._key[1] if self._key else 0
        if self._key is None or size - self._base > max(COMPACT, self._base):
            self._rewrite()
            return
        data = "".join(lines).encode("utf-8", "surrogateescape")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self._rewrite()
            return
        try:
            st = os.fstat(fd)
            if (st.st_ino, st.st_size) != self._key:  # replaced or written by someone else: ours, whole
                self._key = None
            else:
                os.write(fd, data)
                self._key = (st.st_ino, st.st_size + len(data))
        except OSError:
            self._key = None
        finally:
            os.close(fd)
        if self._key is None:
            self._rewrite()

    def _rewrite(self) -> None:
        """The checkpoint of now, written beside the file, fsynced and renamed over it."""
        if self._failed or not self.uidvalidity:
            return
        entries = list(self.entries())
        infos = [e.info or "" for e in entries]
        table = list(dict.fromkeys(infos))
        index = {info: i for i, info in enumerate(table)}
        body = b"".join((
            " ".join("," + escape(t) for t in table).encode("utf-8", "surrogateescape") + b"\n" if table else b"",
            _le(array("I", [e.uid for e in entries])),
            _le(array("Q", [e.modseq for e in entries])),
            _le(array("I", map(index.__getitem__, infos))),
            _le(array("I", self.xuids)),
            _le(array("Q", self.xmods)),
        ))
        table_len = len(body) - 16 * len(entries) - 12 * len(self.xuids)
        head = (f"{MAGIC} V{self.uidvalidity} H{self.highest} F{self.floor} U{self.next_uid} N{len(entries)} "
                f"X{len(self.xuids)} T{table_len} C{zlib.crc32(body)}\n").encode()
        tmp = f"{self.path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(head + body)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self._failed = True
            log.warning("imap: cannot write %s (%s); mod-sequences of this folder are kept in memory only",
                        self.path, exc.strerror or exc)
            return
        self._key = (st.st_ino, st.st_size)
        self._base = st.st_size
