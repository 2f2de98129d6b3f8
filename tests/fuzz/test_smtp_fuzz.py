"""The CI slice of the SMTP fuzzer (tests/fuzz/smtpfuzz.py): a few hundred generated sessions over real sockets
against `agentmail serve`; bench/fuzz.py --smtp 20000 runs the full size (docs/testing.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fuzz.known import unrouted
from tests.fuzz.smtpfuzz import SmtpGen, SmtpStats, check_after, run_sessions
from tests.support.servers import Serve
from tests.support.store import make_store

SEED = 20240603
SESSIONS = 400


def describe(stats: SmtpStats, kinds: dict[str, int]) -> str:
    out = []
    for kind, n in kinds.items():
        detail, steps = stats.examples[kind]
        out.append(f"{n} x {kind}: {detail}")
        out += [f"    {step} {data[:200]!r}" for step, data in steps]
    return "\n".join(out)


def test_smtp_fuzz_slice(tmp_path: Path) -> None:
    store = make_store(tmp_path / "home")
    server = Serve.start(store)
    try:
        gen = SmtpGen(SEED, store.passwords["alice"])
        stats = asyncio.run(run_sessions(server.smtp_port, gen, SESSIONS, jobs=16, timeout=30))
        assert server.proc.poll() is None, "the server died under the fuzzer:\n" + server.log()[-3000:]
    finally:
        server.stop()
    check_after(store.home, server.log(), stats)
    assert stats.sessions == SESSIONS
    # the sessions got past AUTH and into every part of a transaction, and some were delivered
    for code in ("235", "250", "354", "503", "530", "535", "550", "553", "554"):
        assert stats.replies[code] > 0, (code, stats.replies)
    assert len(stats.acked) > 20
    found = unrouted(stats.counts)
    assert not found, describe(stats, found)


def test_generator_is_deterministic() -> None:
    """The same seed gives the same sessions (a finding's session can be played again)."""
    a, b = SmtpGen(7, "pw"), SmtpGen(7, "pw")
    assert [a.session(i) for i in range(50)] == [b.session(i) for i in range(50)]
    assert [a.session(i) for i in range(50)] != [SmtpGen(8, "pw").session(i) for i in range(50)]
