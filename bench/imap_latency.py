"""IMAP latency benchmark: the speed targets the live tests used to assert with a stopwatch (a loaded machine made
them flaky; the tests now only wait for the outcome with a generous deadline).

    .venv/bin/python bench/imap_latency.py [--runs 20] [--idlers 300]

Against one real `agentmail serve` (its IDLE poll is 0.5 s):

  idle-push   a postcard delivered with the library (as `agentmail send` does) until an IMAP client in IDLE gets its
              `* n EXISTS`. Target: under 1 s.
  busy-fetch  connect, LOGIN, SELECT and FETCH a header of one message after --idlers other connections were opened
              (the first third logged in and in IDLE, the rest never log in: the server keeps the newest of those up to
              its max_unauthenticated), next to the same with no one else connected. Target: under 2 s, and the ratio
              busy/quiet small.

Figures are medians (and the worst) of --runs runs; the machine is shared, so compare the ratios.
"""

from __future__ import annotations

import argparse
import imaplib
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from tests.support.servers import Serve  # noqa: E402
from tests.support.store import Store, make_store  # noqa: E402


def read_until(sock: socket.socket, marker: bytes, timeout: float = 30) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {data[-200:]!r}")
        data += chunk
    return data


def login(port: int, user: str, password: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    read_until(sock, b"\r\n")
    sock.sendall(f"l LOGIN {user} {password}\r\n".encode())
    read_until(sock, b"l OK")
    return sock


def idle_push(srv: Serve, store: Store, runs: int) -> list[float]:
    times = []
    sock = login(srv.imap_port, "bob", store.passwords["bob"])
    for n in range(runs):
        sock.sendall(f"s{n} SELECT INBOX\r\ni{n} IDLE\r\n".encode())
        read_until(sock, b"+ idling")
        start = time.monotonic()
        store.send("alice", "bob", f"push {n}")
        read_until(sock, f"* {n + 1} EXISTS".encode())
        times.append(time.monotonic() - start)
        sock.sendall(b"DONE\r\n")
        read_until(sock, f"i{n} OK".encode())
    sock.close()
    return times


def one_fetch(srv: Serve, store: Store) -> float:
    start = time.monotonic()
    conn = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=60)
    conn.login("carol", store.passwords["carol"])
    conn.select("INBOX")
    typ, data = conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    elapsed = time.monotonic() - start
    assert typ == "OK" and b"Subject: busy server" in data[0][1], data  # type: ignore[index]
    conn.logout()
    return elapsed


def busy_fetch(srv: Serve, store: Store, runs: int, idlers: int) -> tuple[list[float], list[float]]:
    store.send("alice", "carol", "busy server")
    quiet = [one_fetch(srv, store) for _ in range(runs)]
    idle = []
    for n in range(idlers):
        sock = socket.create_connection(("127.0.0.1", srv.imap_port), timeout=30)
        read_until(sock, b"\r\n")
        idle.append(sock)
        if n < idlers // 3:  # logged in and in IDLE; of the rest, the server keeps the newest (max_unauthenticated)
            sock.sendall(f"l LOGIN bob {store.passwords['bob']}\r\ns SELECT INBOX\r\ni IDLE\r\n".encode())
            read_until(sock, b"+ idling")
    busy = [one_fetch(srv, store) for _ in range(runs)]
    for sock in idle:
        sock.close()
    return quiet, busy


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms, worst {max(values) * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--idlers", type=int, default=300)
    args = parser.parse_args()
    top = Path(tempfile.mkdtemp(prefix="am-imap-latency-"))
    try:
        store = make_store(top / "home")
        srv = Serve.start(store)
        try:
            push = idle_push(srv, store, args.runs)
            quiet, busy = busy_fetch(srv, store, args.runs, args.idlers)
        finally:
            srv.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(f"idle-push  ({args.runs} runs)               {ms(push)}   target < 1000 ms")
    print(f"busy-fetch quiet                        {ms(quiet)}")
    print(f"busy-fetch with {args.idlers} others connected    {ms(busy)}   target < 2000 ms")
    print(f"busy/quiet median ratio {statistics.median(busy) / statistics.median(quiet):.2f}")


if __name__ == "__main__":
    main()
