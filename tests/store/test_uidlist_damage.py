"""A damaged dovecot-uidlist never fails a delivery, never loses or duplicates a message and never gives a UID twice.

Each damage (emptied, a bad header, binary garbage, a torn last line, garbage between records, a record of
4294967295, UIDs run out, Dovecot 1.0's version 1, a symlink out of the store) is put under a real store, then:
- `agentmail send` (the installed script) exits 0 with a one-line warning and no traceback; the postcard is in the
  inbox exactly once, with its journal and Sent copies; no tmp/ keeps anything;
- the rebuilt uidlist numbers every file once, ascending, within 32 bits; the UIDVALIDITY is kept when no UID can be
  given twice, else a greater one;
- `agentmail serve` then serves the folder with those UIDs (and repairs a damaged folder nobody wrote to since), and
  Dovecot reads the repaired files without complaint and reports the same UIDVALIDITY and UIDs.
"""

from __future__ import annotations

import imaplib
import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent import compose
from agentmail.store import passwd, uidlist
from agentmail.store.maildir import Maildir, split_name
from tests.support.cli import run_script
from tests.support.dovecot import Dovecot, need_dovecot
from tests.support.messages import files
from tests.support.servers import Serve
from tests.support.store import Store, create_accounts

GARBAGE = bytes(random.Random(8).randrange(256) for _ in range(3000))


def _insert_garbage(text: bytes) -> bytes:
    head, first, rest = text.split(b"\n", 2)
    return b"\n".join([head, first, b"\x00\xffnot a record at all", rest])


def _version_1(text: bytes) -> bytes:
    header = uidlist.parse_header(text.decode().split("\n", 1)[0])
    records = [line.replace(" :", " ", 1) for line in text.decode().split("\n")[1:] if line]
    return f"1 {header.uidvalidity} {header.allocate_from}\n".encode() + "".join(r + "\n" for r in records).encode()


# account -> (what to do to its uidlist, whether its UIDVALIDITY survives)
DAMAGE: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    "empty": (lambda t: b"", False),
    "bad-header": (lambda t: b"this is no header\n" + t.split(b"\n", 1)[1], False),
    "binary-garbage": (lambda t: GARBAGE, False),
    "torn-last-line": (lambda t: t + b"3 :1796000000.M1P", True),
    "garbage-inside": (_insert_garbage, True),
    "uid-4294967295": (lambda t: t + b"4294967295 :1700000000.M9P9Q9.gone\n", False),
    "uids-ran-out": (lambda t: re.sub(rb"\bN\d+", b"N4294967295", t, count=1), False),
    "version-1": (_version_1, False),
}


# Appending reads only the header and the last line (O(1) per delivery); damage between records hides no higher
# UID, so it waits for the next full read: a sync, or the IMAP server's read (which rewrites the file clean).
UNSEEN_BY_APPEND = {"garbage-inside"}


def damage(home: Path, name: str) -> int:
    """Two postcards to `name`, then its uidlist damaged; returns the UIDVALIDITY it had."""
    cfg = config.load(str(home))
    for n in (1, 2):
        compose.send(cfg, "alice", [name], f"before {n}", "x")
    path = home / "maildirs" / name / uidlist.FILENAME
    text = path.read_bytes()
    path.write_bytes(DAMAGE[name][0](text))
    return uidlist.parse_header(text.decode().split("\n", 1)[0]).uidvalidity


def check_numbering(home: Path, name: str, old_validity: int, kept: bool) -> uidlist.UidList:
    box = home / "maildirs" / name
    parsed = uidlist.read(Maildir(str(box)))
    assert parsed is not None
    uids = [r[0] for r in parsed.records]
    assert uids == sorted(set(uids)) and all(0 < u <= uidlist.MAX_UID for u in uids), uids
    assert sorted(r[2] for r in parsed.records) == sorted(split_name(p.name)[0] for p in files(box))
    if kept:
        assert parsed.uidvalidity == old_validity
    else:
        assert parsed.uidvalidity > old_validity
        assert uids == [1, 2, 3]  # a new UIDVALIDITY numbers from 1, in delivery order
    return parsed


@pytest.fixture
def store(home: Path) -> Path:
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", *DAMAGE, "imap-repair")
    return home


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_send_into_a_damaged_uidlist(store: Path, name: str) -> None:
    home = store
    old = damage(home, name)
    res = run_script(home, "--as", "alice", "send", name, "after damage", "body").ok()
    assert "Traceback" not in res.err
    if name in UNSEEN_BY_APPEND:
        assert res.err == ""
    else:
        warnings = res.err.strip().split("\n")
        assert len(warnings) == 1 and warnings[0].startswith(f"agentmail: warning: repaired {home}/maildirs/{name}/")
    box = home / "maildirs" / name
    assert len([p for p in files(box) if b"after damage" in p.read_bytes()]) == 1
    assert len([p for p in files(home / "maildirs" / "alice" / ".Sent") if b"after damage" in p.read_bytes()]) == 1
    assert len([p for p in files(home / "journal") if b"after damage" in p.read_bytes()]) == 1
    for tmp in (box / "tmp", home / "maildirs" / "alice" / ".Sent" / "tmp", home / "journal" / "tmp"):
        assert list(tmp.iterdir()) == []
    assert not (box / "dovecot-uidlist.lock").exists()
    check_numbering(home, name, old, DAMAGE[name][1])
    # the next postcard is an ordinary append: no warning, the next UID
    before = uidlist.read(Maildir(str(box)))
    assert before is not None
    again = run_script(home, "--as", "alice", "send", name, "once more", "body").ok()
    assert again.err == ""
    after = uidlist.read(Maildir(str(box)))
    assert after is not None and after.records[:-1] == before.records
    assert after.records[-1][0] == before.allocate_from and after.uidvalidity == before.uidvalidity


def test_symlinked_uidlist_is_replaced_never_followed(store: Path, tmp_path: Path) -> None:
    home = store
    cfg = config.load(str(home))
    compose.send(cfg, "alice", ["empty"], "before", "x")
    path = home / "maildirs" / "empty" / uidlist.FILENAME
    outside = tmp_path / "outside"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    res = run_script(home, "--as", "alice", "send", "empty", "after link", "body").ok()
    assert "Traceback" not in res.err and "repaired" in res.err
    assert not path.is_symlink() and outside.read_bytes().count(b"\n") == 2  # the target was never written
    parsed = uidlist.read(Maildir(str(path.parent)))
    assert parsed is not None and [r[0] for r in parsed.records] == [1, 2]


def test_unwritable_uidlist_still_delivers(store: Path) -> None:
    """Once the postcard is in new/, nothing about its UID can fail the send: a directory in the uidlist's place
    cannot be replaced, so the postcard goes without a UID and the send says so in a warning."""
    home = store
    box = home / "maildirs" / "empty"
    (box / uidlist.FILENAME).mkdir()
    res = run_script(home, "--as", "alice", "send", "empty", "no uid", "body").ok()
    assert "Traceback" not in res.err and "got no IMAP UID yet" in res.err
    assert len([p for p in files(box) if b"no uid" in p.read_bytes()]) == 1
    assert len([p for p in files(home / "journal") if b"no uid" in p.read_bytes()]) == 1
    assert list((box / "tmp").iterdir()) == [] and not (box / "dovecot-uidlist.lock").exists()


def number(value: object) -> int:
    assert isinstance(value, bytes), value
    return int(value)


def imap_view(conn: imaplib.IMAP4) -> tuple[int, list[int], int]:
    """(UIDVALIDITY, UIDs, UIDNEXT) of INBOX."""
    typ, data = conn.select("INBOX")
    assert typ == "OK", data
    validity, uidnext = (number(conn.untagged_responses[key][-1]) for key in ("UIDVALIDITY", "UIDNEXT"))
    typ, data = conn.uid("FETCH", "1:*", "(UID)")
    assert typ == "OK", data
    lines = [item[0] if isinstance(item, tuple) else item for item in data]
    uids = sorted(int(m) for line in lines if isinstance(line, bytes) for m in re.findall(rb"UID (\d+)", line))
    conn.logout()
    return validity, uids, uidnext


def test_imap_and_dovecot_serve_repaired_folders_with_the_same_uids(store: Path) -> None:
    home = store
    olds = {name: damage(home, name) for name in DAMAGE}
    for name in DAMAGE:
        run_script(home, "--as", "alice", "send", name, "after damage", "body").ok()
    cfg = config.load(str(home))
    for n in (1, 2):
        compose.send(cfg, "alice", ["imap-repair"], f"before {n}", "x")
    repair_path = home / "maildirs" / "imap-repair" / uidlist.FILENAME
    old_repair = uidlist.parse_header(repair_path.read_text().split("\n", 1)[0]).uidvalidity
    repair_path.write_bytes(b"garbage that nobody wrote to since\n")
    names = [*DAMAGE, "imap-repair"]
    expected: dict[str, tuple[int, list[int]]] = {}
    srv = Serve.start(Store(home))
    try:
        for name in names:
            conn = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
            conn.login(name, passwd.password_for(cfg, name))
            validity, uids, uidnext = imap_view(conn)
            if name in DAMAGE:
                parsed = check_numbering(home, name, olds[name], DAMAGE[name][1])
            else:
                found = uidlist.read(Maildir(str(home / "maildirs" / name)))
                assert found is not None
                parsed = found
            assert validity == parsed.uidvalidity and uids == [r[0] for r in parsed.records], (name, srv.log())
            assert uidnext == parsed.allocate_from
            expected[name] = (validity, uids)
        # the folder served without a write since its damage was repaired by the server: a new UIDVALIDITY, 1..2
        assert expected["imap-repair"][0] > old_repair and expected["imap-repair"][1] == [1, 2]
        assert "Traceback" not in srv.log()
    finally:
        assert srv.stop() == 0, srv.log()

    need_dovecot()
    dovecot = Dovecot(home).start()
    try:
        for name in names:
            seen = imap_view(dovecot.login(name))
            assert seen[:2] == expected[name], (name, seen, expected[name], dovecot.log_text())
        log = dovecot.log_text()
        assert "Broken file" not in log and "Corrupted" not in log, log
    finally:
        dovecot.stop()


# ---------------------------------------------------------------- the library, case by case
@pytest.mark.parametrize(("text", "uids", "damaged", "trusted"), [
    ("3 V5 N3 G0f1e2d3c4b5a69788796a5b4c3d2e1f0\n1 :a\n2 :b\n", [1, 2], False, True),
    ("", [], True, False),
    ("3 V5 N3\n1 :a\n2 :b", [1], True, True),  # a torn last line: nobody could have read its UID
    ("3 V5 N3\n1 :a\nxx\n2 :b\n", [1, 2], True, True),  # damage before a good record hides no higher UID
    ("3 V5 N3\n1 :a\n2 :b\nxx\n", [1, 2], True, False),  # after the last good one, it may have
    ("3 V5 N3\n1 :a\n4294967295 :b\n", [1], True, False),  # Dovecot: "UID too high"
    ("3 V5 N3\n1 :a\n0 :b\n", [1], True, False),
    ("3 V5 N3\n1 :a\n2 :../../etc/passwd\n", [1], True, False),
    ("3 V5 N3\n1 :a\n3 :b\n2 :c\n", [1, 3], True, True),  # out of order: lower, hides nothing
    ("3 V5 N3\n1 :a\n2 :a\n", [2], True, True),  # the same file twice: the later UID wins (Dovecot)
    ("3 V5\n1 :a\n", [1], True, False),  # no N: the highest UID given is unknown
    ("3 V5 N99999999999\n1 :a\n", [1], True, False),
    ("3 N3\n1 :a\n", [1], True, False),
    ("3 V5 N3 Gnot-a-guid\n1 :a\n", [1], True, True),
])
def test_salvage(text: str, uids: list[int], damaged: bool, trusted: bool) -> None:
    parsed, problem, ok = uidlist.salvage(text)
    assert [r[0] for r in parsed.records] == uids
    assert (problem is not None) == damaged and ok == trusted
    assert parsed.guid in ("", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")


def box_with_uidlist(tmp_path: Path, text: str, bases: list[str]) -> Maildir:
    box = Maildir(str(tmp_path / "box")).create()
    for base in bases:
        (tmp_path / "box" / "cur" / f"{base}:2,S").write_bytes(b"Subject: x\n\nx\n")
    (tmp_path / "box" / uidlist.FILENAME).write_text(text)
    return box


def test_uids_never_pass_4294967294(tmp_path: Path) -> None:
    """The last UID Dovecot accepts is given; past it the folder gets a new UIDVALIDITY and UIDs from 1."""
    box = box_with_uidlist(tmp_path, "3 V5 N4294967294 G0f1e2d3c4b5a69788796a5b4c3d2e1f0\n1 :1700000000.M1P1Q1.h\n",
                           ["1700000000.M1P1Q1.h", "1700000001.M1P1Q1.h"])
    assert uidlist.append(box, ["1700000001.M1P1Q1.h"]) == [uidlist.MAX_UID]
    (tmp_path / "box" / "cur" / "1700000002.M1P1Q1.h:2,S").write_bytes(b"Subject: x\n\nx\n")
    assert uidlist.append(box, ["1700000002.M1P1Q1.h"]) == [3]
    parsed = uidlist.read(box)
    assert parsed is not None and parsed.uidvalidity > 5 and parsed.guid == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert [r[0] for r in parsed.records] == [1, 2, 3] and parsed.next_uid == 4


def test_sync_repairs_a_torn_file_and_keeps_its_uids(tmp_path: Path) -> None:
    bases = ["1700000000.M1P1Q1.h", "1700000001.M1P1Q1.h", "1700000002.M1P1Q1.h"]
    box = box_with_uidlist(tmp_path, f"3 V5 N3\n1 :{bases[0]}\n2 :{bases[1]}\n3 :1700000002.M1", bases)
    synced = uidlist.sync(box)
    assert synced.uidvalidity == 5 and synced.by_base() == {bases[0]: 1, bases[1]: 2, bases[2]: 3}
    text = (tmp_path / "box" / uidlist.FILENAME).read_text()
    assert text.startswith("3 V5 N4 G") and text.endswith(f"3 :{bases[2]}\n")
    assert not [n for n in os.listdir(tmp_path / "box") if ".lock" in n]


def test_a_blank_line_hides_no_uid(tmp_path: Path) -> None:
    parsed, problem, trusted = uidlist.salvage("3 V5 N3\n1 :a\n2 :b\n\n")
    assert [r[0] for r in parsed.records] == [1, 2] and problem == "1 damaged line" and trusted


def test_garbage_header_is_quoted_in_the_warning() -> None:
    """A warning line quotes what it found, so control characters from a damaged file never reach a terminal."""
    _, problem, _ = uidlist.salvage("\x1b]0;owned\x07 V1 N2\n")
    assert problem is not None and "\x1b" not in problem and "\x07" not in problem and "\\x1b" in problem
