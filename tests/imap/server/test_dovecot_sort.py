"""Dovecot 2.3 and agentmail serve the same generated mailboxes; SORT, THREAD and ESEARCH must answer byte for byte
the same: hundreds of messages whose References point forwards, backwards, nowhere and round in loops, with
duplicate and missing Message-IDs, subjects that differ only by Re:/Fwd:/[tags]/(fwd)/case/encoding, dates in
every zone, unreadable or missing, and groups and encoded names in the address fields."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.imap.dovecot_oracle import untagged
from tests.imap.server.conftest import Live
from tests.imap.server.test_sort_thread import Raw
from tests.support.dovecot import Dovecot, need_dovecot

SUBJECTS = ["Build plan", "build PLAN", "Deploy", "Weekly report", "=?utf-8?q?=C3=89t=C3=A9?= plans", "Ete plans",
            "Lunch?", "", "   spaced    out  ", "[ops] Deploy", "Stra=?iso-8859-1?q?=DF?=e", "Strasse"]
PREFIXES = ["", "", "", "Re: ", "RE: ", "Fwd: ", "Fw: ", "[team] ", "Re: [team] Re: ", "re[2]: ", "[Fwd: "]
NAMES = ['"Alice" <alice@x>', "bob@x", "=?utf-8?q?Zo=C3=AB?= <zoe@y>", "Team: ann@x, ben@x;", "<@x>", "Érin <erin@x>",
         "carol (Carol C) <carol@z>", "undisclosed-recipients:;"]
ZONES = ["+0000", "-0700", "+0530", "EST", "PDT", "GMT", "Z", "", "+9999", "(comment)"]


def message(rng: random.Random, i: int, count: int) -> bytes:
    lines = []
    if rng.random() < 0.9:
        lines.append(f"Message-ID: <m{i if rng.random() < 0.95 else rng.randrange(count)}@x>")
    refs = [f"<m{rng.randrange(count + 20)}@x>" for _ in range(rng.choice([0, 0, 1, 2, 3, 6]))]
    if refs and rng.random() < 0.7:
        lines.append("References: " + rng.choice([" ", "\n ", " junk "]).join(refs))
    if rng.random() < 0.3:
        lines.append(f"In-Reply-To: <m{rng.randrange(count + 20)}@x>")
    prefix = rng.choice(PREFIXES)
    subject = prefix + rng.choice(SUBJECTS) + ("]" if prefix.startswith("[Fwd") else "")
    if rng.random() < 0.1:
        subject += " (fwd)"
    if rng.random() < 0.95:
        lines.append(f"Subject: {subject}")
    if rng.random() < 0.9:
        lines.append(f"From: {rng.choice(NAMES)}")
    if rng.random() < 0.8:
        lines.append(f"To: {rng.choice(NAMES)}")
    if rng.random() < 0.3:
        lines.append(f"Cc: {rng.choice(NAMES)}")
    roll = rng.random()
    if roll < 0.8:
        day, hour = rng.randrange(1, 28), rng.randrange(24)
        year = rng.choice(["2024", "2024", "24", "99", "1969", "1900"])
        weekday = rng.choice(["Mon, ", "", "Xyz "])
        lines.append(f"Date: {weekday}{day} {rng.choice(['Jun', 'jul', 'Sept'])} {year} {hour}:{rng.randrange(60):02d}"
                     f"{rng.choice([':00', '.30', ''])} {rng.choice(ZONES)}".rstrip())
    elif roll < 0.9:
        lines.append("Date: not a date")
    return ("\n".join(lines) + "\n\nbody " + "x" * rng.randrange(200) + "\n").encode()


def generated_tree(home: Path, user: str, seed: int, count: int) -> None:
    rng = random.Random(seed)
    md = home / "maildirs" / user
    for i in range(count):
        path = md / "cur" / f"{1700000000 + i}.M{seed}P1.host:2,"
        path.write_bytes(message(rng, i, count))
        when = 1717000000 + rng.randrange(100) * 3600  # many ties
        os.utime(path, (when, when))


QUERIES = [
    "SORT (ARRIVAL) UTF-8 ALL", "SORT (DATE) UTF-8 ALL", "SORT (REVERSE DATE SUBJECT) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL", "SORT (SUBJECT REVERSE ARRIVAL) UTF-8 ALL", "SORT (FROM SIZE) UTF-8 ALL",
    "SORT (TO DATE) UTF-8 ALL", "SORT (CC REVERSE SIZE) UTF-8 ALL", "SORT (DISPLAYFROM) UTF-8 ALL",
    "SORT (DISPLAYTO REVERSE DATE) UTF-8 ALL", "UID SORT (SUBJECT) UTF-8 NOT SUBJECT deploy",
    "THREAD REFERENCES UTF-8 ALL", "UID THREAD REFERENCES UTF-8 NOT SUBJECT plan", "THREAD REFERENCES UTF-8 1:*",
    "THREAD ORDEREDSUBJECT UTF-8 ALL", "UID THREAD ORDEREDSUBJECT UTF-8 FROM x",
    "SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT re", "UID SEARCH RETURN () FROM alice", "SEARCH RETURN (COUNT) ALL",
]


@pytest.fixture
def dovecot_too(live: Live) -> tuple[Live, Dovecot]:
    need_dovecot()
    return live, Dovecot(live.store.home)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_mailboxes_answer_like_dovecot(dovecot_too: tuple[Live, Dovecot], seed: int) -> None:
    live, dove = dovecot_too
    generated_tree(live.store.home, "bob", seed, 250)
    ours = Raw(live.port)
    ours.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    assert b"OK" in ours.cmd("b", "EXAMINE INBOX")  # numbers the files (uidlist.sync); Dovecot then reads those
    dove.start()
    try:
        theirs = Raw(dove.port)
        theirs.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
        assert b"OK" in theirs.cmd("b", "EXAMINE INBOX")
        differ = []
        for n, query in enumerate(QUERIES):
            mine, dovecots = ours.cmd(f"q{n}", query), theirs.cmd(f"q{n}", query)
            if untagged(mine) != untagged(dovecots):
                differ.append(f"{query}\n  Dovecot: {untagged(dovecots)!r}\n  ours:    {untagged(mine)!r}")
        assert not differ, "\n".join(differ)
    finally:
        dove.stop()


def test_errors_and_empty_mailboxes_like_dovecot(dovecot_too: tuple[Live, Dovecot]) -> None:
    """The same status and response code for each odd command (the texts are each server's own)."""
    live, dove = dovecot_too
    ours = Raw(live.port)
    ours.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
    assert b"OK" in ours.cmd("b", "SELECT INBOX")  # writes the uidlist; then Dovecot gets the tree (start chowns)
    dove.start()
    try:
        theirs = Raw(dove.port)
        theirs.cmd("a", f"LOGIN bob {live.store.passwords['bob']}")
        assert b"OK" in theirs.cmd("b", "SELECT INBOX")
        empty = ["SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "THREAD ORDEREDSUBJECT UTF-8 ALL",
                 "UID SEARCH RETURN (MIN MAX ALL COUNT) ALL", "SEARCH RETURN (MIN) ALL"]
        for n, query in enumerate(empty):
            assert untagged(ours.cmd(f"e{n}", query)) == untagged(theirs.cmd(f"e{n}", query)), query
        bad = ["SORT SUBJECT UTF-8 ALL", "SORT () UTF-8 ALL", "SORT (SUBJECT REVERSE) UTF-8 ALL", "SORT (X) UTF-8 ALL",
               "SORT (SUBJECT (DATE)) UTF-8 ALL", "SORT (SUBJECT)", "SORT (SUBJECT) UTF-8", "THREAD",
               "THREAD FOO UTF-8 ALL", "THREAD REFERENCES UTF-8", "SEARCH RETURN (FOO) ALL",
               "SORT (SUBJECT) X-NOPE ALL", "THREAD REFERENCES X-NOPE ALL"]
        for n, query in enumerate(bad):
            mine, dovecots = ours.cmd(f"x{n}", query), theirs.cmd(f"x{n}", query)
            status = [reply.split(b"\r\n")[-2].split(b" ")[1] for reply in (mine, dovecots)]
            assert status[0] == status[1], (query, mine, dovecots)
            if b"[" in dovecots:  # the response code's name
                assert mine.split(b"[")[1].split(b"]")[0].split()[0] == dovecots.split(b"[")[1].split(b"]")[0], query
    finally:
        dove.stop()
