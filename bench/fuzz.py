"""Fuzzing at full size: generated IMAP input through the real parser and session over a real Maildir store, and
generated SMTP sessions over sockets against `agentmail serve`.

    .venv/bin/python bench/fuzz.py [--imap 1000000] [--smtp 20000] [--seed 1] [--mailbox-size 10000]
                                   [--big-inputs 20000] [--small-size 100] [--jobs 16] [--watchdog 10]
                                   [--keep 10] [--dump FILE]

The generators and checks are the CI suite's (tests/fuzz/, see docs/testing.md "Fuzzing and the kill -9 soak");
the suite runs a fixed-seed slice, this runs the full size. The IMAP inputs run in two phases: the bulk on a
--small-size INBOX (a command over the whole mailbox is cheap there, so a million inputs take an hour, not days),
then --big-inputs on a --mailbox-size INBOX, whose slowest inputs are the timing figures. Prints, for each phase:
the counts (inputs, commands, connections or sessions, replies by status), every finding kind with its count and
one example input (for IMAP, shortened to the fewest lines that still show it), and the slowest inputs with their
time and the longest single chunk (how long the server's one IMAP worker thread is held: what every other client
waits). Exit status 1 when there is any finding. Targets (issue 8): no finding; no command slower than 100 ms on
a 10,000-message mailbox. `--dump FILE` writes every finding's example with its whole connection as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.*

from tests.fuzz.imapfuzz import ImapFuzzer, Stats  # noqa: E402
from tests.fuzz.smtpfuzz import SmtpGen, SmtpStats, check_after, run_sessions  # noqa: E402
from tests.fuzz.world import World  # noqa: E402
from tests.support.servers import Serve  # noqa: E402
from tests.support.store import make_store  # noqa: E402


def show(data: bytes, limit: int = 240) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + f"... ({len(data)} bytes)"


def progress(stats: Stats) -> None:
    rate = stats.inputs / stats.seconds if stats.seconds else 0
    print(f"  ... {stats.inputs} inputs, {rate:.0f}/s, findings {dict(stats.counts)}", flush=True)


def imap_phase(label: str, world: World, inputs: int, seed: int, args: argparse.Namespace,
               dump: dict[str, object]) -> tuple[Stats, ImapFuzzer]:
    print(f"IMAP {label}: {inputs} inputs on a {world.size}-message INBOX, seed {seed}", flush=True)
    fuzzer = ImapFuzzer(world, seed, watchdog=args.watchdog, keep_slowest=args.keep)
    stats = fuzzer.run(inputs, progress, every=120)
    commands = sum(n for k, n in stats.events.items() if k not in ("ParseError", "NeedContinuation", "RawLine"))
    print(f"IMAP {label}: {stats.inputs} inputs in {stats.seconds:.0f} s ({stats.inputs / stats.seconds:.0f}/s), "
          f"{stats.connections} connections, {sum(stats.events.values())} events: {commands} commands parsed, "
          f"{stats.events['ParseError']} refused by the parser, {stats.events['NeedContinuation']} literals "
          f"announced; {stats.checks} store checks; {world.refills} INBOX refills")
    print("  replies: " + ", ".join(f"{k} {v}" for k, v in stats.replies.most_common()))
    print("  commands: " + ", ".join(f"{k} {v}" for k, v in stats.events.most_common()
                                      if k not in ("ParseError", "NeedContinuation", "RawLine")))
    print(f"IMAP {label} findings: {sum(stats.counts.values())} ({len(stats.counts)} kinds)")
    for kind, n in stats.counts.most_common():
        ex = stats.examples[kind]
        shortest = fuzzer.minimise(ex)
        print(f"  {n:6d}  {kind}: {ex.detail[:160]}")
        for line in shortest:
            print(f"            {show(line)}")
        dump[f"imap {label} {kind}"] = {"count": n, "detail": ex.detail, "input": ex.data.decode("latin-1"),
                                        "shortest": [x.decode("latin-1") for x in shortest],
                                        "context": [x.decode("latin-1") for x in ex.context]}
    print(f"IMAP {label} slowest inputs (parser + session time for the whole input / longest chunk, state):")
    for secs, chunk, data, where in sorted(stats.slowest, reverse=True):
        print(f"  {secs * 1000:8.1f} ms {chunk * 1000:8.1f} ms  {where:>14.14}  {show(data, 150)}")
    return stats, fuzzer


def run_imap(args: argparse.Namespace, tmp: Path, dump: dict[str, object]) -> int:
    big = min(args.imap, args.big_inputs)
    found = 0
    if args.imap > big:
        world = World(tmp / "imap-small", args.small_size, seed=args.seed)
        stats, _ = imap_phase("bulk", world, args.imap - big, args.seed, args, dump)
        found += len(stats.counts)
    if big:
        t0 = time.perf_counter()
        world = World(tmp / "imap-big", args.mailbox_size, seed=args.seed)
        print(f"IMAP: {args.mailbox_size}-message store built in {time.perf_counter() - t0:.1f} s", flush=True)
        stats, _ = imap_phase("timing", world, big, args.seed + 1, args, dump)
        found += len(stats.counts)
        worst = max(stats.slowest)
        print(f"IMAP timing: the slowest input took {worst[0] * 1000:.0f} ms on the {args.mailbox_size}-message "
              f"mailbox (target: every command under 100 ms); "
              f"{sum(1 for x in stats.slowest if x[0] > 0.1)} of the {len(stats.slowest)} slowest are over")
    return found


def run_smtp(args: argparse.Namespace, tmp: Path, dump: dict[str, object]) -> int:
    store = make_store(tmp / "smtp")
    server = Serve.start(store)
    print(f"SMTP: {args.smtp} sessions, {args.jobs} at a time, seed {args.seed}, against agentmail serve "
          f"(pid {server.proc.pid})", flush=True)
    gen = SmtpGen(args.seed, store.passwords["alice"])
    stats: SmtpStats = asyncio.run(run_sessions(server.smtp_port, gen, args.smtp, args.jobs, args.reply_timeout))
    alive = server.proc.poll() is None
    if not alive:
        stats.finding("server-died", f"exit status {server.proc.returncode}", [])
    server.stop()
    check_after(store.home, server.log(), stats)
    print(f"SMTP: {stats.sessions} sessions in {stats.seconds:.0f} s, {stats.commands} commands, "
          f"{len(stats.acked)} messages acknowledged (250 after DATA), server alive to the end: {alive}")
    print("  replies: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.replies.items())))
    print(f"SMTP findings: {sum(stats.counts.values())} ({len(stats.counts)} kinds)")
    for kind, n in stats.counts.most_common():
        detail, steps = stats.examples[kind]
        print(f"  {n:6d}  {kind}: {detail[:200]}")
        for step, data in steps[:12]:
            print(f"            {step:5} {show(data, 150)}")
        dump[f"smtp {kind}"] = {"count": n, "detail": detail,
                                "steps": [[s, d.decode("latin-1")] for s, d in steps]}
    print("SMTP slowest replies: " + ", ".join(f"{s * 1000:.0f} ms to {show(d, 60)}" for s, d in stats.slowest))
    return len(stats.counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imap", type=int, default=1_000_000, help="IMAP inputs (0: none)")
    ap.add_argument("--smtp", type=int, default=20_000, help="SMTP sessions (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mailbox-size", type=int, default=10_000, help="messages in the timing phase's INBOX")
    ap.add_argument("--big-inputs", type=int, default=20_000,
                    help="IMAP inputs of the timing phase, on the --mailbox-size INBOX (the rest: the bulk phase)")
    ap.add_argument("--small-size", type=int, default=100, help="messages in the bulk phase's INBOX")
    ap.add_argument("--jobs", type=int, default=16, help="SMTP sessions at a time")
    ap.add_argument("--watchdog", type=float, default=10.0, help="seconds before an IMAP event counts as a hang")
    ap.add_argument("--reply-timeout", type=float, default=30.0, help="seconds before an SMTP reply counts as a hang")
    ap.add_argument("--keep", type=int, default=10, help="slowest IMAP inputs to show")
    ap.add_argument("--dump", type=Path, help="write the findings with their connections to this JSON file")
    args = ap.parse_args()
    dump: dict[str, object] = {}
    found = 0
    with tempfile.TemporaryDirectory(prefix="agentmail-fuzz-") as tmp:
        if args.imap:
            found += run_imap(args, Path(tmp), dump)
        if args.smtp:
            found += run_smtp(args, Path(tmp), dump)
    if args.dump:
        args.dump.write_text(json.dumps(dump, indent=1))
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
