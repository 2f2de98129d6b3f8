"""Peak resident memory (VmHWM) of `agentmail serve` serving one big INBOX over IMAP.

    .venv/bin/python bench/imap_memory.py [--messages 100000] [--home DIR]

Builds (or reuses, with --home) a store whose `big` account has N postcards in cur/, written as
plain files and numbered with `uidlist.sync`; starts `agentmail serve` on free ports; logs in;
then for each step prints the wall time and the server's VmHWM / VmRSS from /proc:
SELECT, 1000 single `UID FETCH n (UID FLAGS)`, whole-mailbox `UID FETCH 1:* (UID FLAGS)`,
`UID FETCH 1:* (UID FLAGS RFC822.SIZE)` and `UID SEARCH ALL`. Target (issue 4): under 150 MiB.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from tests.support.servers import Serve  # noqa: E402
from tests.support.store import Store  # noqa: E402


def make_store(home: str, count: int) -> str:
    from agentmail import config
    from agentmail.store import passwd, registry, uidlist
    from agentmail.store.maildir import Maildir

    cfg = config.load(home)
    registry.ensure_store(cfg)
    registry.create_account(cfg, "big")
    cur = os.path.join(cfg.maildir_path("big"), "cur")
    start = int(time.time()) - 86400 * 30
    for i in range(count):
        body = (f"From: alice@{cfg.domain}\nTo: big@{cfg.domain}\nSubject: postcard {i}\n"
                f"Message-ID: <{i}@bench>\n\nhello number {i}\n").encode()
        vsize = len(body) + body.count(b"\n")
        name = f"{start + i // 1000}.M{i % 1000}P1Q{i}.bench,S={len(body)},W={vsize}:2,S"
        with open(os.path.join(cur, name), "wb") as fh:
            fh.write(body)
    uidlist.sync(Maildir(cfg.maildir_path("big")))
    past = time.time() - 3600
    os.utime(cur, (past, past))
    return passwd.password_for(cfg, "big")


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.n = 0
        self.readline()

    def readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def cmd(self, text: str) -> int:
        """Send a command, read to its tagged reply; returns how many untagged lines came."""
        self.n += 1
        tag = f"b{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        lines = 0
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return lines
            lines += 1


def memory(pid: int) -> tuple[float, float]:
    fields = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--home", help="store to build once and reuse (default: a temp dir)")
    args = ap.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="agentmail-imapmem-")
    marker = os.path.join(home, "bench-password")
    if os.path.exists(marker):
        password = open(marker).read()
    else:
        t0 = time.perf_counter()
        password = make_store(home, args.messages)
        with open(marker, "w") as fh:
            fh.write(password)
        print(f"built {args.messages} messages in {time.perf_counter() - t0:.1f} s ({home})")
    run_file = os.path.join(home, "run", "serve.json")
    if os.path.exists(run_file):  # left by an earlier run of this script on the same --home
        os.unlink(run_file)
    server = Serve.start(Store(Path(home)), timeout=20)
    proc, info = server.proc, server.info
    try:
        hwm, rss = memory(proc.pid)
        print(f"{'started':48s}            VmHWM {hwm:6.1f} MiB  VmRSS {rss:6.1f} MiB")
        c = Client(info["imap_port"])
        c.cmd(f"LOGIN big {password}")
        uids = list(range(1, args.messages + 1))
        steps: list[tuple[str, list[str]]] = [
            ("SELECT INBOX", ["SELECT INBOX"]),
            ("1000 x UID FETCH n (UID FLAGS)", [f"UID FETCH {u} (UID FLAGS)" for u in random.sample(uids, 1000)]),
            ("UID FETCH 1:* (UID FLAGS)", ["UID FETCH 1:* (UID FLAGS)"]),
            ("UID FETCH 1:* (UID FLAGS RFC822.SIZE)", ["UID FETCH 1:* (UID FLAGS RFC822.SIZE)"]),
            ("UID SEARCH ALL", ["UID SEARCH ALL"]),
        ]
        for label, commands in steps:
            t0 = time.perf_counter()
            for text in commands:
                c.cmd(text)
            took = time.perf_counter() - t0
            hwm, rss = memory(proc.pid)
            print(f"{label:48s} {took:7.2f} s  VmHWM {hwm:6.1f} MiB  VmRSS {rss:6.1f} MiB")
        c.cmd("LOGOUT")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
