"""What waking an idle agent costs: latency, idle CPU and memory of the waiter, tokens per wake.

    .venv/bin/python bench/wake_bench.py [--sends 200] [--idle 600] [--many 50] [--many-idle 60] [--json]

- latency: `--sends` times, a waiter (`agentmail hook wait`, the Stop JSON on stdin, this process standing in for
  Claude Code as its parent) is armed, then `agentmail send` runs; the time from `send` returning to the waiter's
  exit (status 2) is one sample. Printed: p50, p95, max, and the ratio to the targets (p50 <= 100 ms, p95 <= 500 ms).
  The waiter waits COALESCE (50 ms) of quiet after a postcard so that a burst makes one wake: that is in the figure.
- idle: one armed waiter for `--idle` seconds (default 600: 10 minutes): its CPU seconds (utime + stime) and peak RSS
  (VmHWM), targets < 0.1 s and < 15 MiB; then `--many` waiters at once for `--many-idle` seconds: total CPU, the
  largest peak RSS, and the sum of their RSS.
- tokens: the wake text for one postcard with the longest title (140 characters) from a 64-character sender, in
  characters / 4 (target <= 40).

Nothing is timed inside the waiter: every figure is taken from outside, as a user would see it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BIN = os.path.dirname(os.path.abspath(sys.executable))
AGENTMAIL = os.path.join(BIN, "agentmail")
LONG_SENDER = "a-really-quite-long-agent-name-that-goes-on-and-on-for-sixty-four"[:64]
TARGETS = {"p50": 0.100, "p95": 0.500, "idle_cpu": 0.1, "idle_rss_mib": 15.0, "tokens": 40}


def env_for(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTMAIL_", "CLAUDE"))}
    env.update(AGENTMAIL_HOME=home, PYTHONPATH=ROOT)
    return env


def make_store(home: str, agents: list[str]) -> None:
    from agentmail import config
    from agentmail.store import registry

    cfg = config.load(home)
    registry.ensure_store(cfg)
    for name in ["backend", LONG_SENDER, *agents]:
        registry.create_account(cfg, name)
    with open(os.path.join(home, "config.json"), "w") as fh:  # the benchmark wakes one agent 200 times an hour
        json.dump({"wake_budget_thread": 100000, "wake_budget_pair": 100000}, fh)


def bind(home: str, session_id: str, name: str) -> None:
    with open(os.path.join(home, "sessions", session_id), "w") as fh:
        fh.write(name + "\n")


class Waiter:
    def __init__(self, home: str, name: str) -> None:
        self.home = home
        self.sid = str(uuid.uuid4())
        bind(home, self.sid, name)
        payload = {"session_id": self.sid, "transcript_path": "/dev/null", "cwd": home, "hook_event_name": "Stop",
                   "stop_hook_active": False}
        self.proc = subprocess.Popen([AGENTMAIL, "hook", "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env_for(home))
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(payload).encode())
        self.proc.stdin.close()

    def armed(self, timeout: float = 30) -> None:
        claim = os.path.join(self.home, "wake", "sessions", self.sid, "waiter")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(claim) as fh:
                    data = json.load(fh)
                if data.get("pid") == self.proc.pid and data.get("state") == "armed":
                    return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"waiter exited {self.proc.returncode}: {self.proc.stderr.read()!r}")  # type: ignore
            time.sleep(0.005)
        raise SystemExit("waiter did not arm")

    def stats(self) -> tuple[float, float, float]:
        """(CPU seconds, peak RSS MiB, current RSS MiB) from /proc."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        hwm = rss = 0.0
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) / 1024
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
        return cpu, hwm, rss

    def end(self) -> None:
        """End it as a new turn would: the prompt hook touches the session's turn marker."""
        with open(os.path.join(self.home, "wake", "sessions", self.sid, "turn"), "w"):
            pass
        self.proc.wait(30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(home: str, sends: int) -> dict[str, float]:
    samples = []
    for i in range(sends):
        waiter = Waiter(home, "frontend")
        waiter.armed()
        send = subprocess.run([AGENTMAIL, "--as", "backend", "send", "frontend", f"ping {i}", "body"],
                              capture_output=True, env=env_for(home))
        t0 = time.perf_counter()
        if send.returncode != 0:
            raise SystemExit(f"send failed: {send.stderr!r}")
        code = waiter.proc.wait(30)
        samples.append(time.perf_counter() - t0)
        if code != 2:
            raise SystemExit(f"waiter exited {code}, not 2: {waiter.proc.stderr.read()!r}")  # type: ignore[union-attr]
    return {"n": sends, "p50": statistics.median(samples), "p95": pct(samples, 0.95), "max": max(samples),
            "min": min(samples)}


def idle(home: str, seconds: float, count: int) -> dict[str, float]:
    waiters = [Waiter(home, f"idle-{i:02d}") for i in range(count)]
    for w in waiters:
        w.armed()
    start = [w.stats()[0] for w in waiters]
    time.sleep(seconds)
    stats = [w.stats() for w in waiters]
    for w in waiters:
        w.end()
    cpu = [s[0] - c0 for s, c0 in zip(stats, start, strict=True)]
    return {"waiters": count, "seconds": seconds, "cpu_total": sum(cpu), "cpu_max": max(cpu),
            "peak_rss_max_mib": max(s[1] for s in stats), "rss_sum_mib": sum(s[2] for s in stats)}


def tokens(home: str) -> dict[str, float]:
    from agentmail import config
    from agentmail.agent.compose import send

    waiter = Waiter(home, "frontend")
    waiter.armed()
    send(config.load(home), LONG_SENDER, ["frontend"], "w" * 140, "body", urgent=True)
    waiter.proc.wait(30)
    text = waiter.proc.stderr.read().decode()  # type: ignore[union-attr]
    return {"chars": len(text), "tokens": len(text) / 4, "text": text}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--idle", type=float, default=600.0, help="seconds one waiter idles (default 10 minutes)")
    parser.add_argument("--many", type=int, default=50)
    parser.add_argument("--many-idle", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wake-bench-") as tmp:
        home = os.path.join(tmp, "store")
        make_store(home, ["frontend", *(f"idle-{i:02d}" for i in range(max(1, args.many)))])
        result = {"latency": latency(home, args.sends), "tokens": tokens(home),
                  "idle_one": idle(home, args.idle, 1), "idle_many": idle(home, args.many_idle, args.many)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    lat, one, many, tok = result["latency"], result["idle_one"], result["idle_many"], result["tokens"]
    print(f"wake latency, send returned -> waiter exited, n={lat['n']}:")
    print(f"  p50 {lat['p50'] * 1000:7.1f} ms  (target {TARGETS['p50'] * 1000:.0f} ms, "
          f"ratio {lat['p50'] / TARGETS['p50']:.2f})")
    print(f"  p95 {lat['p95'] * 1000:7.1f} ms  (target {TARGETS['p95'] * 1000:.0f} ms, "
          f"ratio {lat['p95'] / TARGETS['p95']:.2f})")
    print(f"  min {lat['min'] * 1000:7.1f} ms, max {lat['max'] * 1000:.1f} ms")
    print(f"one idle waiter, {one['seconds']:.0f} s: CPU {one['cpu_total']:.3f} s (target < {TARGETS['idle_cpu']} s), "
          f"peak RSS {one['peak_rss_max_mib']:.1f} MiB (target < {TARGETS['idle_rss_mib']:.0f} MiB)")
    print(f"{many['waiters']:.0f} idle waiters, {many['seconds']:.0f} s: CPU {many['cpu_total']:.3f} s in all "
          f"(max {many['cpu_max']:.3f} s), peak RSS at most {many['peak_rss_max_mib']:.1f} MiB each, "
          f"{many['rss_sum_mib']:.0f} MiB RSS in all")
    print(f"one postcard's wake: {tok['chars']:.0f} characters, {tok['tokens']:.1f} tokens (target <= "
          f"{TARGETS['tokens']})")


if __name__ == "__main__":
    main()
