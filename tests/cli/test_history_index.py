"""`inbox`, `inbox --all`, `read ID`, `reply ID` and `log` through the change log, the unread cache and the history
index (issue 13): they neither list cur/ nor read old mail once the caches are current (strace says so), they see
what other programs change behind their back, and damaged, unwritable or locked caches cost speed, never output."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from agentmail import config
from tests.support.cli import Result, clean_env
from tests.support.store import AGENTMAIL
from tests.support.tools import need

OLD = 3000  # read postcards already in bob's INBOX and Sent, put there by another program
GETDENTS = re.compile(r'getdents64\(\d+<([^>]*)>')
OPENAT = re.compile(r'openat\(AT_FDCWD, "([^"]*)"')


def old_mail(cfg: config.Config, name: str, folder: str, count: int) -> None:
    """`count` read postcards written straight into cur/ (as mbsync or an old store would leave them)."""
    root = Path(cfg.maildir_path(name))
    cur = (root / f".{folder}" if folder != "INBOX" else root) / "cur"
    start = int(time.time()) - 86400 * 30
    for i in range(count):
        data = (f"From: alice@agents.localhost\nTo: {name}@agents.localhost\nSubject: old {folder} {i}\n"
                f"Message-ID: <{i:08x}{'ab' if folder == 'INBOX' else 'cd'}{'0' * 22}@agents.localhost>\n\n"
                "long ago\n").encode()
        (cur / f"{start + i}.M{i}P1Q{i}.old,S={len(data)}:2,S").write_bytes(data)
    past = time.time() - 3600
    os.utime(cur, (past, past))


def sent_id(result: Result) -> str:
    return result.ok().out.split()[1]


def traced(home: Path, tmp_path: Path, *args: str) -> tuple[Result, list[str], list[str]]:
    """Run the console script under strace: (result, directories listed, files opened)."""
    trace = tmp_path / "trace"
    proc = subprocess.run([need("strace")["strace"], "-f", "-yy", "-e", "trace=openat,getdents64", "-o", str(trace),
                           AGENTMAIL, *args], capture_output=True, env=clean_env(home), timeout=120)
    result = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    text = trace.read_text(errors="replace")
    return result, GETDENTS.findall(text), OPENAT.findall(text)


def test_commands_cost_the_same_with_old_mail(script, accounts, home: Path, tmp_path: Path) -> None:
    cfg = accounts("alice", "bob")
    old_mail(cfg, "bob", "INBOX", OLD)
    old_mail(cfg, "bob", "Sent", OLD)
    first = sent_id(script("--as", "alice", "send", "bob", "first", "hello"))
    # builds the caches and the index (and the first reply numbers the old mail in Sent's dovecot-uidlist)
    for warm in (("inbox",), ("inbox", "--all"), ("log",), ("read", first), ("reply", first, "ok")):
        script("--as", "bob", *warm).ok()
    fresh = sent_id(script("--as", "alice", "send", "bob", "fresh", "just now"))
    cur = (home / "maildirs" / "bob" / "cur").as_posix()
    sent_cur = (home / "maildirs" / "bob" / ".Sent" / "cur").as_posix()
    for args, opens in ((("inbox",), 3), (("read", fresh), 3), (("inbox",), 3), (("inbox", "--all"), 20),
                        (("reply", fresh, "thanks"), 3), (("log",), 20), (("read", "00000005ab"), 3)):
        result, listed, opened = traced(home, tmp_path, "--as", "bob", *args)
        result.ok()
        assert cur not in listed and sent_cur not in listed, (args, listed)
        mail = [p for p in opened if p.startswith((cur + "/", sent_cur + "/"))]
        assert len(mail) <= opens, (args, mail)
    assert "old INBOX 5" in result.out  # the last one: an old postcard, found by its id


def lines(result: Result) -> list[str]:
    """`<sender>: <title>` of each line `inbox` prints."""
    if result.ok().out == "no unread postcards\n":
        return []
    return [line.split(" ", 1)[1].split(" ", 1)[1] for line in result.ok().out.strip().split("\n")]


def test_what_other_programs_change_is_seen(am, accounts, home: Path) -> None:
    accounts("alice", "bob")
    ids = [sent_id(am("--as", "alice", "send", "bob", f"card {n}", "body")) for n in range(3)]
    assert lines(am("--as", "bob", "inbox")) == ["alice: card 0", "alice: card 1", "alice: card 2"]
    cur = home / "maildirs" / "bob" / "cur"
    by_title = {p.read_text().split("Subject: ")[1].split("\n")[0]: p for p in cur.iterdir()}
    by_title["card 1"].rename(cur / (by_title["card 1"].name + "S"))  # mutt reads card 1
    assert lines(am("--as", "bob", "inbox")) == ["alice: card 0", "alice: card 2"]
    am("--as", "bob", "read", ids[0]).ok()
    seen = next(p for p in cur.iterdir() if "card 0" in p.read_text())
    seen.rename(cur / seen.name.replace(":2,S", ":2,F"))  # marked unread again (and flagged) elsewhere
    (cur / f"{int(time.time()) + 5}.M1P1Q1.mbsync:2,").write_bytes(
        b"From: carol@example.org\nSubject: synced in\nMessage-ID: <synced-1@example.org>\n\nhi\n")
    assert lines(am("--as", "bob", "inbox")) == ["alice: card 0", "alice: card 2", "carol@example.org: synced in"]
    card2 = next(p for p in cur.iterdir() if "card 2" in p.read_text())
    card2.unlink()  # expunged by an IMAP client
    listed = json.loads(am("--as", "bob", "inbox", "--all", "--json").ok().out)
    assert [c["title"] for c in listed] == ["synced in", "card 1", "card 0"]
    synced = next(c["id"] for c in listed if c["title"] == "synced in")
    assert json.loads(am("--as", "bob", "read", synced, "--json").ok().out)["body"] == "hi\n"
    am("--as", "bob", "read", ids[2]).fails(66)
    card1 = next(p for p in cur.iterdir() if "card 1" in p.read_text())
    card1.rename(cur / (card1.name + "T"))  # another flag, behind the index's back: still found by its id
    assert json.loads(am("--as", "bob", "read", ids[1], "--json").ok().out)["title"] == "card 1"


def answers(am) -> list[object]:
    return [json.loads(am("--as", "bob", *args, "--json").ok().out) for args in
            (("inbox",), ("inbox", "--all"), ("log",), ("receipts",))]


def drop_ages(value: object) -> object:
    if isinstance(value, dict):
        return {k: drop_ages(v) for k, v in value.items() if k not in ("age",)}
    if isinstance(value, list):
        return [drop_ages(v) for v in value]
    return value


@pytest.mark.parametrize("damage", ["garbage", "emptied", "cache-is-a-file", "removed"])
def test_damaged_or_unwritable_caches_change_no_answer(am, accounts, home: Path, damage: str) -> None:
    accounts("alice", "bob")
    for n in range(4):
        sent_id(am("--as", "alice", "send", "bob", f"to bob {n}", "body"))
        sent_id(am("--as", "bob", "send", "alice", f"to alice {n}", "body"))
    for card in json.loads(am("--as", "alice", "inbox", "--json").ok().out)[:2]:
        am("--as", "alice", "read", card["id"]).ok()  # receipts for bob
    am("--as", "bob", "read", json.loads(am("--as", "bob", "inbox", "--json").ok().out)[1]["id"]).ok()
    before = answers(am)
    cache = home / "cache"
    if damage == "cache-is-a-file":
        shutil.rmtree(cache)
        cache.write_bytes(b"not a directory\n")
    elif damage == "removed":
        shutil.rmtree(cache)
    else:
        for path in cache.iterdir():
            if path.is_file():
                path.write_bytes(b"\x00garbage\n" * 50 if damage == "garbage" else b"")
    for _ in range(2):  # the first run rebuilds what it can, the second uses it
        after = answers(am)
        assert drop_ages(after) == drop_ages(before)
    card = json.loads(am("--as", "bob", "inbox", "--json").ok().out)[0]
    assert am("--as", "bob", "read", card["id"]).ok().err == ""


def test_a_locked_index_or_log_is_done_without(script, accounts, home: Path) -> None:
    accounts("alice", "bob")
    first = sent_id(script("--as", "alice", "send", "bob", "first", "hello"))
    script("--as", "bob", "read", first).ok()  # makes the index
    second = sent_id(script("--as", "alice", "send", "bob", "second", "hello"))
    db = sqlite3.connect(home / "cache" / "bob.index.sqlite", isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")  # another process stuck in a write
    log = os.open(home / "cache" / "bob.INBOX.log", os.O_RDWR)
    fcntl.flock(log, fcntl.LOCK_EX)  # and one stuck holding the change log
    try:
        started = time.monotonic()
        shown = script("--as", "bob", "read", second, env={"AGENTMAIL_LOCK_WAIT": "0.5"}).ok()
        assert "second" in shown.out and shown.err == ""
        assert lines(script("--as", "bob", "inbox")) == []
        assert [c["title"] for c in json.loads(script("--as", "bob", "inbox", "--all", "--json",
                                                      env={"AGENTMAIL_LOCK_WAIT": "0.5"}).ok().out)] == [
            "second", "first"]
        assert time.monotonic() - started < 60  # waited for the locks a bounded time, not forever
    finally:
        db.execute("ROLLBACK")
        db.close()
        os.close(log)
    # the changes made while the log was locked went unlogged: the caches notice and catch up
    assert lines(script("--as", "bob", "inbox")) == []
    assert "second" in script("--as", "bob", "read", second).ok().out


def test_folders_that_are_gone_or_come_back(am, accounts, home: Path) -> None:
    accounts("alice", "bob")
    first = sent_id(am("--as", "alice", "send", "bob", "first", "hello"))
    am("--as", "bob", "read", first).ok()
    shutil.rmtree(home / "maildirs" / "bob" / ".Archive")  # a folder removed by a mail client
    (home / "cache" / "bob.Archive.log").unlink()
    assert "first" in am("--as", "bob", "read", first).ok().out
    assert not (home / "cache" / "bob.Archive.log").exists()  # nothing kept for a folder that is not there
    am("--as", "bob", "clerk", "file", first).ok()  # into Todo
    shutil.copytree(home / "maildirs" / "bob" / ".Todo", home / "maildirs" / "bob" / ".Archive")  # it comes back
    found = json.loads(am("--as", "bob", "inbox", "--all", "--folder", "Archive", "--json").ok().out)
    assert [c["title"] for c in found] == ["first"]
    # in Todo and in Archive now: one message (one key), found in Todo, searched first (as by a listing)
    assert json.loads(am("--as", "bob", "read", first, "--json").ok().out)["folder"] == "Todo"
