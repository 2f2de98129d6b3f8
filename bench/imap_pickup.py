"""An agent's hook picks up a postcard under the human's selected Agents/<name>/INBOX: the next NOOP's time.

    .venv/bin/python bench/imap_pickup.py [--sizes 100 100000] [--rounds 15] [--before DIR]

For each size: a temp store whose account `busy` holds that many read postcards in cur/ (bench/imap_bench.py's
build_mailbox), the real `agentmail serve`, and the human logged in over a raw socket with Agents/busy/INBOX
EXAMINEd. Each round delivers a postcard to busy (compose.send: logged in the folder's change log), lets the human's
NOOP report it (untimed), then moves it new/ -> cur/ and times the human's next NOOP:

  hook      the move as an agent's prompt hook makes it (agent.mailbox.announce: logged)
  foreign   the same rename made by another program (os.rename: not logged, so cur/ is listed)

Medians of --rounds (hook rounds first: a foreign change leaves cur/ to be listed once more when quiet), and the
ratio of the largest size to the smallest. `--before DIR` serves from another source tree (a checkout of an older
commit, `git archive HEAD agentmail | tar -x -C DIR`), to compare with the code before the change log was followed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from bench.imap_bench import Conn, build_mailbox  # noqa: E402
from tests.support.servers import Serve  # noqa: E402
from tests.support.store import make_store  # noqa: E402

VIEW = "Agents/busy/INBOX"


def rounds_of(home: Path, port: int, password: str, kind: str, rounds: int) -> list[float]:
    from agentmail import config
    from agentmail.agent.compose import send
    from agentmail.agent.mailbox import announce, unread

    cfg = config.load(str(home))
    box = Path(cfg.maildir_path("busy"))
    c = Conn(port)
    c.cmd(f'LOGIN human "{password}"')
    c.cmd(f'EXAMINE "{VIEW}"')
    times = []
    for n in range(rounds + 1):  # the first round warms up (the unread cache's first look lists cur/ once)
        send(cfg, "alice", ["busy"], f"pickup {kind} {n}", "hello", wake=False)
        assert b"EXISTS" in c.cmd("NOOP")
        if kind == "hook":
            announce(unread(cfg, "busy"))
        else:
            for name in os.listdir(box / "new"):
                os.rename(box / "new" / name, box / "cur" / (name + ":2,"))
        t0 = time.perf_counter()
        reply = c.cmd("NOOP")
        took = time.perf_counter() - t0
        assert b"EXPUNGE" not in reply, reply
        if n:
            times.append(took)
    c.close()
    return times


def run(size: int, rounds: int, before: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        store = make_store(home)
        build_mailbox(home, "busy", size, seed=size)
        prefix = ("env", f"PYTHONPATH={before}") if before else ()
        srv = Serve.start(store, prefix=prefix)
        try:
            port = srv.imap_port
            return {kind: statistics.median(rounds_of(home, port, store.passwords["human"], kind, rounds))
                    for kind in ("hook", "foreign")}
        finally:
            srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 100_000])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--before", help="serve from this source tree instead (PYTHONPATH)")
    args = ap.parse_args()
    results = {size: run(size, args.rounds, args.before) for size in args.sizes}
    low, high = min(results), max(results)
    print(f"{'NOOP after the move':<22}" + "".join(f"{size:>12,}" for size in results) + f"{'ratio':>9}")
    for kind in ("hook", "foreign"):
        cells = "".join(f"{results[size][kind] * 1000:>10.2f}ms" for size in results)
        print(f"{kind:<22}{cells}{results[high][kind] / results[low][kind]:>8.2f}x")


if __name__ == "__main__":
    main()
