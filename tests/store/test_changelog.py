"""The change log of a folder (store/changelog.py): agentmail's own changes are followed without listing the folder;
any other program's change is noticed (also one in the same clock tick as ours), and a log that cannot be used costs
a listing, never a wrong answer."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from agentmail.store import changelog
from agentmail.store.changelog import Change, LogBusy, catch_up
from agentmail.store.maildir import Maildir


@pytest.fixture
def box(tmp_path: Path) -> Maildir:
    return Maildir(str(tmp_path / "maildirs" / "bob")).create()


@pytest.fixture
def log(box: Maildir) -> str:
    path = changelog.log_for(box)
    assert path == os.path.join(os.path.dirname(os.path.dirname(box.path)), "cache", "bob.INBOX.log")
    return path


def deliver(box: Maildir, log: str, n: int, sub: str = "new") -> str:
    with Change(box, log) as change:
        name = box.deliver(b"Subject: %d\n\nbody\n" % n, sub, "" if sub == "new" else "S")
        change.add(sub, name)
    return name


def fresh(box: Maildir, log: str) -> changelog.CatchUp:
    """A cache that knows nothing: lists both directories."""
    return catch_up(box, log, "", {})


def follow(box: Maildir, log: str, known: changelog.CatchUp) -> changelog.CatchUp:
    return catch_up(box, log, known.cursor, dict(known.stamps))


def test_own_changes_are_followed_without_listing(box: Maildir, log: str) -> None:
    first = fresh(box, log)
    assert set(first.listed) == {"new", "cur"} and first.listed == {"new": [], "cur": []}
    name = deliver(box, log, 1)
    after = follow(box, log, first)
    assert after.listed == {}
    assert after.lines == [[("+", "new", name)]]
    with Change(box, log) as change:
        announced = box.announce(name)
        change.remove("new", name)
        change.add("cur", announced)
    again = follow(box, log, after)
    assert again.listed == {} and again.lines == [[("-", "new", name), ("+", "cur", announced)]]
    assert follow(box, log, again).lines == []


def test_marker_moves_the_mtime_and_is_logged(box: Maildir, log: str) -> None:
    cur = os.path.join(box.path, "cur")
    before = os.lstat(cur).st_mtime_ns
    deliver(box, log, 1, "cur")
    after = os.lstat(cur)
    line = Path(log).read_text().splitlines()[-1].split(" ")
    assert line[2] == f"{after.st_ino}:{before}" and line[3] == f"{after.st_ino}:{after.st_mtime_ns}"
    assert after.st_mtime_ns > before


def test_foreign_changes_right_after_ours_are_noticed(box: Maildir, log: str) -> None:
    known = fresh(box, log)
    for n in range(50):
        name = deliver(box, log, n, "cur")
        os.rename(os.path.join(box.path, "cur", name), os.path.join(box.path, "cur", name + "T"))  # not logged
        known = follow(box, log, known)
        assert "cur" in known.listed, f"round {n}: a foreign rename right after ours went unseen"
        assert name + "T" in known.listed["cur"] and name not in known.listed["cur"]


def test_foreign_change_in_the_same_clock_tick_is_noticed(box: Maildir, log: str) -> None:
    """A kernel with a coarse clock gives every change within one tick the same mtime, so another program's rename
    right after ours would leave cur/'s mtime as our change left it. The tick is played here by setting the mtime
    the kernel would give (a fixed value) after each rename: only the marker, a value the kernel never gives, shows
    the second rename."""
    cur = os.path.join(box.path, "cur")
    tick = time.time_ns() // 1000 * 1000 + 123  # the one clock value of this tick (not a whole second)
    known = fresh(box, log)
    with Change(box, log) as change:
        name = box.deliver(b"Subject: ours\n\nbody\n", "cur", "S")
        os.utime(cur, ns=(tick, tick))  # the kernel's mtime for our link
        change.add("cur", name)
    os.rename(os.path.join(cur, name), os.path.join(cur, name[:-1]))  # another program marks it unread...
    os.utime(cur, ns=(tick, tick))  # ... in the same tick
    later = follow(box, log, known)
    assert later.listed == {"cur": [name[:-1]]}


def test_foreign_change_lists_only_that_directory(box: Maildir, log: str) -> None:
    known = fresh(box, log)
    Path(box.path, "new", "1.M1P1Q1.other").write_bytes(b"Subject: from postfix\n\nhi\n")  # a foreign delivery
    later = follow(box, log, known)
    assert later.listed == {"new": ["1.M1P1Q1.other"]}
    # the marker it set on new/ was logged: a second cache that knew the old stamps follows it too
    assert follow(box, log, known).listed == {"new": ["1.M1P1Q1.other"]}
    assert follow(box, log, later).listed == {}


def test_a_second_cache_follows_the_markers_of_the_first(box: Maildir, log: str) -> None:
    """Two caches over one folder (the unread list and the index) do not make each other list it again."""
    a = fresh(box, log)
    b = fresh(box, log)
    assert follow(box, log, a).listed == {}  # b's listing marked the directories: a followed the log line
    deliver(box, log, 1)
    assert follow(box, log, a).listed == {} and follow(box, log, b).listed == {}


def test_unlogged_change_of_a_log_that_stays_locked(box: Maildir, log: str, monkeypatch: pytest.MonkeyPatch) -> None:
    known = fresh(box, log)
    monkeypatch.setattr(changelog, "LOCK_WAIT", 0.2)
    holder = os.open(log, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file description: conflicts as another process would
    try:
        size = os.path.getsize(log)
        name = deliver(box, log, 1)  # goes ahead, unlogged
        assert os.path.getsize(log) == size and os.path.exists(os.path.join(box.path, "new", name))
        with pytest.raises(LogBusy):
            follow(box, log, known)
    finally:
        os.close(holder)
    assert follow(box, log, known).listed["new"] == [name]  # the unlogged change is a foreign one


def test_names_with_spaces_newlines_and_percent_round_trip(box: Maildir, log: str) -> None:
    known = fresh(box, log)
    odd = "1.M2P3Q4.host with space%20\nnewline\tand tab\x1c\u2028,S=1:2,"
    with Change(box, log) as change:
        Path(box.path, "cur", odd).write_bytes(b"x\n")
        change.add("cur", odd)
    assert follow(box, log, known).lines == [[("+", "cur", odd)]]


def test_torn_last_line_is_not_read_and_a_damaged_line_lists_again(box: Maildir, log: str) -> None:
    known = fresh(box, log)
    with open(log, "ab") as fh:
        fh.write(b"1:2 1:2 3:4 3:4 +cur/half-written")  # a writer killed mid-line
    assert follow(box, log, known).lines == [] and follow(box, log, known).listed == {}
    with open(log, "ab") as fh:
        fh.write(b"\ngarbage\n")
    assert set(follow(box, log, known).listed) == {"new", "cur"}


def test_rotation_is_followed_once_and_a_lost_cursor_lists(box: Maildir, log: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changelog, "LOG_MAX", 2000)
    known = fresh(box, log)
    names = [deliver(box, log, n) for n in range(8)]  # about 1,200 bytes: not rotated yet
    first_inode = os.stat(log).st_ino
    names += [deliver(box, log, n) for n in range(8, 16)]  # rotated once
    assert os.stat(log).st_ino != first_inode and os.path.exists(log + ".1")
    later = follow(box, log, known)
    assert later.listed == {}
    assert [op for line in later.lines for op in line] == [("+", "new", n) for n in names]
    names += [deliver(box, log, n) for n in range(16, 60)]  # rotated twice more: `later` cannot follow
    assert set(follow(box, log, later).listed) == {"new", "cur"}


def test_whole_second_mtimes_are_trusted_only_once_settled(box: Maildir, log: str) -> None:
    """A file system without sub-second timestamps cannot keep a marker: a listing is trusted only when the
    directory's mtime is over a second old (a later change then lands in a later second)."""
    cur = os.path.join(box.path, "cur")
    now = int(time.time())
    os.utime(cur, (now, now))  # whole seconds, just now
    known = fresh(box, log)
    assert known.stamps["cur"].startswith("!")  # dirty
    assert "cur" in follow(box, log, known).listed  # so listed again
    os.utime(cur, (now - 5, now - 5))
    settled = fresh(box, log)
    assert not settled.stamps["cur"].startswith("!")
    assert follow(box, log, settled).listed == {}


def test_missing_folder_is_empty_and_the_journal_has_no_log(tmp_path: Path) -> None:
    box = Maildir(str(tmp_path / "maildirs" / "bob" / ".Todo"))
    log = changelog.log_for(box)
    assert log is not None and log.endswith("cache/bob.Todo.log")
    assert fresh(box, log).listed == {"new": [], "cur": []}
    assert changelog.log_for(Maildir(str(tmp_path / "journal"))) is None
    journal = Maildir(str(tmp_path / "journal")).create()
    with Change(journal, None) as change:  # nobody follows it: nothing is locked or written
        change.add("new", journal.deliver(b"x\n"))
    assert os.listdir(tmp_path / "cache") == ["bob.Todo.log"]


def test_a_log_without_its_header_is_started_again(box: Maildir, log: str) -> None:
    fresh(box, log)
    Path(log).write_bytes(b"this is not a change log\n")
    known = fresh(box, log)
    assert Path(log).read_text().startswith(changelog.MAGIC + " ")
    assert follow(box, log, known).listed == {}
    deliver(box, log, 1)
    assert follow(box, log, known).listed == {}


@pytest.mark.parametrize("path", ["deliver", "group commit"])
def test_deliveries_are_logged(tmp_path: Path, path: str) -> None:
    """Every delivery path (the CLI's deliver(), agentmail serve's batches) logs what it links, into the inbox and
    into the sender's Sent: caches follow without listing either folder."""
    from agentmail.delivery.deliver import deliver
    from agentmail.delivery.group_commit import Syncer, deliver_many
    from agentmail.store import registry
    from tests.support.store import make_store

    store = make_store(tmp_path / "home")
    cfg = store.cfg
    boxes = [registry.mailbox(cfg, "alice"), registry.mailbox(cfg, "bob", "Sent")]
    known = [fresh(box, changelog.log_for(box) or "") for box in boxes]
    data = [b"From: bob@agents.localhost\nTo: alice@agents.localhost\nSubject: %d\nMessage-ID: <%d@x>\n\nhi\n" % (n, n)
            for n in range(3)]
    if path == "deliver":
        for message in data:
            deliver(cfg, message, ["alice"], sender="bob")
    else:
        jobs = [{"data": m, "recipients": ["alice"], "sender": "bob", "via": "smtp"} for m in data]
        assert all(not isinstance(r, Exception) for r in deliver_many(cfg, jobs, Syncer(str(store.home))))
    for box, cache, sub in zip(boxes, known, ("new", "cur"), strict=True):
        later = follow(box, changelog.log_for(box) or "", cache)
        assert later.listed == {}
        assert sorted(name for line in later.lines for _, _, name in line) == sorted(os.listdir(
            os.path.join(box.path, sub)))
