"""strace(1) as a witness of durability: which system calls a process made, in what order, on which files.

`PREFIX` runs a command under `strace -f -y -yy`, so every file descriptor argument is printed with the path (or TCP
endpoints) it refers to. `parse()` turns the trace into `Call`s; a call that another thread interrupted (`<unfinished
...>` ... `<... resumed>`) keeps the line where it started and the line where it returned, so "A returned before B
started" is `a.end < b.start` even across threads.

`published()` finds each move of a message from a Maildir's tmp/ into new/ or cur/, and `check_durable()` says what
is wrong with one: its file must be on disk before it is linked (an fsync/fdatasync of the file, or a syncfs/sync,
started after its last write returned and returned before the link started), and the link must be on disk before
the message is acknowledged (an fsync of the destination directory, or a syncfs/sync, started after the link returned
and returned before the acknowledgement started).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

SYSCALLS = ("openat", "open", "creat", "write", "pwrite64", "writev", "pwritev", "pwritev2", "sendto", "sendmsg",
            "fsync", "fdatasync", "syncfs", "sync", "link", "linkat", "rename", "renameat", "renameat2", "unlink",
            "unlinkat")
# -f: follow threads and children; -y/-yy: print each fd's path or socket endpoints; -s: show enough of each write
PREFIX = ("-f", "-yy", "-s", "256", "-e", "trace=" + ",".join(SYSCALLS))
WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "sendto", "sendmsg"}
WHOLE_FS_SYNCS = {"syncfs", "sync"}
FILE_SYNCS = {"fsync", "fdatasync"}
MAIL_DIRS = ("new", "cur")

LINE = re.compile(r"^(\d+) +(.*)$")
CALL = re.compile(r"^(\w+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
FD = re.compile(r"^\s*(-?\d+|AT_FDCWD)<(TCP:\[[^\]]*\]|TCPv6:\[[^\]]*\]|UNIX[^>]*|[^>]*)>")
RETURN = re.compile(r"\)\s+= ")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def command(trace_file: str) -> list[str]:
    """The strace command line to put in front of a program: trace into `trace_file`."""
    from tests.support.tools import need

    return [need("strace")["strace"], *PREFIX, "-o", trace_file]


@dataclass
class Call:
    pid: int
    name: str
    args: str = ""
    result: str = ""
    start: int = 0  # line where the call started
    end: int = 0  # line where it returned

    @property
    def ok(self) -> bool:
        return not self.result.startswith("-1") and self.result != "?"

    @property
    def fd_path(self) -> str | None:
        """The path (or endpoint) strace printed for the first argument, if it is a file descriptor."""
        m = FD.match(self.args)
        return m.group(2) if m else None  # an unlinked file's "(deleted)" mark follows the closing ">"

    def paths(self) -> list[str]:
        """The path arguments of link/rename/unlink calls, made absolute with their directory fd where relative."""
        out: list[str] = []
        base = ""
        for part in split_args(self.args):
            m = FD.match(part)
            if m:
                base = m.group(2)
                continue
            s = STRING.fullmatch(part.strip())
            if s:
                path = unescape(s.group(1))
                out.append(path if os.path.isabs(path) else os.path.join(base, path))
        return out


@dataclass
class Trace:
    calls: list[Call] = field(default_factory=list)
    exits: dict[int, tuple[int, str]] = field(default_factory=dict)  # pid -> (line, "exited with 0" / signal)

    def of(self, *names: str) -> list[Call]:
        return [c for c in self.calls if c.name in names and c.ok]


def split_args(args: str) -> list[str]:
    """Top-level comma-separated arguments (commas inside strings, <...>, [...] and {...} do not split)."""
    out, depth, quote, cur = [], 0, False, []
    i = 0
    while i < len(args):
        ch = args[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(args):
                cur.append(args[i + 1])
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
            cur.append(ch)
        elif ch in "<[{(":
            depth += 1
            cur.append(ch)
        elif ch in ">]})" and depth:
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [a.strip() for a in out]


def unescape(text: str) -> str:
    """strace's C-style escapes in a printed string (\\n, \\", \\\\, \\ooo, \\xhh)."""
    return re.sub(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", _unescape_one, text)


def _unescape_one(m: re.Match[str]) -> str:
    code = m.group(1)
    if code.startswith("x"):
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    return {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "f": "\f", "a": "\a", "b": "\b"}.get(code, code)


def _finish(call: Call, text: str, line: int) -> None:
    """`text` is the rest of a call's line from its arguments on: `ARGS) = RESULT`."""
    ends = list(RETURN.finditer(text))  # strace pads short calls: `close(3)    = 0`
    if ends:
        args, result = text[:ends[-1].start()], text[ends[-1].end():]
    else:  # killed mid-call
        args, result = text, "?"
    call.args += args
    call.result = result.strip()
    call.end = line


def parse(text: str) -> Trace:
    """The calls of an `strace -f -o FILE` trace (every line starts with the pid)."""
    trace = Trace()
    pending: dict[tuple[int, str], Call] = {}
    for n, raw in enumerate(text.splitlines()):
        m = LINE.match(raw)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if rest.startswith("+++ "):
            trace.exits[pid] = (n, rest.strip("+ "))
            continue
        if rest.startswith("---"):
            continue
        resumed = RESUMED.match(rest)
        if resumed:
            call = pending.pop((pid, resumed.group(1)), None)
            if call is not None:
                _finish(call, resumed.group(2), n)
            continue
        started = CALL.match(rest)
        if not started:
            continue
        call = Call(pid, started.group(1), start=n)
        body = started.group(2)
        if body.endswith("<unfinished ...>"):
            call.args = body.removesuffix("<unfinished ...>")
            pending[(pid, call.name)] = call
        else:
            _finish(call, body, n)
        trace.calls.append(call)
    return trace


@dataclass
class Publish:
    """A message file moved from tmp/ into new/ or cur/ by a link (or a rename)."""

    call: Call
    src: str
    dest: str


def published(trace: Trace, root: str) -> list[Publish]:
    """Every successful link/rename under `root` from a `tmp/` directory into a `new/` or `cur/` one."""
    root = os.path.realpath(root)
    out = []
    for call in trace.of("link", "linkat", "rename", "renameat", "renameat2"):
        paths = call.paths()
        if len(paths) != 2:
            continue
        src, dest = (os.path.realpath(p) for p in paths)  # as the kernel names an fd's file
        if not src.startswith(root.rstrip("/") + "/"):
            continue
        if os.path.basename(os.path.dirname(src)) == "tmp" and os.path.basename(os.path.dirname(dest)) in MAIL_DIRS:
            out.append(Publish(call, src, dest))
    return out


def check_durable(trace: Trace, pub: Publish, ack_line: int) -> list[str]:
    """What is wrong with the durability of `pub` if the message is acknowledged at line `ack_line` (empty: nothing)."""
    problems = []
    writes = [c for c in trace.of(*WRITES) if c.fd_path == pub.src and c.end < pub.call.start]
    if not writes:
        problems.append(f"no write to {pub.src} before it was published")
    last_write = max((c.end for c in writes), default=-1)
    file_synced = [c for c in trace.of(*FILE_SYNCS) if c.fd_path == pub.src] + trace.of(*WHOLE_FS_SYNCS)
    if not any(last_write < c.start and c.end < pub.call.start for c in file_synced):
        problems.append(f"{pub.src} was not fsynced between its last write and its {pub.call.name} into "
                        f"{os.path.basename(os.path.dirname(pub.dest))}/")
    folder = os.path.dirname(pub.dest)
    dir_synced = [c for c in trace.of(*FILE_SYNCS) if c.fd_path == folder] + trace.of(*WHOLE_FS_SYNCS)
    if not any(pub.call.end < c.start and c.end < ack_line for c in dir_synced):
        problems.append(f"{folder} was not fsynced after the {pub.call.name} of {os.path.basename(pub.dest)} "
                        "and before the message was acknowledged")
    return problems
