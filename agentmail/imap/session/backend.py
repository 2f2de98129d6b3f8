"""What the session needs from the mail store: the ``Backend`` protocol and its value types.

The Maildir implementation lives with the store; tests use an in-memory one. Mailbox names here
are Unicode with "/" as the hierarchy delimiter (the session does the modified UTF-7). Methods
signal failures by raising ``errors.ImapNo`` with a response code, e.g.
``ImapNo("Mailbox does not exist", "NONEXISTENT")`` or ``ImapNo("...", "TRYCREATE")``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

DELIMITER = "/"


@dataclass(frozen=True)
class MailboxInfo:
    name: str  # Unicode, "/"-separated, "INBOX" for the inbox
    special_use: tuple[str, ...] = ()  # RFC 6154: "\\Sent", "\\Archive", ...
    selectable: bool = True
    read_only: bool = False


class MessageInfo:
    """One message's metadata. ``internal_date`` (timezone-aware) may be given as a callable, so a
    backend that needs a ``stat`` for it (the Maildir mtime) pays only when INTERNALDATE is asked for."""

    __slots__ = ("uid", "flags", "size", "_date", "modseq")

    def __init__(self, uid: int, flags: frozenset[str], size: int,
                 internal_date: dt.datetime | Callable[[], dt.datetime], modseq: int = 0) -> None:
        self.uid = uid
        self.flags = flags  # system flags ("\\Seen") and keywords ("$MDNSent")
        self.size = size  # RFC822.SIZE: the CRLF size
        self._date = internal_date
        self.modseq = modseq  # RFC 7162 mod-sequence; 0 when the backend keeps none

    @property
    def internal_date(self) -> dt.datetime:
        date = self._date
        if not isinstance(date, dt.datetime):
            date = self._date = date()
        return date

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageInfo):
            return NotImplemented
        return (self.uid, self.flags, self.size, self.internal_date) == (
            other.uid, other.flags, other.size, other.internal_date)

    def __hash__(self) -> int:
        return hash((self.uid, self.flags, self.size))

    def __repr__(self) -> str:
        return f"MessageInfo(uid={self.uid}, flags={set(self.flags)!r}, size={self.size})"


@dataclass(frozen=True)
class MailboxState:
    uidvalidity: int
    uidnext: int
    messages: Sequence[MessageInfo]  # in UID order
    read_only: bool = False
    # RFC 7162: the highest mod-sequence of the mailbox; 0 when the backend keeps no persistent mod-sequences
    # (the session then answers NOMODSEQ and refuses CONDSTORE's modifiers, as Dovecot does)
    highestmodseq: int = 0


class Backend(Protocol):
    def login(self, user: str, password: str) -> str | None:
        """The account name for valid credentials (name or full address), else None."""

    def mailboxes(self, account: str) -> Sequence[MailboxInfo]:
        """Every mailbox the account can see (for LIST/LSUB)."""

    def state(self, account: str, mailbox: str) -> MailboxState:
        """Current UIDs, flags and sizes; the session diffs successive states to report changes."""

    def message(self, account: str, mailbox: str, uid: int) -> bytes:
        """The message as served: CRLF line endings (see crlf.to_crlf)."""

    def set_flags(self, account: str, mailbox: str, uid: int, flags: frozenset[str]) -> int | None:
        """Replace the flags of one message (keywords included); its new mod-sequence when the backend keeps them."""

    def store_flags(self, account: str, mailbox: str,
                    changes: Sequence[tuple[int, frozenset[str]]]) -> dict[int, int | None]:
        """``set_flags`` for a batch of messages (STORE takes them ``selected.BATCH`` at a time, so a store can
        record the batch as one change); UID -> its new mod-sequence (None: not kept), without the messages
        expunged meanwhile."""

    def append(self, account: str, mailbox: str, message: bytes, flags: frozenset[str],
               date: dt.datetime | None) -> int | None:
        """Store a message (CRLF as received) and return its UID (None: stored, but its UID is not known yet)."""

    def copy(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        """Copy messages; returns the new UIDs in the order of ``uids`` ([]: copied, UIDs not known yet)."""

    def move(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        """Move messages (RFC 6851): copy then expunge, atomically where the store can."""

    def expunge(self, account: str, mailbox: str, uids: Sequence[int]) -> None:
        """Remove the given messages."""

    # Optional, for QRESYNC (RFC 7162 3.2): ``vanished(account, mailbox, modseq) -> list[int] | None``, the UIDs
    # expunged after that mod-sequence (ascending), None when the backend no longer remembers that far back (the
    # session then answers with every UID it cannot find, as RFC 7162 3.2.5.2 allows).

    def create(self, account: str, mailbox: str) -> None: ...

    def delete(self, account: str, mailbox: str) -> None: ...

    def rename(self, account: str, old: str, new: str) -> None: ...
