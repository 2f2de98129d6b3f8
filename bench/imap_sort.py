"""SORT and THREAD (RFC 5256) benchmark: `agentmail serve` next to Dovecot on the same 10,000-message mailbox.

    .venv/bin/python bench/imap_sort.py [--messages 10000] [--runs 5]

Builds a temp store with plain file writes: account `sorter` holding --messages postcards in agentmail's shape, a
third of them starting a conversation and the rest replies to an earlier one (In-Reply-To, References with at most
the last 20 IDs, "Re:" subjects, as `agentmail reply` writes them), UIDs given by `agentmail.store.uidlist.sync`.
Starts `agentmail serve` and Dovecot (index on disk) on free loopback ports and times, over raw sockets:

  first    the command as the first one after LOGIN + SELECT on a new connection (agentmail reads every header
           then; Dovecot reads its cache file, built the first time: the very first run is printed apart as cold)
  again    the same command a second time on that connection (agentmail's sort fields are kept per session)
  stall    meanwhile: another user's connect + LOGIN + SELECT + NOOP, started 20 ms after the first one

for SORT (DATE), SORT (SUBJECT), SORT (REVERSE ARRIVAL), SORT (FROM DATE), THREAD REFERENCES and THREAD
ORDEREDSUBJECT. Medians of --runs runs, ratio = agentmail / Dovecot; both servers' answers compared byte for
byte. Needs root and Dovecot for the comparison; otherwise only agentmail's figures are printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from bench.imap_phases import Conn  # noqa: E402
from tests.support.dovecot import Dovecot, unavailable  # noqa: E402
from tests.support.servers import Serve  # noqa: E402
from tests.support.store import Store  # noqa: E402

WORDS = ("schema migration deploy review branch tests green failing flaky cache index parser session mailbox "
         "fixture rollback release notes ticket owner latency budget timeout retry queue worker lock").split()
AGENTS = ("alice", "bob", "carol", "swift-amber-compass", "quiet-teal-harbor", "ci-bot")
QUERIES = ("SORT (DATE) UTF-8 ALL", "SORT (SUBJECT) UTF-8 ALL", "SORT (REVERSE ARRIVAL) UTF-8 ALL",
           "SORT (FROM DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "THREAD ORDEREDSUBJECT UTF-8 ALL")
USER, OTHER = "sorter", "watcher"


def build(home: Path, count: int, seed: int = 13) -> None:
    from agentmail import config
    from agentmail.store import registry, uidlist
    from agentmail.store.maildir import Maildir

    cfg = config.load(str(home))
    registry.ensure_store(cfg)
    registry.create_account(cfg, USER)
    registry.create_account(cfg, OTHER)
    box = cfg.maildir_path(USER)
    rng = random.Random(seed)
    start = int(time.time()) - 86400 * 30
    sent: list[tuple[str, str, list[str]]] = []  # (message ID, subject, references)
    for i in range(count):
        when = start + i * 60 + rng.randrange(120)  # a little out of order: Date and arrival differ
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
        sender = rng.choice(AGENTS)
        mid = f"<{rng.getrandbits(96):024x}@{cfg.domain}>"
        head = [f"Return-Path: <{sender}@{cfg.domain}>", f"From: {sender}@{cfg.domain}",
                f"To: {rng.choice(AGENTS)}@{cfg.domain}", f"Date: {stamp}"]
        if sent and rng.random() < 0.66:
            parent_id, subject, refs = sent[rng.randrange(max(0, len(sent) - 300), len(sent))]
            refs = [*refs[-20:], parent_id]
            subject = subject if subject.startswith("Re: ") else "Re: " + subject
            head += [f"Subject: {subject}", f"In-Reply-To: {parent_id}", "References: " + "\n ".join(refs)]
        else:
            subject, refs = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))).capitalize(), []
            head.append(f"Subject: {subject}")
        head += [f"Message-ID: {mid}", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
        data = ("\n".join(head) + "\n\n" + " ".join(rng.choice(WORDS) for _ in range(40)) + "\n").encode()
        sent.append((mid, subject, refs))
        vsize = len(data) + data.count(b"\n")
        path = os.path.join(box, "cur", f"{when}.M{i}P1Q{i}.bench,S={len(data)},W={vsize}:2,S")
        with open(path, "wb") as fh:
            fh.write(data)
        os.utime(path, (when, when))
    uidlist.sync(Maildir(box))
    past = time.time() - 3600
    for sub in ("cur", "new"):
        os.utime(os.path.join(box, sub), (past, past))


def password(home: Path, name: str) -> str:
    from agentmail import config
    from agentmail.store import passwd
    return passwd.password_for(config.load(str(home)), name)


def session(port: int, user: str, pw: str) -> Conn:
    c = Conn(port)
    c.cmd(f'LOGIN {user} "{pw}"')
    c.cmd("SELECT INBOX")
    return c


def run(port: int, pws: dict[str, str], query: str) -> tuple[float, float, float, bytes]:
    """(first, again, stall) seconds and the answer."""
    c = session(port, USER, pws[USER])
    stall: list[float] = []

    def other() -> None:
        time.sleep(0.02)
        t0 = time.perf_counter()
        o = session(port, OTHER, pws[OTHER])
        o.cmd("NOOP")
        stall.append(time.perf_counter() - t0)
        o.close()

    t = threading.Thread(target=other)
    t.start()
    t0 = time.perf_counter()
    answer = c.cmd(query)
    first = time.perf_counter() - t0
    t.join()
    t0 = time.perf_counter()
    again_answer = c.cmd(query)
    again = time.perf_counter() - t0
    assert again_answer == answer
    c.close()
    return first, again, stall[0], answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="am-sortbench-"))
    top.chmod(0o755)
    home = top / "home"
    try:
        build(home, args.messages)
        pws = {name: password(home, name) for name in (USER, OTHER)}
        why = unavailable()
        servers: dict[str, int] = {}
        serve = Serve.start(Store(home), timeout=20)
        servers["agentmail"] = serve.info["imap_port"]
        for name in (USER, OTHER):  # our first SELECT writes what it writes (uidlist) before Dovecot gets the tree
            session(servers["agentmail"], name, pws[name]).close()
        dove = None
        if why is None:
            dove = Dovecot(home, index_on_disk=True).start()
            servers["dovecot"] = dove.port
        else:
            print(f"(no Dovecot: {why})")
        try:
            print(f"{args.messages} messages, {args.runs} runs; medians in ms (cold: the very first run)")
            print(f"{'command':34} {'server':10} {'cold':>8} {'first':>8} {'again':>8} {'stall':>8}")
            for query in QUERIES:
                results: dict[str, list[tuple[float, float, float, bytes]]] = {name: [] for name in servers}
                for i in range(args.runs):
                    order = list(servers) if i % 2 == 0 else list(reversed(servers))
                    for name in order:
                        results[name].append(run(servers[name], pws, query))
                answers = {name: res[0][3] for name, res in results.items()}
                if len(set(answers.values())) > 1:
                    print(f"  ANSWERS DIFFER for {query}")
                row = {}
                for name, res in results.items():
                    warm = res[1:] or res
                    row[name] = (res[0][0], statistics.median(r[0] for r in warm),
                                 statistics.median(r[1] for r in warm), statistics.median(r[2] for r in warm))
                    print(f"{query:34} {name:10} " + " ".join(f"{v * 1000:8.1f}" for v in row[name]))
                if "dovecot" in row:
                    ratio = [a / b if b else float("inf")
                             for a, b in zip(row["agentmail"], row["dovecot"], strict=True)]
                    print(f"{'':34} {'ratio':10} " + " ".join(f"{v:7.2f}x" for v in ratio))
        finally:
            serve.stop()
            if dove is not None:
                dove.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
