"""The sync process of a remote home: `python -m agentmail.remote.syncd HOME` (started by alive.ensure).

One per home (flock on run/sync.lock, held for its whole life). Threads:
- the IDLE watcher: its own IMAP connection, INBOX selected read-only in IDLE (RFC 2177, renewed every 10 min);
  any news posts an event;
- the control socket (run/sync.sock, mode 0600, peers of other users refused): `sync` (a full pass, answered when
  done: `ok`, or the state and why: `offline ...`, `auth ...`, `tls ...`), `ping`, `stop`;
- the main loop, the only one touching the store and the work connection: passes of the mirror (mirror.py), the
  outbox (submit.py), presence (presence.py). Between events it wakes once a second to stat the local folders
  (a `read` or `clerk file` here is sent to the server within a second) and looks at the other folders every
  `poll` seconds (a STATUS each; nothing else when nothing changed).
It exits `idle_timeout` seconds after the last moment anything needed it: a live session of the account, a
command, or mail waiting in the outbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import signal
import socket
import sys
import threading
import time

from .. import config
from ..errors import AgentmailError
from . import outbox, presence
from .alive import LOCK, SOCKET, STATUS
from .client import short_path
from .connect import AuthRefused, TlsRefused, Unreachable, close_imap, open_imap
from .mirror import Mirror
from .settings import Settings, load
from .submit import Flusher, Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from imapclient import IMAPClient

    from ..config import Config

FULL_EVERY = 600.0  # a full pass (every flag compared) this often, besides the ones commands ask for
IDLE_RENEW = 600.0
TICK = 1.0


def log(text: str) -> None:
    sys.stdout.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {text}\n")
    sys.stdout.flush()


def network_errors() -> tuple[type[BaseException], ...]:
    import imaplib
    import ssl

    from imapclient.exceptions import IMAPClientError

    return (OSError, ssl.SSLError, imaplib.IMAP4.error, imaplib.IMAP4.abort, IMAPClientError, EOFError)


class Daemon:
    def __init__(self, cfg: Config, settings: Settings) -> None:
        self.cfg = cfg
        self.settings = settings
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.mirror = Mirror(cfg, settings, log, lambda: outbox.sent_ids(cfg))
        self.flusher = Flusher(cfg, settings, log, self.bounce, self.drop)
        self.imap: IMAPClient | None = None
        self.connect_after = 0.0
        self.backoff = 1.0
        self.state, self.since = "starting", time.time()
        self.error: str | None = None
        self.last_sync = last_sync(cfg)
        self.full_started = 0.0
        self.last_poll = self.last_full = self.last_check = 0.0
        self.last_need = time.time()
        self.stopping = False
        self.published: tuple[str, float] = ("", 0.0)
        self.presence_box: str | None = None
        self.errors = network_errors()

    # ------------------------------------------------------------------ state for `remote show` and commands
    def set_state(self, state: str, error: str | None = None) -> None:
        if (state, error) != (self.state, self.error):
            self.since = time.time()
            if state != "online" or self.state != "starting":
                log(f"state: {state}" + (f" ({error})" if error else ""))
        self.state, self.error = state, error
        self.write_status()

    def write_status(self) -> None:
        info = {"pid": os.getpid(), "state": self.state, "error": self.error, "since": round(self.since, 3),
                "last_sync": round(self.last_sync, 3) if self.last_sync else None, "imap": self.settings.imap.url}
        write_status(self.cfg, info)

    def answer(self) -> str:
        if self.state == "online":
            return "ok"
        return f"{self.state} {self.error or ''}".strip()

    def failed(self, exc: BaseException) -> None:
        """A network failure: drop the work connection, wait a little longer before the next try."""
        close_imap(self.imap)
        self.imap = None
        if isinstance(exc, AuthRefused):
            self.set_state("auth", exc.message)
            self.connect_after = time.time() + 60
        elif isinstance(exc, TlsRefused):
            self.set_state("tls", exc.message)
            self.connect_after = time.time() + 60
        else:
            text = exc.message if isinstance(exc, AgentmailError) else f"{self.settings.imap.url}: {exc}"
            self.set_state("offline", " ".join(str(text).split()))
            self.connect_after = time.time() + self.backoff
            self.backoff = min(self.backoff * 2, 60.0)

    def drop(self) -> None:
        close_imap(self.imap)
        self.imap = None

    def conn(self, force: bool = False) -> IMAPClient | None:
        if self.imap is not None:
            return self.imap
        if not force and time.time() < self.connect_after:
            return None
        try:
            self.imap = open_imap(self.settings)
        except (Unreachable, AuthRefused, TlsRefused) as exc:
            self.failed(exc)
            return None
        self.backoff = 1.0
        self.set_state("online")
        return self.imap

    # ------------------------------------------------------------------ work
    def sync(self, folders: tuple[str, ...] | None = None, full: bool = False, force: bool = False) -> None:
        if full:
            self.full_started = time.time()  # a command that asked before this moment is answered by this pass
        for attempt in range(2):  # a connection the server dropped while idle: one fresh try
            imap = self.conn(force=force or attempt > 0)
            if imap is None:
                return
            try:
                if folders is None:
                    self.mirror.sync(imap, full=full)
                else:
                    self.mirror.sync(imap, folders, full=full)
                self.last_sync = time.time()
                self.write_status()
                return
            except self.errors as exc:
                if attempt:
                    self.failed(exc)
                    return
                close_imap(self.imap)
                self.imap = None
            except AgentmailError as exc:
                log(f"mirror: {exc}")
                return

    def flush(self, force: bool = False) -> None:
        if not force and not self.flusher.due(time.time()):
            return
        problem = self.flusher.flush(lambda: self.conn(), force=force)
        if problem:
            log(f"outbox: {problem}")

    def bounce(self, entry: outbox.Entry, outcome: Outcome) -> None:
        """A queued message the server refused for good: a notice in the sender's INBOX (it is not on the server)."""
        from .notice import undelivered

        try:
            undelivered(self.cfg, self.settings, entry, outcome)
        except (AgentmailError, OSError) as exc:
            log(f"outbox: the notice for {entry.message_id} could not be written: {exc}")

    def publish(self, now: float) -> None:
        imap = self.imap
        if imap is None or not presence.supported(imap):
            return
        info = presence.record(self.cfg, self.settings)
        text = json.dumps(info, sort_keys=True)
        if text == self.published[0] and now - self.published[1] < presence.EVERY:
            return
        try:
            if self.presence_box is None:
                self.presence_box = presence.directory_mailbox(imap)
            presence.publish(imap, self.settings, info, self.presence_box)
            self.published = (text, now)
        except self.errors as exc:
            log(f"presence: {exc}")
            self.published = (text, now)  # not again before EVERY: the server may not allow it

    def needed(self) -> bool:
        """Does anything but the idle timeout need the process now: a live session of the account, the outbox?"""
        from ..store import presence as local

        if any(outbox.names(self.cfg, s) for s in ("new", "cur")):
            return True
        return local.is_live(local.presence(self.cfg, self.settings.user))

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        self.write_status()  # this pid, at once: `remote show` and the tests read it
        threading.Thread(target=self.idle_loop, name="idle", daemon=True).start()
        threading.Thread(target=self.control_loop, name="control", daemon=True).start()
        self.last_poll = self.last_full = self.last_check = time.time()
        self.events.put(("start", None))
        while not self.stopping:
            try:
                kind, arg = self.events.get(timeout=TICK)
            except queue.Empty:
                kind, arg = "tick", None
            if kind == "stop":
                break
            try:
                if not self.step(kind, arg):
                    break
            except Exception as exc:  # noqa: BLE001 - a bug in one step must not end the mirror: log it, go on
                log(f"error (a bug, please report it): {type(exc).__name__}: {exc}")
                self.drop()
                time.sleep(TICK)
        self.shutdown()
        return 0

    def step(self, kind: str, arg: Any) -> bool:
        """One event of the main loop; False to exit."""
        now = time.time()
        if kind == "start":
            self.sync(full=True, force=True)
            self.flush(force=True)
            return True
        if kind == "kick":
            waiting = [arg]
            while True:  # one pass answers every command that asked meanwhile
                try:
                    more = self.events.get_nowait()
                except queue.Empty:
                    break
                if more[0] == "kick":
                    waiting.append(more[1])
                elif more[0] == "stop":
                    self.stopping = True
            self.last_need = now
            try:
                if any(asked > self.full_started for _, _, asked in waiting):
                    self.sync(full=True, force=True)
                    self.flush(force=True)
                    self.last_full = now
            finally:
                for done, holder, _ in waiting:
                    holder.append(self.answer())
                    done.set()
            return True
        if kind == "news":
            self.sync(("INBOX", "Sent", "Receipts"))
        if self.mirror.local_changed():
            self.sync(())  # only the folders that changed here
        if now - self.last_full > FULL_EVERY:
            self.sync(full=True)
            self.last_full = self.last_poll = now
        elif now - self.last_poll > self.settings.poll or (self.imap is None and now >= self.connect_after):
            self.sync()  # also: back online as soon as the backoff allows, not at the next poll
            self.last_poll = now
        self.flush()
        self.publish(now)
        if now - self.last_check > min(10.0, self.settings.idle_timeout / 2):
            self.last_check = now
            if self.needed():
                self.last_need = now
            elif now - self.last_need > self.settings.idle_timeout:
                log("no session, command or queued mail needs this process any more: exiting")
                return False
        return True

    def shutdown(self) -> None:
        self.stopping = True
        imap = self.imap
        if imap is not None:
            try:
                if presence.supported(imap):
                    info = {**presence.record(self.cfg, self.settings), "state": "offline"}
                    presence.publish(imap, self.settings, info, self.presence_box or presence.directory_mailbox(imap))
            except self.errors:
                pass
        close_imap(imap)
        self.imap = None
        try:
            os.unlink(self.cfg.path(SOCKET))
        except OSError:
            pass
        self.set_state("stopped")

    def idle_loop(self) -> None:
        backoff = 1.0
        while not self.stopping:
            try:
                client = open_imap(self.settings)
            except (Unreachable, AuthRefused, TlsRefused) as exc:
                log(f"idle: {exc.message}")
                time.sleep(backoff if isinstance(exc, Unreachable) else 60)
                backoff = min(backoff * 2, 60.0)
                continue
            backoff = 1.0
            try:
                client.select_folder("INBOX", readonly=True)
                self.events.put(("news", None))  # whatever came while no one was watching
                while not self.stopping:
                    client.idle()
                    started = time.monotonic()
                    quick = 0
                    try:
                        while not self.stopping and time.monotonic() - started < IDLE_RENEW:
                            asked = time.monotonic()
                            if client.idle_check(timeout=30):
                                self.events.put(("news", None))
                                quick = 0
                            elif time.monotonic() - asked < 1.0:
                                # imapclient answers a closed connection with no responses at once, every time
                                # (it reads the EOF as "nothing"): three in a row is a server gone, not a quiet one
                                quick += 1
                                if quick >= 3:
                                    raise ConnectionResetError("the server closed the IDLE connection")
                            else:
                                quick = 0
                    finally:
                        with contextlib.suppress(*self.errors):
                            client.idle_done()
            except self.errors as exc:
                log(f"idle: the connection failed: {exc}")
                time.sleep(backoff)
            finally:
                close_imap(client)

    def control_loop(self) -> None:
        sock = listen(self.cfg.path(SOCKET))
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=self.serve_control, args=(conn,), daemon=True).start()

    def serve_control(self, conn: socket.socket) -> None:
        with conn:
            try:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                uid = int.from_bytes(creds[4:8], sys.byteorder)
                if uid not in (os.getuid(), 0):
                    return
                conn.settimeout(10)
                line = conn.makefile("rb").readline(64).strip()
                if line == b"ping":
                    self.last_need = time.time()
                    conn.sendall(self.answer().encode() + b"\n")
                elif line == b"sync":
                    done, holder = threading.Event(), list[str]()
                    self.events.put(("kick", (done, holder, time.time())))
                    conn.settimeout(None)
                    done.wait(300)
                    conn.sendall((holder[0] if holder else "busy").encode("utf-8", "replace") + b"\n")
                elif line == b"stop":
                    self.events.put(("stop", None))
                    conn.sendall(b"stopping\n")
            except OSError:
                pass


def listen(path: str) -> socket.socket:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    where, fd = short_path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        sock.bind(where)
    finally:
        os.umask(old)
        if fd is not None:
            os.close(fd)
    os.chmod(path, 0o600)
    sock.listen(16)
    return sock


def early_status(cfg: Config) -> None:
    """This pid in run/sync.json as soon as the lock is ours: a `remote show` or a stop right after the start finds
    the process it sees running (the full status follows once the settings are read)."""
    write_status(cfg, {"pid": os.getpid(), "state": "starting", "error": None, "since": round(time.time(), 3),
                       "last_sync": last_sync(cfg), "imap": None})


def last_sync(cfg: Config) -> float | None:
    """When the last run last synced: `remote show` keeps telling it across a restart."""
    try:
        with open(cfg.path(STATUS), encoding="utf-8") as fh:
            last = json.load(fh).get("last_sync")
    except (OSError, ValueError, AttributeError):
        return None
    return float(last) if isinstance(last, (int, float)) else None


def write_status(cfg: Config, info: dict[str, Any]) -> None:
    """run/sync.json, whole or not at all (mode 0600, like the rest of the home's state)."""
    path = cfg.path(STATUS)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # a leftover keeps its old mode through O_CREAT
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600), "w",
                  encoding="utf-8") as fh:
            json.dump(info, fh)
        os.replace(tmp, path)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m agentmail.remote.syncd HOME\n")
        return 64
    cfg = config.load(argv[0])
    os.makedirs(cfg.path("run"), mode=0o700, exist_ok=True)
    fd = os.open(cfg.path(LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another sync process runs for this home
    early_status(cfg)
    try:
        settings = load(cfg)
    except AgentmailError as exc:
        log(f"cannot start: {exc}")
        return exc.exit_code
    if settings is None:
        return 0  # `remote unset` meanwhile
    outbox.create(cfg)
    daemon = Daemon(cfg, settings)
    signal.signal(signal.SIGTERM, lambda *_: daemon.events.put(("stop", None)))
    signal.signal(signal.SIGINT, lambda *_: daemon.events.put(("stop", None)))
    log(f"started for {settings.address} ({settings.imap.url}, {settings.smtp.url})")
    try:
        return daemon.run()
    except Exception as exc:  # noqa: BLE001 - one line in the log, never a traceback; the next hook restarts it
        log(f"stopped by an error (a bug, please report it): {type(exc).__name__}: {exc}")
        return 70


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
