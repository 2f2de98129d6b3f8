"""IMAP benchmark: `agentmail serve` next to Dovecot serving the same Maildir tree in the same run.

    .venv/bin/python bench/imap_bench.py [--messages 10000] [--big 100000] [--small 100] [--runs 5]
                                         [--fetches 1000] [--rounds 20] [--cold-runs 3] [--pickups 10] [--no-worst]

Builds a temp store with plain file writes (realistic postcards named `<sec>.M<usec>P1Q<n>.bench,S=..,W=..`, UIDs
given by `agentmail.store.uidlist.sync`): account `bench` with --messages postcards, `small` with --small and
`huge` with --big. Starts `agentmail serve` and Dovecot (on-disk index in a temp dir, so its first SELECT builds the
index and later ones reuse it) on free loopback ports, and measures over raw sockets (no client library parsing):

  login+select   connect, greeting, LOGIN, SELECT INBOX (a new connection each time)
  fetch-envelope `UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)` on the whole mailbox
  body-peek      --fetches random `UID FETCH n BODY.PEEK[]` round trips on one connection (same UIDs for both)
  select         SELECT INBOX alone on a logged-in connection (after an untimed UNSELECT: a real SELECT of an
                 unchanged mailbox each round; median of --rounds)
  examine        the same with EXAMINE
  status         `STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)` with nothing selected (Thunderbird's)
  noop           NOOP on the selected, unchanged INBOX

Run 1 is reported as "cold" (Dovecot builds its index and cache; agentmail's caches are empty) for the first three,
runs 2..N as "warm" medians, agentmail and Dovecot interleaved (alternating who goes first). Both servers' answers
are compared byte for byte. For select and status, "cold" is the first such command after LOGIN on freshly started
servers (Dovecot with a new, empty index directory): the median of --cold-runs restarts each.

Then, on the still running servers, imap_worst.py's read-only commands once each (the worst ratio is reported),
and new mail: one postcard delivered through the store's `deliver()` (as user vmail, so Dovecot can read it), then
  noop-new       the time from the delivery's return to the NOOP that reports it (SELECTed read-write)
  idle-new       the same with the client in IDLE: until the pushed EXISTS
at --small and --big messages (median of --pickups). Last, a fresh `agentmail serve` does SELECT and
`UID FETCH 1:* (UID FLAGS)` on the --big mailbox and its peak resident memory (VmHWM in /proc/<pid>/status) is
reported. Targets (issues 4 and 13): select, examine, status and noop within 1.5x of Dovecot warm and 2x cold;
noop-new and idle-new at --big within 2x of the same at --small and of Dovecot; body-peek within 1.2x; under
150 MiB at 100,000 messages. Dovecot runs its mail processes as user vmail (created if missing), so this needs root;
without root or without Dovecot only agentmail's figures are printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from bench import imap_phases as phases  # noqa: E402
from tests.support.dovecot import Dovecot, unavailable  # noqa: E402
from tests.support.servers import Serve  # noqa: E402
from tests.support.store import Store  # noqa: E402

WORDS = ("schema migration deploy review branch tests green failing flaky cache index parser session mailbox "
         "fixture rollback release notes ticket owner latency budget timeout retry queue worker lock uidlist "
         "frontend backend api endpoint token quota memory profile benchmark build docs typo refactor").split()
AGENTS = ("alice", "bob", "carol", "swift-amber-compass", "quiet-teal-harbor", "ci-bot")


# ---------------------------------------------------------------- the store

def postcard(rng: random.Random, n: int, when: int, rcpt: str, domain: str) -> bytes:
    """A message shaped like the ones `agentmail send` writes (headers in the same order), varied in size."""
    sender = rng.choice(AGENTS)
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))).capitalize()
    if n % 10 == 3:
        title = "=?utf-8?q?Gr=C3=BC=C3=9Fe_" + title.replace(" ", "_") + "?="
    words = [rng.choice(WORDS) for _ in range(rng.randint(5, 200))]
    body = "\n".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12)) + "\n"
    mid = f"{rng.getrandbits(128):032x}"
    head = [f"Return-Path: <{sender}@{domain}>", f"Delivered-To: {rcpt}@{domain}",
            f"Received: by bench (agentmail) via cli\n\twith local id {mid[:16]}\n\tfor <{rcpt}@{domain}>; {stamp}",
            f"From: {sender}@{domain}", f"To: {rcpt}@{domain}", f"Date: {stamp}"]
    if n % 3 == 0:
        head.append(f"Subject: Re: {title}")
        parent = f"<{rng.getrandbits(128):032x}@{domain}>"
        head += [f"In-Reply-To: {parent}", f"References: {parent}"]
    else:
        head.append(f"Subject: {title}")
    head.append(f"Message-ID: <{mid}@{domain}>")
    if n % 7 == 0:
        head += ["Importance: high", "X-Priority: 1"]
    if n % 4:
        head.append(f"Disposition-Notification-To: {sender}@{domain}")
    head += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"]
    return ("\n".join(head) + "\n\n" + body).encode()


def build_mailbox(home: Path, name: str, count: int, seed: int) -> None:
    from agentmail import config
    from agentmail.store import registry, uidlist
    from agentmail.store.maildir import Maildir

    cfg = config.load(str(home))
    registry.ensure_store(cfg)
    registry.create_account(cfg, name)
    box = cfg.maildir_path(name)
    rng = random.Random(seed)
    start = int(time.time()) - 86400 * 60
    for i in range(count):
        when = start + i * 3
        data = postcard(rng, i, when, name, cfg.domain)
        flags = "S" if i % 5 else ("FS" if i % 10 == 0 else "")
        vsize = len(data) + data.count(b"\n")
        fname = f"{when}.M{rng.randrange(1000000)}P1Q{i}.bench,S={len(data)},W={vsize}"
        path = os.path.join(box, "cur", f"{fname}:2,{flags}")
        with open(path, "wb") as fh:
            fh.write(data)
        os.utime(path, (when, when))
    uidlist.sync(Maildir(box))
    past = time.time() - 3600  # directories not "dirty": no re-listing because of a recent change
    for sub in ("cur", "new"):
        os.utime(os.path.join(box, sub), (past, past))


def password_of(home: Path, name: str) -> str:
    from agentmail import config
    from agentmail.store import passwd
    return passwd.password_for(config.load(str(home)), name)


# ---------------------------------------------------------------- raw IMAP

Conn = phases.Conn  # one raw-socket IMAP connection for every IMAP bench (imap_phases.py)


def login_select(port: int, user: str, password: str) -> tuple[float, Conn]:
    t0 = time.perf_counter()
    c = Conn(port)
    c.cmd(f'LOGIN {user} "{password}"')
    c.cmd("SELECT INBOX")
    return time.perf_counter() - t0, c


def timed(c: Conn, text: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    out = c.cmd(text)
    return time.perf_counter() - t0, out


# ---------------------------------------------------------------- servers

def vm_status(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) / 1024
    return out


def start_agentmail(home: Path) -> Serve:
    """`agentmail serve` on free ports (tests.support.servers)."""
    return Serve.start(Store(home), timeout=20)


def start_dovecot(home: Path) -> Dovecot:
    """Dovecot 2.3 on the same tree (tests.support.dovecot: INTEROP.md's config) with the index on disk, so the
    first SELECT builds it (cold) and later ones reuse it (warm)."""
    return Dovecot(home, index_on_disk=True).start()


# ---------------------------------------------------------------- the runs

def run_once(port: int, user: str, password: str, uids: list[int], rounds: int
             ) -> tuple[dict[str, float], dict[str, bytes]]:
    times, answers = {}, {}
    times["login+select"], c = login_select(port, user, password)
    times["fetch-envelope"], answers["fetch-envelope"] = timed(c, "UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
    bodies = []
    t0 = time.perf_counter()
    for uid in uids:
        bodies.append(c.cmd(f"UID FETCH {uid} BODY.PEEK[]"))
    times["body-peek"] = time.perf_counter() - t0
    answers["body-peek"] = b"".join(bodies)
    c.close()
    alone_conn = phases.logged_in(port, user, password)
    times.update(phases.alone(alone_conn, rounds))
    alone_conn.close()
    return times, answers


def cold_once(home: Path, with_dovecot: bool, user: str, password: str, command: str) -> dict[str, float]:
    """``command`` as the first command after LOGIN on freshly started servers (Dovecot with an empty index)."""
    out = {}
    am = start_agentmail(home)
    try:
        c = phases.logged_in(am.imap_port, user, password)
        out["agentmail"] = phases.timed(lambda: c.cmd(command))
        c.close()
    finally:
        am.stop()
    if with_dovecot:
        dc = start_dovecot(home)
        try:
            c = phases.logged_in(dc.port, user, password)
            out["dovecot"] = phases.timed(lambda: c.cmd(command))
            c.close()
        finally:
            dc.stop()
    return out


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms" if seconds < 0.01 else f"{seconds * 1000:9.1f} ms"


def table(rows: dict[str, dict[str, dict[str, float]]], servers: list[str]) -> None:
    """rows: key -> {"cold": {server: s}, "warm": {server: s}} (either may be missing)."""
    head = f"{'':16s}{'agentmail cold':>16s}{'dovecot cold':>16s}{'agentmail warm':>16s}{'dovecot warm':>16s}"
    print(head + f"{'ratio warm':>12s}{'ratio cold':>12s}")
    for key, row in rows.items():
        line = f"{key:16s}"
        for when in ("cold", "warm"):
            for name in ("agentmail", "dovecot"):
                value = row.get(when, {}).get(name)
                line += fmt(value).rjust(16) if value is not None else f"{'-':>16s}"
        for when in ("warm", "cold"):
            got = row.get(when, {})
            line += (f"{got['agentmail'] / got['dovecot']:11.2f}x" if "dovecot" in got and "agentmail" in got
                     else f"{'-':>12s}")
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000, help="messages in the pick-up and memory runs (0: skip)")
    ap.add_argument("--small", type=int, default=100, help="messages in the small pick-up run (0: skip)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fetches", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20, help="rounds of select/examine/status/noop per run")
    ap.add_argument("--cold-runs", type=int, default=3, help="server restarts for cold select and status (0: skip)")
    ap.add_argument("--pickups", type=int, default=10, help="postcards delivered for noop-new and idle-new")
    ap.add_argument("--no-worst", action="store_true", help="skip imap_worst.py's commands")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the temp store")
    args = ap.parse_args()

    top = Path(tempfile.mkdtemp(prefix="imapbench-"))
    os.chmod(top, 0o755)  # Dovecot's users must be able to walk down to the store
    home = top / "home"
    why_not = unavailable()
    try:
        t0 = time.perf_counter()
        build_mailbox(home, "bench", args.messages, args.seed)
        print(f"built {args.messages} postcards in {time.perf_counter() - t0:.1f} s ({home})")
        sizes = {"small": args.small, "huge": args.big}
        for name, count in sizes.items():
            if count:
                t0 = time.perf_counter()
                build_mailbox(home, name, count, args.seed + len(name))
                print(f"built {count} postcards for {name} in {time.perf_counter() - t0:.1f} s")
        password = password_of(home, "bench")
        rng = random.Random(args.seed)
        uids = [rng.randint(1, args.messages) for _ in range(args.fetches)]

        servers: dict[str, Callable[[], int]] = {}
        am = start_agentmail(home)
        servers["agentmail"] = lambda: am.imap_port
        dc = None
        if why_not is None:
            dc = start_dovecot(home)
            servers["dovecot"] = lambda: dc.port if dc else 0
        else:
            print(f"(no Dovecot: {why_not})")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        answers: dict[str, dict[str, bytes]] = {}
        worst: dict[str, dict[str, float]] = {}
        pickups: dict[str, dict[str, dict[str, float]]] = {}
        try:
            for run in range(args.runs):
                order = list(servers) if run % 2 == 0 else list(reversed(servers))
                for name in order:
                    times, got = run_once(servers[name](), "bench", password, uids, args.rounds)
                    results[name].append(times)
                    answers.setdefault(name, got)
            am_pid = am.proc.pid
            hwm10k = vm_status(am_pid)["VmHWM"]
            if not args.no_worst:
                for name in servers:
                    worst[name] = phases.worst(servers[name](), "bench", password, args.messages)
            owner = "vmail" if dc is not None and dc.as_root else None
            for account, count in sizes.items():
                if not count:
                    continue
                postman = phases.Postman(home, account, owner)
                if owner is not None:  # what agentmail serve wrote (root's) must stay readable for vmail
                    subprocess.run(["chown", "-R", f"{owner}:{owner}", str(home / "maildirs" / account),
                                    str(home / "journal")], check=True)
                for name in servers:
                    pickups.setdefault(f"{account} ({count})", {})[name] = phases.pickup(
                        servers[name](), account, password_of(home, account), postman, args.pickups)
        finally:
            am.stop()
            if dc:
                dc.stop()

        n = args.messages
        print(f"\n{n} messages, {args.fetches} random BODY.PEEK[], {args.runs} runs (1 cold + {args.runs - 1} warm, "
              f"interleaved); times per run; select/examine/status/noop: median of {args.rounds} rounds a run")
        rows: dict[str, dict[str, dict[str, float]]] = {}
        for key in ("login+select", "fetch-envelope", "body-peek", "select", "examine", "status", "noop"):
            warm = {name: statistics.median(r[key] for r in results[name][1:] or results[name]) for name in servers}
            rows[key] = {"warm": warm}
            if key in ("login+select", "fetch-envelope", "body-peek"):
                rows[key]["cold"] = {name: results[name][0][key] for name in servers}
        if args.cold_runs:
            for key, command in (("select", "SELECT INBOX"), ("status", f"STATUS INBOX {phases.STATUS_ITEMS}")):
                got = [cold_once(home, why_not is None, "bench", password, command) for _ in range(args.cold_runs)]
                rows[key]["cold"] = {name: statistics.median(g[name] for g in got) for name in got[0]}
        table(rows, list(servers))
        if "dovecot" in answers:
            for key in ("fetch-envelope", "body-peek"):
                same = answers["agentmail"][key] == answers["dovecot"][key]
                print(f"{key}: answers {'identical' if same else 'DIFFER'} "
                      f"({len(answers['agentmail'][key])} vs {len(answers['dovecot'][key])} bytes)")
        print(f"agentmail VmHWM after the {n}-message runs: {hwm10k:.1f} MiB")
        if worst:
            print(f"\nimap_worst.py's read-only commands on {n} messages, once each")
            print(f"{'command':22s}{'agentmail':>14s}{'dovecot':>14s}{'ratio':>9s}")
            ratios = []
            for key, took in worst["agentmail"].items():
                theirs = worst.get("dovecot", {}).get(key)
                ratio = took / theirs if theirs else None
                ratios.append((ratio or 0.0, key))
                print(f"{key:22s}{fmt(took):>14s}{fmt(theirs) if theirs else '-':>14s}"
                      + (f"{ratio:8.2f}x" if ratio else f"{'-':>9s}"))
            top_ratio, top_key = max(ratios)
            slowest = max(worst["agentmail"], key=lambda k: worst["agentmail"][k])
            print(f"worst: {top_key} ({top_ratio:.2f}x Dovecot); slowest: {slowest} "
                  f"({fmt(worst['agentmail'][slowest]).strip()})")
        if pickups:
            print(f"\nnew mail picked up (median of {args.pickups}): one postcard delivered, then NOOP; then in IDLE")
            print(f"{'mailbox':18s}{'noop-new am':>14s}{'noop-new dc':>14s}{'idle-new am':>14s}{'idle-new dc':>14s}")
            for label, got in pickups.items():
                line = f"{label:18s}"
                for key in ("noop-new", "idle-new"):
                    for name in ("agentmail", "dovecot"):
                        line += fmt(got[name][key]).rjust(14) if name in got else f"{'-':>14s}"
                print(line)
            labels = list(pickups)
            if len(labels) == 2:
                small, big = pickups[labels[0]], pickups[labels[1]]
                for key in ("noop-new", "idle-new"):
                    print(f"{key}: {labels[1]} / {labels[0]} = {big['agentmail'][key] / small['agentmail'][key]:.2f}x"
                          + (f"; agentmail / Dovecot at {labels[1]} = "
                             f"{big['agentmail'][key] / big['dovecot'][key]:.2f}x" if "dovecot" in big else ""))

        if args.big:
            memory_run(home, args.big, why_not is None)
    finally:
        if args.keep:
            print(f"store kept in {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)


def memory_run(home: Path, count: int, with_dovecot: bool) -> None:
    password = password_of(home, "huge")
    print(f"\nmemory at {count} messages (account huge)")
    am = start_agentmail(home)
    try:
        pid = am.proc.pid
        print(f"{'agentmail, fresh serve':40s}{'':>12s}  VmHWM {vm_status(pid)['VmHWM']:6.1f} MiB")
        took, c = login_select(am.imap_port, "huge", password)
        print(f"{'LOGIN + SELECT INBOX':40s}{fmt(took):>12s}  VmHWM {vm_status(pid)['VmHWM']:6.1f} MiB")
        took, out = timed(c, "UID FETCH 1:* (UID FLAGS)")
        total = out.count(b" FETCH (")
        assert total >= count, out[-200:]
        print(f"{'UID FETCH 1:* (UID FLAGS)':40s}{fmt(took):>12s}  VmHWM {vm_status(pid)['VmHWM']:6.1f} MiB")
        took, out = timed(c, "UID FETCH 1:* (UID FLAGS)")
        st = vm_status(pid)
        print(f"{'again (warm)':40s}{fmt(took):>12s}  VmHWM {st['VmHWM']:6.1f} MiB  VmRSS {st['VmRSS']:6.1f} MiB")
        c.close()
        verdict = "under" if st["VmHWM"] < 150 else "OVER"
        print(f"agentmail peak resident at {count} messages: {st['VmHWM']:.1f} MiB ({verdict} the 150 MiB target)")
    finally:
        am.stop()
    if with_dovecot:
        dc = start_dovecot(home)
        try:
            for label in ("cold", "warm"):
                took, c = login_select(dc.port, "huge", password)
                took2, out = timed(c, "UID FETCH 1:* (UID FLAGS)")
                assert out.count(b" FETCH (") == total
                c.close()
                print(f"dovecot {label}: LOGIN + SELECT {fmt(took)}, UID FETCH 1:* (UID FLAGS) {fmt(took2)}")
        finally:
            dc.stop()


if __name__ == "__main__":
    main()
