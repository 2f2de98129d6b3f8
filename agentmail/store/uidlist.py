"""`dovecot-uidlist` version 3, read and written as Dovecot does, so both servers agree on every UID.

File format (Dovecot's Maildir docs):
    3 V<uidvalidity> N<next uid> G<mailbox guid, 128 bits hex>     header; other fields may follow, in any order
    <uid> [<key><value> ...] :<base file name>                       one record per message, ascending UIDs

- The next UID to give is max(N, last UID + 1): Dovecot 2.3 appends records without rewriting the N header.
- Records carry the base name (no `:2,` info), because flags change the name but not the message.
- Every change happens under `dovecot-uidlist.lock` (see dotlock.py). Appending records in place is what Dovecot
  does for new mail; a full rewrite goes to a temp file that is renamed over the uidlist.
- UIDs are 32-bit (RFC 3501 2.3.1.1), and Dovecot's reader refuses a record of 4294967295 ("UID too high"), so the
  highest UID ever given is MAX_UID = 4294967294.

Damage (a file emptied, a bad header, garbage, a torn last line, a record past MAX_UID) is repaired under the
lock the next time the file is written, as Dovecot recreates a broken uidlist (maildir-uidlist.c):
- the UIDVALIDITY is kept when the highest UID ever given can still be known: the header's V and N are readable
  and nothing but a torn (unterminated) last line follows the last good record. Good records keep their UIDs; a
  file whose record was lost gets a new UID above every old one, so no UID is ever given twice.
- otherwise nobody can tell which UIDs were given, and the folder gets a new UIDVALIDITY (greater than the old
  one when it is readable, and than the damaged file's last change) and UIDs from 1 in delivery order, which
  makes every IMAP client drop its cache of the folder (RFC 3501 2.3.1.1). The mailbox GUID is kept if readable.
- the same happens when UIDs run out (the next UID would pass MAX_UID), as Dovecot's documented fix for UIDs that
  grew too high is a new UIDVALIDITY and UIDs from 1.
Repairs are logged as warnings; they never fail a delivery.
"""

from __future__ import annotations

import os
import time

from ..errors import StoreIOError
from .dotlock import DotLock
from .maildir import Maildir, name_time, os_error, split_name

TYPE_CHECKING = False  # not `from typing import`: typing costs ~9 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Iterable

FILENAME = "dovecot-uidlist"
VERSION = 3
MAX_U32 = 4294967295
MAX_UID = MAX_U32 - 1  # Dovecot's maildir-uidlist.c: `uid >= (uint32_t)-1` is "UID too high"


class UidList:
    """The parsed file: header fields and records in file order."""

    __slots__ = ("uidvalidity", "next_uid", "guid", "extra", "records")

    def __init__(self, uidvalidity: int, next_uid: int = 1, guid: str = "",
                 extra: list[str] | None = None, records: list[tuple[int, str, str]] | None = None) -> None:
        self.uidvalidity = uidvalidity
        self.next_uid = next_uid
        self.guid = guid
        self.extra = extra or []  # header fields we do not interpret, kept verbatim
        self.records: list[tuple[int, str, str]] = records or []  # (uid, extension fields, base name)

    @property
    def last_uid(self) -> int:
        return self.records[-1][0] if self.records else 0

    @property
    def allocate_from(self) -> int:
        return max(self.next_uid, self.last_uid + 1)

    def by_base(self) -> dict[str, int]:
        return {base: uid for uid, _, base in self.records}

    def header_line(self) -> str:
        fields = [str(VERSION), f"V{self.uidvalidity}", f"N{self.next_uid}"]
        if self.guid:
            fields.append(f"G{self.guid}")
        return " ".join(fields + self.extra) + "\n"


class UidListError(StoreIOError, ValueError):
    """A dovecot-uidlist that cannot be read as it is (exit 74 should one ever reach the user)."""


def _u32(text: str) -> int:
    """A 32-bit nz-number, 0 for anything else."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return 0
    value = int(text)
    return value if value <= MAX_U32 else 0


def _is_guid(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower())


def parse_header(line: str) -> UidList:
    """The header line, strictly (as Dovecot reads it): version 3, with a valid V and N."""
    fields = line.split()
    if not fields or fields[0] != str(VERSION):
        raise UidListError(f"unsupported dovecot-uidlist version: {line.strip()[:40]!r}")
    uidlist = UidList(0, 0)
    for field in fields[1:]:
        key, value = field[:1], field[1:]
        if key == "V":
            uidlist.uidvalidity = _u32(value)
        elif key == "N":
            uidlist.next_uid = _u32(value)
        elif key == "G":
            uidlist.guid = value
        else:
            uidlist.extra.append(field)
    if uidlist.uidvalidity == 0:
        raise UidListError("dovecot-uidlist header has no valid UIDVALIDITY")
    if uidlist.next_uid == 0:
        raise UidListError("dovecot-uidlist header has no valid next UID")
    return uidlist


def parse_record(line: str) -> tuple[int, str, str] | None:
    """(uid, extension fields, base name), or None for anything that is not a valid record."""
    head, sep, base = line.rstrip("\n").partition(" :")
    if not sep:
        # a record with no extension fields may also be written "<uid> :<name>"; anything else is damage
        return None
    uid_text, _, ext = head.partition(" ")
    uid = _u32(uid_text)
    if not uid or uid > MAX_UID or not base or "/" in base:
        return None
    return uid, ext, base


def parse(text: str) -> UidList:
    """The file as a reader sees it: a bad header raises UidListError; damaged records and a torn (unterminated)
    last line are skipped, as Dovecot's reader does."""
    parse_header(text.split("\n", 1)[0])
    return salvage(text)[0]


def salvage(text: str) -> tuple[UidList, str | None, bool]:
    """Everything that can be read from `text`: (uidlist, what is damaged or None, whether its UIDs can be
    trusted, i.e. the highest UID ever given is known). The uidlist's uidvalidity is 0 when unreadable."""
    lines = text.split("\n")
    torn = lines.pop()  # "" when the file ends with a newline
    damage: list[str] = []
    if not text:
        return UidList(0, 0), "it is empty", False
    trusted = bool(lines)  # a file of one unterminated line has no complete header
    if torn:
        damage.append("a torn last line")
    head_text = lines[0] if lines else torn
    try:
        uidlist = parse_header(head_text)
    except UidListError as exc:
        damage.append(str(exc).replace("dovecot-uidlist ", ""))
        trusted = False
        uidlist = _loose_header(head_text)
    if uidlist.guid and not _is_guid(uidlist.guid):
        damage.append("a bad mailbox GUID")
        uidlist.guid = ""
    last = 0
    bad = 0
    bad_after_last = False  # a damaged line after the last good record may have held a higher UID
    index: dict[str, int] = {}
    for line in lines[1:]:
        if not line:  # a blank line never held a record (Dovecot still calls it broken: rewritten)
            bad += 1
            continue
        record = parse_record(line)
        if record is None or record[0] <= last:
            bad += 1
            if record is None:
                bad_after_last = True
            continue
        if record[2] in index:  # the same file twice: the later UID wins, as in Dovecot
            del uidlist.records[index.pop(record[2])]
            index = {r[2]: i for i, r in enumerate(uidlist.records)}
            bad += 1
        index[record[2]] = len(uidlist.records)
        uidlist.records.append(record)
        last = record[0]
        bad_after_last = False
    if bad:
        damage.append(f"{bad} damaged line{'s' if bad > 1 else ''}")
    if bad_after_last:
        trusted = False
    return uidlist, ", ".join(damage) or None, trusted


def _loose_header(line: str) -> UidList:
    """What a damaged header still says (its UIDVALIDITY and GUID, if readable), for choosing the new ones."""
    uidlist = UidList(0, 0)
    fields = line.split()
    if fields and fields[0] == str(VERSION):
        for field in fields[1:]:
            if field[:1] == "V":
                uidlist.uidvalidity = _u32(field[1:])
            elif field[:1] == "G":
                uidlist.guid = field[1:]
    elif len(fields) >= 2 and fields[0] in ("1", "2"):  # Dovecot 1.0's "1 <uidvalidity> <next uid>"
        uidlist.uidvalidity = _u32(fields[1])
    return uidlist


def format_uidlist(uidlist: UidList) -> str:
    out = [uidlist.header_line()]
    for uid, ext, base in uidlist.records:
        out.append(f"{uid} {ext} :{base}\n" if ext else f"{uid} :{base}\n")
    return "".join(out)


def new_uidvalidity(old: int = 0, changed: float = 0.0) -> int:
    """Dovecot derives UIDVALIDITY from the clock; a replacement must also differ from (and pass) the old one."""
    value = max(int(time.time()), old + 1, int(changed) + 1 if changed else 0)
    return value if value <= MAX_U32 else 1


def new_uidlist(old: int = 0, changed: float = 0.0) -> UidList:
    # the GUID is 128 random bits in hex
    return UidList(new_uidvalidity(old, changed), 1, os.urandom(16).hex())


def _open_read(path: str) -> int:
    # never through a symlink out of the store (ELOOP is treated as damage, and the rewrite replaces the link)
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)


def read(maildir: Maildir) -> UidList | None:
    """The current uidlist, or None if the mailbox has none yet. Reads without locking, like Dovecot.
    Raises UidListError for a bad header."""
    try:
        fd = _open_read(os.path.join(maildir.path, FILENAME))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UidListError(f"cannot read {FILENAME}: {exc.strerror}") from None
    try:
        return parse(_read_all(fd).decode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_tail(path: str) -> tuple[UidList, int] | None:
    """Header and last UID without reading the whole file (delivery stays O(1) with 100,000 messages).
    Raises UidListError for any damage that the full repair must look at."""
    try:
        fd = _open_read(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UidListError(f"cannot read {FILENAME}: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, 4096, 0).decode("utf-8", "surrogateescape")
        start = max(0, size - 4096)
        tail = os.pread(fd, 4096, start).decode("utf-8", "surrogateescape")
    finally:
        os.close(fd)
    if "\n" not in head:
        raise UidListError("dovecot-uidlist has no complete header line")
    uidlist = parse_header(head.split("\n", 1)[0])
    if not tail.endswith("\n"):
        raise UidListError("dovecot-uidlist ends in a torn line")
    lines = tail.split("\n")[1:-1]  # the first is the header or a line cut by the window; the last is ""
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        if start:
            raise UidListError("dovecot-uidlist ends in blank lines")
        return uidlist, 0
    record = parse_record(lines[-1])
    if record is None:  # a damaged last line may have held the highest UID
        raise UidListError("dovecot-uidlist ends in a damaged line")
    return uidlist, record[0]


def _warn(message: str) -> None:
    import logging  # only when there is something to say: logging costs start-up time

    logging.getLogger("agentmail.store").warning("agentmail: warning: %s", message)


def append(maildir: Maildir, bases: Iterable[str], lock: DotLock | None = None) -> list[int]:
    """Give the next UIDs to freshly delivered `bases`; returns their UIDs. Takes the lock unless given.

    A missing, damaged or exhausted uidlist is rebuilt (see the module docstring), numbering every file of the
    folder; the UIDs of `bases` are then looked up in the rebuilt list.
    """
    path = os.path.join(maildir.path, FILENAME)
    own = lock is None
    held = lock or DotLock(path)
    if own:
        held.acquire()
    try:
        names = list(bases)
        try:
            found = _read_tail(path)
        except UidListError:
            found = None
        if found is not None:
            header, last = found
            start = max(header.next_uid, last + 1)
            if start + len(names) - 1 <= MAX_UID:
                uids = list(range(start, start + len(names)))
                lines = "".join(f"{uid} :{base}\n" for uid, base in zip(uids, names, strict=True))
                _append_lines(path, lines.encode("utf-8", "surrogateescape"))
                return uids
        rebuilt = _sync_locked(maildir, held, names)
        known = rebuilt.by_base()
        return [known[base] for base in names]
    except OSError as exc:
        raise os_error(exc, path) from exc
    finally:
        if own:
            held.release()


def _append_lines(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _present(maildir: Maildir) -> set[str]:
    return {split_name(name)[0] for _, name in maildir.entries()}


def _load(path: str) -> tuple[str, float] | None:
    """The file's text and mtime (None if missing); unreadable content (a symlink, a directory) reads as ""."""
    try:
        fd = _open_read(path)
    except FileNotFoundError:
        return None
    except OSError:
        return "", 0.0
    try:
        return _read_all(fd).decode("utf-8", "surrogateescape"), os.fstat(fd).st_mtime
    except OSError:
        return "", 0.0
    finally:
        os.close(fd)


def _sync_locked(maildir: Maildir, lock: DotLock, bases: Iterable[str] = ()) -> UidList:
    """Number every file of the folder that has no UID (and `bases`, files just linked in, even if already
    moved away) and repair damage; the caller holds `lock`. Records of files that are gone are dropped when the
    file is rewritten; UIDs are never given twice under one UIDVALIDITY."""
    path = os.path.join(maildir.path, FILENAME)
    loaded = _load(path)
    damage: str | None = None
    renewed = False
    if loaded is None:
        current = new_uidlist()
    else:
        current, damage, trusted = salvage(loaded[0])
        if not trusted:
            fresh = new_uidlist(current.uidvalidity, loaded[1])
            current = UidList(fresh.uidvalidity, 1, current.guid or fresh.guid)
            renewed = True
    present = _present(maildir)
    known = current.by_base()
    if any(base not in present for base in known):
        present |= _present(maildir)  # a rename new/ -> cur/ between two listings hides a file from one of them
    present.update(bases)
    missing = sorted((b for b in present if b not in known), key=lambda b: (name_time(b), b))
    kept = [r for r in current.records if r[2] in present]
    uid = current.allocate_from  # before dropping records: the UIDs of gone files are never given again
    if uid + len(missing) - 1 > MAX_UID:
        damage = (f"{damage}; " if damage else "") + "its UIDs ran out"
        fresh = new_uidlist(current.uidvalidity)
        current = UidList(fresh.uidvalidity, 1, current.guid or fresh.guid)
        missing = sorted(present, key=lambda b: (name_time(b), b))
        kept, uid, renewed = [], 1, True
    if loaded is not None and damage is None and not missing and len(kept) == len(current.records):
        return current
    current.records = kept
    for base in missing:
        current.records.append((uid, "", base))
        uid += 1
    current.next_uid = max(current.next_uid, uid)
    current.guid = current.guid or os.urandom(16).hex()  # Dovecot recreates a file without one anyway
    lock.write(format_uidlist(current).encode("utf-8", "surrogateescape"))
    if damage is not None:
        what = f"new UIDVALIDITY {current.uidvalidity}: IMAP clients reload this folder" if renewed else \
            "UIDVALIDITY and UIDs kept"
        _warn(f"repaired {path} ({damage}); {what}")
    return current


def sync(maildir: Maildir) -> UidList:
    """Give UIDs to every message that has none (mail delivered by other tools), in delivery order, and repair
    a damaged file (see the module docstring).

    Records whose file is gone are dropped when the file is rewritten; UIDs are never reused.
    """
    path = os.path.join(maildir.path, FILENAME)
    with DotLock(path) as lock:
        try:
            return _sync_locked(maildir, lock)
        except OSError as exc:
            raise os_error(exc, path) from exc
