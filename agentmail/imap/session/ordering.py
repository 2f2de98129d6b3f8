"""SORT and THREAD (RFC 5256) in the selected state.

The search keys pick the messages (the same matching as SEARCH, a pause after each message tested); then
each picked message's sort fields (message/sortkeys.py) come from its header alone (the backend's
header-only read when it has one) and are kept on the selected mailbox by UID: a message's bytes never
change, so a second SORT or THREAD of the same mailbox reads no file. Reading headers yields a pause after
each file, and threading yields now and then, so a SORT of 10,000 messages never holds the worker for
long (docs/imap.md, "Fair share of the worker").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from ..message.sort import SortItem, needs_fields, sort_items
from ..message.sortkeys import Fields
from ..message.thread import ThreadItem, ordered_subject, references
from ..protocol import commands as c
from ..protocol import response as r
from ..protocol.errors import ImapNo
from ..protocol.searchkeys import SearchKey
from .backend import MessageInfo

if TYPE_CHECKING:
    from .backend import Backend

EXPUNGED = "EXPUNGEISSUED"
NO_FIELDS = Fields(None, None, None, None, None, None, ())  # a message whose header cannot be read


class Session(Protocol):
    backend: Backend
    account: str | None


class Mailbox(Protocol):
    """What SORT and THREAD need of the selected mailbox (selected.SelectedMailbox is one)."""

    name: str
    uids: list[int]
    sort_fields: dict[int, Fields]
    msgids: dict[str, str]

    def matching(self, key: SearchKey, charset: str | None,
                 session: Session) -> Iterator[r.Pause | tuple[int, int, MessageInfo]]: ...


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
    assert cmd.key is not None
    picked: list[tuple[int, int, MessageInfo]] = []
    for got in mailbox.matching(cmd.key, cmd.charset, session):
        if isinstance(got, r.Pause):
            yield got
        else:
            picked.append(got)
    kept: list[tuple[tuple[int, int, MessageInfo], Fields]] = []
    if isinstance(cmd, c.Thread) or needs_fields(cmd.criteria):
        cache = mailbox.sort_fields
        if len(cache) > 2 * len(mailbox.uids) + 1000:  # expunged messages' fields: drop them now and then
            live = set(mailbox.uids)
            mailbox.sort_fields = cache = {uid: f for uid, f in cache.items() if uid in live}
        read = None
        for hit in picked:
            found = cache.get(hit[1])
            if found is None:
                read = read or _reader(session, mailbox.name)
                try:
                    found = cache[hit[1]] = Fields.parse(read(hit[1]), mailbox.msgids)
                except ImapNo as err:
                    if err.code is not None and err.code.name == EXPUNGED:
                        continue  # gone meanwhile: left out, as SEARCH leaves it out
                    found = NO_FIELDS  # too large to serve, not a file any more: sorted as if empty
                yield r.PAUSE
            kept.append((hit, found))
    else:
        kept = [(hit, NO_FIELDS) for hit in picked]
    done = f"{'UID ' if cmd.uid else ''}{cmd.name} completed"
    if isinstance(cmd, c.Sort):
        names = {name for name, _ in cmd.criteria}
        arrival, dated = "ARRIVAL" in names, "DATE" in names  # INTERNALDATE is a stat: only where it is used
        sort_list = [SortItem(hit[1] if cmd.uid else hit[0], f,
                              _seconds(hit[2]) if arrival or (dated and not f.sent()) else 0, hit[2].size)
                     for hit, f in kept]
        yield r.SearchResponse(sort_items(sort_list, cmd.criteria), "SORT")
        yield r.ok(cmd.tag, done)
        return
    # INTERNALDATE only where the Date header does not give the sent date (RFC 5256 2.2): fewer stats
    thread_list = [ThreadItem(hit[1] if cmd.uid else hit[0], f, 0 if f.sent() else _seconds(hit[2]))
                   for hit, f in kept]
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
