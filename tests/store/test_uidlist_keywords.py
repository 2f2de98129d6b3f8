"""dovecot-uidlist v3 and dovecot-keywords: parsing, writing, appending and syncing, against golden files."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from agentmail.errors import DataError
from agentmail.store import keywords, uidlist
from agentmail.store.maildir import Maildir

GOLDEN = Path(__file__).parent / "golden"


BASES = ["1795510800.M1P10Q1.vm,S=500,W=512", "1795510801.M2P10Q2.vm,S=600,W=615",
         "1795510802.M3P11Q1.vm,S=700,W=718"]
GUID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

# golden file -> (uids, next_uid header, allocate_from, header extras, extension fields of each record)
PARSE_CASES = {
    "uidlist-basic": ([1, 2, 3], 4, 4, [], ["", "", ""]),
    "uidlist-appended-by-dovecot": ([1, 2, 7], 3, 8, [], ["", "", ""]),  # N is behind: max(N, last+1)
    "uidlist-extensions": ([1, 5, 8], 9, 9, ["X42", "Zfoo"], ["W512", "W615 GABCDEF0123", ""]),
    "uidlist-damaged": ([1, 3, 4], 4, 5, [], None),  # out-of-order 2, garbage and a torn "5" are skipped
}


@pytest.mark.parametrize("name", sorted(PARSE_CASES))
def test_parse_golden(name: str) -> None:
    uids, next_uid, allocate_from, extra, exts = PARSE_CASES[name]
    parsed = uidlist.parse((GOLDEN / name).read_text())
    assert parsed.uidvalidity == 1795510800
    assert parsed.guid == GUID
    assert [r[0] for r in parsed.records] == uids
    assert parsed.next_uid == next_uid
    assert parsed.allocate_from == allocate_from
    assert parsed.extra == extra
    if exts is not None:
        assert [r[1] for r in parsed.records] == exts


@pytest.mark.parametrize("name", ["uidlist-basic", "uidlist-appended-by-dovecot", "uidlist-extensions"])
def test_round_trip_is_byte_exact(name: str) -> None:
    text = (GOLDEN / name).read_text()
    assert uidlist.format_uidlist(uidlist.parse(text)) == text


@pytest.mark.parametrize(("header", "problem"), [
    ("1 1795510800 4", "version"),  # version 1 files are not ours to rewrite
    ("2 V1 N1", "version"),
    ("", "version"),
    ("3 N4 G00", "UIDVALIDITY"),
    ("3 Vabc N4", "UIDVALIDITY"),
])
def test_bad_headers_are_refused(header: str, problem: str) -> None:
    with pytest.raises(uidlist.UidListError, match=problem):
        uidlist.parse(header + "\n1 :a\n")


@pytest.mark.parametrize(("line", "record"), [
    ("1 :a", (1, "", "a")),
    ("42 W10 :name,S=1", (42, "W10", "name,S=1")),
    ("7 G123 W9 :x:2,S", (7, "G123 W9", "x:2,S")),
    ("7", None),
    ("7 a", None),
    ("x :name", None),
    (" :name", None),
    ("8 :", None),
])
def test_parse_record(line: str, record: tuple[int, str, str] | None) -> None:
    assert uidlist.parse_record(line) == record


def box_with(tmp_path: Path, golden: str | None, bases: list[str]) -> Maildir:
    box = Maildir(str(tmp_path / "box")).create()
    for base in bases:
        (tmp_path / "box" / "cur" / f"{base}:2,S").write_bytes(b"Subject: x\n\nx\n")
    if golden:
        shutil.copy(GOLDEN / golden, tmp_path / "box" / uidlist.FILENAME)
    return box


@pytest.mark.parametrize(("golden", "first_new"), [
    ("uidlist-basic", 4),
    ("uidlist-appended-by-dovecot", 8),  # never reuse 3..7 even though N says 3
    ("uidlist-extensions", 9),
])
def test_append_uses_max_of_n_and_last_plus_one(tmp_path: Path, golden: str, first_new: int) -> None:
    box = box_with(tmp_path, golden, [])
    before = (GOLDEN / golden).read_text()
    assert uidlist.append(box, ["new-a", "new-b"]) == [first_new, first_new + 1]
    text = (tmp_path / "box" / uidlist.FILENAME).read_text()
    # like Dovecot: records are appended, the header (and every old line) is left as it was
    assert text == before + f"{first_new} :new-a\n{first_new + 1} :new-b\n"
    assert not (tmp_path / "box" / "dovecot-uidlist.lock").exists()


def test_append_after_a_torn_last_line(tmp_path: Path) -> None:
    box = box_with(tmp_path, "uidlist-damaged", [])
    uids = uidlist.append(box, ["after-tear"])
    text = (tmp_path / "box" / uidlist.FILENAME).read_text()
    assert text.endswith("\n")
    parsed = uidlist.parse(text)
    assert uids[0] > 4 and parsed.records[-1] == (uids[0], "", "after-tear")
    assert [r[0] for r in parsed.records] == sorted({r[0] for r in parsed.records})


def test_append_creates_a_new_file(tmp_path: Path) -> None:
    box = box_with(tmp_path, None, [])
    assert uidlist.append(box, BASES) == [1, 2, 3]
    text = (tmp_path / "box" / uidlist.FILENAME).read_text()
    header, *rest = text.split("\n")
    match = re.fullmatch(r"3 V(\d+) N4 G([0-9a-f]{32})", header)
    assert match and abs(int(match.group(1)) - time.time()) < 60
    assert rest == [f"1 :{BASES[0]}", f"2 :{BASES[1]}", f"3 :{BASES[2]}", ""]


def test_sync_numbers_only_what_is_missing(tmp_path: Path) -> None:
    """Files delivered by other tools get UIDs in delivery order; known UIDs never change; gone files drop out."""
    later = ["1795520000.M9P99Q1.other,S=10,W=10", "1795510900.M5P20Q1.vm,S=800,W=820"]
    box = box_with(tmp_path, "uidlist-appended-by-dovecot", [BASES[0], BASES[1], *later])  # BASES[2] gone
    synced = uidlist.sync(box)
    assert [r[0] for r in synced.records] == [1, 2, 7, 8]
    assert synced.by_base() == {BASES[0]: 1, BASES[1]: 2, later[1]: 7, later[0]: 8}
    assert synced.next_uid == 9 and synced.uidvalidity == 1795510800 and synced.guid == GUID
    assert uidlist.read(box) is not None and uidlist.read(box).by_base() == synced.by_base()  # type: ignore[union-attr]
    # a second sync changes nothing, byte for byte
    text = (tmp_path / "box" / uidlist.FILENAME).read_text()
    uidlist.sync(box)
    assert (tmp_path / "box" / uidlist.FILENAME).read_text() == text


def test_sync_orders_new_files_by_delivery_time(tmp_path: Path) -> None:
    bases = ["1795510805.M1P1Q1.h", "1795510801.M900000P1Q1.h", "1795510801.M5P1Q1.h", "1795510803.M0P1Q1.h"]
    box = box_with(tmp_path, None, bases)
    synced = uidlist.sync(box)
    assert [r[2] for r in synced.records] == sorted(bases, key=lambda b: (int(b.split(".")[0]),
                                                                           int(b.split("M")[1].split("P")[0])))
    assert [r[0] for r in synced.records] == [1, 2, 3, 4]


# ---------------------------------------------------------------- dovecot-keywords
@pytest.mark.parametrize(("keyword", "letter"), [
    ("$MDNSent", "a"), ("$mdnsent", "a"), ("$Junk", "b"), ("NonJunk", "d"), ("nonjunk", "d"), ("$Forwarded", None),
    ("TooHigh", None),
])
def test_keyword_letters(tmp_path: Path, keyword: str, letter: str | None) -> None:
    box = box_with(tmp_path, None, [])
    shutil.copy(GOLDEN / "keywords-dovecot", tmp_path / "box" / keywords.FILENAME)
    table = keywords.read(box)
    assert table == {0: "$MDNSent", 1: "$Junk", 3: "NonJunk"}
    assert keywords.letter_of(table, keyword) == letter
    if letter:
        assert keywords.keyword_of(table, letter).lower() == keyword.lower()  # type: ignore[union-attr]


def test_keywords_ensure_fills_the_first_gap_and_never_renumbers(tmp_path: Path) -> None:
    box = box_with(tmp_path, None, [])
    path = tmp_path / "box" / keywords.FILENAME
    shutil.copy(GOLDEN / "keywords-dovecot", path)
    assert keywords.ensure(box, "$junk") == "b"  # existing, case-insensitive: file untouched
    assert path.read_text() == (GOLDEN / "keywords-dovecot").read_text()
    assert keywords.ensure(box, "$Forwarded") == "c"
    assert path.read_text() == "0 $MDNSent\n1 $Junk\n2 $Forwarded\n3 NonJunk\n"
    assert keywords.ensure(box, "Later") == "e"
    assert not (tmp_path / "box" / "dovecot-keywords.lock").exists()


def test_keywords_new_file_and_limit(tmp_path: Path) -> None:
    box = box_with(tmp_path, None, [])
    assert keywords.ensure(box, "$MDNSent") == "a"
    assert (tmp_path / "box" / keywords.FILENAME).read_text() == "0 $MDNSent\n"
    for i in range(1, 26):
        assert keywords.ensure(box, f"k{i}") == chr(ord("a") + i)
    with pytest.raises(DataError):
        keywords.ensure(box, "one-too-many")
    assert len(keywords.read(box)) == 26
