"""Typed command objects (RFC 3501 6, RFC 9051 6 and the extensions we announce).

Every command has ``tag`` and a class-level ``name``. Mailbox names are kept in their wire form
(modified UTF-7, RFC 3501 5.1.3), with any-case INBOX normalised to "INBOX"; use ``utf7.decode``
to get the Unicode name. The session dispatches on the class, and ``states`` says in which
connection states the command is allowed (RFC 3501 3 / 6).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import ClassVar

from .fetchatt import FetchAtt
from .searchkeys import SearchKey
from .seqset import SequenceSet

ANY = frozenset({"not-authenticated", "authenticated", "selected"})
NOT_AUTH = frozenset({"not-authenticated"})
AUTH = frozenset({"authenticated", "selected"})
SELECTED = frozenset({"selected"})


@dataclass(frozen=True)
class Command:
    tag: str
    name: ClassVar[str] = ""
    states: ClassVar[frozenset[str]] = ANY


# ------------------------------------------------------------------ any state (RFC 3501 6.1)
@dataclass(frozen=True)
class Capability(Command):
    name = "CAPABILITY"


@dataclass(frozen=True)
class Noop(Command):
    name = "NOOP"


@dataclass(frozen=True)
class Logout(Command):
    name = "LOGOUT"


@dataclass(frozen=True)
class Id(Command):
    """RFC 2971: ``ID NIL`` or ``ID ("name" "value" ...)``."""

    name = "ID"
    params: tuple[tuple[str, str | None], ...] | None = None


# ------------------------------------------------------------------ not authenticated (6.2)
@dataclass(frozen=True)
class StartTls(Command):
    name = "STARTTLS"
    states = NOT_AUTH


@dataclass(frozen=True)
class Login(Command):
    name = "LOGIN"
    states = NOT_AUTH
    user: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Authenticate(Command):
    """RFC 3501 6.2.2 with SASL-IR (RFC 4959): ``initial`` is the base64 initial response,
    "" for "=" (an empty response), None when absent (the server sends "+ " and reads a line)."""

    name = "AUTHENTICATE"
    states = NOT_AUTH
    mechanism: str = ""
    initial: str | None = field(default=None, repr=False)


# ------------------------------------------------------------------ authenticated (6.3)
@dataclass(frozen=True)
class Enable(Command):
    """RFC 5161."""

    name = "ENABLE"
    states = AUTH
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Qresync:
    """RFC 7162 3.2.5: ``QRESYNC (uidvalidity modseq [known-uids [(known-seqs known-uids)]])``."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True)
class Select(Command):
    """SELECT, with RFC 7162's ``(CONDSTORE)`` and ``(QRESYNC (...))`` parameters."""

    name = "SELECT"
    states = AUTH
    mailbox: str = ""
    condstore: bool = False
    qresync: Qresync | None = None
    readonly: ClassVar[bool] = False


@dataclass(frozen=True)
class Examine(Select):
    name = "EXAMINE"
    readonly = True


@dataclass(frozen=True)
class Create(Command):
    name = "CREATE"
    states = AUTH
    mailbox: str = ""
    special_use: tuple[str, ...] = ()  # RFC 6154 5.3 CREATE ... (USE (\Sent))


@dataclass(frozen=True)
class Delete(Command):
    name = "DELETE"
    states = AUTH
    mailbox: str = ""


@dataclass(frozen=True)
class Rename(Command):
    name = "RENAME"
    states = AUTH
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class Subscribe(Command):
    name = "SUBSCRIBE"
    states = AUTH
    mailbox: str = ""


@dataclass(frozen=True)
class Unsubscribe(Command):
    name = "UNSUBSCRIBE"
    states = AUTH
    mailbox: str = ""


@dataclass(frozen=True)
class List(Command):
    """LIST, with RFC 5258 extended forms: selection options (SUBSCRIBED REMOTE
    RECURSIVEMATCH SPECIAL-USE), several patterns, return options (SUBSCRIBED CHILDREN
    SPECIAL-USE STATUS (...)) per RFC 5258 / 6154 / 5819."""

    name = "LIST"
    states = AUTH
    reference: str = ""
    patterns: tuple[str, ...] = ()
    selection: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()
    status_items: tuple[str, ...] = ()  # RETURN (STATUS (...)), RFC 5819
    extended: bool = False  # an extended form was used (selection, pattern list or RETURN)


@dataclass(frozen=True)
class Lsub(Command):
    name = "LSUB"
    states = AUTH
    reference: str = ""
    pattern: str = ""


@dataclass(frozen=True)
class Namespace(Command):
    """RFC 2342."""

    name = "NAMESPACE"
    states = AUTH


STATUS_ITEMS = frozenset({"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE", "HIGHESTMODSEQ"})


@dataclass(frozen=True)
class Status(Command):
    name = "STATUS"
    states = AUTH
    mailbox: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Append(Command):
    name = "APPEND"
    states = AUTH
    mailbox: str = ""
    flags: tuple[str, ...] = ()
    date: dt.datetime | None = None
    message: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Idle(Command):
    """RFC 2177: the session answers "+ idling" and reads lines until DONE."""

    name = "IDLE"
    states = AUTH


# ------------------------------------------------------------------ selected (6.4)
@dataclass(frozen=True)
class Check(Command):
    name = "CHECK"
    states = SELECTED


@dataclass(frozen=True)
class Close(Command):
    name = "CLOSE"
    states = SELECTED


@dataclass(frozen=True)
class Unselect(Command):
    """RFC 3691."""

    name = "UNSELECT"
    states = SELECTED


@dataclass(frozen=True)
class Expunge(Command):
    """EXPUNGE, or UID EXPUNGE (RFC 4315 2.1) when ``uids`` is set."""

    name = "EXPUNGE"
    states = SELECTED
    uids: SequenceSet | None = None


SEARCH_RETURNS = frozenset({"MIN", "MAX", "ALL", "COUNT"})  # RFC 4731 3.1


@dataclass(frozen=True)
class Search(Command):
    """SEARCH; with ``returns`` set (RFC 4731 ``RETURN (...)``) the answer is one ESEARCH response
    holding what was asked (``()`` means ALL)."""

    name = "SEARCH"
    states = SELECTED
    key: SearchKey | None = None
    charset: str | None = None
    uid: bool = False
    returns: tuple[str, ...] | None = None


# RFC 5256 3 sort-key, and DISPLAYFROM / DISPLAYTO of RFC 5957 (SORT=DISPLAY)
SORT_KEYS = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"})
THREAD_ALGORITHMS = frozenset({"REFERENCES", "ORDEREDSUBJECT"})  # RFC 5256 4


@dataclass(frozen=True)
class Sort(Command):
    """RFC 5256 SORT: ``criteria`` are (sort key, reversed) pairs, most significant first."""

    name = "SORT"
    states = SELECTED
    criteria: tuple[tuple[str, bool], ...] = ()
    charset: str = "UTF-8"
    key: SearchKey | None = None
    uid: bool = False


@dataclass(frozen=True)
class Thread(Command):
    """RFC 5256 THREAD with one of ``THREAD_ALGORITHMS``."""

    name = "THREAD"
    states = SELECTED
    algorithm: str = "REFERENCES"
    charset: str = "UTF-8"
    key: SearchKey | None = None
    uid: bool = False


@dataclass(frozen=True)
class Fetch(Command):
    """FETCH; RFC 7162's modifiers: ``changedsince`` (CHANGEDSINCE n), ``vanished`` (VANISHED, UID FETCH only)."""

    name = "FETCH"
    states = SELECTED
    sequence: SequenceSet = SequenceSet(())
    attributes: tuple[FetchAtt, ...] = ()
    uid: bool = False
    changedsince: int | None = None
    vanished: bool = False


@dataclass(frozen=True)
class Store(Command):
    """``mode`` is "" (replace), "+" (add) or "-" (remove); ``unchangedsince``: RFC 7162 3.1.3."""

    name = "STORE"
    states = SELECTED
    sequence: SequenceSet = SequenceSet(())
    mode: str = ""
    silent: bool = False
    flags: tuple[str, ...] = ()
    uid: bool = False
    unchangedsince: int | None = None


@dataclass(frozen=True)
class Copy(Command):
    name = "COPY"
    states = SELECTED
    sequence: SequenceSet = SequenceSet(())
    mailbox: str = ""
    uid: bool = False


@dataclass(frozen=True)
class Move(Copy):
    """RFC 6851."""

    name = "MOVE"
