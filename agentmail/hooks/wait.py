"""`agentmail hook wait`: the waiter that wakes an idle Claude Code or Codex session when mail arrives.

hooks/hooks.json runs it on Stop with `"asyncRewake": true`: Claude Code starts it in the background after every turn,
and when it exits 2 its stderr wakes the model as a new turn (docs/claude-code.md, "Waking an idle agent"). It
waits for wake-worthy mail (agent/wake.py), announces it on stderr in a few safe lines, moves it new/ -> cur/ (so
the wake turn's prompt hook does not announce it again) and exits 2. Otherwise it exits 0, silently, as soon as any
of these holds, because Claude Code never stops a pending waiter itself (FINDINGS, measured with 2.1.197):

- its Claude Code process is gone (/exit, a kill: the waiter is orphaned, never signalled);
- a newer waiter of the same session took over (wake/sessions/<id>/waiter names another pid);
- a turn started (the prompt or post-tool hook touched wake/sessions/<id>/turn): mail during a turn is the
  existing hooks' business, and the turn's own Stop starts a fresh waiter;
- the session ended (SessionEnd touched wake/sessions/<id>/end; also /clear, which keeps the process);
- its lifetime (config.json `wake_lifetime`) is over: below the hook's `timeout`, which Claude Code enforces;
- plain `claude -p` (asyncRewake hooks run in the foreground there and would hold the run), or waking is off.

Waiting costs nothing: one poll() on an inotify descriptor watching the inbox's new/ (and cur/, for what an IMAP
client APPENDs there) and the session's directory, plus a pidfd of the Claude Code process, with no timeout but the
lifetime. Without inotify or pidfd (not Linux) it looks every POLL seconds, and misses APPENDs to cur/. Imports on the
waiting path are the standard library's and the store's; the mailbox code is imported when mail arrives.

Codex (docs/harnesses.md, "Codex") runs the same hooks/hooks.json but ignores "asyncRewake": it runs the waiter in
the foreground and would hold the turn until the waiter ended. So for Codex the waiter detaches at once (the hook
returns 0 with nothing to say) and, when mail wakes it, runs `codex queue --thread <session_id> --message <text>`:
the interactive Codex polls its threads' queues and starts a turn with the text as the user's message. `codex exec`
ends with its task, so there it does not wait at all; nor in Gemini CLI, which has no way in.
"""

from __future__ import annotations

import os
import sys
import time

from .. import config
from ..errors import EX_USAGE, AgentmailError
from ..store import presence, registry
from .events import find_session, harness_chain, payload_of, text_field
from .harness import CLAUDE, CODEX, GEMINI, NAMES, codex_binary, codex_wakeable, detect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..agent.mailbox import Item
    from ..config import Config

WAKE = 2  # the exit status that wakes the model
COALESCE = 0.05  # seconds of quiet after a wake-worthy postcard before waking: a burst makes one wake...
COALESCE_MAX = 0.25  # ...but never later than this after the first one
POLL = 2.0  # seconds between checks where inotify or pidfd is missing
# inotify(7) event bits: a file linked, renamed or written into a watched directory, or the directory itself gone.
IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x4, 0x8, 0x80, 0x100
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
WATCH_MASK = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF


def print_mode(pid: int) -> bool:
    """Is this plain `claude -p`/`--print` (without `--input-format stream-json`)? There Claude Code runs the hook in
    the foreground and waits for it, so the waiter must return at once."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().decode("utf-8", "replace").split("\0")
    except OSError:
        # No /proc (macOS): Claude Code says sdk-cli for both -p forms; waiting would hold a plain -p run.
        return os.environ.get("CLAUDE_CODE_ENTRYPOINT") == "sdk-cli"
    printing = "-p" in argv[1:] or "--print" in argv[1:]
    streaming = "stream-json" in argv or "--input-format=stream-json" in argv
    return printing and not streaming


def running(pid: int, start: str | None) -> bool:
    """Is the process `pid` (started at `start`, from /proc) still there and not a zombie? True without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return False
    except OSError:
        return presence.pid_alive(pid, start)
    fields = raw[raw.rfind(")") + 2:].split()
    return len(fields) > 19 and fields[0] != "Z" and (start is None or fields[19] == start)


class Watch:
    """Block until something in the watched directories changes, the process behind `pidfd` ends, or a timeout.

    `dirs` maps each directory to its inotify mask; `created` collects the names linked into the directories watched
    for IN_CREATE only (the inbox's cur/: a message an IMAP client APPENDs or COPYs there arrives in cur/, not new/).
    """

    def __init__(self, dirs: dict[str, int], pid: int, proc_start: str | None) -> None:
        import select

        self.fd, self.wds = inotify(dirs)
        self.created: dict[int, list[str]] = {wd: [] for wd, mask in self.wds.items() if mask == IN_CREATE}
        self.pidfd: int | None = None
        try:
            self.pidfd = os.pidfd_open(pid)  # readable once the process has ended (Linux 5.3)
        except (AttributeError, OSError):
            self.pidfd = None
        if self.pidfd is not None and proc_start is not None and not presence.pid_alive(pid, proc_start):
            os.close(self.pidfd)  # the pid was reused before we looked: the check in end_reason sees it gone
            self.pidfd = None
        self.poller = select.poll()
        for fd in (self.fd, self.pidfd):
            if fd is not None:
                self.poller.register(fd, select.POLLIN)
        self.parent_gone = False  # the pidfd said so: the process has exited (a zombie counts)

    @property
    def exact(self) -> bool:
        """Both sources are events (no periodic check needed)."""
        return self.fd is not None and self.pidfd is not None

    def wait(self, timeout: float) -> None:
        timeout = timeout if self.exact else min(timeout, POLL)
        for fd, _ in self.poller.poll(max(0, int(timeout * 1000))):
            if fd == self.pidfd:
                self.parent_gone = True
        self.drain()

    def drain(self) -> None:
        """Read every pending event record (inotify(7): wd, mask, cookie, len, then a NUL-padded name)."""
        if self.fd is None:
            return
        import struct

        head = struct.Struct("iIII")
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except OSError:  # BlockingIOError: nothing more
                return
            if not buf:
                return
            pos = 0
            while pos + head.size <= len(buf):
                wd, mask, _, length = head.unpack_from(buf, pos)
                name = buf[pos + head.size:pos + head.size + length].split(b"\0", 1)[0]
                pos += head.size + length
                if wd in self.created and mask & IN_CREATE and name:
                    self.created[wd].append(os.fsdecode(name))

    def take_created(self) -> list[str]:
        taken = [n for names in self.created.values() for n in names]
        for names in self.created.values():
            names.clear()
        return taken

    def close(self) -> None:
        for fd in (self.fd, self.pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


def inotify(dirs: dict[str, int]) -> tuple[int | None, dict[int, int]]:
    """A non-blocking inotify descriptor watching `dirs` (path -> mask) and its watches (wd -> mask); (None, {})
    where there is no inotify.

    Two libc calls through ctypes: what the `inotify_simple` package wraps, without a dependency for two functions.
    """
    if not sys.platform.startswith("linux"):
        return None, {}
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
    except (OSError, AttributeError):
        return None, {}
    if fd < 0:
        return None, {}
    wds = {}
    for path, mask in dirs.items():
        wd = int(libc.inotify_add_watch(fd, os.fsencode(path), mask))
        if wd < 0:
            os.close(fd)
            return None, {}
        wds[wd] = mask
    return fd, wds


class Waiter:
    """One waiter: the session it serves, the account whose inbox it watches, the harness process it lives for, and
    how a wake reaches the model (`deliver`: Claude Code's stderr and exit 2 by default)."""

    def __init__(self, cfg: Config, name: str, session_id: str, harness: int, lifetime: float,
                 deliver: Callable[[str], int] | None = None, harness_name: str = "Claude Code") -> None:
        self.cfg = cfg
        self.deliver = deliver or to_stderr
        self.harness_name = harness_name
        self.name = name
        self.sid = session_id
        self.harness = harness
        info = presence.proc_stat(harness)
        self.harness_start = info[2] if info else None
        self.lifetime = lifetime
        self.box = registry.mailbox(cfg, name)
        self.new_dir = os.path.join(self.box.path, "new")
        self.cur_dir = os.path.join(self.box.path, "cur")
        self.dir = presence.wake_dir(cfg, session_id)
        self.pid = os.getpid()
        me = presence.proc_stat(self.pid)
        self.proc_start = me[2] if me else ""
        self.armed_ns = 0
        self.seen: set[str] = set()

    def claim(self, state: str, why: str | None = None) -> None:
        presence.write_waiter(self.cfg, self.sid, {
            "pid": self.pid, "proc_start": self.proc_start, "account": self.name, "harness": self.harness,
            "state": state, "why": why, "at": round(time.time(), 3),
        })

    def arm(self) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        # The stop marker's mtime is the moment the turn ended, on the clock the turn marker is stamped with: a turn
        # marker at or past it is a new turn (FINDINGS: the last tool call comes well before Stop).
        self.armed_ns = presence.mark(self.cfg, self.sid, "stop", create=True) or time.time_ns()
        self.claim("armed")

    def mine(self) -> bool:
        claim = presence.read_waiter(self.cfg, self.sid)
        return bool(claim) and claim is not None and claim.get("pid") == self.pid \
            and claim.get("proc_start") == self.proc_start

    def end_reason(self, watch: Watch | None = None) -> str | None:
        """Why this waiter must stand down now, or None."""
        if (watch is not None and watch.parent_gone) or not running(self.harness, self.harness_start):
            return f"{self.harness_name} is gone"
        if not self.mine():
            return "superseded"
        turn = presence.marker_ns(self.cfg, self.sid, "turn")
        if turn is not None and turn >= self.armed_ns:
            return "a turn started"
        end = presence.marker_ns(self.cfg, self.sid, "end")
        if end is not None and end >= self.armed_ns:
            return "the session ended"
        if not os.path.isdir(self.new_dir):
            return "the mailbox is gone"
        return None

    def fresh(self) -> list[str]:
        """Names in new/ this waiter has not judged yet (what Maildir readers count as mail: no dot files)."""
        try:
            names = [n for n in os.listdir(self.new_dir) if n[:1] != "." and n not in self.seen]
        except OSError:
            return []
        return names

    def appended(self, watch: Watch) -> list[str]:
        """Unseen messages an IMAP client put straight into cur/ (APPEND, COPY) since the last look."""
        from ..store.maildir import split_name

        return [n for n in watch.take_created() if n[:1] != "." and "S" not in split_name(n)[1]]

    def load(self, names: list[str], cur: list[str] | None = None) -> list[Item]:
        cur = cur or []
        if not names and not cur:
            return []
        from ..agent.mailbox import load_items
        from ..store.msgfile import read_cap

        self.seen.update(names)
        entries = [("new", n) for n in names] + [("cur", n) for n in cur]
        return load_items(self.name, "INBOX", self.box, entries, read_cap(self.cfg.max_message))

    def preview(self, items: list[Item]) -> tuple[bool, bool]:
        """(would any of these wake, is there anything to note: a hold or a --done), judged against the wake
        record as it is now; `take` decides for real, under the record's lock."""
        from ..agent.wake import NOTED, judge, my_addresses
        from ..store import wakestate

        state = wakestate.read(self.cfg, self.name)
        addresses = my_addresses(self.cfg, self.name)
        now = time.time()
        verdicts = [judge(self.cfg, addresses, i.headers, state, now) for i in items]
        return (any(v.wakes for v in verdicts),
                any(v.why in NOTED or v.done for v in verdicts))

    def gather(self, watch: Watch, first: list[Item]) -> list[Item]:
        """After a wake-worthy postcard, wait COALESCE s of quiet (at most COALESCE_MAX s) for the rest of a burst."""
        items = list(first)
        start = time.monotonic()
        while True:
            left = min(COALESCE, start + COALESCE_MAX - time.monotonic())
            if left <= 0:
                return items
            time.sleep(left)  # the inbox, not the watch: a quiet inbox for COALESCE s ends the burst
            watch.drain()
            names, cur = self.fresh(), self.appended(watch)
            if not names and not cur:
                return items
            items += self.load(names, cur)

    def run(self, armed: Callable[[], None] | None = None) -> int:
        self.arm()
        # What a wake needs, loaded now rather than when mail comes: a wake is then only reads, renames and writes.
        from ..agent import mailbox, render, wake  # noqa: F401
        watch = Watch({self.new_dir: WATCH_MASK, self.dir: WATCH_MASK, self.cur_dir: IN_CREATE}, self.harness,
                      self.harness_start)
        if armed is not None:
            armed()
        deadline = time.monotonic() + self.lifetime
        try:
            while True:
                why = self.end_reason(watch)
                if why is not None:
                    return self.finish(why)
                items = self.load(self.fresh(), self.appended(watch))
                if items:
                    wakes, note = self.preview(items)
                    if wakes:
                        code = self.wake(watch, items)
                        if code is not None:
                            return code
                    elif note:
                        from ..agent.wake import take

                        take(self.cfg, self.name, items)  # no wake: the holds and closures are written down
                left = deadline - time.monotonic()
                if left <= 0:
                    return self.finish("lifetime over")
                watch.wait(left)
        finally:
            watch.close()

    def wake(self, watch: Watch, items: list[Item]) -> int | None:
        """Announce what wakes and return 2; None when, after all, nothing did (taken by another reader, held)."""
        from ..agent.render import prefixes
        from ..agent.wake import take, wake_text

        items = self.gather(watch, items)
        why = self.end_reason(watch)  # e.g. a prompt typed meanwhile: its hook announces the mail, no wake
        if why is not None:
            return self.finish(why)
        items.sort(key=lambda i: (not i.urgent, i.delivered_at, i.filename))
        moved = take(self.cfg, self.name, items)
        if not moved:
            return None
        self.claim("woke")
        try:
            return self.deliver(wake_text(self.cfg, moved, prefixes(moved)))
        except AgentmailError as exc:
            # Announced but not delivered: still unread, so `agentmail inbox` lists it; the claim says why.
            self.claim("ended", f"waiter ended: {exc}")
            return 0

    def finish(self, why: str) -> int:
        if why != "superseded" and self.mine():
            try:
                self.claim("ended", f"waiter ended: {why}")
            except AgentmailError:
                pass
        return 0


def to_stderr(text: str) -> int:
    """Claude Code's way: the wake text on stderr, exit 2."""
    sys.stderr.buffer.write(text.encode("utf-8"))
    sys.stderr.flush()
    return WAKE


def codex_queue(binary: str, session_id: str) -> Callable[[str], int]:
    """Codex's way: `codex queue` puts the text on the thread's queue; the Codex that has the thread open starts a
    turn with it as the user's message (its UserPromptSubmit hook sees it as the prompt)."""
    def deliver(text: str) -> int:
        import subprocess

        try:
            proc = subprocess.run([binary, "queue", "--thread", session_id, "--message", text.rstrip("\n")],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise AgentmailError(f"codex queue failed: {exc}") from None
        if proc.returncode != 0:
            last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])
            lines = [line for line in last if line.startswith("Error")] or last
            raise AgentmailError(f"codex queue exited {proc.returncode}: {lines[0][:200]}")
        return 0
    return deliver


def detach(waiter: Waiter) -> int:
    """Run `waiter` in a child process of its own and return 0 once it has armed (or at once if it failed).

    The child is in a session of its own with stdio on /dev/null, so nothing that waits for the hook's pipes or its
    process group waits for it, and it never returns here: it ends with os._exit. The hook returns only after the
    child has armed, so a prompt typed right after the turn already finds it watching.
    """
    import select

    sys.stdout.flush()
    sys.stderr.flush()
    ready_r, ready_w = os.pipe()
    if os.fork():
        os.close(ready_w)
        try:
            select.select([ready_r], [], [], 10.0)
        finally:
            os.close(ready_r)
        return 0
    code = 1
    try:
        os.close(ready_r)
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        waiter.pid = os.getpid()  # the claim names this process: it is the one that watches
        me = presence.proc_stat(waiter.pid)
        waiter.proc_start = me[2] if me else ""

        def armed() -> None:
            os.write(ready_w, b"1")
            os.close(ready_w)

        code = waiter.run(armed)
    except BaseException:  # noqa: BLE001 - the detached waiter has nobody to tell, and must never return
        code = 1
    finally:
        os._exit(code)


def run(data: bytes, home: str | None, as_name: str | None) -> int:
    """The waiter for the Stop hook JSON in `data`; its exit status (2: woken, the wake text is on stderr)."""
    payload: dict[str, Any] = payload_of(data)
    sid = text_field(payload, "session_id") or os.environ.get("CLAUDE_CODE_SESSION_ID")
    if not sid:
        sys.stderr.write("agentmail hook wait: no session_id in the hook JSON on stdin (the Stop hook of Claude Code "
                         "or Codex runs this)\n")
        return EX_USAGE
    harness = harness_chain()[0]
    kind = detect(payload, harness_pid=harness)
    if kind == GEMINI or (kind == CODEX and not codex_wakeable(harness)) or (kind == CLAUDE and print_mode(harness)):
        return 0  # nothing to wake into: Gemini CLI, `codex exec`, plain `claude -p`
    deliver = None
    if kind == CODEX:
        binary = codex_binary(harness)
        if binary is None:
            return 0  # no codex to queue the wake with: the next prompt's hook announces the mail
        deliver = codex_queue(binary, sid)
    cfg = config.load(home)
    session = find_session(cfg, payload, as_name, register=True)
    assert session is not None
    from ..agent.wake import enabled

    waiter = Waiter(cfg, session.name, sid, harness, float(cfg.wake_lifetime), deliver, NAMES[kind])
    off = enabled(cfg)
    if off is not None:
        os.makedirs(waiter.dir, mode=0o700, exist_ok=True)
        presence.mark(cfg, sid, "stop")
        waiter.claim("off", off)
        return 0
    if kind != CODEX:
        return waiter.run()
    return detach(waiter)
