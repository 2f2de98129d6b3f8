"""What a remote home's sync process costs, and how soon mail sent on one machine is on the other.

    .venv/bin/python bench/remote_bench.py [--idle 60] [--sends 30] [--json]

`agentmail serve` on loopback stands for the mail server; two client homes (alice, bob) stand for machines, made
with `agentmail remote set`, bob's session bound so its sync process stays. Figures:

- the sync process at rest: CPU time over `--idle` seconds (from /proc/PID/stat, as a percentage of one core) and
  its memory (VmRSS, VmHWM), after it has settled;
- `send` on alice's home returning -> the postcard in bob's mirror (new/), p50/p95 over `--sends` postcards sent
  one after the other: IMAP IDLE, one pass of the mirror, no polling;
- the same send's own time (SMTP submission from the command, including the interpreter start).

Medians and percentiles only; the machine is shared, so compare runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BIN = os.path.dirname(os.path.abspath(sys.executable))
AGENTMAIL = os.path.join(BIN, "agentmail")
SID = "0c1d2e3f-bench-remote"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def memory_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def start_server(tmp: str) -> tuple[subprocess.Popen[bytes], dict[str, object], dict[str, str]]:
    from agentmail import config
    from agentmail.store import passwd, registry

    home = os.path.join(tmp, "server")
    cfg = config.load(home)
    registry.ensure_store(cfg)
    passwords = {}
    for name in ("alice", "bob"):
        registry.create_account(cfg, name)
        passwords[name] = passwd.password_for(cfg, name)
    proc = subprocess.Popen([AGENTMAIL, "serve", "--smtp-port", "0", "--imap-port", "0", "--web-port", "0"],
                            env={**os.environ, "AGENTMAIL_HOME": home}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            with open(os.path.join(home, "run", "serve.json")) as fh:
                info = json.load(fh)
            if info.get("pid") == proc.pid:
                return proc, info, passwords
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise SystemExit("agentmail serve did not start")


def client(tmp: str, name: str, info: dict[str, object], password: str) -> str:
    home = os.path.join(tmp, name)
    pw = os.path.join(tmp, f"{name}.password")
    with open(pw, "w") as fh:
        fh.write(password + "\n")
    subprocess.run([AGENTMAIL, "remote", "set", "--imap", f"imap://127.0.0.1:{info['imap_port']}", "--smtp",
                    f"smtp://127.0.0.1:{info['smtp_port']}", "--user", name, "--password-file", pw],
                   env={**os.environ, "AGENTMAIL_HOME": home}, check=True, capture_output=True)
    return home


def sync_pid(home: str) -> int:
    from agentmail.remote.alive import running

    for _ in range(400):
        if running(home):
            try:
                with open(os.path.join(home, "run", "sync.json")) as fh:
                    return int(json.load(fh)["pid"])
            except (OSError, ValueError, KeyError):
                pass
        time.sleep(0.05)
    raise SystemExit(f"no sync process for {home}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=60.0, help="seconds the sync process is watched at rest")
    parser.add_argument("--sends", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="remote-bench-")
    server = None
    homes: list[str] = []
    try:
        server, info, passwords = start_server(tmp)
        alice, bob = (client(tmp, n, info, passwords[n]) for n in ("alice", "bob"))
        homes = [alice, bob]
        with open(os.path.join(bob, "sessions", SID), "w") as fh:
            fh.write("bob\n")
        pid = sync_pid(bob)
        time.sleep(5)  # settled: the first full pass and presence done
        before = cpu_seconds(pid)
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(pid) - before) / args.idle * 100
        mem = memory_kb(pid)

        new = os.path.join(bob, "maildirs", "bob", "new")
        env = {**os.environ, "AGENTMAIL_HOME": alice}
        lags, sends = [], []
        for i in range(args.sends):
            before_files = set(os.listdir(new))
            start = time.perf_counter()
            subprocess.run([AGENTMAIL, "--as", "alice", "send", "bob", f"bench {i}", "body"], env=env, check=True,
                           capture_output=True)
            returned = time.perf_counter()
            while set(os.listdir(new)) == before_files:
                if time.perf_counter() - returned > 30:
                    raise SystemExit("a postcard did not reach bob's mirror within 30 s")
                time.sleep(0.001)
            lags.append((time.perf_counter() - returned) * 1000)
            sends.append((returned - start) * 1000)
        report = {
            "idle_seconds": args.idle, "sync_idle_cpu_percent": round(idle_cpu, 3),
            "sync_rss_kb": mem.get("VmRSS"), "sync_peak_rss_kb": mem.get("VmHWM"),
            "sends": args.sends,
            "send_to_mirror_ms": {"p50": round(statistics.median(lags), 1), "p95": round(percentile(lags, 0.95), 1)},
            "send_command_ms": {"p50": round(statistics.median(sends), 1), "p95": round(percentile(sends, 0.95), 1)},
        }
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"sync process at rest over {args.idle:g} s: {idle_cpu:.3f}% of a core, RSS {mem.get('VmRSS')} kB "
                  f"(peak {mem.get('VmHWM')} kB)")
            print(f"send returned -> in bob's mirror, {args.sends} postcards: p50 {report['send_to_mirror_ms']['p50']}"
                  f" ms, p95 {report['send_to_mirror_ms']['p95']} ms")
            print(f"send itself: p50 {report['send_command_ms']['p50']} ms, p95 {report['send_command_ms']['p95']} ms")
        return 0
    finally:
        from agentmail import config
        from agentmail.remote.setup import stop

        for home in homes:
            stop(config.load(home))
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
