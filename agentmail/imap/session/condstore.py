"""CONDSTORE and QRESYNC (RFC 7162) in a session: mod-sequences as the selected mailbox reports them.

A backend gives each message a mod-sequence (``MessageInfo.modseq``) and the mailbox its highest
(``MailboxState.highestmodseq``; 0: it keeps none, NOMODSEQ); the Maildir one keeps them in ``agentmail-modseq``
(imap/maildir/modseq.py). Here: the QRESYNC parts of SELECT/EXAMINE (RFC 7162 3.2.5), VANISHED (EARLIER) for them and
for UID FETCH (3.2.6), and Dovecot's rule for telling a QRESYNC client its new HIGHESTMODSEQ after a change report
(``Highest``). The response forms are Dovecot 2.3's (tests/imap/dovecot_oracle.py compares them).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

from ..protocol import response as r
from ..protocol.commands import Qresync
from ..protocol.seqset import SequenceSet
from .backend import MessageInfo
from .views import uid_flags

CONDSTORE = "CONDSTORE"
QRESYNC = "QRESYNC"
MAX_UID = 0xFFFFFFFF
NONPERMANENT = "can't be used with non-permanent modseqs"  # Dovecot's words, for a backend without mod-sequences

Ranges = list[tuple[int, int]]


def modseq_item(modseq: int) -> tuple[str, r.Value]:
    """``MODSEQ (n)`` in a FETCH response (RFC 7162 3.1.4.1)."""
    return "MODSEQ", r.Raw(b"(%d)" % modseq)


def modseq_of(messages: Sequence[MessageInfo], uid: int) -> int:
    fast: Callable[[int], int | None] | None = getattr(messages, "modseq_of", None)
    if fast is not None:
        return fast(uid) or 0
    return next((m.modseq for m in messages if m.uid == uid), 0)


def changed_after(messages: Sequence[MessageInfo], modseq: int) -> list[int]:
    """UIDs (ascending) whose mod-sequence is above ``modseq``; the Maildir snapshot does it without a MessageInfo
    per message."""
    fast: Callable[[int], list[int]] | None = getattr(messages, "changed_after", None)
    if fast is not None:
        return fast(modseq)
    return [m.uid for m in messages if m.modseq > modseq]


class Highest:
    """When to tell a QRESYNC client the mailbox's HIGHESTMODSEQ after a change report, as Dovecot's imap-sync.c
    does: after reporting new mail or expunges the client cannot tell the new highest from the FETCH responses it
    got, so it is sent (in the tagged OK when that has no code yet, else untagged); while expunges are held back (a
    FETCH, STORE or SEARCH may not report them, RFC 3501 7.4.1) the value from before them is sent instead, so a
    client that keeps the highest MODSEQ it saw does not skip them."""

    __slots__ = ("last_full", "fetched")

    def __init__(self, highest: int) -> None:
        self.last_full = highest  # the highest the client was told with every change up to it reported
        self.fetched = 0  # the highest MODSEQ sent in FETCH responses since the last report

    def sent(self, modseq: int) -> None:
        if modseq > self.fetched:
            self.fetched = modseq

    def after_sync(self, highest: int, delayed: bool) -> int:
        """The HIGHESTMODSEQ to send after a change report (0: none)."""
        send = 0
        if delayed and self.fetched > self.last_full:
            send = self.last_full
        elif not delayed and highest > self.last_full and highest > self.fetched:
            send = highest
        if not delayed:
            self.last_full = highest
        self.fetched = 0
        return send


def ranges_of(uids: Sequence[int]) -> Ranges:
    """Ascending numbers as (first, last) runs."""
    out: Ranges = []
    for uid in uids:
        if out and out[-1][1] == uid - 1:
            out[-1] = (out[-1][0], uid)
        else:
            out.append((uid, uid))
    return out


def _clip(known: SequenceSet | None, top: int) -> Ranges:
    """The known-UIDs set as sorted, merged ranges within 1..top (all of them when the client gave none)."""
    if top < 1:
        return []
    if known is None:
        return [(1, top)]
    spans = sorted((min(a, b), max(a, b)) for a, b in ((lo or top, hi or top) for lo, hi in known.ranges))
    merged: Ranges = []
    for a, b in spans:
        b = min(b, top)
        if a > b:
            continue
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _within(uids: list[int], ranges: Ranges) -> list[int]:
    out: list[int] = []
    for a, b in ranges:
        out += uids[bisect_left(uids, a):bisect_right(uids, b)]
    return out


def missing(present: list[int], ranges: Ranges) -> Ranges:
    """The parts of ``ranges`` that hold no UID of ``present`` (ascending): the conservative VANISHED."""
    out: Ranges = []
    for a, b in ranges:
        low = a
        for uid in present[bisect_left(present, a):bisect_right(present, b)]:
            if uid > low:
                out.append((low, uid - 1))
            low = uid + 1
        if low <= b:
            out.append((low, b))
    return out


def vanished(told: list[int] | None, present: list[int], known: SequenceSet | None, uidnext: int,
             matched: int = 0) -> Ranges:
    """VANISHED (EARLIER) for a client that knows the UIDs ``known`` (None: every UID below UIDNEXT): the expunges the
    backend ``told`` of, or, when it does not remember that far back (None), every known UID not in the mailbox
    now (RFC 7162 3.2.5.2), leaving out those up to ``matched``, a UID the client's sequence match data showed in
    place (no message below it can have gone)."""
    ranges = _clip(known, min(uidnext - 1, MAX_UID))
    if told is not None:
        return ranges_of(_within(told, ranges))
    if matched:
        ranges = [(max(a, matched + 1), b) for a, b in ranges if b > matched]
    return missing(present, ranges)


def matched_uid(view: list[int], match: tuple[SequenceSet, SequenceSet] | None) -> int:
    """The highest UID of the client's sequence match data (RFC 7162 3.2.5.2) that has the sequence number the
    client says: no message below it was expunged since. 0 when none does (or none was given)."""
    if match is None:
        return 0
    seqs = [n for lo, hi in match[0].ranges for n in range(lo or 0, (hi or 0) + 1)] if _small(match[0]) else []
    uids = [n for lo, hi in match[1].ranges for n in range(lo or 0, (hi or 0) + 1)] if _small(match[1]) else []
    best = 0
    for seq, uid in zip(seqs, uids, strict=False):
        if 0 < seq <= len(view) and view[seq - 1] == uid:
            best = max(best, uid)
    return best


def _small(s: SequenceSet) -> bool:
    """A match set worth enumerating (RFC 7162 suggests a handful of samples; a client's ranges are bounded)."""
    return sum(abs((hi or 0) - (lo or 0)) + 1 for lo, hi in s.ranges) <= 100_000


def qresync_select(params: Qresync, view: list[int], flags: list[frozenset[str]], uidvalidity: int, uidnext: int,
                   messages: Sequence[MessageInfo], told: Callable[[int], list[int] | None],
                   flag_value: Callable[[int, frozenset[str]], r.Raw]) -> list[r.Response]:
    """What SELECT/EXAMINE (QRESYNC (...)) adds after the usual responses (RFC 7162 3.2.5.2), in Dovecot's order:
    VANISHED (EARLIER) for the expunges since the client's mod-sequence, then ``FETCH (UID FLAGS MODSEQ)`` for every
    message changed since then (within the known UIDs). Nothing when the UIDVALIDITY is not the client's."""
    if params.uidvalidity != uidvalidity:
        return []
    out: list[r.Response] = []
    gone = vanished(told(params.modseq), view, params.known_uids, uidnext, matched_uid(view, params.seq_match))
    if gone:
        out.append(r.VanishedResponse(gone, earlier=True))
    changed = changed_after(messages, params.modseq)
    if params.known_uids is not None:
        changed = _within(changed, _clip(params.known_uids, MAX_UID))
    for uid in changed:
        i = bisect_left(view, uid)
        if i < len(view) and view[i] == uid:
            out.append(r.FetchResponse(i + 1, [("UID", uid), ("FLAGS", flag_value(uid, flags[i])),
                                               modseq_item(modseq_of(messages, uid))]))
    return out


def present_uids(messages: Sequence[MessageInfo]) -> list[int]:
    return [uid for uid, _ in uid_flags(messages)]
