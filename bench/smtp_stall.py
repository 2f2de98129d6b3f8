"""Can one SMTP client stall the others? NOOP round trips on one connection while another submits hostile messages.

    .venv/bin/python bench/smtp_stall.py [--messages 5] [--header-mib 8]

One `agentmail serve`; connection A (bob) submits, one after another, --messages messages of each kind:
  big-header   a header of --header-mib MiB of short fields, the From field last (the From/Sender check reads it all)
  hostile-from a From of 990 double quotes (the RFC 5322 parser is quadratic on it: ~0.1 s of CPU)
  big-body     the reference: the same MiB in the body, which only aiosmtpd's DATA reading and delivery touch
while connection B (alice) sends NOOPs back to back. Printed: B's NOOP round trip while idle and during each
kind (median and max, ms) and the ratio of the max to the idle median. The checks and the parser run in a worker
thread, so B should see a few GIL switch intervals (5 ms each) for hostile-from, and no more for big-header than
for big-body (aiosmtpd reads DATA line by line on the loop: that part is the same for any large message).
The machine is shared: compare the ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import base64
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from tests.support.servers import Serve  # noqa: E402
from tests.support.store import make_store  # noqa: E402


class Conn:
    def __init__(self, port: int, user: str, password: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.file = self.sock.makefile("rb")
        self.reply()
        self.cmd(b"EHLO bench")
        assert self.cmd(b"AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode())).startswith(b"235")

    def reply(self) -> bytes:
        while True:
            line = self.file.readline()
            if line[3:4] != b"-":
                return line

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()


def noops(conn: Conn, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        conn.cmd(b"NOOP")
        out.append((time.perf_counter() - start) * 1000)


def submit(conn: Conn, data: bytes) -> bytes:
    conn.cmd(b"MAIL FROM:<bob@agents.localhost>")
    conn.cmd(b"RCPT TO:<carol@agents.localhost>")
    conn.cmd(b"DATA")
    return conn.cmd(data + b"\r\n.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--header-mib", type=int, default=8)
    args = parser.parse_args()
    filler = b"X-Filler: " + b"f" * 60 + b"\r\n"
    kinds = {
        "big-header": filler * (args.header_mib * 1024 * 1024 // len(filler)) + b"From: bob@agents.localhost\r\n",
        "hostile-from": b"From: " + b'"' * 990 + b"\r\n",
    }
    big_body = filler * (args.header_mib * 1024 * 1024 // len(filler))  # the same bytes in the body: reading DATA
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp) / "home")
        store.cfg  # noqa: B018 - the config file exists before the server reads it
        server = Serve.start(store)
        try:
            a = Conn(server.smtp_port, "bob", store.passwords["bob"])
            b = Conn(server.smtp_port, "alice", store.passwords["alice"])
            idle: list[float] = []
            stop = threading.Event()
            t = threading.Thread(target=noops, args=(b, stop, idle))
            t.start()
            time.sleep(1)
            stop.set()
            t.join()
            base = statistics.median(idle)
            print(f"NOOP round trip on connection B, ms ({len(idle)} idle NOOPs)")
            print(f"{'while A sends':14s} {'median':>8s} {'max':>8s} {'max/idle median':>16s}  A's replies")
            print(f"{'nothing':14s} {base:8.2f} {max(idle):8.2f} {max(idle) / base:16.1f}")
            for kind, head in [*kinds.items(), ("big-body", b"From: bob@agents.localhost\r\n")]:
                body = big_body if kind == "big-body" else b"body\r\n"
                data = head + b"To: carol@agents.localhost\r\nSubject: stall\r\n\r\n" + body
                during: list[float] = []
                stop = threading.Event()
                t = threading.Thread(target=noops, args=(b, stop, during))
                t.start()
                replies = {submit(a, data)[:3].decode() for _ in range(args.messages)}
                stop.set()
                t.join()
                print(f"{kind:14s} {statistics.median(during):8.2f} {max(during):8.2f} "
                      f"{max(during) / base:16.1f}  {','.join(sorted(replies))}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
