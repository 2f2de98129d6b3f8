"""The conversation view: threads across agents, from the journal (one copy of every accepted postcard).

`JournalIndex` keeps one small summary per journal file in memory (the headers a thread list shows), threads them
by In-Reply-To and References (RFC 5322 3.6.4: a reply names its parent, the first reference names the root), and
collects what the receipts (MDNs, RFC 8098) in the journal report about each original: read by whom, when. It is
brought up to date by `refresh()` (a blocking call: `agentmail serve` runs it in its worker threads), which reads
only the files it has not seen; the journal is never modified, so a file once read stays true.
"""

from __future__ import annotations

import os
import re
import sys
import threading

from ..format.card import decode_words, key_of, msgids, raw_headers
from ..format.encoding import one_line
from ..format.mdn import is_mdn, parse_mdn
from ..store.maildir import Maildir, name_time, split_name
from ..store.msgfile import NotAMessage, read_cap, read_head, read_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config

HEAD = 16 * 1024  # header bytes read per postcard for the summary
MDN_CAP = 64 * 1024  # an MDN is a few hundred bytes; a bigger "receipt" is not read for its report
SHOWN = ("subject", "from", "to", "cc")  # the fields a view shows: decoded (RFC 2047) and made one safe line
REPORT = re.compile(rb"\ncontent-type:[ \t]*message/disposition-notification[^\n]*\n", re.IGNORECASE)


def summary_headers(data: bytes) -> dict[str, str]:
    """The header fields of `data`, as format.card.read_headers gives them but decoding only the shown ones: the
    others are matched as tokens (ids, flags), and decoding every field of 15,000 files is most of a cold start."""
    headers = raw_headers(data)
    for name in SHOWN:
        if name in headers:
            headers[name] = one_line(decode_words(headers[name]))
    return headers


def report_fields(data: bytes) -> dict[str, str] | None:
    """The fields of an MDN's message/disposition-notification part when it is plain text (as every MDN agentmail,
    Thunderbird or Dovecot writes), without the email parser; None to leave it to format.mdn.parse_mdn."""
    found = REPORT.search(data)
    if found is None:
        return None
    rest = data[found.end():]
    blank = rest.find(b"\n\n")
    if blank < 0 or b"content-transfer-encoding: base64" in rest[:blank].lower():
        return None
    body = rest[blank + 2:]
    boundary = body.find(b"\n--")
    fields = raw_headers(body[:boundary] if boundary >= 0 else body)
    return fields if "disposition" in fields and "original-message-id" in fields else None


def short(cfg: Config, address: str) -> str:
    """`bob` for bob@<our domain> (bare or in angle brackets), the bare address otherwise."""
    addr = address.strip()
    if "<" in addr and addr.endswith(">"):
        addr = addr[addr.rfind("<") + 1:-1].strip()
    local, _, domain = addr.rpartition("@")
    return local if local and domain.lower() == cfg.domain else addr


def names_in(cfg: Config, value: str) -> list[str]:
    """The short names in an address-list header value (commas inside quotes or brackets kept together)."""
    out: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, c in enumerate(value + ","):
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "<":
            depth += 1
        elif not quoted and c == ">" and depth:
            depth -= 1
        elif c == "," and not quoted and not depth:
            piece = value[start:i].strip()
            start = i + 1
            if "@" in piece:
                out.append(short(cfg, piece))
    return out


class Entry:
    """One journal file, as a thread list and a thread view show it."""

    __slots__ = ("base", "subdir", "name", "key", "message_id", "sender", "to", "cc", "title", "at", "urgent",
                 "receipt_requested", "thread", "no_wake", "done", "attachments")

    def __init__(self, base: str, subdir: str, name: str) -> None:
        self.base, self.subdir, self.name = base, subdir, name
        self.key = ""
        self.message_id = ""
        self.sender = ""
        self.to: list[str] = []
        self.cc: list[str] = []
        self.title = ""
        self.at = 0.0
        self.urgent = False
        self.receipt_requested = False
        self.thread = ""
        self.no_wake = False
        self.done = False
        self.attachments = False

    def summary(self) -> dict[str, Any]:
        return {"key": self.key, "from": self.sender, "to": self.to, "cc": self.cc, "title": self.title,
                "at": round(self.at, 3), "urgent": self.urgent, "receipt_requested": self.receipt_requested,
                "thread": self.thread, "no_wake": self.no_wake, "done": self.done,
                "attachments": self.attachments}


class Thread:
    __slots__ = ("key", "entries")

    def __init__(self, key: str) -> None:
        self.key = key
        self.entries: list[Entry] = []

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        if len(self.entries) > 1 and entry.at < self.entries[-2].at:
            self.entries.sort(key=lambda e: (e.at, e.base))

    @property
    def last_at(self) -> float:
        return self.entries[-1].at if self.entries else 0.0

    def summary(self) -> dict[str, Any]:
        first, last = self.entries[0], self.entries[-1]
        people = dict.fromkeys(p for e in self.entries for p in (e.sender, *e.to, *e.cc) if p)
        return {"key": self.key, "title": first.title, "count": len(self.entries), "people": list(people),
                "first_at": round(first.at, 3), "last_at": round(last.at, 3),
                "urgent": any(e.urgent for e in self.entries), "done": any(e.done for e in self.entries),
                "last": {"key": last.key, "from": last.sender, "title": last.title}}


class Receipt:
    __slots__ = ("reader", "disposition", "at")

    def __init__(self, reader: str, disposition: str, at: float) -> None:
        self.reader, self.disposition, self.at = reader, disposition, at

    def view(self) -> dict[str, Any]:
        return {"reader": self.reader, "disposition": self.disposition, "at": round(self.at, 3)}


class JournalIndex:
    """Summaries of the journal's postcards, their threads and the receipts that name them."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.box = Maildir(cfg.journal_path)
        self.cap = read_cap(cfg.max_message)
        self.entries: dict[str, Entry] = {}  # base name -> entry (postcards only)
        self.seen: set[str] = set()  # base names of every file looked at (postcards, receipts, odd files)
        self.by_mid: dict[str, Entry] = {}
        self.by_key: dict[str, Entry] = {}
        self.threads: dict[str, Thread] = {}
        self.receipts: dict[str, list[Receipt]] = {}  # original key -> receipts
        self.lock = threading.Lock()  # one refresh at a time; readers take it too (summaries are then consistent)
        self.generation = 0  # bumped whenever something new was indexed
        self.stamp: tuple[int, ...] = ()  # (mtime, inode) of new/ and cur/ at the last refresh

    # --- bringing it up to date ---
    def _stamp(self) -> tuple[int, ...]:
        out: list[int] = []
        for sub in ("new", "cur"):
            try:
                st = os.stat(os.path.join(self.box.path, sub), follow_symlinks=False)
            except OSError:
                out += [0, 0]
                continue
            out += [st.st_mtime_ns, st.st_ino]
        return tuple(out)

    def refresh(self, force: bool = True) -> int:
        """Read the journal files not seen yet; returns how many postcards and receipts were added. Without
        `force`, only when new/ or cur/ changed since the last refresh (a delivery within the same clock tick as
        that refresh is caught by the next `force`, which the watcher's event brings)."""
        with self.lock:
            stamp = self._stamp()  # before listing: a change made while listing shows next time
            if not force and stamp == self.stamp:
                return 0
            self.stamp = stamp
            if not self.box.exists():
                return 0
            current: dict[str, tuple[str, str]] = {}
            for sub, name in self.box.entries():
                current[split_name(name)[0]] = (sub, name)
            fresh = [(base, where) for base, where in current.items() if base not in self.seen]
            for base, where in current.items():  # moved from new/ to cur/ by another reader (Dovecot)
                entry = self.entries.get(base)
                if entry is not None and (entry.subdir, entry.name) != where:
                    entry.subdir, entry.name = where
                self.seen.add(base)
            fresh.sort(key=lambda item: (name_time(item[1][1]), item[0]))
            added = 0
            for base, (sub, name) in fresh:
                added += self._add(base, sub, name)
            if added:
                self.generation += 1
            return added

    def _add(self, base: str, sub: str, name: str) -> int:
        path = self.box.file(sub, name)
        try:
            headers = summary_headers(read_head(path, HEAD, self.cap))
        except (OSError, NotAMessage):
            return 0
        at = name_time(name)
        if is_mdn(headers):
            return self._add_receipt(path, headers, at)
        mids = msgids(headers.get("message-id", ""))
        mid = mids[0] if mids else ""
        if mid and mid in self.by_mid:
            return 0  # the same postcard delivered twice is the same message (content-addressed ids)
        entry = Entry(base, sub, name)
        entry.message_id = mid
        entry.key = key_of(mid) if mid else base.replace(".", "")[:32]
        # names repeat across thousands of postcards: one string object each
        entry.sender = sys.intern(short(self.cfg, headers.get("from", "")))
        entry.to = [sys.intern(n) for n in names_in(self.cfg, headers.get("to", ""))]
        entry.cc = [sys.intern(n) for n in names_in(self.cfg, headers.get("cc", ""))]
        entry.title = headers.get("subject", "")
        entry.at = at
        entry.urgent = (headers.get("importance", "").strip().lower() == "high"
                        or headers.get("x-priority", "").strip()[:1] in ("1", "2"))
        entry.receipt_requested = "disposition-notification-to" in headers
        entry.no_wake = headers.get("x-agentmail-wake", "").strip().lower() == "no"
        entry.done = headers.get("x-agentmail-thread", "").strip().lower() == "done"
        entry.attachments = headers.get("content-type", "").strip().lower().startswith("multipart/mixed")
        entry.thread = self._thread_of(entry, headers)
        self.entries[base] = entry
        if mid:
            self.by_mid[mid] = entry
        self.by_key.setdefault(entry.key, entry)
        self.threads.setdefault(entry.thread, Thread(entry.thread)).add(entry)
        return 1

    def _thread_of(self, entry: Entry, headers: dict[str, str]) -> str:
        parent = msgids(headers.get("in-reply-to", ""))
        refs = msgids(headers.get("references", ""))
        for mid in (*parent[:1], *reversed(refs)):  # the nearest ancestor already indexed gives its thread
            known = self.by_mid.get(mid)
            if known is not None:
                return known.thread
        if refs:
            return key_of(refs[0])
        if parent:
            return key_of(parent[0])
        return entry.key

    def _add_receipt(self, path: str, headers: dict[str, str], at: float) -> int:
        try:
            data = read_message(path, MDN_CAP)
        except (OSError, NotAMessage):
            return 0
        fields = report_fields(data)
        if fields is not None:  # RFC 8098 3.2: Original-Message-ID, Final-Recipient: rfc822;addr, Disposition
            ids = msgids(fields["original-message-id"])
            original = ids[0] if ids else ""
            final = fields.get("final-recipient", "").partition(";")
            reader = (final[2] if final[1] else final[0]).strip()
            disposition = fields["disposition"].partition(";")[2].strip().lower().partition("/")[0].strip()
        else:
            info = parse_mdn(data)
            if info is None:
                return 0
            original, reader, disposition = info.original_message_id, info.final_recipient or info.reporter, \
                info.disposition
        if not original:
            return 0
        reader = short(self.cfg, one_line(reader) or headers.get("from", ""))
        self.receipts.setdefault(key_of(original), []).append(Receipt(reader, disposition, at))
        return 1

    # --- views ---
    def thread_list(self, limit: int = 50, offset: int = 0, person: str | None = None) -> dict[str, Any]:
        """Threads, most recently active first; `person` keeps those someone wrote or received."""
        with self.lock:
            threads = list(self.threads.values())
            if person:
                threads = [t for t in threads if any(person == e.sender or person in e.to or person in e.cc
                                                     for e in t.entries)]
            threads.sort(key=lambda t: t.last_at, reverse=True)
            page = threads[offset:offset + limit]
            return {"total": len(threads), "threads": [self._with_reads(t) for t in page],
                    "generation": self.generation}

    def _with_reads(self, thread: Thread) -> dict[str, Any]:
        out = thread.summary()
        out["read"] = sum(1 for e in thread.entries if self.receipts.get(e.key))
        return out

    def thread(self, key: str) -> list[dict[str, Any]] | None:
        """Every postcard of the thread `key`, oldest first, each with the receipts for it; None if unknown."""
        with self.lock:
            thread = self.threads.get(key)
            if thread is None:
                return None
            return [dict(e.summary(), receipts=[r.view() for r in self.receipts.get(e.key, [])])
                    for e in thread.entries]

    def find(self, key: str) -> Entry | None:
        with self.lock:
            return self.by_key.get(key)

    def receipts_for(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r.view() for r in self.receipts.get(key, [])]

    def path_of(self, entry: Entry) -> str:
        return os.path.join(self.box.path, entry.subdir, entry.name)
