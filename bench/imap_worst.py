"""The most expensive single IMAP commands one client can send, and how long they stall everyone else.

    .venv/bin/python bench/imap_worst.py [--messages 10000] [--runs 3] [--only NAME,...]

Builds a temp store with bench/imap_bench.py's postcards (account `bench`: --messages in INBOX; account `mover`: the
same number, for MOVE; 40 more agents with a few folders each, so the `human` login sees ~200 mailboxes), starts
`agentmail serve` (tests.support.servers) and, for each command below, on a raw socket:

  command   the command's own time, from sending it to its tagged reply (median of --runs)
  stall     meanwhile, another client's fresh connect + LOGIN + SELECT INBOX + NOOP, started 20 ms after the
            command was sent (median of --runs); "idle" is the same with nothing else running

The target (issue 8): no command slower than 100 ms on a 10,000-message mailbox for the others, i.e. the stall
column stays near the idle figure whatever the command column says, and every command gets a protocol reply.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from bench.imap_bench import build_mailbox, password_of  # noqa: E402
from tests.support.servers import Serve  # noqa: E402
from tests.support.store import Store  # noqa: E402


def seq_list(n: int, limit: int = 60_000) -> str:
    """"1,3,5,..." as long as fits in one command line (the line cap is 64 KiB)."""
    out, i = [], 1
    size = 0
    while size < limit:
        out.append(str(i))
        size += len(out[-1]) + 1
        i = i + 2 if i + 2 <= n else 1 + (i + 2) % 2
    return ",".join(out)


def commands(n: int) -> list[tuple[str, str, str]]:
    """(name, user, command), run in this order; a command "SELECT x" before is implied by the user's setup."""
    many_keys = " ".join(f"TEXT zz{i}" for i in range(3000))[:60_000].rsplit(" TEXT", 1)[0]
    or_tree = "OR " * 99 + "TEXT a " + " ".join(f"TEXT q{i}" for i in range(99))
    return [
        ("search-text", "bench", 'SEARCH TEXT "no such words"'),
        ("search-body", "bench", 'SEARCH BODY "schema"'),
        ("search-header", "bench", 'SEARCH HEADER Message-ID "nothing"'),
        ("search-3000-keys", "bench", f"SEARCH {many_keys}"),
        ("search-or-tree", "bench", f"SEARCH {or_tree}"),
        ("search-seqset-60k", "bench", f"SEARCH {seq_list(n)}"),
        ("search-uid-seqset", "bench", f"UID SEARCH UID {seq_list(n)}"),
        ("search-not-deep", "bench", "SEARCH " + "NOT " * 99 + "TEXT x"),
        ("fetch-seqset-60k", "bench", f"FETCH {seq_list(n)} (FLAGS)"),
        ("fetch-body", "bench", "FETCH 1:* BODY.PEEK[]"),
        ("fetch-bodystructure", "bench", "FETCH 1:* (BODYSTRUCTURE ENVELOPE)"),
        ("fetch-header-fields", "bench",
         "FETCH 1:* BODY.PEEK[HEADER.FIELDS (" + " ".join(f"X-H{i}" for i in range(5000)) + ")]"),
        ("uid-fetch-2^32", "bench", "UID FETCH 1:4294967295 (UID FLAGS)"),
        ("store-1:*", "bench", "STORE 1:* +FLAGS.SILENT (worst)"),
        ("store-back", "bench", "STORE 1:* -FLAGS.SILENT (worst)"),
        ("copy-1:*", "bench", "COPY 1:* Archive"),
        ("move-1:*", "mover", "MOVE 1:* Archive"),
        ("status-10k", "bench", "STATUS INBOX (MESSAGES UNSEEN SIZE RECENT)"),
        ("list-star-z", "human", 'LIST "" "' + "*" * 16 + 'Z"'),
        ("list-status-all", "human", 'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN SIZE))'),
        ("list-100-patterns", "human", 'LIST "" (' + " ".join(f"%a{i}*" for i in range(100)) + ")"),
    ]


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.n = 0
        self.buf = b""
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        self.buf = b""

    def send(self, text: str) -> bytes:
        self.n += 1
        tag = b"t%d " % self.n
        self.sock.sendall(tag + text.encode() + b"\r\n")
        return tag

    def wait(self, tag: bytes) -> bytes:
        """Read up to the tagged reply; returns that line (the untagged data is counted, not kept)."""
        buf = self.buf
        while True:
            at = buf.find(b"\r\n" + tag) if not buf.startswith(tag) else -2
            if at != -1:
                start = at + 2
                end = buf.find(b"\r\n", start)
                if end >= 0:
                    self.buf = buf[end + 2:]
                    return buf[start:end]
            keep = buf[-(len(tag) + 4096):]  # the tagged line may straddle reads
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf = keep + chunk

    def cmd(self, text: str) -> bytes:
        return self.wait(self.send(text))

    def close(self) -> None:
        self.sock.close()


def login(port: int, user: str, password: str, box: str = "INBOX") -> Conn:
    c = Conn(port)
    assert b" OK " in c.cmd(f'LOGIN {user} "{password}"')
    assert b" OK " in c.cmd(f"SELECT {box}")
    return c


def probe(port: int, password: str) -> float:
    """Another user's fresh connect + LOGIN + SELECT INBOX + NOOP."""
    t0 = time.perf_counter()
    c = login(port, "probe", password)
    c.cmd("NOOP")
    took = time.perf_counter() - t0
    c.close()
    return took


def build(home: Path, n: int) -> None:
    from agentmail import config
    from agentmail.store import registry
    from agentmail.store.maildir import Maildir

    build_mailbox(home, "bench", n, 8)
    build_mailbox(home, "mover", n, 9)
    cfg = config.load(str(home))
    registry.create_account(cfg, "probe")
    rng = random.Random(3)
    for i in range(40):
        name = f"agent-{i:02d}"
        registry.create_account(cfg, name)
        root = cfg.maildir_path(name)
        for j in range(rng.randint(0, 3)):
            Maildir(os.path.join(root, f".Project{j}")).create(folder_marker=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated command names")
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="imapworst-"))
    home = top / "home"
    try:
        t0 = time.perf_counter()
        build(home, args.messages)
        print(f"built {args.messages} + {args.messages} postcards and 40 agents in {time.perf_counter() - t0:.1f} s")
        pw = {u: password_of(home, u) for u in ("bench", "mover", "probe", "human")}
        srv = Serve.start(Store(home), timeout=30)
        try:
            run(srv.imap_port, pw, args)
        finally:
            srv.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def run(port: int, pw: dict[str, str], args: argparse.Namespace) -> None:
    idle = [probe(port, pw["probe"]) for _ in range(5)]
    print(f"idle: connect + LOGIN + SELECT + NOOP of another user {statistics.median(idle) * 1000:.1f} ms\n")
    print(f"{'command':22s}{'command':>12s}{'stall':>12s}  reply")
    only = set(filter(None, args.only.split(",")))
    conns: dict[str, Conn] = {}
    worst = ("", 0.0)
    for name, user, text in commands(args.messages):
        if only and name not in only:
            continue
        if user not in conns:
            conns[user] = login(port, user, pw[user])
        c = conns[user]
        times, stalls, reply = [], [], b""
        for r in range(args.runs):
            if name == "move-1:*" and r % 2:  # move them back, so every run moves the whole mailbox
                c.cmd("SELECT Archive")
            elif name == "move-1:*":
                c.cmd("SELECT INBOX")
            stall: list[float] = []
            t0 = time.perf_counter()
            tag = c.send(text)
            def other(out: list[float] = stall) -> None:
                time.sleep(0.02)
                out.append(probe(port, pw["probe"]))

            side = threading.Thread(target=other)
            side.start()
            reply = c.wait(tag)
            times.append(time.perf_counter() - t0)
            side.join()
            stalls.append(stall[0])
            if name == "move-1:*" and r % 2:
                text = "MOVE 1:* Archive"
            elif name == "move-1:*":
                text = "MOVE 1:* INBOX"
        cmd_ms, stall_ms = statistics.median(times) * 1000, statistics.median(stalls) * 1000
        worst = max(worst, (name, stall_ms), key=lambda x: x[1])
        short = reply.decode(errors="replace")
        print(f"{name:22s}{cmd_ms:10.1f} ms{stall_ms:10.1f} ms  {short[:60]}")
    for c in conns.values():
        c.close()
    print(f"\nworst stall: {worst[0]} {worst[1]:.1f} ms (idle {statistics.median(idle) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
