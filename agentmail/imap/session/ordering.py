"""SORT and THREAD (RFC 5256) in the selected state.

The search keys pick the messages (the same matching as SEARCH, a pause after each message tested); then
each picked message's sort fields (message/sortkeys.py) come from its header alone (the backend's
header-only read when it has one) and are kept by mailbox and UID for every session of the backend
(``FieldCache``): a message's bytes never change, so a second SORT or THREAD of the same mailbox, from this
client or the next, reads no file. Reading headers yields a pause after
each file, and threading yields now and then, so a SORT of 10,000 messages never holds the worker for
long (docs/imap.md, "Fair share of the worker").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from weakref import WeakKeyDictionary

from ..message.sort import SortItem, needs_fields, sort_items
from ..message.sortkeys import Fields
from ..message.thread import ThreadItem, ordered_subject, references
from ..protocol import commands as c
from ..protocol import response as r
from ..protocol.errors import ImapNo
from ..protocol.searchkeys import SearchKey, has_modseq
from .backend import MessageInfo

if TYPE_CHECKING:
    from .backend import Backend

EXPUNGED = "EXPUNGEISSUED"
NO_FIELDS = Fields(None, None, None, None, 0, None, ())  # a message whose header cannot be read


class Session(Protocol):
    backend: Backend
    account: str | None

    def condstore_on(self) -> list[r.Response]: ...


class Mailbox(Protocol):
    """What SORT and THREAD need of the selected mailbox (selected.SelectedMailbox is one)."""

    name: str
    uids: list[int]
    uidvalidity: int
    matched_modseq: int  # the highest mod-sequence among the matches of the last ``matching``

    def matching(self, key: SearchKey, charset: str | None,
                 session: Session) -> Iterator[r.Pause | tuple[int, int]]: ...

    def infos(self, session: Session) -> Mapping[int, MessageInfo]: ...


class FieldCache:
    """Sort fields by mailbox (account, name, UIDVALIDITY) and UID, for every session of one backend: a message's
    bytes never change, so a client that connects again sorts without reading a file. Past ``limit`` messages in
    all, the mailboxes used least recently are dropped (about 0.5 KiB a message: 50 MiB at the default)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.boxes: OrderedDict[tuple[str, str, int], tuple[dict[int, Fields], dict[Any, Any]]] = OrderedDict()

    def mailbox(self, account: str, name: str, uidvalidity: int) -> tuple[dict[int, Fields], dict[Any, Any]]:
        """(fields by UID, the values and message IDs shared among them) of one mailbox."""
        key = (account, name, uidvalidity)
        found = self.boxes.get(key)
        if found is None:
            found = self.boxes[key] = ({}, {})
        self.boxes.move_to_end(key)
        return found

    def trim(self, live: list[int], fields: dict[int, Fields]) -> dict[int, Fields]:
        """Drop expunged messages' fields now and then, and other mailboxes past the limit."""
        if len(fields) > 2 * len(live) + 1000:
            keep = set(live)
            for uid in [u for u in fields if u not in keep]:
                del fields[uid]
        while sum(len(f) for f, _ in self.boxes.values()) > self.limit and len(self.boxes) > 1:
            self.boxes.popitem(last=False)
        return fields


_CACHES: WeakKeyDictionary[object, FieldCache] = WeakKeyDictionary()


def field_cache(backend: object) -> FieldCache:
    """The backend's FieldCache (made on first use; it goes with the backend)."""
    cache = _CACHES.get(backend)
    if cache is None:
        cache = _CACHES[backend] = FieldCache()
    return cache


def _reader(session: Session, mailbox: str) -> Callable[[int], bytes]:
    """uid -> the header block (the whole message from a backend without header-only reads)."""
    account = session.account
    assert account is not None
    backend = session.backend
    headers: Callable[[str, str], Callable[[int], bytes]] | None = getattr(backend, "headers", None)
    if headers is not None:
        return headers(account, mailbox)
    return lambda uid: backend.message(account, mailbox, uid)


def _seconds(info: MessageInfo) -> int:
    return int(info.internal_date.timestamp())  # Dovecot keeps whole seconds


def run(mailbox: Mailbox, cmd: c.Sort | c.Thread, session: Session) -> Iterator[r.Response]:
    assert cmd.key is not None and session.account is not None
    if isinstance(cmd, c.Sort) and has_modseq(cmd.key):  # CONDSTORE-enabling (RFC 7162 3.1)
        yield from session.condstore_on()
    picked: list[tuple[int, int]] = []
    for got in mailbox.matching(cmd.key, cmd.charset, session):
        if isinstance(got, r.Pause):
            yield got
        else:
            picked.append(got)
    kept: list[tuple[int, int, Fields]] = []  # (seq, uid, fields)
    if isinstance(cmd, c.Thread) or needs_fields(cmd.criteria):
        shared = field_cache(session.backend)
        cache, msgids = shared.mailbox(session.account, mailbox.name, mailbox.uidvalidity)
        shared.trim(mailbox.uids, cache)
        read = None
        for seq, uid in picked:
            found = cache.get(uid)
            if found is None:
                read = read or _reader(session, mailbox.name)
                try:
                    found = cache[uid] = Fields.parse(read(uid), msgids)
                except ImapNo as err:
                    if err.code is not None and err.code.name == EXPUNGED:
                        continue  # gone meanwhile: left out, as SEARCH leaves it out
                    found = NO_FIELDS  # too large to serve, not a file any more: sorted as if empty
                yield r.PAUSE
            kept.append((seq, uid, found))
    else:
        kept = [(seq, uid, NO_FIELDS) for seq, uid in picked]
    infos = mailbox.infos(session)  # built per message only where a size or an INTERNALDATE is needed
    done = f"{'UID ' if cmd.uid else ''}{cmd.name} completed"
    if isinstance(cmd, c.Sort):
        names = {name for name, _ in cmd.criteria}
        arrival, dated, sized = "ARRIVAL" in names, "DATE" in names, "SIZE" in names
        sort_list = []
        for seq, uid, f in kept:
            info = infos.get(uid) if arrival or sized or (dated and not f.sent()) else None
            sort_list.append(SortItem(uid if cmd.uid else seq, f, _seconds(info) if info and (arrival or dated) else 0,
                                      info.size if info and sized else 0))
        # RFC 7162 3.1.5: with a MODSEQ key, the highest mod-sequence of the matches (THREAD has no place for it)
        modseq = mailbox.matched_modseq if has_modseq(cmd.key) else None
        yield r.SearchResponse(sort_items(sort_list, cmd.criteria), "SORT", modseq)
        yield r.ok(cmd.tag, done)
        return
    # INTERNALDATE only where the Date header does not give the sent date (RFC 5256 2.2): fewer stats
    thread_list = []
    for seq, uid, f in kept:
        info = None if f.sent() else infos.get(uid)
        thread_list.append(ThreadItem(uid if cmd.uid else seq, f, _seconds(info) if info else 0))
    threads: list[r.ThreadNode] = []
    if cmd.algorithm == "ORDEREDSUBJECT":
        threads = ordered_subject(thread_list)
    else:
        for step in references(thread_list):
            if step is None:
                yield r.PAUSE
            else:
                threads = step
    yield r.ThreadResponse(threads)
    yield r.ok(cmd.tag, done)
