"""Many writers at once, and writers killed at random points.

- 50 processes x 20 postcards into one inbox at the same moment: exactly 1000 distinct, complete files and a
  dovecot-uidlist with 1000 distinct ascending UIDs, one per file.
- A sender SIGKILLed at random points never leaves a partial file in new/ or cur/, and the dot-lock it may leave
  behind names it (a dead pid), so the next sender takes it over at once.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent.compose import send
from agentmail.errors import TempFailError
from agentmail.store import uidlist
from agentmail.store.dotlock import DotLock
from agentmail.store.maildir import Maildir, split_name
from tests.support.cli import clean_env, run_script
from tests.support.messages import assert_complete, body_of, files
from tests.support.store import AGENTMAIL, create_accounts

PROCS = 50
EACH = 20


def body_for(proc: int, n: int) -> str:
    return f"postcard {n} of sender {proc}\n" + f"line of text for sender {proc}\n" * (n % 7 + 1)


def _sender(home: str, proc: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    cfg = config.load(home)
    barrier.wait(timeout=60)
    for n in range(EACH):
        send(cfg, f"s{proc}", ["target"], f"p{proc}-{n}", body_for(proc, n))


def test_fifty_processes_twenty_postcards_each(home: Path) -> None:
    cfg = config.load(str(home))
    create_accounts(cfg, "target", *(f"s{p}" for p in range(PROCS)))
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCS)
    procs = [ctx.Process(target=_sender, args=(str(home), p, barrier)) for p in range(PROCS)]
    start = time.monotonic()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * PROCS
    elapsed = time.monotonic() - start

    box = home / "maildirs" / "target"
    paths = files(box, "new")
    assert len(paths) == PROCS * EACH, f"{len(paths)} files after {elapsed:.1f}s"
    assert files(box, "cur") == [] and list((box / "tmp").iterdir()) == []
    seen: dict[str, str] = {}
    for path in paths:
        msg = assert_complete(path)
        sender, n = (int(x) for x in msg["Subject"][1:].split("-"))
        assert body_of(msg) == body_for(sender, n)
        assert msg["Subject"] not in seen, f"{msg['Subject']} delivered twice"
        seen[msg["Subject"]] = path.name
    assert len(seen) == PROCS * EACH

    parsed = uidlist.read(Maildir(str(box)))
    assert parsed is not None
    uids = [uid for uid, _, _ in parsed.records]
    assert uids == sorted(set(uids)), "UIDs not strictly ascending"
    assert uids == list(range(1, PROCS * EACH + 1))
    assert {base for _, _, base in parsed.records} == {split_name(p.name)[0] for p in paths}
    assert parsed.allocate_from == PROCS * EACH + 1
    # every sender's Sent copy and the journal are complete too
    assert len(files(home / "journal", "new")) == PROCS * EACH
    for p in range(0, PROCS, 7):
        assert len(files(home / "maildirs" / f"s{p}" / ".Sent")) == EACH


def test_fifty_console_scripts_at_once(home: Path) -> None:
    """The same through the installed command (the click-free fast path): 50 processes, 2 postcards each."""
    cfg = config.load(str(home))
    create_accounts(cfg, "target", "alice")
    env = clean_env(home)
    script = f"for i in 1 2; do {AGENTMAIL} --as alice send target \"t-$1-$i\" \"b-$1-$i\" >/dev/null || exit 1; done"
    procs = [subprocess.Popen(["sh", "-c", script, "sh", str(k)], env=env) for k in range(50)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 50
    box = home / "maildirs" / "target"
    paths = files(box, "new")
    assert len(paths) == 100
    assert sorted(str(assert_complete(p)["Subject"]) for p in paths) == sorted(
        f"t-{k}-{i}" for k in range(50) for i in (1, 2))
    parsed = uidlist.read(Maildir(str(box)))
    assert parsed is not None and [r[0] for r in parsed.records] == list(range(1, 101))


# ---------------------------------------------------------------- crash safety
LOOP = """
import sys
from agentmail import config
from agentmail.agent.compose import send
from agentmail.format.postcard import Attachment
cfg = config.load(sys.argv[1])
blob = Attachment("blob.bin", "application/octet-stream", bytes(range(256)) * 400)  # ~140 KB base64
n = 0
sys.stdout.write("ready\\n")
sys.stdout.flush()
while True:
    n += 1
    send(cfg, "alice", ["bob", "carol"], f"crash {sys.argv[2]}-{n}", "x" * 1400, attachments=[blob])
    sys.stdout.write("sent\\n")
    sys.stdout.flush()
"""


def test_sigkill_never_leaves_partial_files(home: Path) -> None:
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob", "carol")
    rng = random.Random(20261120)
    locks_left = 0
    checked: set[str] = set()  # a file found complete stays complete (it is only ever renamed)
    killed: set[int] = set()
    for round_ in range(30):
        proc = subprocess.Popen([sys.executable, "-c", LOOP, str(home), str(round_)], stdout=subprocess.PIPE)
        # wait for the sender to be in its loop (a loaded machine starts Python slowly), then kill it 0-30 ms in
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        if round_ % 3 == 0:  # some rounds kill only after a postcard got through, however slow the machine
            assert proc.stdout.readline() == b"sent\n"
        time.sleep(rng.uniform(0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        killed.add(proc.pid)
        for name in ("bob", "carol", "alice/.Sent"):
            box = home / "maildirs" / name
            for path in files(box, "new", "cur"):
                if split_name(path.name)[0] not in checked:
                    assert_complete(path)
                    checked.add(split_name(path.name)[0])
            lock = box / "dovecot-uidlist.lock"
            if lock.exists():
                locks_left += 1
                # only ever its owner, never uidlist data (which nobody could prove stale for 2 minutes)
                assert lock.read_text() in {f"{pid}:{os.uname().nodename}" for pid in killed}
        for path in files(home / "journal", "new", "cur"):
            if path.name not in checked:
                assert_complete(path)
                checked.add(path.name)
    # whatever the kills left behind (stale locks, files without a UID yet), the next sender is not blocked
    started = time.monotonic()
    run_script(home, "--as", "alice", "send", "bob,carol", "after the crashes", "fine").ok()
    assert time.monotonic() - started < 10
    for name in ("bob", "carol"):
        maildir = Maildir(str(home / "maildirs" / name))
        present = [split_name(n)[0] for _, n in maildir.entries()]
        assert len(present) >= 2, "the crash loop never got a postcard through: tune the delays"
        synced = uidlist.sync(maildir)
        uids = [r[0] for r in synced.records]
        assert uids == sorted(set(uids))
        assert sorted(r[2] for r in synced.records) == sorted(present)
        assert not os.path.exists(os.path.join(maildir.path, "dovecot-uidlist.lock"))
    print(f"{locks_left} stale locks were left by the kills")


def test_stale_dotlock_of_dead_process_is_taken_over(home: Path) -> None:
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob")
    box = home / "maildirs" / "bob"
    dead = subprocess.Popen(["true"])
    dead.wait()
    (box / "dovecot-uidlist.lock").write_text(f"{dead.pid}:{os.uname().nodename}")
    started = time.monotonic()
    run_script(home, "--as", "alice", "send", "bob", "through a stale lock", "x").ok()
    assert time.monotonic() - started < 5
    assert not (box / "dovecot-uidlist.lock").exists()
    parsed = uidlist.read(Maildir(str(box)))
    assert parsed is not None and len(parsed.records) == 1


def test_live_dotlock_is_respected(tmp_path: Path) -> None:
    target = str(tmp_path / "dovecot-uidlist")
    holder = subprocess.Popen(["sleep", "30"])
    try:
        Path(target + ".lock").write_text(f"{holder.pid}:{os.uname().nodename}")
        with pytest.raises(TempFailError):
            DotLock(target, wait=0.3).acquire()
        assert Path(target + ".lock").exists()
    finally:
        holder.kill()
        holder.wait()
    # once the holder is dead the same lock is stale
    with DotLock(target, wait=0.3):
        assert Path(target + ".lock").read_text() == f"{os.getpid()}:{os.uname().nodename}"
    assert not Path(target + ".lock").exists()


def test_old_dotlock_of_unknown_host_goes_stale(tmp_path: Path) -> None:
    """Dovecot's rule: a lock not changed for two minutes is stale, even when its pid cannot be checked."""
    target = str(tmp_path / "dovecot-uidlist")
    lock = Path(target + ".lock")
    lock.write_text("12345:some-other-host")
    with pytest.raises(TempFailError):
        DotLock(target, wait=0.2).acquire()
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with DotLock(target, wait=0.2):
        pass


LOCK_LOOP = """
import sys
from agentmail.store.dotlock import DotLock
print("go", flush=True)
while True:
    with DotLock(sys.argv[1]):
        pass
"""


def test_lock_holder_killed_at_any_point_never_blocks_the_next(tmp_path: Path) -> None:
    """SIGKILL a process that takes and drops the uidlist lock in a loop: whatever lock file it leaves must be
    recognisably stale (its pid, on this host, is dead), so the next writer gets the lock at once."""
    target = str(tmp_path / "dovecot-uidlist")
    rng = random.Random(7)
    left = 0
    for _ in range(40):
        proc = subprocess.Popen([sys.executable, "-c", LOCK_LOOP, target], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"go\n"
        time.sleep(rng.uniform(0, 0.005))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if os.path.exists(target + ".lock"):
            left += 1
            content = Path(target + ".lock").read_text()
            assert content == f"{proc.pid}:{os.uname().nodename}", f"lock left with {content!r}"
            with DotLock(target, wait=1.0):  # TempFailError here means a killed writer blocks everyone
                pass
    assert left > 0, "no kill landed while the lock was held: the test did not test anything"
