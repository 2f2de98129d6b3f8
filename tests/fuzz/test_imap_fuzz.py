"""The CI slice of the IMAP fuzzer (tests/fuzz/imapfuzz.py): 20,000 generated inputs, fixed seed, through the real
parser and session over a real Maildir store; bench/fuzz.py runs the full size (docs/testing.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.imapfuzz import ImapFuzzer
from tests.fuzz.known import unrouted
from tests.fuzz.world import OWNER, World

SEED = 20240603
INPUTS = 20_000


def report(fuzzer: ImapFuzzer, kinds: dict[str, int]) -> str:
    lines = []
    for kind, n in kinds.items():
        ex = fuzzer.stats.examples[kind]
        lines.append(f"{n} x {kind}: {ex.detail[:200]}")
        lines += [f"    {x[:300]!r}" for x in fuzzer.minimise(ex)]
    return "\n".join(lines)


def test_imap_fuzz_slice(tmp_path: Path) -> None:
    world = World(tmp_path / "home", size=100, seed=SEED)
    fuzzer = ImapFuzzer(world, SEED)
    stats = fuzzer.run(INPUTS)
    assert stats.inputs == INPUTS
    # it went deep, not only into the parser's refusals: every kind of command ran, on a selected mailbox
    for name in ("Fetch", "Search", "Store", "Copy", "Move", "Expunge", "Append", "Create", "Rename", "Delete",
                 "List", "Status", "Idle", "Authenticate"):
        assert stats.events[name] > 20, (name, stats.events)
    assert stats.replies["OK"] > 5000 and stats.replies["NO"] > 500 and stats.replies["BAD"] > 5000
    assert stats.checks > 300
    found = unrouted(stats.counts)
    assert not found, report(fuzzer, found)


def test_store_checks_see_damage(tmp_path: Path) -> None:
    """The consistency checks the fuzzer relies on do report a damaged store (a check that cannot fail proves
    nothing): a UID given twice, a file without a UID, a tmp/ leftover, a lock left behind, a lost file."""
    world = World(tmp_path / "home", size=5)
    assert world.check_account(OWNER) == []
    box = Path(world.box(OWNER))
    text = (box / "dovecot-uidlist").read_text()
    first = text.splitlines()[1]
    (box / "dovecot-uidlist").write_text(text + first + "\n")
    (box / "cur" / "123.M1P1Q1.stray,S=1,W=1:2,").write_bytes(b"x")
    (box / "tmp" / "123.M2P1Q2.half").write_bytes(b"x")
    (box / "dovecot-uidlist.lock").write_bytes(b"")
    kinds = {kind for kind, _ in world.check_account(OWNER)}
    assert kinds == {"store:uid-not-ascending", "store:base-two-uids", "store:file-without-uid", "store:tmp-left",
                     "store:lock-left"}, kinds
    before = world.snapshot(OWNER)
    victim = next(p for p in (box / "cur").iterdir() if "stray" not in p.name)
    victim.unlink()
    fuzzer = ImapFuzzer(world, 1)
    fuzzer.checkpoint(OWNER, before, world.outside(OWNER, metadata=True))
    assert "store:lost" in fuzzer.stats.counts


@pytest.mark.parametrize("account", [OWNER, "human"])
def test_replay_of_a_clean_session_finds_nothing(tmp_path: Path, account: str) -> None:
    """The harness itself raises no false alarm on ordinary client traffic (what mutt and mbsync send)."""
    world = World(tmp_path / "home", size=20)
    fuzzer = ImapFuzzer(world, 1)
    box = b"INBOX" if account == OWNER else b"Agents/bob/INBOX"
    stats = fuzzer.replay([b"a SELECT " + box + b"\r\n", b"b FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)\r\n",
                           b"c UID FETCH 3 BODY.PEEK[]\r\n", b"d STORE 1 +FLAGS (\\Deleted)\r\n", b"e EXPUNGE\r\n",
                           b'f LIST "" "*"\r\n', b"g LOGOUT\r\n"], account=account)
    assert stats.inputs == 7 and stats.replies["OK"] >= 5
    assert dict(stats.counts) == {}
