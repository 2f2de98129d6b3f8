"""SMTP load benchmark: messages per second durably delivered by `agentmail serve`, next to Postfix's smtp-sink.

    .venv/bin/python bench/smtp_load.py [--seconds 3] [--runs 3] [--conns 1,10,50] [--size 600]

Postfix's smtp-source cannot authenticate, and agentmail's SMTP always requires AUTH (there is deliberately no
switch to turn that off), so the load comes from the asyncio generator below: each connection does EHLO and AUTH
PLAIN once, then MAIL / RCPT / DATA in a loop, one message at a time (no pipelining: aiosmtpd does not offer it).
The same generator drives Postfix's `smtp-sink` (accepts and discards; it accepts any AUTH), the ceiling of what
this client can push through loopback on this machine, in the same run. For reference, `smtp-source` against
`smtp-sink` is timed too (C against C, no AUTH).

A 250 from agentmail means every copy (recipient, journal) is written, fsynced and linked: "durably delivered".
The count of files in the recipient's Maildir is checked against the 250s. Peak memory is the server's VmHWM.
Figures are medians of --runs runs; the machine is shared, so compare the ratio, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from tests.support.servers import Serve  # noqa: E402
from tests.support.store import Store  # noqa: E402

DOMAIN = "agents.localhost"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(size: int, n: int) -> bytes:
    head = (f"From: bob@{DOMAIN}\r\nTo: alice@{DOMAIN}\r\nSubject: load {n}\r\n"
            f"Message-ID: <load-{n}-{os.getpid()}@bench>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n")
    line = "The quick brown fox jumps over the lazy dog. 0123456789\r\n"
    text = head + line * max(1, (size - len(head)) // len(line))
    return text.encode()


async def reply(reader: asyncio.StreamReader, want: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            if not line.startswith(want):
                raise RuntimeError(f"expected {want.decode()}, got {line!r}")
            return


async def connection(port: int, user: str, password: str, size: int, deadline: float, counts: list[int],
                     slot: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reply(reader, b"220")
    writer.write(b"EHLO bench\r\n")
    await reply(reader, b"250")
    writer.write(b"AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()) + b"\r\n")
    await reply(reader, b"2")  # 235 (smtp-sink answers 250)
    n = 0
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        writer.write(f"MAIL FROM:<{user}@{DOMAIN}>\r\n".encode())
        await reply(reader, b"250")
        writer.write(f"RCPT TO:<alice@{DOMAIN}>\r\n".encode())
        await reply(reader, b"250")
        writer.write(b"DATA\r\n")
        await reply(reader, b"354")
        writer.write(body(size, slot * 1_000_000 + n) + b".\r\n")
        await reply(reader, b"250")
        n += 1
        counts[slot] = n
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()


async def load(port: int, conns: int, seconds: float, size: int, password: str) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    counts = [0] * conns
    start = loop.time()
    await asyncio.gather(*(connection(port, "bob", password, size, start + seconds, counts, i)
                           for i in range(conns)))
    return sum(counts), loop.time() - start


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def start_sink(port: int) -> subprocess.Popen[bytes]:
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([sink, *user, f"127.0.0.1:{port}", "1024"], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("smtp-sink did not start")


def make_store(home: str) -> str:
    sys.path.insert(0, os.path.dirname(HERE))
    from agentmail import config
    from agentmail.store import passwd, registry

    cfg = config.load(home)
    registry.ensure_store(cfg)
    for name in ("alice", "bob"):
        registry.create_account(cfg, name)
    return passwd.password_for(cfg, "bob")


def maildir_count(home: str) -> int:
    box = os.path.join(home, "maildirs", "alice")
    return sum(len(os.listdir(os.path.join(box, sub))) for sub in ("new", "cur"))


def smtp_source_rate(port: int, conns: int, count: int, size: int) -> float | None:
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    if not os.path.exists(source):
        return None
    start = time.monotonic()
    subprocess.run([source, "-s", str(conns), "-m", str(count), "-l", str(size), "-f", f"bob@{DOMAIN}",
                    "-t", f"alice@{DOMAIN}", f"127.0.0.1:{port}"], check=True, capture_output=True)
    return count / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", default="1,10,50")
    ap.add_argument("--size", type=int, default=600, help="message size in bytes")
    args = ap.parse_args()
    levels = [int(c) for c in args.conns.split(",")]
    print(f"{os.cpu_count()} CPUs, {args.size}-byte messages, {args.seconds:.0f} s per run, "
          f"median of {args.runs} runs")
    print(f"{'conns':>5} {'agentmail msg/s':>16} {'smtp-sink msg/s':>16} {'ratio':>6} {'server VmHWM':>13}"
          f" {'stored/250s':>12}")
    # Stores are removed only at the end: on ext4 without a journal (this VM), creating files is several times
    # slower for ~30 s after many files were deleted (ext4's recently_deleted() inode scan), which would skew
    # every run after the first.
    parent = tempfile.mkdtemp(prefix="amload")
    try:
        run_levels(args, levels, parent)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def run_levels(args: argparse.Namespace, levels: list[int], parent: str) -> None:
    for conns in levels:
        ours, sinks, peaks = [], [], []
        stored_ok = True
        for run in range(args.runs):
            home = os.path.join(parent, f"c{conns}-r{run}")
            password = make_store(home)
            server = Serve.start(Store(Path(home)))
            try:
                sent, took = asyncio.run(load(server.smtp_port, conns, args.seconds, args.size, password))
                peaks.append(peak_rss_kib(server.proc.pid))
            finally:
                server.stop(timeout=30)
            stored_ok &= maildir_count(home) == sent
            ours.append(sent / took)
            sink_port = free_port()
            sink = start_sink(sink_port)
            try:
                sent, took = asyncio.run(load(sink_port, conns, args.seconds, args.size, "any"))
                sinks.append(sent / took)
            finally:
                sink.terminate()
                sink.wait(10)
        o, s = statistics.median(ours), statistics.median(sinks)
        print(f"{conns:>5} {o:>16.0f} {s:>16.0f} {o / s:>6.2f} {max(peaks) / 1024:>10.1f} MiB"
              f" {'all' if stored_ok else 'MISMATCH':>12}", flush=True)
    sink_port = free_port()
    sink = start_sink(sink_port)
    try:
        rate = smtp_source_rate(sink_port, 10, 20000, args.size)
    finally:
        sink.terminate()
        sink.wait(10)
    if rate:
        print(f"reference: smtp-source -> smtp-sink (C, no AUTH, 10 conns): {rate:.0f} msg/s")


if __name__ == "__main__":
    main()
