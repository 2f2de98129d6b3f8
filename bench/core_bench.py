"""Wall time of `agentmail send` and `agentmail inbox`, side by side with a bare Python start.

    .venv/bin/python bench/core_bench.py [--runs 40] [--old 100000]

Runs every command interleaved (one of each per round, so machine noise hits all alike) and prints medians and
ratios. Targets (issue "Local core"): send within 2x of `python -c pass`; inbox with 100,000 read postcards in
cur/ within 1.2x of inbox on an empty mailbox.
The console script is the one pip installs (it imports `re` itself); `python -m agentmail`-free timings of the
same code are printed too, to show what the wrapper costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

PYTHON = sys.executable
AGENTMAIL = os.path.join(os.path.dirname(sys.executable), "agentmail")


def make_store(home: str, old: int) -> None:
    from agentmail import config
    from agentmail.store import registry

    cfg = config.load(home)
    registry.ensure_store(cfg)
    for name in ("alice", "bob", "empty", "full"):
        registry.create_account(cfg, name)
    cur = os.path.join(cfg.maildir_path("full"), "cur")
    body = b"From: alice@agents.localhost\nTo: full@agents.localhost\nSubject: old news\n\nread long ago\n"
    start = int(time.time()) - 86400 * 30
    for i in range(old):
        name = f"{start + i // 1000}.M{i % 1000}P1Q{i}.bench,S={len(body)},W={len(body) + 4}:2,S"
        with open(os.path.join(cur, name), "wb") as fh:
            fh.write(body)
    # make cur/ look settled (an old mtime), as it is for an agent whose old mail was read long ago
    past = time.time() - 3600
    os.utime(cur, (past, past))


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--old", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentmail-bench-") as home:
        t0 = time.time()
        make_store(home, args.old)
        print(f"store with {args.old} read postcards in cur/ made in {time.time() - t0:.1f} s")
        env = dict(os.environ, AGENTMAIL_HOME=home)
        env.pop("AGENTMAIL_NO_FAST_PATH", None)
        # Measure the installed state: pip byte-compiles on install, so timings must not include compiling.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        import agentmail

        subprocess.run([PYTHON, "-m", "compileall", "-q", os.path.dirname(agentmail.__file__)], check=True)
        script = "import sys; from agentmail.cli import main; sys.exit(main())"
        cases = {
            "python -c pass": [PYTHON, "-c", "pass"],
            "agentmail send": [AGENTMAIL, "--as", "alice", "send", "bob", "bench title", "a short body"],
            "send (no wrapper)": [PYTHON, "-c", script, "--as", "alice", "send", "bob", "bench title", "body"],
            "agentmail inbox (empty)": [AGENTMAIL, "--as", "empty", "inbox"],
            f"agentmail inbox ({args.old} old)": [AGENTMAIL, "--as", "full", "inbox"],
        }
        for cmd in cases.values():  # warm up: page cache, .pyc files, the unread cache
            timed(cmd, env)
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                samples[name].append(timed(cmd, env))
        med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
        base = med["python -c pass"]
        print(f"{'command':32} {'median ms':>10} {'vs python':>10}")
        for name, value in med.items():
            print(f"{name:32} {value:10.1f} {value / base:9.2f}x")
        empty = med["agentmail inbox (empty)"]
        full = med[f"agentmail inbox ({args.old} old)"]
        print(f"\nsend / python -c pass          = {med['agentmail send'] / base:.2f} (target <= 2.0)")
        print(f"inbox {args.old} old / inbox empty = {full / empty:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
