"""Wall time of `agentmail send`, `inbox` and the history commands, side by side with a bare Python start.

    .venv/bin/python bench/core_bench.py [--runs 40] [--old 100000] [--small 20] [--home DIR]

Runs every command interleaved (one of each per round, so machine noise hits all alike) and prints medians and
ratios. Targets (issues "Local core" and 13):
- `send` within 2x of `python -c pass`;
- `inbox` with 100,000 read postcards in cur/ within 1.2x of `inbox` on an empty mailbox, also right after a new
  postcard arrived (and is announced by that inbox) and right after a flag change (`read` of the postcard before);
- `inbox --all`, `read ID`, `reply ID` and `log` with 100,000 postcards in INBOX, Sent and Receipts within 1.2x of
  the same commands with `--small` postcards in each (20 by default: one page of `inbox --all` and `log`, so that
  both print as many lines).
Each timed command runs the console script (the venv's interpreter, byte-compiled as pip installs it); what a case
needs first (a postcard to announce, one to read) is done untimed just before it. The stores are made by writing
files straight into the Maildirs (a foreign writer), so the first, untimed, round also builds the caches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

PYTHON = sys.executable
AGENTMAIL = os.path.join(os.path.dirname(sys.executable), "agentmail")


def key(name: str, i: int, kind: str) -> str:
    """A message's key (32 hex; its first 8 are the short id): a for INBOX, b for Sent, then the number."""
    return f"{kind}{i:07x}{'f0f0' if name == 'full' else '5a5a'}{'0' * 20}"


def postcard(i: int, sender: str, to: str, key: str) -> bytes:
    return (f"From: {sender}@agents.localhost\nTo: {to}@agents.localhost\nSubject: old news {i}\n"
            f"Date: Mon, 01 Jun 2026 10:00:00 +0000\nMessage-ID: <{key}@agents.localhost>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nread long ago\n").encode()


def fill(box: str, sub: str, count: int, make: Callable[[int], bytes], flags: str | None) -> None:
    start = int(time.time()) - 86400 * 30
    for i in range(count):
        data = make(i)
        lines = data.count(b"\n")
        name = f"{start + i // 1000}.M{i % 1000}P1Q{i}.bench,S={len(data)},W={len(data) + lines}"
        with open(os.path.join(box, sub, name + (f":2,{flags}" if flags is not None else "")), "wb") as fh:
            fh.write(data)
    past = time.time() - 3600  # settled directories, as for an agent whose old mail was read long ago
    os.utime(os.path.join(box, sub), (past, past))


def make_account(cfg: object, name: str, count: int, with_history: bool) -> None:
    from agentmail.format.mdn import build_mdn
    from agentmail.store import registry

    registry.create_account(cfg, name)  # type: ignore[arg-type]
    root = cfg.maildir_path(name)  # type: ignore[attr-defined]
    fill(root, "cur", count, lambda i: postcard(i, "alice", name, key(name, i, "a")), "S")
    if not with_history:
        return
    fill(os.path.join(root, ".Sent"), "cur", count, lambda i: postcard(i, name, "bob", key(name, i, "b")),
         "S")

    def receipt(i: int) -> bytes:
        original = f"<{key(name, i, 'b')}@agents.localhost>"
        return build_mdn(reader="bob@agents.localhost", original_message_id=original,
                         original_sender=f"{name}@agents.localhost", original_title=f"old news {i}",
                         disposition="displayed", domain="agents.localhost", reporting_ua="bench").data

    fill(os.path.join(root, ".Receipts"), "new", count, receipt, None)


def make_store(home: str, old: int, small: int) -> None:
    from agentmail import config
    from agentmail.store import registry

    cfg = config.load(home)
    registry.ensure_store(cfg)
    for name in ("alice", "bob", "empty"):
        registry.create_account(cfg, name)
    make_account(cfg, "full", old, with_history=True)
    make_account(cfg, "small", small, with_history=True)


def run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return proc.stdout.decode()


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
    ap.add_argument("--small", type=int, default=20)
    ap.add_argument("--home", help="keep the store here, and reuse it when it is there (made with the same sizes)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentmail-bench-") as tmp:
        home = args.home or tmp
        if not os.path.isdir(os.path.join(home, "maildirs", "full")):
            t0 = time.time()
            make_store(home, args.old, args.small)
            print(f"stores with {args.old} and {args.small} postcards in INBOX, Sent and Receipts made in "
                  f"{time.time() - t0:.1f} s")
        env = dict(os.environ, AGENTMAIL_HOME=home)
        env.pop("AGENTMAIL_NO_FAST_PATH", None)
        # Measure the installed state: pip byte-compiles on install, so timings must not include compiling.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        import agentmail

        subprocess.run([PYTHON, "-m", "compileall", "-q", os.path.dirname(agentmail.__file__)], check=True)
        script = "import sys; from agentmail.cli import main; sys.exit(main())"

        def am(*a: str) -> list[str]:
            return [AGENTMAIL, *a]

        def new_postcard(who: str) -> Callable[[], None]:
            def setup() -> None:
                run(am("--as", "alice", "send", who, "fresh news", "just arrived"), env)
            return setup

        def flag_change(who: str) -> Callable[[], None]:
            def setup() -> None:
                sent = run(am("--as", "alice", "send", who, "fresh news", "to be read"), env).split()[1]
                run(am("--as", who, "inbox"), env)
                run(am("--as", who, "read", sent), env)
            return setup

        n, m = args.old, args.small
        cases: dict[str, tuple[Callable[[], None] | None, list[str]]] = {
            "python -c pass": (None, [PYTHON, "-c", "pass"]),
            "agentmail send": (None, am("--as", "alice", "send", "bob", "bench title", "a short body")),
            "send (no wrapper)": (None, [PYTHON, "-c", script, "--as", "alice", "send", "bob", "bench title", "b"]),
            "inbox (empty)": (None, am("--as", "empty", "inbox")),
            f"inbox ({n} old)": (None, am("--as", "full", "inbox")),
            "inbox, new postcard (empty)": (new_postcard("empty"), am("--as", "empty", "inbox")),
            f"inbox, new postcard ({n} old)": (new_postcard("full"), am("--as", "full", "inbox")),
            "inbox, flag change (empty)": (flag_change("empty"), am("--as", "empty", "inbox")),
            f"inbox, flag change ({n} old)": (flag_change("full"), am("--as", "full", "inbox")),
            f"inbox --all ({m})": (None, am("--as", "small", "inbox", "--all")),
            f"inbox --all ({n})": (None, am("--as", "full", "inbox", "--all")),
            f"read ID ({m})": (None, am("--as", "small", "read", key("small", m // 2, "a")[:8])),
            f"read ID ({n})": (None, am("--as", "full", "read", key("full", n // 2, "a")[:8])),
            f"reply ID ({m})": (None, am("--as", "small", "reply", key("small", m // 2, "a")[:8], "noted")),
            f"reply ID ({n})": (None, am("--as", "full", "reply", key("full", n // 2, "a")[:8], "noted")),
            f"log ({m})": (None, am("--as", "small", "log")),
            f"log ({n})": (None, am("--as", "full", "log")),
        }
        t0 = time.time()
        for setup, cmd in cases.values():  # warm up: page cache, .pyc files, and the caches and index built
            if setup:
                setup()
            timed(cmd, env)
        print(f"first round (builds the caches and the index) took {time.time() - t0:.1f} s")
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for name, (setup, cmd) in cases.items():
                if setup:
                    setup()
                samples[name].append(timed(cmd, env))
        med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
        base = med["python -c pass"]
        print(f"{'command':36} {'median ms':>10} {'vs python':>10}")
        for name, value in med.items():
            print(f"{name:36} {value:10.1f} {value / base:9.2f}x")
        print(f"\nsend / python -c pass{'':23} = {med['agentmail send'] / base:.2f} (target <= 2.0)")
        pairs = [(f"inbox ({n} old)", "inbox (empty)"),
                 (f"inbox, new postcard ({n} old)", "inbox, new postcard (empty)"),
                 (f"inbox, flag change ({n} old)", "inbox, flag change (empty)"),
                 *((f"{c} ({n})", f"{c} ({m})") for c in ("inbox --all", "read ID", "reply ID", "log"))]
        for big, little in pairs:
            print(f"{big} / {little}".ljust(44) + f" = {med[big] / med[little]:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
