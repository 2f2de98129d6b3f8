"""The Maildir cache's snapshots (imap/maildir/snapshot.py): the chunked, copy-on-write message order and the change
log, checked against plain lists and dicts under random changes. A snapshot never changes after it is made, and
what it answers fast (flags of a UID, the first unseen, the counts, the changes since an older snapshot) is what a
walk over every message says."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from agentmail.imap.maildir.snapshot import CHUNK, ChangeLog, Entry, MessageList, Ordered
from agentmail.imap.session.views import client_view, diff, total_size, unseen_count

SEEN = frozenset({"\\Seen"})
FLAGS = [frozenset(), SEEN, frozenset({"\\Seen", "\\Flagged"}), frozenset({"$Label1"})]


class Cache:
    """What a snapshot asks of its cache (snapshot.Source), kept by hand beside an ``Ordered``."""

    def __init__(self) -> None:
        self.ordered = Ordered()
        self.log = ChangeLog()
        self.flag_counts: dict[frozenset[str], int] = {}
        self.total_size = 0
        self.truth: dict[int, tuple[Entry, frozenset[str]]] = {}

    def mtime(self, e: Entry) -> float:
        return float(e.uid)

    def _recount(self) -> None:
        self.flag_counts = dict(Counter(fs for _, fs in self.truth.values()))
        self.total_size = sum(e.size for e, _ in self.truth.values())

    def put(self, uid: int, flags: frozenset[str]) -> None:
        e = Entry(uid, f"b{uid}", "cur", "S" if "\\Seen" in flags else "", uid % 97 + 1, None)
        if uid in self.truth:
            self.ordered.replace(e, flags)
        else:
            self.ordered.insert(e, flags)
        self.truth[uid] = (e, flags)
        self.log.touch(uid)
        self._recount()

    def drop(self, uid: int) -> None:
        self.ordered.delete(uid)
        self.truth.pop(uid, None)
        self.log.touch(uid)
        self._recount()

    def snapshot(self) -> tuple[MessageList, list[tuple[int, frozenset[str]]]]:
        return (MessageList(self.ordered, self, self.log.commit()),
                [(uid, self.truth[uid][1]) for uid in sorted(self.truth)])


OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "put", "drop", "snap"]), st.integers(1, 3 * CHUNK),
                         st.integers(0, len(FLAGS) - 1)), max_size=400)


def check(snap: MessageList, want: list[tuple[int, frozenset[str]]]) -> None:
    assert list(snap.uid_flags()) == want
    assert len(snap) == len(want)
    uids, flags, keywords, first, lent = client_view(snap)
    assert list(zip(uids, flags, strict=True)) == want and lent
    assert keywords == {f for _, fs in want for f in fs if not f.startswith("\\")}
    assert first == next((i + 1 for i, (_, fs) in enumerate(want) if "\\Seen" not in fs), None)
    assert unseen_count(snap) == sum(1 for _, fs in want if "\\Seen" not in fs)
    assert total_size(snap) == sum(uid % 97 + 1 for uid, _ in want)
    for i, (uid, fs) in enumerate(want):
        assert snap.flags_of(uid) == fs
        info = snap.find(uid)
        assert info is not None and info.uid == uid and info.flags == fs
        assert snap[i].uid == uid
    assert snap.flags_of(0) is None and snap.flags_of(10**9) is None
    if want:
        assert snap[-1].uid == want[-1][0]
        middle = want[len(want) // 2][0]
        assert snap.uids_from(middle) == [u for u, _ in want if u >= middle]
        assert snap.uids_from(middle + 1) == [u for u, _ in want if u > middle]
    assert [m.uid for m in snap] == [u for u, _ in want]


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_snapshots_never_change_and_answer_like_a_walk(ops: list[tuple[str, int, int]]) -> None:
    cache = Cache()
    taken: list[tuple[MessageList, list[tuple[int, frozenset[str]]]]] = [cache.snapshot()]
    for op, uid, flag in ops:
        if op == "put":
            cache.put(uid, FLAGS[flag])
        elif op == "drop":
            cache.drop(uid)
        else:
            taken.append(cache.snapshot())
    taken.append(cache.snapshot())
    for snap, want in taken:  # every snapshot still says what it said when it was made
        check(snap, want)
    assert all(len(chunk) <= 2 * CHUNK for chunk in cache.ordered.uc)


@settings(max_examples=60, deadline=None)
@given(OPS, st.integers(0, 10))
def test_changes_since_an_older_snapshot_give_the_diff_of_a_walk(ops: list[tuple[str, int, int]], at: int) -> None:
    """A session's view of an older snapshot brought up to date by views.diff: from the change log (O(changes)) it
    must find what the merge walk over both lists finds."""
    cache = Cache()
    for uid in range(1, 200, 3):
        cache.put(uid, FLAGS[uid % len(FLAGS)])
    older, _ = cache.snapshot()
    snaps = []
    for i, (op, uid, flag) in enumerate(ops):
        (cache.put(uid, FLAGS[flag]) if op != "drop" else cache.drop(uid))
        if i == at:
            snaps.append(cache.snapshot()[0])
    newer, _ = cache.snapshot()
    uids, flags = [u for u, _ in older.uid_flags()], [f for _, f in older.uid_flags()]
    from agentmail.imap.session.backend import MailboxState

    old_state, new_state = MailboxState(1, 1, older), MailboxState(1, 1, newer)
    fast = diff(uids, flags, new_state, old_state)
    walk = diff(uids, flags, new_state, None)  # no older state: the merge walk
    assert fast == walk
    for snap in snaps:  # and from a snapshot in between
        mid = MailboxState(1, 1, snap)
        view_uids, view_flags = [u for u, _ in snap.uid_flags()], [f for _, f in snap.uid_flags()]
        assert diff(view_uids, view_flags, new_state, mid) == diff(view_uids, view_flags, new_state, None)


def test_a_change_log_that_no_longer_reaches_back_says_so() -> None:
    log = ChangeLog()
    for uid in range(1, 10):
        log.touch(uid)
        log.commit()
    assert log.between(3, 9) == {4, 5, 6, 7, 8, 9}
    assert log.between(9, 9) == set()
    log.forget()  # a new UIDVALIDITY: nothing before it can be diffed
    assert log.between(8, log.serial) is None
    big = ChangeLog()
    for uid in range(1, 300_000):
        big.touch(uid)
        big.commit()
    assert big.between(1, big.serial) is None  # trimmed: the caller walks instead
    assert big.between(big.serial - 5, big.serial) == set(range(299_995, 300_000))


def test_many_chunks_split_and_vanish() -> None:
    import random

    rng = random.Random(3)
    cache = Cache()
    order = list(range(1, 5001))
    rng.shuffle(order)  # inserts all over: chunks fill, split at twice their size
    taken = []
    for i, uid in enumerate(order):
        cache.put(uid, FLAGS[uid % len(FLAGS)])
        if i % 997 == 0:
            taken.append(cache.snapshot())
    assert len(cache.ordered.uc) > 5 and max(len(c) for c in cache.ordered.uc) <= 2 * CHUNK
    for uid in rng.sample(range(1, 5001), 4000):  # whole chunks go
        cache.drop(uid)
        if uid % 500 == 0:
            taken.append(cache.snapshot())
    for uid in range(5001, 5001 + 3 * CHUNK):  # new mail at the end: fresh chunks
        cache.put(uid, SEEN)
    taken.append(cache.snapshot())
    for snap, want in taken:
        check(snap, want)
