"""Dovecot on the same tree: UIDs, UIDVALIDITY, UIDNEXT, flags, sizes and bytes agree both ways, and
`python -m imapclient.livetest` fails exactly where Dovecot fails, for the same reasons (timing tests aside)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from imapclient import IMAPClient

from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live
from tests.imap.server.test_commands import MSG
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.store import make_store

ITEMS = ["UID", "FLAGS", "RFC822.SIZE", "ENVELOPE", "BODY.PEEK[]", "INTERNALDATE"]


def snapshot(c: IMAPClient, folder: str) -> tuple[dict[bytes, object], dict[int, dict[bytes, object]]]:
    info = c.select_folder(folder, readonly=True)
    status = {k: info[k] for k in (b"UIDVALIDITY", b"UIDNEXT", b"EXISTS")}
    data = c.fetch(c.search(), ITEMS) if info[b"EXISTS"] else {}
    for v in data.values():
        v.pop(b"SEQ", None)
        # same flags (Dovecot lists system flags first); \Recent is per session, not in the tree:
        # each server hands its own appends and new/ to the first session that sees them
        v[b"FLAGS"] = frozenset(v[b"FLAGS"]) - {b"\\Recent"}
    return status, data


def test_same_tree_same_answers(live: Live, tmp_path: Path) -> None:
    store = live.store
    store.send("alice", "bob", "first", "one")
    store.send("carol", "bob", "second", "two")
    ours = live.client("bob")
    ours.select_folder("INBOX")
    ours.add_flags([1], [b"\\Flagged", b"$MDNSent"])
    ours.append("Sent", MSG, flags=[b"\\Seen"])
    need_dovecot()
    dove = Dovecot(store.home).start()
    try:
        d = IMAPClient("127.0.0.1", dove.port, ssl=False, timeout=30)
        d.login("bob", store.passwords["bob"])
        for folder in ("INBOX", "Sent"):
            theirs, mine = snapshot(d, folder), snapshot(ours, folder)
            assert theirs[0] == mine[0], folder
            for uid in theirs[1]:
                for key in theirs[1][uid]:
                    assert theirs[1][uid][key] == mine[1][uid][key], (folder, uid, key)
        # a message appended through Dovecot keeps its UID with us, and the reverse
        d.select_folder("INBOX")
        appended = d.append("INBOX", MSG.replace(b"draft", b"via dovecot"))
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", appended).group(1))  # type: ignore[union-attr]
        assert uid == 3
        recorded = uidlist.read(Maildir(str(store.box("bob"))))
        assert recorded is not None and recorded.records[-1][0] == 3
        assert snapshot(ours, "INBOX")[1][3][b"BODY[]"] == MSG.replace(b"draft", b"via dovecot")
        ours.select_folder("INBOX")
        ours.append("INBOX", MSG.replace(b"draft", b"via agentmail"))
        dove.chown()
        d.unselect_folder()
        assert snapshot(d, "INBOX") == snapshot(ours, "INBOX")
        assert snapshot(d, "INBOX")[0][b"UIDNEXT"] == 5
        d.logout()
    finally:
        dove.stop()


# Timing, either way: test_small_connection_timeout_fail reads the greeting with a 1 ms *connect* timeout, so it
# passes only against a server slower than 1 ms to greet (Dovecot's imap-login is; our in-process listener is not);
# test_small_read_timeout_fail likewise depends on how fast NOOP is answered. They say nothing about correctness.
TIMING = {"test_small_connection_timeout_fail", "test_small_read_timeout_fail"}
# imapclient 4.1's livetest fails these against Dovecot 2.3 on a tree like ours (imaplib has no MOVE, Envelope is no
# longer a sequence in imapclient 4): a sanity check of the run, the comparison itself takes whatever Dovecot fails in
# the same run. Dovecot keeps its index on disk here, so it has persistent mod-sequences and passes the CONDSTORE
# tests (with INDEX=MEMORY it answers NOMODSEQ and fails them).
DOVECOT_FAILS = {"test_move", "test_fetch"}
CONDSTORE_TESTS = {"test_fetch_modifiers", "test_search_with_modseq"}
BLOCK = re.compile(r"^(?:FAIL|ERROR): (\w+) .*?\n-{20,}\n(.*?)(?=^={20,}$|^-{20,}\nRan )", re.M | re.S)


SKIPPED = re.compile(r"^(test_\w+) \(.*\) \.\.\. skipped", re.M)


def livetest(port: int, user: str, password: str, tmp: Path,
             skips: set[str] | None = None) -> Counter[tuple[str, str]]:
    """Each failure of `python -m imapclient.livetest` against the server: (test name, traceback and message);
    timing tests left out. Two failures are the same only if they fail at the same line for the same reason.
    The names of the tests it skipped go into ``skips``."""
    ini = tmp / "livetest.ini"
    ini.write_text(f"[DEFAULT]\nhost = 127.0.0.1\nport = {port}\nssl = false\nusername = {user}\n"
                   f"password = {password}\n")
    proc = subprocess.run([sys.executable, "-m", "imapclient.livetest", str(ini), "-v"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if skips is not None:
        skips.update(SKIPPED.findall(proc.stderr))
    assert "Ran " in proc.stderr, proc.stderr[-2000:]
    blocks = BLOCK.findall(proc.stderr)
    headers = re.findall(r"^(?:FAIL|ERROR): (\w+)", proc.stderr, re.M)
    assert sorted(name for name, _ in blocks) == sorted(headers), proc.stderr[-4000:]  # every failure parsed
    # unittest's "Diff is N characters long" counts a random Message-ID (make_msgid) too: the length is noise
    return Counter((name, re.sub(r"Diff is \d+ characters", "Diff is N characters", text.strip()))
                   for name, text in blocks if name not in TIMING)


def differences(ours: Counter[tuple[str, str]], theirs: Counter[tuple[str, str]]) -> str:
    lines = [f"only ours ({n}x) {name}:\n{text}" for (name, text), n in (ours - theirs).items()]
    lines += [f"only Dovecot's ({n}x) {name}:\n{text}" for (name, text), n in (theirs - ours).items()]
    return "\n\n".join(lines)


def test_imapclient_livetest_fails_only_what_dovecot_fails(live: Live, tmp_path: Path) -> None:
    """Our server's livetest failures are Dovecot's own, from the same round: each of ours must be one that Dovecot
    has, failing at the same line for the same reason (passing more, e.g. CONDSTORE's tests, is fine; timing tests
    aside). A loaded machine can make a server miss livetest's short timeouts, so when ours has others (or Dovecot
    fails more than it should), both are run again, at most twice, and the last round counts: each server gets the
    same number of runs."""
    need_dovecot()
    # a fresh tree made the same way, outside pytest's 0700 base directory: another pytest session starting on this
    # machine resets that base to 0700, which would lock Dovecot's vmail processes out mid-run
    top = Path(tempfile.mkdtemp(prefix="am-livetest-"))
    top.chmod(0o755)
    other = make_store(top / "home")
    dove = Dovecot(other.home, index_on_disk=True).start()
    try:
        for _ in range(3):
            our_skips: set[str] = set()
            their_skips: set[str] = set()
            ours = livetest(live.port, "alice", live.store.passwords["alice"], tmp_path, our_skips)
            theirs = livetest(dove.port, "alice", other.passwords["alice"], tmp_path, their_skips)
            if not ours - theirs and {name for name, _ in theirs} == DOVECOT_FAILS:
                break
        log = dove.log_text()
    finally:
        dove.stop()
        shutil.rmtree(top, ignore_errors=True)
    assert {name for name, _ in theirs} == DOVECOT_FAILS, differences(Counter(), theirs) + "\n" + log[-3000:]
    assert not ours - theirs, differences(ours - theirs, Counter())
    # nothing is skipped here that Dovecot runs (SORT, THREAD and the CONDSTORE tests run on both), and the
    # CONDSTORE tests pass on both
    assert our_skips <= their_skips, sorted(our_skips - their_skips)
    assert not CONDSTORE_TESTS & (our_skips | their_skips | {name for name, _ in ours}), sorted(our_skips)
