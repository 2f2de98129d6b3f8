"""The per-command phases of bench/imap_bench.py: SELECT, EXAMINE, STATUS and NOOP alone (warm and cold), new mail
picked up by NOOP and IDLE at two mailbox sizes, and the most expensive commands of bench/imap_worst.py.

Every figure is measured on agentmail and on Dovecot in the same run, over raw sockets, interleaved (who goes first
alternates); see bench/imap_bench.py for the store and the servers.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import select
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

STATUS_ITEMS = "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"  # what Thunderbird asks of every folder


class Conn:
    """One IMAP connection over a raw socket; reads each reply up to its tagged line without parsing it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.n = 0
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += self.sock.recv(4096)
        assert buf.startswith(b"* OK"), buf

    def send(self, text: str) -> bytes:
        self.n += 1
        tag = b"t%d " % self.n
        self.sock.sendall(tag + text.encode() + b"\r\n")
        return tag

    def wait(self, tag: bytes, text: str = "") -> bytes:
        """The untagged lines before the tagged reply (which must be OK)."""
        buf = bytearray()
        recv = self.sock.recv
        while True:
            chunk = recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
            if buf.endswith(b"\r\n"):
                eol = buf.rfind(b"\r\n", 0, len(buf) - 2)
                start = 0 if eol < 0 else eol + 2  # the last line
                if buf.startswith(tag, start):
                    if not buf.startswith(b"OK", start + len(tag)):
                        raise RuntimeError(f"{text!r}: {bytes(buf[start:])[:300]!r}")
                    return bytes(buf[:start])

    def cmd(self, text: str) -> bytes:
        return self.wait(self.send(text), text)

    def until(self, marker: bytes, timeout: float = 30) -> bytes:
        """Read (while idling) until a line containing ``marker`` has arrived."""
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while marker not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError(f"no {marker!r} within {timeout} s: {bytes(buf)[:200]!r}")
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.cmd("LOGOUT")
        self.sock.close()


def logged_in(port: int, user: str, password: str) -> Conn:
    c = Conn(port)
    c.cmd(f'LOGIN {user} "{password}"')
    return c


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------- SELECT, EXAMINE, STATUS, NOOP alone (warm)

def alone(c: Conn, rounds: int) -> dict[str, float]:
    """Medians of ``rounds`` rounds on a logged-in connection, the mailbox unchanged throughout. Each timed SELECT
    or EXAMINE follows an (untimed) UNSELECT, so every round really opens the mailbox again; STATUS is asked with
    nothing selected, as Thunderbird asks it of every folder; NOOP is on the selected INBOX."""
    out: dict[str, list[float]] = {"select": [], "examine": [], "status": [], "noop": []}
    c.cmd("SELECT INBOX")
    for _ in range(rounds):
        c.cmd("UNSELECT")
        out["select"].append(timed(lambda: c.cmd("SELECT INBOX")))
        c.cmd("UNSELECT")
        out["examine"].append(timed(lambda: c.cmd("EXAMINE INBOX")))
        c.cmd("UNSELECT")
        out["status"].append(timed(lambda: c.cmd(f"STATUS INBOX {STATUS_ITEMS}")))
        c.cmd("SELECT INBOX")
        out["noop"].append(timed(lambda: c.cmd("NOOP")))
    return {k: statistics.median(v) for k, v in out.items()}


# ---------------------------------------------------------------- new mail: NOOP and IDLE pick-up

@contextlib.contextmanager
def as_user(name: str | None) -> Iterator[None]:
    """Run the block with the effective uid/gid of ``name`` (files written are then that user's, so Dovecot's
    vmail can read them); as is when ``name`` is None or we are not root."""
    if name is None or os.geteuid() != 0:
        yield
        return
    entry = pwd.getpwnam(name)
    os.setegid(entry.pw_gid)
    os.seteuid(entry.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


class Postman:
    """Delivers one postcard at a time to ``account`` through the store's own `deliver()` (new/, uidlist, journal)."""

    def __init__(self, home: Path, account: str, owner: str | None, seed: int = 11) -> None:
        from agentmail import config

        self.cfg = config.load(str(home))
        self.account = account
        self.owner = owner
        self.rng = random.Random(seed)
        self.n = 0

    def deliver(self) -> None:
        from agentmail.delivery.deliver import deliver
        from bench.imap_bench import postcard

        self.n += 1
        data = postcard(self.rng, self.n, int(time.time()), self.account, self.cfg.domain)
        with as_user(self.owner):
            deliver(self.cfg, data, [self.account], sender=None, save_sent=False, via="bench")


def pickup(port: int, user: str, password: str, postman: Postman, rounds: int) -> dict[str, float]:
    """Medians over ``rounds`` of: one postcard delivered, then the time to the NOOP that reports it (``noop-new``);
    and, with the client in IDLE, the time from the delivery's return to the ``EXISTS`` pushed (``idle-new``). The
    mailbox is selected read-write (both servers move new/ to cur/ as they report it)."""
    c = logged_in(port, user, password)
    c.cmd("SELECT INBOX")
    c.cmd("NOOP")
    noop, idle = [], []
    for _ in range(rounds):
        postman.deliver()
        t0 = time.perf_counter()
        got = c.cmd("NOOP")
        noop.append(time.perf_counter() - t0)
        assert b"EXISTS" in got, got
        tag = c.send("IDLE")
        c.until(b"+ ")
        time.sleep(0.05)  # both servers settled in IDLE
        postman.deliver()
        t0 = time.perf_counter()
        c.until(b"EXISTS")
        idle.append(time.perf_counter() - t0)
        c.sock.sendall(b"DONE\r\n")
        c.wait(tag, "IDLE")
    c.close()
    return {"noop-new": statistics.median(noop), "idle-new": statistics.median(idle)}


# ---------------------------------------------------------------- the expensive commands of imap_worst.py

READ_ONLY_WORST = ("search-text", "search-body", "search-header", "search-seqset-60k", "search-uid-seqset",
                   "search-not-deep", "fetch-seqset-60k", "fetch-body", "fetch-bodystructure", "uid-fetch-2^32",
                   "status-10k")


def worst_commands(n: int) -> list[tuple[str, str]]:
    """imap_worst.py's commands that only read the `bench` INBOX (those that change it, or need other accounts, or
    that our server refuses by design, stay in imap_worst.py)."""
    from bench.imap_worst import commands

    return [(name, text) for name, user, text in commands(n) if user == "bench" and name in READ_ONLY_WORST]


def worst(port: int, user: str, password: str, n: int) -> dict[str, float]:
    c = logged_in(port, user, password)
    c.cmd("SELECT INBOX")
    out = {}
    for name, text in worst_commands(n):
        out[name] = timed(lambda text=text: c.cmd(text))  # type: ignore[misc]
    c.close()
    return out
