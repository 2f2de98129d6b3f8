"""`dovecot-uidlist` version 3, read and written as Dovecot does, so both servers agree on every UID.

File format (Dovecot's Maildir docs):
    3 V<uidvalidity> N<next uid> G<mailbox guid, 128 bits hex>     header; other fields may follow, in any order
    <uid> [<key><value> ...] :<base file name>                       one record per message, ascending UIDs

- The next UID to give is max(N, last UID + 1): Dovecot 2.3 appends records without rewriting the N header.
- Records carry the base name (no `:2,` info), because flags change the name but not the message.
- Every change happens under `dovecot-uidlist.lock` (see dotlock.py). Appending records in place is what Dovecot
  does for new mail; a full rewrite goes through the lock file and a rename.
"""

from __future__ import annotations

import os
import time

from .dotlock import DotLock
from .maildir import Maildir, name_time, os_error, split_name

TYPE_CHECKING = False  # not `from typing import`: typing costs ~9 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Iterable

FILENAME = "dovecot-uidlist"
VERSION = 3


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


class UidListError(ValueError):
    pass


def parse_header(line: str) -> UidList:
    fields = line.split()
    if not fields or fields[0] != str(VERSION):
        raise UidListError(f"unsupported dovecot-uidlist version: {line.strip()[:40]!r}")
    uidlist = UidList(0)
    for field in fields[1:]:
        key, value = field[:1], field[1:]
        if key == "V" and value.isdigit():
            uidlist.uidvalidity = int(value)
        elif key == "N" and value.isdigit():
            uidlist.next_uid = int(value)
        elif key == "G":
            uidlist.guid = value
        else:
            uidlist.extra.append(field)
    if uidlist.uidvalidity == 0:
        raise UidListError("dovecot-uidlist header has no UIDVALIDITY")
    return uidlist


def parse_record(line: str) -> tuple[int, str, str] | None:
    head, sep, base = line.rstrip("\n").partition(" :")
    if not sep:
        # a record with no extension fields may also be written "<uid> :<name>"; anything else is damage
        return None
    uid_text, _, ext = head.partition(" ")
    if not uid_text.isdigit() or not base:
        return None
    return int(uid_text), ext, base


def parse(text: str) -> UidList:
    lines = text.split("\n")
    uidlist = parse_header(lines[0])
    last = 0
    for line in lines[1:]:
        if not line:
            continue
        record = parse_record(line)
        # A torn last line (a writer killed mid-append) or a UID out of order is skipped, as Dovecot does.
        if record is None or record[0] <= last:
            continue
        uidlist.records.append(record)
        last = record[0]
    return uidlist


def format_uidlist(uidlist: UidList) -> str:
    out = [uidlist.header_line()]
    for uid, ext, base in uidlist.records:
        out.append(f"{uid} {ext} :{base}\n" if ext else f"{uid} :{base}\n")
    return "".join(out)


def new_uidlist() -> UidList:
    # Dovecot derives UIDVALIDITY from the clock; the GUID is 128 random bits in hex.
    return UidList(int(time.time()), 1, os.urandom(16).hex())


def read(maildir: Maildir) -> UidList | None:
    """The current uidlist, or None if the mailbox has none yet. Reads without locking, like Dovecot."""
    try:
        with open(os.path.join(maildir.path, FILENAME), encoding="utf-8", errors="surrogateescape") as fh:
            return parse(fh.read())
    except FileNotFoundError:
        return None


def _read_tail(path: str) -> tuple[UidList, int] | None:
    """Header and last UID without reading the whole file (delivery stays O(1) with 100,000 messages)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, 512, 0).decode("utf-8", "surrogateescape")
        tail = os.pread(fd, 4096, max(0, size - 4096)).decode("utf-8", "surrogateescape")
    finally:
        os.close(fd)
    uidlist = parse_header(head.split("\n", 1)[0])
    last = 0
    for line in reversed(tail.split("\n")):
        record = parse_record(line)
        if record is not None:
            last = record[0]
            break
    if size and not tail.endswith("\n"):
        raise UidListError("dovecot-uidlist ends in a torn line")
    return uidlist, last


def append(maildir: Maildir, bases: Iterable[str], lock: DotLock | None = None) -> list[int]:
    """Give the next UIDs to freshly delivered `bases`; returns their UIDs. Takes the lock unless given."""
    path = os.path.join(maildir.path, FILENAME)
    own = lock is None
    held = lock or DotLock(path)
    if own:
        held.acquire()
    try:
        try:
            found = _read_tail(path)
        except UidListError:
            found = None
            existing = read(maildir)  # torn tail: rewrite the whole file from what parses
            if existing is not None:
                found = (existing, existing.last_uid)
                with open(path + ".tmp", "w", encoding="utf-8", errors="surrogateescape") as fh:
                    fh.write(format_uidlist(existing))
                os.replace(path + ".tmp", path)
        names = list(bases)
        if found is None:
            uidlist = new_uidlist()
            uids = list(range(1, len(names) + 1))
            uidlist.records = [(uid, "", base) for uid, base in zip(uids, names, strict=True)]
            uidlist.next_uid = len(names) + 1
            # a new file goes through the lock file and a rename, which also releases the lock
            held.replace(format_uidlist(uidlist).encode("utf-8", "surrogateescape"))
            return uids
        header, last = found
        start = max(header.next_uid, last + 1)
        uids = list(range(start, start + len(names)))
        lines = "".join(f"{uid} :{base}\n" for uid, base in zip(uids, names, strict=True))
        with open(path, "a", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(lines)
        return uids
    except OSError as exc:
        raise os_error(exc, path) from exc
    finally:
        if own:
            held.release()


def sync(maildir: Maildir) -> UidList:
    """Give UIDs to every message that has none (mail delivered by other tools), in delivery order.

    Records whose file is gone are dropped when the file is rewritten; UIDs are never reused or renumbered.
    """
    path = os.path.join(maildir.path, FILENAME)
    with DotLock(path) as lock:
        current = read(maildir)
        present = {split_name(name)[0] for _, name in maildir.entries()}
        if current is None:
            current = new_uidlist()
        known = current.by_base()
        missing = sorted((b for b in present if b not in known), key=lambda b: (name_time(b), b))
        gone = len(known) - len(present & known.keys())
        if not missing and not gone:
            return current
        uid = current.allocate_from
        current.records = [r for r in current.records if r[2] in present]
        for base in missing:
            current.records.append((uid, "", base))
            uid += 1
        current.next_uid = max(current.next_uid, uid)
        try:
            lock.replace(format_uidlist(current).encode("utf-8", "surrogateescape"))
        except OSError as exc:
            raise os_error(exc, path) from exc
        return current
