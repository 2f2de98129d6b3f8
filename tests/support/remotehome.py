"""Client homes that stand for machines: a home made remote with `agentmail remote set`, driven through the real
`agentmail` script, with its real sync process (docs/scale-out.md, "The client side").

`Machine(home, name)` is one machine's home for account `name`; `connect(imap, smtp, password)` runs `remote
set`; `stop_sync()` ends its sync process by pid (and waits for its lock to go), `kill_sync()` with SIGKILL. Every
machine made through `Machines` is stopped at the end of its test.
"""

from __future__ import annotations

import email
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.cli import Result, run_script
from tests.support.wait import until


def sync_running(home: Path) -> bool:
    from agentmail.remote.alive import running

    return running(str(home))


def message_ids(files: list[Path]) -> list[str]:
    out = []
    for path in files:
        msg = email.message_from_bytes(path.read_bytes())
        out.append(str(msg.get("Message-ID", "")).strip())
    return out


@dataclass
class Machine:
    home: Path
    name: str

    def run(self, *args: str, input: bytes | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 90) -> Result:
        return run_script(self.home, *args, input=input, env=env, cwd=self.home.parent, timeout=timeout)

    def as_me(self, *args: str, **kw: object) -> Result:
        return self.run("--as", self.name, *args, **kw)  # type: ignore[arg-type]

    @property
    def password_file(self) -> Path:
        return self.home.parent / f"{self.home.name}.password"

    def connect(self, imap: str, smtp: str, password: str, *extra: str, user: str | None = None) -> Result:
        self.password_file.write_text(password + "\n")
        os.chmod(self.password_file, 0o600)
        return self.run("remote", "set", "--imap", imap, "--smtp", smtp, "--user", user or self.name,
                        "--password-file", str(self.password_file), *extra)

    def settings(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.home / "remote.json").read_text())
        return data

    def tune(self, **values: float) -> None:
        """Change documented tunables of remote.json (poll, uncertain_grace, idle_timeout); restart syncing."""
        data = self.settings()
        data.update(values)
        (self.home / "remote.json").write_text(json.dumps(data))
        self.stop_sync()

    def box(self, folder: str = "INBOX") -> Path:
        base = self.home / "maildirs" / self.name
        return base if folder == "INBOX" else base / f".{folder}"

    def files(self, folder: str = "INBOX", subs: tuple[str, ...] = ("new", "cur")) -> list[Path]:
        box = self.box(folder)
        return sorted(p for s in subs if (box / s).is_dir() for p in (box / s).iterdir() if not p.name.startswith("."))

    def ids(self, folder: str = "INBOX", subs: tuple[str, ...] = ("new", "cur")) -> list[str]:
        return message_ids(self.files(folder, subs))

    def with_title(self, title: str, folder: str = "INBOX") -> list[Path]:
        return [p for p in self.files(folder) if f"Subject: {title}\n".encode() in p.read_bytes()]

    def sync_pid(self) -> int | None:
        if not sync_running(self.home):
            return None
        try:
            pid = json.loads((self.home / "run" / "sync.json").read_text()).get("pid")
        except (OSError, ValueError):
            return None
        return pid if isinstance(pid, int) else None

    def wait_sync_pid(self) -> int:
        return until(self.sync_pid, f"{self.name}'s sync process running")

    def outbox(self, state: str) -> list[str]:
        where = self.home / "outbox" / state
        return sorted(p.name for p in where.iterdir()) if where.is_dir() else []

    def stop_sync(self, sig: int = signal.SIGTERM) -> None:
        """End the sync process (SIGTERM: it says goodbye to the server; SIGKILL: it just dies) and wait until
        its lock is free."""
        pid = self.sync_pid()
        if pid is None:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        until(lambda: not sync_running(self.home), f"{self.name}'s sync process gone after signal {sig}")

    def kill_sync(self) -> int:
        pid = self.wait_sync_pid()
        self.stop_sync(signal.SIGKILL)
        return pid

    def log(self) -> str:
        path = self.home / "run" / "sync.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Machines:
    root: Path
    made: list[Machine] = field(default_factory=list)

    def __call__(self, name: str, label: str | None = None) -> Machine:
        machine = Machine(self.root / f"{label or name}-home", name)
        self.made.append(machine)
        return machine

    def close(self) -> None:
        for machine in self.made:
            machine.stop_sync()
        reap([m.home for m in self.made])


def sync_processes(homes: list[Path]) -> list[int]:
    """Pids of sync processes (`python -m agentmail.remote.syncd HOME`) for these homes, running or starting."""
    wanted = {str(h) for h in homes}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if b"agentmail.remote.syncd" in argv and any(a.decode(errors="replace") in wanted for a in argv):
            found.append(int(entry))
    return found


def reap(homes: list[Path]) -> None:
    """End every sync process of these homes, also one started a moment ago that holds no lock yet (a `remote set`
    as a test's last step starts one that stop_sync, finding no lock, would miss: it outlived its server and the
    test run). Looks for ten seconds at most."""
    started = time.monotonic()
    # a remote home whose process holds no lock may have one starting: give it a second to show
    linger = 1.0 if any((h / "remote.json").exists() and not sync_running(h) for h in homes) else 0.0
    while time.monotonic() - started < 10:
        pids = sync_processes(homes)
        if not pids and time.monotonic() - started >= linger:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM if time.monotonic() - started < 5 else signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def machines(root: Path) -> Iterator[Machines]:
    made = Machines(root)
    try:
        yield made
    finally:
        made.close()
        # a sync process started by a hook or command after close() would outlive the test: make sure of it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(sync_running(m.home) for m in made.made):
            made.close()
            time.sleep(0.1)
