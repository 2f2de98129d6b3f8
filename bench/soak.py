"""kill -9 soak: `agentmail serve` under SMTP load, and concurrent `agentmail send` processes, killed at random.

    .venv/bin/python bench/soak.py [--rounds 20] [--conns 8] [--cli-rounds 20] [--procs 8] [--seconds 3]
                                   [--seed 1] [--only smtp|cli]

1. serve: each round starts `agentmail serve` (tests.support.servers), opens --conns SMTP connections that each
   AUTH as alice and send messages to bob (some also to carol), one after another, each carrying a unique marker in
   its Subject (`BEGIN <marker>`) and as its last line (`END <marker>`), sizes from 300 bytes to 200 KB; a 250 after
   DATA marks the marker acknowledged. At a random moment within --seconds the server gets SIGKILL; the next round
   starts it again on the same store (after a kill -9 its pid file is stale).
2. cli: each round starts --procs `agentmail --as alice send bob TITLE BODY` processes at a time, replacing each
   that ends, and sends SIGKILL to a random running one at random moments; exit status 0 marks its marker
   acknowledged.
After each part, the recipients' Maildirs (every folder, new/ and cur/) are read and the figures printed:
  acknowledged  markers with a 250 / exit 0
  stored        markers found complete in the recipient's mailbox (acknowledged or not: a kill after the commit
                and before the reply leaves a stored message nobody was told about, which is allowed)
  duplicated    markers stored more than once in one mailbox
  partial       files in new/ or cur/ that are not a whole message (no END line for their marker, or unreadable)
  lost          acknowledged but not stored: must be 0
and the dovecot-uidlist check, once a clean `agentmail serve` has answered an IMAP SELECT of each mailbox (which
gives UIDs to files delivered while a kill interrupted the UID step): every file has exactly one UID, no UID is
given twice, the UIDs ascend. Also shown: files still waiting for a UID before that SELECT, tmp/ leftovers (which
`agentmail cleanup` removes) and the journal (messages stored but not journaled, and whether any of those was
acknowledged). Exit status 1 if anything is lost, partial or duplicated, an acknowledged message is not in the
journal, or the uidlist check fails.
"""

from __future__ import annotations

import argparse
import base64
import imaplib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from agentmail.store import uidlist  # noqa: E402
from agentmail.store.maildir import Maildir, split_name  # noqa: E402
from tests.support.servers import Serve  # noqa: E402
from tests.support.store import AGENTMAIL, Store, env_for, make_store  # noqa: E402

DOMAIN = "agents.localhost"


@dataclass
class Tally:
    acked: dict[str, tuple[str, ...]] = field(default_factory=dict)  # marker -> its recipients
    attempted: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    kills: int = 0


# ---------------------------------------------------------------------- part 1: serve under SMTP load


def message(marker: str, to: list[str], size: int) -> bytes:
    filler = (b"soak line of text to make the message longer " * (size // 47 + 1))[:size]
    lines = [f"From: alice@{DOMAIN}".encode(), f"To: {', '.join(f'{r}@{DOMAIN}' for r in to)}".encode(),
             f"Subject: BEGIN {marker}".encode(), b"", filler, f"END {marker}".encode(), b""]
    return b"\r\n".join(lines)


class Smtp:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.file = self.sock.makefile("rb")
        self.reply()

    def reply(self) -> bytes:
        out = b""
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("closed")
            out += line
            if line[3:4] != b"-":
                return out

    def cmd(self, data: bytes) -> bytes:
        self.sock.sendall(data + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def smtp_client(port: int, password: str, rng: random.Random, tally: Tally, stop: threading.Event,
                name: str) -> None:
    n = 0
    while not stop.is_set():
        try:
            conn = Smtp(port)
        except OSError:
            return  # the server is gone: this round is over
        try:
            conn.cmd(b"EHLO soak")
            if not conn.cmd(b"AUTH PLAIN " + base64.b64encode(f"\0alice\0{password}".encode())).startswith(b"235"):
                return
            while not stop.is_set():
                n += 1
                marker = f"{name}-{n}"
                to = ["bob", "carol"] if rng.random() < 0.2 else ["bob"]
                conn.cmd(f"MAIL FROM:<alice@{DOMAIN}>".encode())
                for r in to:
                    conn.cmd(f"RCPT TO:<{r}@{DOMAIN}>".encode())
                if not conn.cmd(b"DATA").startswith(b"354"):
                    break
                with tally.lock:
                    tally.attempted.add(marker)
                size = int(rng.choice((300, 2000, 20_000, 200_000)) * rng.random()) + 1
                conn.sock.sendall(message(marker, to, size) + b".\r\n")
                if conn.reply().startswith(b"250"):
                    with tally.lock:
                        tally.acked[marker] = tuple(to)
        except OSError:
            return  # killed mid-command: whatever was not acknowledged may or may not be stored
        finally:
            conn.close()


def smtp_soak(store: Store, args: argparse.Namespace, rng: random.Random) -> Tally:
    tally = Tally()
    for rnd in range(args.rounds):
        server = Serve.start(store)
        stop = threading.Event()
        threads = [threading.Thread(target=smtp_client, daemon=True,
                                    args=(server.smtp_port, store.passwords["alice"], random.Random(rng.random()),
                                          tally, stop, f"s{rnd}c{i}"))
                   for i in range(args.conns)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, args.seconds))
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        tally.kills += 1
        stop.set()
        for t in threads:
            t.join(30)
        print(f"  round {rnd + 1}: killed serve after {len(tally.acked)} acknowledged so far", flush=True)
    return tally


# ---------------------------------------------------------------------- part 2: concurrent CLI senders


def cli_soak(store: Store, args: argparse.Namespace, rng: random.Random) -> Tally:
    tally = Tally()
    env = env_for(store.home)
    n = 0
    for rnd in range(args.cli_rounds):
        running: dict[subprocess.Popen[bytes], str] = {}
        deadline = time.monotonic() + args.seconds
        next_kill = time.monotonic() + rng.uniform(0.05, 0.5)
        while time.monotonic() < deadline or running:
            while time.monotonic() < deadline and len(running) < args.procs:
                n += 1
                marker = f"c{rnd}p{n}"
                body = f"BEGIN {marker}\n" + "cli soak body line\n" * rng.randint(1, 60) + f"END {marker}\n"
                proc = subprocess.Popen([AGENTMAIL, "--as", "alice", "send", "bob", f"BEGIN {marker}", body],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                running[proc] = marker
                tally.attempted.add(marker)
            if time.monotonic() >= next_kill and running:
                victim = rng.choice(list(running))
                time.sleep(rng.uniform(0, 0.03))  # somewhere inside its short life
                if victim.poll() is None:
                    victim.kill()
                    tally.kills += 1
                next_kill = time.monotonic() + rng.uniform(0.05, 0.5)
            for proc in [p for p in running if p.poll() is not None]:
                if proc.returncode == 0:
                    tally.acked[running[proc]] = ("bob",)
                del running[proc]
            time.sleep(0.005)
        print(f"  round {rnd + 1}: {len(tally.acked)} acknowledged, {tally.kills} killed so far", flush=True)
    return tally


# ---------------------------------------------------------------------- the audit


def message_files(box: Path) -> list[Path]:
    """The files in new/ and cur/ of one Maildir folder."""
    return sorted(p for sub in ("new", "cur") if (box / sub).is_dir() for p in (box / sub).iterdir())


def marker_of(data: bytes) -> str:
    start = data.find(b"BEGIN ")
    return data[start + 6: data.find(b"\n", start)].decode("ascii", "replace").strip() if start >= 0 else ""


def audit(store: Store, boxes: list[tuple[str, str]], tally: Tally, label: str) -> bool:
    """`boxes` are (account, folder): the recipients' INBOXes first, then other copies (the sender's Sent)."""
    stored: Counter[tuple[str, str]] = Counter()  # (account, marker) -> complete copies in that folder
    partial = []
    for account, folder in boxes:
        for path in message_files(store.box(account, folder)):
            data = path.read_bytes()
            marker = marker_of(data)
            if not marker or f"END {marker}".encode() not in data[-200:]:
                partial.append(path)
                continue
            stored[(f"{account}/{folder}", marker)] += 1
    inboxes = {f"{a}/INBOX" for a, f in boxes if f == "INBOX"}
    markers = {m for box, m in stored if box in inboxes}
    dup = sorted(f"{a}:{m} x{n}" for (a, m), n in stored.items() if n > 1)
    lost = sorted(f"{m} for {r}" for m, rcpts in tally.acked.items() for r in rcpts if (f"{r}/INBOX", m) not in stored)
    unacked_stored = len(markers - tally.acked.keys())
    tmp_left = sum(len(list((store.box(a, f) / "tmp").iterdir())) for a, f in boxes)
    journal = Counter(marker_of(path.read_bytes()) for sub in ("new", "cur")
                      for path in (store.home / "journal" / sub).iterdir())
    unjournaled = markers - journal.keys()
    acked_unjournaled = len(unjournaled & tally.acked.keys())
    waiting = sum(without_uid(store.box(a, f)) for a, f in boxes)
    uid_problems = uidlist_after_select(store, boxes)
    print(f"{label}: attempted {len(tally.attempted)}, killed {tally.kills} times")
    print(f"  acknowledged {len(tally.acked)}, stored {len(markers)} ({unacked_stored} of them never acknowledged), "
          f"duplicated {len(dup)}, partial {len(partial)}, lost {len(lost)}")
    print(f"  journal: {sum(journal.values())} copies, {sum(1 for n in journal.values() if n > 1)} markers twice; "
          f"stored but not in the journal: {len(unjournaled)} ({acked_unjournaled} of them acknowledged)")
    print(f"  tmp/ leftovers {tmp_left}, files waiting for a UID after the last kill {waiting}; uidlist after a "
          f"clean SELECT: {'consistent' if not uid_problems else uid_problems}")
    for what, items in (("duplicated", dup), ("partial", [str(p) for p in partial]), ("lost", lost)):
        for item in items[:5]:
            print(f"    {what}: {item}")
    return not (dup or partial or lost or uid_problems or acked_unjournaled)


def without_uid(box: Path) -> int:
    parsed = uidlist.read(Maildir(str(box)))
    known = parsed.by_base() if parsed else {}
    return sum(1 for p in message_files(box) if p.parent.parent == box and split_name(p.name)[0] not in known)


def uidlist_after_select(store: Store, boxes: list[tuple[str, str]]) -> list[str]:
    """Start a clean server, SELECT each folder over IMAP, then check every dovecot-uidlist against the files."""
    server = Serve.start(store)
    problems = []
    try:
        for account, folder in boxes:
            imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=60)
            imap.login(account, store.passwords[account])
            imap.select(folder)
            imap.logout()
    finally:
        server.stop()
    for account, folder in boxes:
        box = store.box(account, folder)
        where = f"{account}/{folder}"
        text = (box / uidlist.FILENAME).read_text(errors="surrogateescape")
        records = [uidlist.parse_record(line) for line in text.split("\n")[1:] if line]
        uids = [r[0] for r in records if r is not None]
        bases = [r[2] for r in records if r is not None]
        if None in records:
            problems.append(f"{where}: unparsable record")
        if uids != sorted(set(uids)):
            problems.append(f"{where}: UIDs not strictly ascending")
        if len(bases) != len(set(bases)):
            problems.append(f"{where}: a file with two UIDs")
        files = {split_name(p.name)[0] for p in message_files(box) if p.parent.parent == box}
        if files - set(bases):
            problems.append(f"{where}: {len(files - set(bases))} files without a UID")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20, help="serve kill -9 rounds")
    ap.add_argument("--conns", type=int, default=8, help="SMTP connections per round")
    ap.add_argument("--cli-rounds", type=int, default=20)
    ap.add_argument("--procs", type=int, default=8, help="agentmail send processes at a time")
    ap.add_argument("--seconds", type=float, default=3.0, help="longest time before a kill (serve) / round (cli)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=("smtp", "cli"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    ok = True
    with tempfile.TemporaryDirectory(prefix="agentmail-soak-") as tmp:
        if args.only != "cli":
            store = make_store(Path(tmp) / "smtp")
            print(f"serve under SMTP load: {args.rounds} rounds, {args.conns} connections, kill -9 within "
                  f"{args.seconds:g} s", flush=True)
            tally = smtp_soak(store, args, rng)
            ok &= audit(store, [("bob", "INBOX"), ("carol", "INBOX")], tally, "serve kill -9")
        if args.only != "smtp":
            store = make_store(Path(tmp) / "cli")
            print(f"CLI senders: {args.cli_rounds} rounds of {args.seconds:g} s, {args.procs} processes at a time, "
                  f"random kill -9", flush=True)
            tally = cli_soak(store, args, rng)
            ok &= audit(store, [("bob", "INBOX"), ("alice", "Sent")], tally, "agentmail send kill -9")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
