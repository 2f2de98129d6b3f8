"""What SELECT, STATUS, COPY and the change report need of a mailbox state, without a walk over every message when
the backend can say it at once.

A backend's ``MailboxState.messages`` may offer (the Maildir cache's snapshots do, imap/maildir/snapshot.py):
``client_view()`` (copies of the UID and flag lists, the keywords in use, the first unseen message),
``unseen_count()``, ``total_size()``, ``flags_of(uid)`` and ``changed_since(older)`` (the UIDs added, removed or
re-flagged since an older state of the same mailbox, None when it cannot tell). Each function here uses them when
present and walks the messages otherwise, so a backend without them (the tests' in-memory one) is served the same.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from .backend import MailboxState, MessageInfo

SEEN = "\\Seen"

Diff = tuple[list[int], list[tuple[int, int, frozenset[str]]], list[tuple[int, frozenset[str]]]]


def uid_flags(messages: Sequence[MessageInfo]) -> Iterator[tuple[int, frozenset[str]]]:
    """(uid, flags) of every message; a backend's ``uid_flags`` (the Maildir cache) skips building
    a ``MessageInfo`` (and its datetime) per message."""
    fast: Callable[[], Iterator[tuple[int, frozenset[str]]]] | None = getattr(messages, "uid_flags", None)
    return fast() if fast is not None else ((m.uid, m.flags) for m in messages)


View = tuple[list[int], list[frozenset[str]], set[str], int | None, bool]


def client_view(messages: Sequence[MessageInfo]) -> View:
    """(UIDs, flags, keywords in use, sequence number of the first unseen message or None, lent) for a new session
    view. ``lent``: the lists are the backend's own (never changed by it afterwards): copy them before changing."""
    fast: Callable[[], View] | None = getattr(messages, "client_view", None)
    if fast is not None:
        return fast()
    uids: list[int] = []
    flags: list[frozenset[str]] = []
    for uid, fs in uid_flags(messages):  # one pass
        uids.append(uid)
        flags.append(fs)
    keywords = {f for fs in set(flags) for f in fs if not f.startswith("\\")}
    unseen = next((i + 1 for i, fs in enumerate(flags) if SEEN not in fs), None)
    return uids, flags, keywords, unseen, False


def unseen_count(messages: Sequence[MessageInfo]) -> int:
    fast: Callable[[], int] | None = getattr(messages, "unseen_count", None)
    return fast() if fast is not None else sum(1 for _, fs in uid_flags(messages) if SEEN not in fs)


def total_size(messages: Sequence[MessageInfo]) -> int:
    fast: Callable[[], int] | None = getattr(messages, "total_size", None)
    return fast() if fast is not None else sum(m.size for m in messages)


def diff(uids: list[int], flags: list[frozenset[str]], state: MailboxState, since: MailboxState | None) -> Diff:
    """How ``state`` differs from a session's view (``uids`` ascending, ``flags`` beside them), which matched
    ``since`` plus its own changes: (indexes of UIDs gone, ascending; (index, uid, flags) of changed flags;
    (uid, flags) of new messages above the view's last UID). O(changes) when the backend tells what changed since
    ``since``; else one merge walk of both sorted UID lists (nothing built per message)."""
    touched = None
    changed_since: Callable[[object], set[int] | None] | None = getattr(state.messages, "changed_since", None)
    flags_of: Callable[[int], frozenset[str] | None] | None = getattr(state.messages, "flags_of", None)
    if changed_since is not None and flags_of is not None and since is not None:
        touched = changed_since(since.messages)
    count = len(uids)
    last = uids[-1] if uids else 0
    gone: list[int] = []
    changed: list[tuple[int, int, frozenset[str]]] = []
    new: list[tuple[int, frozenset[str]]] = []
    if touched is not None and flags_of is not None:
        for uid in sorted(touched):
            fs = flags_of(uid)
            i = bisect_left(uids, uid)
            if i < count and uids[i] == uid:
                if fs is None:
                    gone.append(i)
                elif fs != flags[i]:
                    changed.append((i, uid, fs))
            elif fs is not None and uid > last:
                new.append((uid, fs))
        return gone, changed, new
    i = 0
    for uid, fs in uid_flags(state.messages):
        while i < count and uids[i] < uid:
            gone.append(i)
            i += 1
        if i < count and uids[i] == uid:
            if fs != flags[i]:
                changed.append((i, uid, fs))
            i += 1
        elif uid > last:
            new.append((uid, fs))
    gone.extend(range(i, count))
    return gone, changed, new


class Destination:
    """What COPY and MOVE need of their destination: its UIDVALIDITY (for COPYUID) and whether it is read-only."""

    def __init__(self, uidvalidity: int, read_only: bool) -> None:
        self.uidvalidity = uidvalidity
        self.read_only = read_only


def destination(backend: object, account: str, mailbox: str) -> Destination:
    """A backend's ``uidvalidity(account, mailbox) -> (uidvalidity, read_only)`` (the Maildir one reads the uidlist
    header: no listing of a 100,000-message folder in one uninterruptible call), else its whole state."""
    fast: Callable[[str, str], tuple[int, bool]] | None = getattr(backend, "uidvalidity", None)
    if fast is not None:
        return Destination(*fast(account, mailbox))
    state: MailboxState = backend.state(account, mailbox)  # type: ignore[attr-defined]
    return Destination(state.uidvalidity, state.read_only)
