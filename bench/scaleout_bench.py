"""Agents on many machines through one Dovecot + Postfix (docs/scale-out.md), all on this machine.

    .venv/bin/python bench/scaleout_bench.py [--homes 50] [--samples 100] [--burst 200] [--workers 8]
                                             [--idle 60] [--reps 60] [--json]

Runs as root (Postfix and Dovecot run their daemons as their own users; tests/support/scaleout.py is the rig the
scale-out tests use). `--homes` client homes stand for machines, each joined to its own account the way an operator
hands one over (`agentmail admin add`, `agentmail remote set`) and kept alive by a session (SessionStart hook), so
each has its sync process holding IMAP IDLE. Then:

  latency     `--samples` postcards one after another, each from one home to the next: the time from `agentmail send`
              returning to the postcard in the recipient's new/, where its prompt hook and waiter find it (a sample
              of them is then announced by the real prompt hook, which is checked); p50 and p95
  throughput  `--burst` postcards sent by `--workers` concurrent `agentmail send` processes between random homes:
              postcards per second from the first send to the last arrival in a recipient's new/
  idle        one sync process over `--idle` seconds with nothing happening: CPU (utime + stime, as % of one core)
              and RSS; the RSS of all of them
  hook        the prompt hook with no new mail on a remote home and on a local home, interleaved `--reps` times:
              medians and their ratio (the target: the same, since the idle path touches no network)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support.scaleout import Machine, Machines, MailServer, make_home  # noqa: E402
from tests.support.store import AGENTMAIL, env_for  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def hook_json(sid: str, cwd: str, event: str) -> str:
    names = {"session-start": "SessionStart", "prompt": "UserPromptSubmit"}
    return json.dumps({"session_id": sid, "cwd": cwd, "hook_event_name": names[event], "prompt": "go on",
                       "source": "startup"})


def in_new(machine: Machine, title: str) -> bool:
    box = machine.box() / "new"
    try:
        names = os.listdir(box)
    except FileNotFoundError:
        return False
    return any(title.encode() in (box / n).read_bytes() for n in names if not n.startswith("."))


def wait_for(check: object, what: str = "", timeout: float = 60.0, interval: float = 0.002) -> float:
    """Poll `check()` until true; the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if check():  # type: ignore[operator]
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout} s")
        time.sleep(interval)


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def setup(server: MailServer, made: Machines, homes: int) -> list[tuple[Machine, str]]:
    """`homes` machines, each with its own account and a live session (so its sync process stays)."""
    out = []
    for i in range(homes):
        machine = made.new(f"m{i:03d}")
        sid = f"bench-{uuid.uuid4().hex}"
        machine.run("hook", "session-start", input=hook_json(sid, str(machine.home.parent), "session-start")).ok()
        out.append((machine, sid))
    for machine, _ in out:
        machine.wait_sync_pid()
    return out


def send(sender: Machine, to: Machine, title: str) -> float:
    """`agentmail send` from `sender`'s home; the monotonic time it returned."""
    sender.as_me("send", to.name, title, "bench").ok()
    return time.monotonic()


def latency(pairs: list[tuple[Machine, str]], samples: int) -> dict[str, object]:
    took = []
    checked = 0
    for k in range(samples):
        (sender, _), (recipient, sid) = pairs[k % len(pairs)], pairs[(k + 1) % len(pairs)]
        title = f"lat-{uuid.uuid4().hex[:10]}"
        returned = send(sender, recipient, title)
        try:
            seen = wait_for(lambda r=recipient, t=title: in_new(r, t),  # type: ignore[misc]
                            f"{title} in {recipient.home}/maildirs/{recipient.name}/new")
        except SystemExit:
            print(f"{recipient.name}'s sync log:\n{recipient.log()[-3000:]}", file=sys.stderr)
            raise
        took.append(seen - returned)
        if k % max(1, samples // 5) == 0:  # the real prompt hook announces what arrived
            said = recipient.run("hook", "prompt", input=hook_json(sid, str(recipient.home.parent), "prompt")).ok()
            assert title in said.out, said.out
            checked += 1
    return {"samples": samples, "p50_s": round(statistics.median(took), 3), "p95_s": round(quantile(took, 0.95), 3),
            "max_s": round(max(took), 3), "announced_by_prompt_hook": checked}


def throughput(pairs: list[tuple[Machine, str]], burst: int, workers: int) -> dict[str, object]:
    rnd = random.Random(12)
    jobs = []
    for _ in range(burst):
        a, b = rnd.sample(range(len(pairs)), 2)
        jobs.append((pairs[a][0], pairs[b][0], f"thr-{uuid.uuid4().hex[:10]}"))
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        returned = list(pool.map(lambda job: send(*job), jobs))
    sent = max(returned)
    pending = {(to.name, title): to for _, to, title in jobs}
    last = sent
    deadline = time.monotonic() + 300
    while pending and time.monotonic() < deadline:
        for key, to in list(pending.items()):
            if in_new(to, key[1]):
                del pending[key]
                last = time.monotonic()
        time.sleep(0.01)
    if pending:
        raise SystemExit(f"{len(pending)} postcards never arrived")
    return {"postcards": burst, "workers": workers, "sent_per_s": round(burst / (sent - start), 1),
            "end_to_end_per_s": round(burst / (last - start), 1), "last_arrival_after_last_send_s":
            round(last - sent, 2)}


def idle(pairs: list[tuple[Machine, str]], seconds: float) -> dict[str, object]:
    time.sleep(5)  # let every sync process finish what the bursts gave it
    pids = [m.wait_sync_pid() for m, _ in pairs]
    one = pids[0]
    before, t0 = cpu_ticks(one), time.monotonic()
    time.sleep(seconds)
    used = (cpu_ticks(one) - before) / CLK_TCK
    rss = [rss_kib(p) for p in pids]
    return {"seconds": seconds, "cpu_pct_of_a_core": round(100 * used / (time.monotonic() - t0), 3),
            "rss_mib": round(rss_kib(one) / 1024, 1), "all_sync_rss_mib": round(sum(rss) / 1024, 1),
            "sync_processes": len(pids)}


def hook_cost(remote: tuple[Machine, str], root: Path, reps: int) -> dict[str, object]:
    local_home = root / "local-home"
    cfg = make_home(local_home)
    from agentmail.store import registry

    registry.create_account(cfg, "local")
    local_sid = f"bench-{uuid.uuid4().hex}"
    env = env_for(local_home, AGENTMAIL_ADDRESS="local")
    subprocess.run([AGENTMAIL, "hook", "session-start"], input=hook_json(local_sid, str(root), "session-start"),
                   env=env, capture_output=True, text=True, check=True)
    machine, sid = remote
    variants = {
        "remote": ([AGENTMAIL, "hook", "prompt"], env_for(machine.home), hook_json(sid, str(machine.home.parent),
                                                                                    "prompt")),
        "local": ([AGENTMAIL, "hook", "prompt"], env, hook_json(local_sid, str(root), "prompt")),
    }
    for cmd, e, data in variants.values():  # announce what the bursts left unannounced: from here on, idle
        subprocess.run(cmd, input=data, env=e, capture_output=True, text=True)
    times: dict[str, list[float]] = {k: [] for k in variants}
    order = list(variants)
    for _ in range(reps):
        random.shuffle(order)
        for name in order:
            cmd, e, data = variants[name]
            t = time.perf_counter()
            proc = subprocess.run(cmd, input=data, env=e, capture_output=True, text=True)
            times[name].append(time.perf_counter() - t)
            if proc.returncode != 0 or proc.stdout:
                raise SystemExit(f"{name} hook was not idle: {proc.returncode} {proc.stdout!r} {proc.stderr!r}")
    medians = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {"reps": reps, "remote_ms": round(medians["remote"], 1), "local_ms": round(medians["local"], 1),
            "remote_over_local": round(medians["remote"] / medians["local"], 2)}


def progress(results: dict[str, object]) -> None:
    """The figures so far, on stderr: a long run that fails late still leaves them."""
    print(json.dumps(results), file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--homes", type=int, default=50)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: Postfix and Dovecot run their daemons as their own users")
    root = Path(tempfile.mkdtemp(prefix="am-scaleout-bench-"))
    os.chmod(root, 0o755)
    server = MailServer()
    made = Machines(root, server)
    results: dict[str, object] = {"homes": args.homes}
    try:
        server.start()
        t = time.monotonic()
        pairs = setup(server, made, args.homes)
        results["setup_s"] = round(time.monotonic() - t, 1)
        results["latency"] = latency(pairs, args.samples)
        progress(results)
        results["throughput"] = throughput(pairs, args.burst, args.workers)
        progress(results)
        results["idle_sync"] = idle(pairs, args.idle)
        progress(results)
        results["prompt_hook_idle"] = hook_cost(pairs[0], root, args.reps)
    finally:
        made.close()
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    lat, thr = results["latency"], results["throughput"]
    idl, hk = results["idle_sync"], results["prompt_hook_idle"]
    print(f"{args.homes} client homes on one Dovecot + Postfix (setup {results['setup_s']} s)")
    print(f"send returned -> in the recipient's new/: p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, "  # type: ignore[index]
          f"max {lat['max_s']} s over {lat['samples']} postcards")  # type: ignore[index]
    print(f"throughput: {thr['postcards']} postcards by {thr['workers']} senders: {thr['end_to_end_per_s']}/s end to "  # type: ignore[index]
          f"end ({thr['sent_per_s']}/s accepted)")  # type: ignore[index]
    print(f"idle sync process over {idl['seconds']} s: {idl['cpu_pct_of_a_core']}% of a core, RSS "  # type: ignore[index]
          f"{idl['rss_mib']} MiB ({idl['all_sync_rss_mib']} MiB for all {idl['sync_processes']})")  # type: ignore[index]
    print(f"prompt hook, no new mail: remote home {hk['remote_ms']} ms, local home {hk['local_ms']} ms "  # type: ignore[index]
          f"(median of {hk['reps']}; ratio {hk['remote_over_local']})")  # type: ignore[index]


if __name__ == "__main__":
    main()
