"""Dot-locks held, left and fought over by real processes.

- A writer stopped (SIGSTOP) inside `DotLock.replace` holds the lock: `agentmail send` waits AGENTMAIL_LOCK_WAIT and
  exits 75 ("delivered to nobody"), leaving nothing anywhere. Once that writer is SIGKILLed, its lock names a dead
  pid and the next send takes it over at once, far inside Dovecot's 2-minute stale rule.
- The lock file only ever holds "<pid>:<host>", never uidlist data; a lock with anything else keeps the 2-minute rule.
- A process stopped in the middle of taking over a stale lock: nobody else holds the lock meanwhile or after.
- A FIFO or a symlink in the lock's place never hangs a writer nor is followed out of the store.
- `agentmail cleanup` reports and removes the locks and lock temp files of dead writers, and nothing held.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmail import config
from agentmail.errors import TempFailError
from agentmail.store import uidlist
from agentmail.store.dotlock import DotLock, break_stale, is_stale
from agentmail.store.maildir import Maildir, crlf_size, split_name
from tests.support.cli import run_script
from tests.support.messages import assert_complete, files
from tests.support.store import SENDMAIL, create_accounts, env_for

HOST = os.uname().nodename

# Runs uidlist.sync (which rewrites the uidlist through DotLock.replace) and stops itself with SIGSTOP at a chosen
# point: "rename" just before the new uidlist is renamed into place, "unlink" just after, before the lock goes.
# The profile hook only watches which C functions the real code calls; it changes nothing the code does.
STOPPED_WRITER = """
import os, signal, sys
from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
where = sys.argv[2]
renamed = False
def hook(frame, event, arg):
    global renamed
    if event != "c_call":
        return
    if arg is os.rename:
        if where == "rename":
            os.kill(os.getpid(), signal.SIGSTOP)
        renamed = True
    elif arg is os.unlink and renamed and where == "unlink":
        os.kill(os.getpid(), signal.SIGSTOP)
sys.setprofile(hook)
uidlist.sync(Maildir(sys.argv[1]))
"""


def start_stopped_writer(home: Path, box: Path, where: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", STOPPED_WRITER, str(box), where], env=env_for(home))
    _, status = os.waitpid(proc.pid, os.WUNTRACED)  # returns once the writer has stopped itself
    assert os.WIFSTOPPED(status), f"the writer did not stop (status {status:#x})"
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()  # SIGKILL also ends a stopped process
    proc.wait(30)


def tree(home: Path) -> dict[str, int]:
    """{path: size} of every file in the store but locks and lock temp files."""
    out = {}
    for root, _, names in os.walk(home):
        for name in names:
            if ".lock" not in name:
                path = os.path.join(root, name)
                out[path] = os.lstat(path).st_size
    return out


def assert_uids_consistent(box: Path) -> None:
    """After a sync (which numbers files nobody numbered yet), every message file has exactly one record, and
    UIDs ascend and stay within 32 bits."""
    uidlist.sync(Maildir(str(box)))
    parsed = uidlist.read(Maildir(str(box)))
    assert parsed is not None
    uids = [r[0] for r in parsed.records]
    assert uids == sorted(set(uids)) and all(0 < u <= uidlist.MAX_UID for u in uids)
    listed = sorted(split_name(p.name)[0] for p in files(box))
    assert sorted(r[2] for r in parsed.records) == listed


@pytest.fixture
def store(home: Path) -> Iterator[Path]:
    """alice, bob and carol; bob has one postcard and one file no uidlist numbers yet (so a sync rewrites)."""
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob", "carol")
    run_script(home, "--as", "alice", "send", "bob", "first", "x").ok()
    data = files(home / "maildirs" / "bob")[0].read_bytes()
    name = f"1700000000.M1P1Q1.elsewhere,S={len(data)},W={crlf_size(data)}:2,S"
    (home / "maildirs" / "bob" / "cur" / name).write_bytes(data)
    yield home


@pytest.mark.parametrize("where", ["rename", "unlink"])
def test_writer_stopped_inside_replace_blocks_with_75_and_once_killed_is_taken_over(store: Path, where: str) -> None:
    home = store
    bob = home / "maildirs" / "bob"
    writer = start_stopped_writer(home, bob, where)
    try:
        lock = bob / "dovecot-uidlist.lock"
        assert lock.read_text() == f"{writer.pid}:{HOST}"  # the owner, never uidlist data
        before = tree(home)
        res = run_script(home, "--as", "alice", "send", "bob", "while locked", "x",
                         env={"AGENTMAIL_LOCK_WAIT": "1"}).fails(75)
        assert f"is held by another process (pid {writer.pid})" in res.err and "delivered to nobody" in res.err
        assert "Traceback" not in res.err
        assert tree(home) == before  # no copy anywhere, nothing left in any tmp/
        sendmail = subprocess.run([SENDMAIL, "-f", "alice@agents.localhost", "bob"], input=b"Subject: s\n\nbody\n",
                                  env=env_for(home, AGENTMAIL_LOCK_WAIT="1"), capture_output=True, timeout=60)
        assert sendmail.returncode == 75, sendmail.stderr
        assert tree(home) == before
    finally:
        kill(writer)
    assert lock.read_text() == f"{writer.pid}:{HOST}"  # left behind by the kill, naming a dead pid
    started = time.monotonic()
    run_script(home, "--as", "alice", "send", "bob", "after the kill", "x").ok()
    assert time.monotonic() - started < 30  # taken over at once, not after the 120 s stale rule
    assert not lock.exists()
    assert len([p for p in files(bob) if b"after the kill" in p.read_bytes()]) == 1
    for path in files(bob):
        assert_complete(path)
    assert_uids_consistent(bob)
    temps = [p.name for p in bob.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == (1 if where == "rename" else 0)  # the new uidlist the killed writer never renamed
    out = run_script(home, "cleanup").ok().out
    assert f"remove stale lock temp file {bob}/{temps[0]}" in out if temps else "lock temp" not in out
    assert [p.name for p in bob.iterdir() if p.name.endswith(".tmp")] == []


def test_busy_lock_of_a_second_recipient_names_who_got_it(store: Path) -> None:
    home = store
    holder = subprocess.Popen(["sleep", "60"])
    try:
        (home / "maildirs" / "carol" / "dovecot-uidlist.lock").write_text(f"{holder.pid}:{HOST}")
        res = run_script(home, "--as", "alice", "send", "bob,carol", "half", "x",
                         env={"AGENTMAIL_LOCK_WAIT": "0.5"}).fails(75)
        assert "delivered to bob; NOT delivered to carol" in res.err
    finally:
        kill(holder)
    assert len([p for p in files(home / "maildirs" / "bob") if b"half" in p.read_bytes()]) == 1
    assert [p for p in files(home / "maildirs" / "carol") if b"half" in p.read_bytes()] == []
    assert len([p for p in files(home / "journal") if b"half" in p.read_bytes()]) == 1  # bob got it: journaled
    for name in ("alice", "bob", "carol"):
        assert list((home / "maildirs" / name / "tmp").iterdir()) == []
    assert list((home / "journal" / "tmp").iterdir()) == []


def test_lock_holding_other_content_keeps_the_two_minute_rule(tmp_path: Path) -> None:
    """What Dovecot's file_dotlock_replace (and agentmail before) left: a lock full of uidlist data. Nobody can
    tell whose it is, so only its age makes it stale."""
    target = str(tmp_path / "dovecot-uidlist")
    lock = Path(target + ".lock")
    lock.write_text("3 V1700000000 N2 G0f1e2d3c4b5a69788796a5b4c3d2e1f0\n1 :1700000000.M1P1Q1.h\n")
    with pytest.raises(TempFailError, match="is held by another process; try again"):
        DotLock(target, wait=0.3).acquire()
    old = time.time() - 121
    os.utime(lock, (old, old))
    with DotLock(target, wait=0.3) as held:
        assert lock.read_text() == f"{os.getpid()}:{HOST}"
        held.write(b"3 V1 N1\n")
        assert lock.exists() and Path(target).read_bytes() == b"3 V1 N1\n"  # write() keeps the lock
    assert not lock.exists()


# B: takes the lock, and stops itself (SIGSTOP) the moment it is about to remove the stale lock it found.
TAKER = """
import os, signal, sys, time
from agentmail.store.dotlock import DotLock
target, marker = sys.argv[1], sys.argv[2]
def hook(frame, event, arg):
    if event == "c_call" and arg is os.unlink:
        sys.setprofile(None)
        os.kill(os.getpid(), signal.SIGSTOP)
sys.setprofile(hook)
with DotLock(target, wait=60):
    sys.setprofile(None)
    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # FileExistsError: two holders at once
    time.sleep(0.2)
    os.unlink(marker)
"""
# A: takes the lock (or gives up with 75) and holds it until told to let go.
HOLDER = """
import os, sys
from agentmail.errors import TempFailError
from agentmail.store.dotlock import DotLock
target, marker = sys.argv[1], sys.argv[2]
try:
    with DotLock(target, wait=float(sys.argv[3])):
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        print("holding", flush=True)
        sys.stdin.readline()
        os.unlink(marker)
except TempFailError:
    sys.exit(75)
"""


def test_a_stale_lock_is_taken_over_by_one_process_only(tmp_path: Path) -> None:
    """B finds a stale lock and is stopped just before removing it; A comes along meanwhile. Whatever A does, B,
    once resumed, must not remove a lock A took: at no moment may both hold it (each creates the same file with
    O_EXCL while holding). Without the takeover's flock and re-check, A takes the lock and B then removes it."""
    target = str(tmp_path / "dovecot-uidlist")
    marker = str(tmp_path / "inside")
    dead = subprocess.Popen(["true"])
    dead.wait()
    Path(target + ".lock").write_text(f"{dead.pid}:{HOST}")
    taker = subprocess.Popen([sys.executable, "-c", TAKER, target, marker], stderr=subprocess.PIPE)
    _, status = os.waitpid(taker.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"B did not stop (status {status:#x})"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, target, marker, "2"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        held = holder.stdout.readline() == b"holding\n"  # or b"" once it gave up
        os.kill(taker.pid, signal.SIGCONT)
        if held:
            time.sleep(0.5)  # give B the moment it would need to (wrongly) take A's lock
            holder.stdin.write(b"done\n")
            holder.stdin.flush()
        _, err = holder.communicate(timeout=60)
        assert holder.returncode in (0, 75), err.decode()
        _, err = taker.communicate(timeout=60)
        assert taker.returncode == 0, err.decode()
    finally:
        for proc in (holder, taker):
            proc.kill()
            proc.wait()
    assert not os.path.exists(target + ".lock") and not os.path.exists(marker)


def test_fifo_in_the_lock_place_never_hangs_a_writer(tmp_path: Path) -> None:
    target = str(tmp_path / "dovecot-uidlist")
    os.mkfifo(target + ".lock")
    started = time.monotonic()
    with pytest.raises(TempFailError):
        DotLock(target, wait=0.3).acquire()
    assert time.monotonic() - started < 30
    old = time.time() - 121
    os.utime(target + ".lock", (old, old))
    with DotLock(target, wait=0.3):
        assert Path(target + ".lock").is_file()


def test_symlink_in_the_lock_place_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text(f"{os.getpid()}:{HOST}")  # would look like a live lock if it were followed
    box = tmp_path / "box"
    box.mkdir()
    target = str(box / "dovecot-uidlist")
    os.symlink(outside, target + ".lock")
    old = time.time() - 121
    os.utime(target + ".lock", (old, old), follow_symlinks=False)
    assert is_stale(target + ".lock")  # judged by the link's own age: its target is never read
    with DotLock(target, wait=0.3) as held:
        held.write(b"3 V1 N1\n")
    assert outside.read_text() == f"{os.getpid()}:{HOST}" and not os.path.lexists(target + ".lock")


def test_break_stale_leaves_a_live_lock(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(f"{os.getpid()}:{HOST}")
    assert not is_stale(str(lock)) and not break_stale(str(lock))
    assert lock.exists()
    lock.write_text(f"{os.getpid()}:another-host")  # another machine's pid cannot be checked: age alone
    assert not break_stale(str(lock))
    old = time.time() - 121
    os.utime(lock, (old, old))
    assert break_stale(str(lock)) and not lock.exists()


def test_lock_taken_from_a_stopped_holder_is_not_removed_by_it(tmp_path: Path) -> None:
    """A holder stopped past the stale rule loses its lock; when it wakes up it must neither write through nor
    remove the new owner's lock (as Dovecot's file_dotlock_replace checks for an overridden dotlock)."""
    target = str(tmp_path / "dovecot-uidlist")
    first = DotLock(target, wait=0.3)
    first.acquire()
    old = time.time() - 121
    os.utime(target + ".lock", (old, old))
    second = DotLock(target, wait=0.3)
    second.acquire()  # the old lock looked stale: taken over
    with pytest.raises(TempFailError, match="taken over"):
        first.write(b"stale data\n")
    first.release()
    assert Path(target + ".lock").exists() and not os.path.exists(target)
    second.replace(b"3 V1 N1\n")
    assert Path(target).read_bytes() == b"3 V1 N1\n" and not Path(target + ".lock").exists()


def test_cleanup_reports_and_clears_locks_of_dead_writers_only(store: Path) -> None:
    home = store
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])
    bob, carol, alice = (home / "maildirs" / n for n in ("bob", "carol", "alice"))
    try:
        (bob / "dovecot-uidlist.lock").write_text(f"{dead.pid}:{HOST}")
        (bob / "dovecot-keywords.lock").write_text(f"{dead.pid}:{HOST}")
        (home / "passwd.lock").write_text(f"{dead.pid}:{HOST}")
        temp = bob / f"dovecot-uidlist.lock.{dead.pid}.140000.tmp"
        temp.write_text("3 V1 N1\n")
        (carol / "dovecot-uidlist.lock").write_text(f"{live.pid}:{HOST}")
        (alice / "dovecot-uidlist.lock").write_text("3 V1 N1\n")  # unknown owner, fresh: the 2-minute rule
        dry = run_script(home, "cleanup", "--dry-run").ok().out
        for path in (bob / "dovecot-uidlist.lock", bob / "dovecot-keywords.lock", home / "passwd.lock"):
            assert f"remove stale lock {path} (pid {dead.pid} is gone)" in dry
            assert path.exists()
        assert f"remove stale lock temp file {temp}" in dry and temp.exists()
        assert str(carol) not in dry and str(alice / "dovecot-uidlist.lock") not in dry
        run_script(home, "cleanup").ok()
        assert not (bob / "dovecot-uidlist.lock").exists() and not (home / "passwd.lock").exists()
        assert not temp.exists()
        assert (carol / "dovecot-uidlist.lock").exists() and (alice / "dovecot-uidlist.lock").exists()
        old = time.time() - 121
        os.utime(alice / "dovecot-uidlist.lock", (old, old))
        out = run_script(home, "cleanup").ok().out
        assert f"remove stale lock {alice / 'dovecot-uidlist.lock'} (unchanged for 2 minutes)" in out
        assert (carol / "dovecot-uidlist.lock").exists()
    finally:
        live.kill()
        live.wait()


def test_leftover_of_a_dead_writer_that_had_our_pid_is_never_written_into(tmp_path: Path) -> None:
    """A writer killed between linking its temp file as the lock and removing the temp name, whose pid is ours
    now (pids are reused): its temp file is still the lock's inode. Writing our owner into that name would refresh
    the old lock and make it look held by us; a fresh file must be made instead, and the old lock goes by age."""
    target = str(tmp_path / "dovecot-uidlist")
    lock = DotLock(target, wait=0.5)
    leftover = Path(lock._temp())
    leftover.write_text(f"{os.getpid()}:{HOST}")
    os.link(leftover, target + ".lock")
    old = time.time() - 121
    os.utime(leftover, (old, old))
    old_inode = os.lstat(target + ".lock").st_ino
    with lock:  # TempFailError here: the old lock was refreshed through the leftover name
        assert os.lstat(target + ".lock").st_ino != old_inode
    assert not os.path.exists(target + ".lock")
