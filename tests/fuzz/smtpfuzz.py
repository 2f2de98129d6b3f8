"""The SMTP fuzzer: generated sessions over real sockets against `agentmail serve` (tests.support.servers).

`SmtpGen.session(i)` makes one session's steps from the seed and i alone (the same seed always gives the same
sessions): EHLO/HELO variants, AUTH PLAIN / LOGIN with good, wrong and malformed credentials, MAIL and RCPT with odd
addresses and parameters, DATA with odd content (8-bit, NUL, bare CR or LF, long lines, dot-stuffing, no From, a
spoofed From, header injection, mutated bytes), RSET/NOOP/VRFY/HELP/garbage, long lines, and endings by QUIT, by
closing the socket, or in the middle of a command or of DATA. `run_sessions` plays them `jobs` at a time.

Findings: a `451 ... internal error` reply (aiosmtpd's handle_exception) or any other 451 (a delivery that failed
on a healthy store), a reply that is not `ddd[ -]text`, no reply within `timeout` s (a hang), the server
refusing connections or exiting, and after the run (`check_after`): a traceback or ERROR line in the server's
log, or a message acknowledged with 250 that is not in the journal exactly once (lost or duplicated).
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.imapgen import mutate

DOMAIN = "agents.localhost"
USER = "alice"
MARK = b"X-Fuzz-Marker: "

Step = tuple[str, bytes]  # ("line", bytes) one command and its reply; ("pipe", lines) several at once, a reply each;
# ("data", body) after a 354; ("raw", bytes) sent without waiting; ("close", b"") the client hangs up


@dataclass
class SmtpStats:
    sessions: int = 0
    commands: int = 0
    replies: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[str, list[Step]]] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)  # marker -> 250s for it
    slowest: list[tuple[float, bytes]] = field(default_factory=list)
    seconds: float = 0.0

    def finding(self, kind: str, detail: str, steps: list[Step]) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(kind, (detail, steps))


class SmtpGen:
    def __init__(self, seed: int, password: str) -> None:
        self.seed = seed
        self.password = password

    def session(self, i: int) -> list[Step]:
        rng = random.Random(f"{self.seed}:{i}")
        steps: list[Step] = []
        r = rng.random()
        if r < 0.85:
            steps.append(("line", rng.choice((b"EHLO fuzz.example", b"EHLO [127.0.0.1]", b"ehlo x"))))
        elif r < 0.97:
            steps.append(("line", rng.choice((b"HELO fuzz", b"EHLO", b"HELO", b"EHLO " + b"h" * 600, b"LHLO x",
                                              b"EHLO caf\xc3\xa9.example", b"EHLO a\xffb", b"EHLO x\x00y",
                                              b"EHLO a b c", b"EHLO x\ty"))))
        steps += self.auth(rng)
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            steps += self.transaction(rng, i)
            if rng.random() < 0.3:
                steps.append(("line", self.extra(rng)))
        end = rng.random()
        if end < 0.7:
            steps.append(("line", rng.choice((b"QUIT", b"quit", b"QUIT now"))))
        elif end < 0.85:
            steps.append(("close", b""))
        else:
            steps.append(("raw", rng.choice((b"MAIL FROM:<al", b"RCPT TO:<bob@agents.localhost>", b"DATA\r\nFrom:",
                                             b"AUTH PLAIN", b"\xff\xfe"))))
            steps.append(("close", b""))
        if rng.random() < 0.15:  # byte-level damage to one line
            k = rng.randrange(len(steps))
            kind, data = steps[k]
            if kind in ("line", "raw"):
                steps[k] = (kind, mutate(rng, data, rng.randint(1, 4), [s for _, s in steps]).replace(b"\n", b""))
        return steps

    def auth(self, rng: random.Random) -> list[Step]:
        r = rng.random()
        good = f"\0{USER}\0{self.password}".encode()
        if r < 0.65:
            login = rng.choice((USER, f"{USER}@{DOMAIN}", f"{USER.upper()}@{DOMAIN.upper()}"))
            return [("line", b"AUTH PLAIN " + base64.b64encode(f"\0{login}\0{self.password}".encode()))]
        if r < 0.75:
            return [("line", b"AUTH LOGIN"), ("line", base64.b64encode(USER.encode())),
                    ("line", base64.b64encode(self.password.encode()))]
        if r < 0.8:
            return [("line", b"AUTH PLAIN"), ("line", base64.b64encode(good))]
        if r < 0.88:
            bad = rng.choice((b"\0alice\0wrong", b"\0bob\0" + self.password.encode(), b"\0\xff\xfe\0x",
                              b"\0../alice\0x", b"alice\0alice\0" + self.password.encode(), b"", b"\0\0",
                              b"\0alice@other.example\0" + self.password.encode()))
            return [("line", b"AUTH PLAIN " + base64.b64encode(bad))]
        if r < 0.95:
            return [("line", rng.choice((b"AUTH PLAIN !!!", b"AUTH PLAIN =", b"AUTH CRAM-MD5", b"AUTH",
                                         b"AUTH PLAIN " + b"A" * 5000, b"AUTH LOGIN *", b"AUTH XOAUTH2 abc")))]
        return []

    def address(self, rng: random.Random, mine: bool) -> bytes:
        local = USER if mine else rng.choice(("bob", "carol", "all", "human", "bob", "carol"))
        r = rng.random()
        if r < 0.7:
            return f"<{local}@{DOMAIN}>".encode()
        return rng.choice((b"<>", b"<" + local.encode() + b">", f"<{local.upper()}@{DOMAIN.upper()}>".encode(),
                           b"<nobody@agents.localhost>", b"<bob@example.com>", b"<\xff\xfe@agents.localhost>",
                           b"<caf\xc3\xa9@agents.localhost>", b"<bob@agents.localhost", b"bob@agents.localhost",
                           b"<@relay.example:bob@agents.localhost>", b'<"bob smith"@agents.localhost>',
                           b"<../alice@agents.localhost>", b"<bob@agents.localhost> junk", b"<" + b"a" * 300 + b">",
                           b"<bob\x00@agents.localhost>", b"<bob@[127.0.0.1]>", b"<a@b@c>", b"<>>", b"<<bob>>",
                           b"<bob@agents.localhost.>", b"<Bob@Agents.Localhost>", b"<\r@x>", b":", b""))

    def params(self, rng: random.Random) -> bytes:
        if rng.random() < 0.85:
            return b""
        return b" " + b" ".join(rng.choice((b"SIZE=100", b"SIZE=99999999999999999999", b"SIZE=-1", b"BODY=8BITMIME",
                                            b"BODY=7BIT", b"BODY=BINARYMIME", b"SMTPUTF8", b"AUTH=<>", b"RET=HDRS",
                                            b"NOTIFY=NEVER", b"ENVID=x", b"X=\xff", b"=", b"SIZE"))
                                for _ in range(rng.randint(1, 3)))

    def transaction(self, rng: random.Random, i: int) -> list[Step]:
        steps: list[Step] = [("line", b"MAIL FROM:" + self.address(rng, True) + self.params(rng))]
        for _ in range(rng.choice((1, 1, 1, 2, 3, 0))):
            steps.append(("line", b"RCPT TO:" + self.address(rng, False) + self.params(rng)))
        if rng.random() < 0.005:  # more recipients than allowed
            steps += [("line", b"RCPT TO:<bob@agents.localhost>")] * 105
        if rng.random() < 0.1:
            steps.append(("line", rng.choice((b"RSET", b"NOOP", b"VRFY bob", b"DATA now"))))
        steps.append(("line", rng.choice((b"DATA",) * 20 + (b"data", b"DATA x", b"BDAT 10 LAST"))))
        if rng.random() < 0.2:  # the client pipelines the envelope (RFC 2920 style, DATA last), unasked
            steps = [("pipe", b"".join(line + b"\r\n" for _, line in steps))]
        steps.append(("data", self.content(rng, i)))
        return steps

    def content(self, rng: random.Random, i: int) -> bytes:
        marker = f"{self.seed}-{i}-{rng.getrandbits(32):08x}".encode()
        frm = rng.choice((b"alice@agents.localhost",) * 8 + (b"Alice <alice@agents.localhost>", b"bob@agents.localhost",
                         b"alice@agents.localhost, bob@agents.localhost", b"", b"<>", b"\xff@x",
                         b'"alice@agents.localhost" <bob@agents.localhost>', b"alice@agents.localhost\r\nBcc: x"))
        head = [b"From: " + frm, b"To: bob@agents.localhost", b"Subject: fuzz " + marker, MARK + marker]
        if rng.random() < 0.3:
            head.append(rng.choice((b"Date: Thu, 01 Jan 2026 00:00:00 +0000", b"Date: nonsense", b"Message-ID: <x@y>",
                                    b"Message-ID: garbage", b"Sender: bob@agents.localhost", b"X-Long: " + b"v" * 5000,
                                    b"Content-Type: multipart/mixed; boundary=zz", b"Subject: second",
                                    b"Disposition-Notification-To: alice@agents.localhost", b" folded-first",
                                    b"Content-Type: multipart/report; report-type=disposition-notification",
                                    b"X-Agentmail-Wake: no", b"Importance: high", b"Auto-Submitted: auto-replied",
                                    b"Bad Header Without Colon", b"\xff\xfe: binary")))
        if rng.random() < 0.05:
            head = [b"From: alice@agents.localhost", MARK + marker]  # From only
        if rng.random() < 0.05:
            head = [MARK + marker]  # no From at all
        body = [b"hello " + marker]
        r = rng.random()
        if r < 0.1:
            body.append(b"caf\xc3\xa9 \xff\xfe 8-bit \x00 nul \r bare cr")
        elif r < 0.2:
            body.append(b"x" * rng.choice((999, 1000, 5000, 100_000, 300_000)))
        elif r < 0.3:
            body += [b".", b"..", b". ", b".\r", b"...hidden"]
        elif r < 0.35:
            body.append(bytes(rng.randrange(256) for _ in range(200)).replace(b"\n", b"").replace(b"\r", b""))
        elif r < 0.4:
            body.append(b"--zz\r\nContent-Type: text/plain\r\n\r\npart\r\n--zz--")
        lines = head + [b""] + body + [b"end " + marker]
        data = b"\r\n".join(line.replace(b"\n", b"\r\n") if b"\r\n" not in line else line for line in lines)
        if rng.random() < 0.05:
            data = data.replace(b"\r\n", b"\n")  # bare LF line ends
        if rng.random() < 0.05:
            data = mutate(rng, data, rng.randint(1, 6), [data])
        # dot-stuffing (RFC 5321 4.5.2) as a client does it
        stuffed = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln for ln in data.split(b"\r\n"))
        return stuffed + b"\r\n.\r\n"

    def extra(self, rng: random.Random) -> bytes:
        return rng.choice((b"RSET", b"NOOP", b"NOOP x", b"VRFY bob", b"VRFY", b"EXPN all", b"HELP", b"HELP DATA",
                           b"STARTTLS", b"ETRN x", b"TURN", b"", b"   ", b"\xff\xfe\xfd", b"MAIL", b"RCPT", b"DATA",
                           b"X" * 1100, b"NOOP " + b"y" * 300_000, b"EHLO again", b"AUTH PLAIN", b"QUIT extra"))


# ---------------------------------------------------------------------- playing sessions


async def _reply(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """One whole reply (continuation lines `ddd-` then the last `ddd `); b"" when the server closed."""
    out = b""
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout)
        out += line
        if not line or not line.endswith(b"\n") or line[3:4] != b"-":
            return out


async def play(port: int, steps: list[Step], stats: SmtpStats, timeout: float) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, limit=1 << 20), timeout)
    except (OSError, asyncio.TimeoutError) as err:
        stats.finding("server-unreachable", repr(err), steps)
        return
    stats.sessions += 1
    last = b"(greeting)"
    try:
        greeting = await _reply(reader, timeout)
        if not greeting.startswith(b"220"):
            stats.finding("protocol:greeting", repr(greeting[:100]), steps)
            return
        in_data = False
        for kind, data in steps:
            if kind == "close":
                break
            if kind == "raw":
                writer.write(data)
                await writer.drain()
                continue
            if kind == "data" and not in_data:
                continue  # DATA was refused: the content is not sent
            if kind in ("line", "pipe") and in_data:  # a 354 the steps did not plan for: end the message first
                writer.write(b".\r\n")
                await writer.drain()
                if not await _reply(reader, timeout):
                    break
            last = data[:200]
            writer.write(data if kind in ("data", "pipe") else data + b"\r\n")
            await writer.drain()
            stats.commands += 1
            t0 = time.monotonic()
            for _ in range(data.count(b"\r\n") - 1 if kind == "pipe" else 0):  # all but the last reply
                earlier = await _reply(reader, timeout)
                if not earlier:
                    break
                stats.replies[earlier[:3].decode("ascii", "replace")] += 1
                check(earlier, data, kind, steps, stats)
            reply = await _reply(reader, timeout)
            spent = time.monotonic() - t0
            if len(stats.slowest) < 5 or spent > min(stats.slowest)[0]:
                stats.slowest = sorted([*stats.slowest, (spent, last)], reverse=True)[:5]
            if not reply:
                break  # the server closed the connection (421 after failures, after QUIT, ...)
            code = reply[:3].decode("ascii", "replace")
            stats.replies[code] += 1
            check(reply, data, kind, steps, stats)
            in_data = kind in ("line", "pipe") and code == "354"
            if kind == "data" and code == "250":
                start = data.find(MARK)
                marker = data[start + len(MARK): data.find(b"\r\n", start)].decode("ascii", "replace")
                if start >= 0 and re.fullmatch(r"[0-9a-f-]+", marker):
                    stats.acked[marker] = stats.acked.get(marker, 0) + 1
    except asyncio.TimeoutError:
        stats.finding("hang", f"no reply within {timeout:g} s to {last!r}", steps)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the server dropped the connection (after 421, a line too long, ...): checked by the log check
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 5)
        except (OSError, asyncio.TimeoutError):
            pass


def check(reply: bytes, sent: bytes, kind: str, steps: list[Step], stats: SmtpStats) -> None:
    for line in reply.rstrip(b"\r\n").split(b"\r\n"):
        if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b""):
            stats.finding("protocol:bad-reply", repr(reply[:200]), steps)
            return
        if any(b < 32 or b > 126 for b in line):
            stats.finding("protocol:unprintable-reply", repr(line[:200]), steps)
            return
    if reply.startswith(b"451"):
        what = "internal-error" if b"internal error" in reply else reply[4:40].decode("ascii", "replace")
        stats.finding(f"451:{what}", f"{reply[:200]!r} to {sent[:200]!r}", steps)


async def run_sessions(port: int, gen: SmtpGen, count: int, jobs: int, timeout: float,
                       proc_alive: object = None) -> SmtpStats:
    stats = SmtpStats()
    queue = iter(range(count))
    start = time.monotonic()

    async def worker() -> None:
        for i in queue:
            await play(port, gen.session(i), stats, timeout)
            if "server-unreachable" in stats.counts:
                return

    await asyncio.gather(*(worker() for _ in range(jobs)))
    stats.seconds = time.monotonic() - start
    return stats


def check_after(home: Path, log: str, stats: SmtpStats) -> None:
    """The server's log and the journal, once the sessions are over."""
    for line in log.splitlines():
        if "Traceback" in line or " ERROR " in line or "Exception" in line:
            stats.finding("log:" + line.split(": ", 2)[-1][:60], line[:300], [])
    found: Counter[str] = Counter()
    for sub in ("new", "cur"):
        d = home / "journal" / sub
        for name in os.listdir(d) if d.is_dir() else []:
            data = (d / name).read_bytes()
            start = data.find(MARK)
            if start >= 0:
                found[data[start + len(MARK): data.find(b"\n", start)].decode("ascii", "replace").strip()] += 1
    for marker, acks in stats.acked.items():
        if found[marker] == 0:
            stats.finding("lost", f"250 for {marker} but not in the journal", [])
        elif found[marker] > acks:
            stats.finding("duplicated", f"{marker}: {found[marker]} journal copies for {acks} acks", [])
