"""Two (or more) machines on one: a mail server and client homes that reach it only over loopback sockets.

A server is one of:
- `MailServer`: the reference deployment of docs/scale-out.md (Postfix submission with STARTTLS and SASL through
  Dovecot, LMTP into Dovecot with the Sieve script, Dovecot IMAP with STARTTLS/IMAPS, IDLE and METADATA) on a
  server store owned by `vmail`, configured by `agentmail.agent.deploy` exactly as `agentmail admin config` does;
- `ServeServer`: `agentmail serve` on a server store with a test certificate (SMTP STARTTLS; its IMAP is plain,
  loopback only).
Both provision accounts with the real `agentmail admin add` (`add(name)`, the password file in `pwfiles`), and
give `imap_url`, `smtp_url` (what an agent's machine is configured with: host `localhost`, which the test
certificate names; 127.0.0.1 is the "certificate does not match" case), `ca_file` (the test CA) and `server_store`
(a `Store` to look into). `stop()` and `start()` again keep the ports (a server down and back).

A `Machine` (tests/support/remotehome.py, whose helpers it keeps) is a client home standing for another computer;
`join(server)` copies the admin's password file into it (0600) and runs `agentmail remote set` with the server's
URLs, the account's full address and `--ca-file`. `machines(root, server)` makes them for a test and stops their
sync processes at the end; `Machines.new(stem)` provisions a fresh account and joins a machine to it.

    server = start_server("dovecot")            # or "serve"; server.cleanup() at the end
    made = Machines(tmp_path, server)
    alice, bob = made.new("alice"), made.new("bob")
    alice.as_me("send", bob.name, "hello").ok()

One rig per test module (a module-scoped fixture, parametrized over the kinds) keeps the suite's time modest.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmail import config
from agentmail.agent import provision
from agentmail.agent.deploy import Deployment
from agentmail.store import passwd, registry
from tests.support import remotehome
from tests.support.cli import Result
from tests.support.dovecot import ServerDovecot, open_path, unavailable
from tests.support.postfix import Postfix, need_postfix
from tests.support.servers import Serve, free_port, stop_process
from tests.support.store import AGENTMAIL, Store, env_for
from tests.support.tls import CertFiles, TestCA
from tests.support.tools import missing
from tests.support.wait import until

DOMAIN = "agents.test"
HOSTNAME = "localhost"  # the name clients connect to; the test certificate names it and 127.0.0.1
MAIL_USER = "vmail"


def make_home(home: Path, domain: str = DOMAIN) -> config.Config:
    """A store at `home` for `domain` (config.json), created with its skeleton."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.json").write_text(json.dumps({"domain": domain}) + "\n")
    cfg = config.load(str(home))
    registry.ensure_store(cfg)
    return cfg


def run(args: list[str], env: dict[str, str], *, stdin: str | None = None, timeout: float = 60,
        user: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
                          user=user, group=user)


class Server:
    kind = ""
    imap_url = ""
    smtp_url = ""
    smtp_port = 0
    imap_port = 0

    def __init__(self, root: Path | None = None) -> None:
        # Not under pytest's base temp dir: pytest makes that 0700 again whenever another session starts, and the
        # server's users (vmail, dovecot, postfix) must be able to walk down to the store.
        self.own_root = root is None
        self.root = root = Path(tempfile.mkdtemp(prefix=f"am-{self.kind}-")) if root is None else root
        root.mkdir(parents=True, exist_ok=True)
        self.ca = TestCA(root / "tls")
        self.cert = self.ca.issue(HOSTNAME)  # not 127.0.0.1: a URL with the address is the "does not match" case
        self.home = root / "store"
        self.cfg = make_home(self.home)
        self.server_store = Store(self.home)
        self.owner: str | None = None  # the user the server store belongs to (None: this user)
        self.pwfiles: dict[str, Path] = {}  # the password file `admin add` wrote for each account
        self._owner_runs: bool | None = None

    @property
    def ca_file(self) -> Path:
        return self.ca.cert

    @property
    def domain(self) -> str:
        return DOMAIN

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`agentmail --home STORE admin ARGS` on the server machine, as the operator (root) runs it."""
        return run([AGENTMAIL, "--home", str(self.home), "admin", *args], env_for(self.home))

    def add(self, name: str, kind: str = "agent") -> Path:
        """`agentmail admin add NAME` with this server's URLs; the password file it wrote."""
        proc = self.admin("add", name, "--kind", kind, "--imap", self.imap_url, "--smtp", self.smtp_url)
        if proc.returncode != 0:
            raise AssertionError(f"admin add {name} exited {proc.returncode}: {proc.stderr}")
        for line in proc.stdout.splitlines():
            if line.startswith("password file: "):
                self.pwfiles[name] = Path(line.split(": ", 1)[1].split(" (", 1)[0])
                return self.pwfiles[name]
        raise AssertionError(f"admin add printed no password file: {proc.stdout}")

    def local_user(self) -> str | None:
        """The user local programs on the server run as: the store's owner when it can run this checkout's Python
        (not when the interpreter lives under a private home such as /root/.pyenv), else this user, after whom
        `settle()` gives the files back."""
        if self.owner is None:
            return None
        if self._owner_runs is None:
            try:
                probe = run([AGENTMAIL, "--help"], env_for(self.home), user=self.owner, timeout=60)
                self._owner_runs = probe.returncode == 0
            except OSError:
                self._owner_runs = False
        return self.owner if self._owner_runs else None

    def settle(self) -> None:
        """Give the store back to its owner after this user wrote into it."""
        if self.owner is not None and self.local_user() is None:
            subprocess.run(["chown", "-R", f"{self.owner}:{self.owner}", str(self.home)], check=True)

    def local(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """`agentmail ARGS` on the server machine itself, on the server store (a local agent), as `local_user()`."""
        proc = run([AGENTMAIL, *args], env_for(self.home), stdin=stdin, user=self.local_user())
        self.settle()
        return proc

    def password(self, name: str) -> str:
        return passwd.password_for(self.cfg, name)

    def start(self) -> Server:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Stop the server and remove its temp directory (when it made one)."""
        self.stop()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class MailServer(Server):
    """Dovecot + Postfix, the reference deployment, on free loopback ports."""

    kind = "dovecot"

    def __init__(self, root: Path | None = None) -> None:
        why = unavailable()
        if why:
            missing(why)
        need_postfix()
        super().__init__(root)
        open_path(self.root)
        root = self.root
        self.owner = MAIL_USER
        self.deployment = Deployment(
            str(self.home), DOMAIN, HOSTNAME, str(self.cert.cert), str(self.cert.key), vmail=MAIL_USER,
            listen="127.0.0.1", imap_port=free_port(), imaps_port=free_port(),
            submission=f"127.0.0.1:{free_port()}", postfix_queue=str(root / "postfix" / "queue"),
            max_message=self.cfg.max_message)
        self.imap_url = f"imap://{HOSTNAME}:{self.deployment.imap_port}"
        self.imaps_url = f"imaps://{HOSTNAME}:{self.deployment.imaps_port}"
        self.smtp_url = f"smtp://{HOSTNAME}:{self.deployment.submission.rpartition(':')[2]}"
        self.smtp_port, self.imap_port = int(self.smtp_url.rpartition(":")[2]), self.deployment.imap_port
        self.postfix = Postfix(self.deployment, root / "postfix")
        self.dovecot = ServerDovecot(self.deployment, root / "dovecot")
        # what `agentmail admin config` writes into the store: the Sieve script, server.json, the Postfix tables
        provision.write_config(self.cfg, self.deployment, str(root / "config"), self.imap_url, self.smtp_url)
        self.dovecot.chown()  # the store belongs to the mail user, as on a real server

    def start(self) -> MailServer:
        self.postfix.prepare()
        self.dovecot.start()
        try:
            self.postfix.start()
        except BaseException:
            self.dovecot.stop()
            raise
        return self

    def stop(self) -> None:
        self.postfix.stop()
        self.dovecot.stop()

    def add(self, name: str, kind: str = "agent") -> Path:
        """`admin add`, then wait until Dovecot takes the new password: it looks at its passwd file at most once a
        second, so an account used within the second of a login before it may not be there yet."""
        path = super().add(name, kind)
        self.known(name, path.read_text().strip())
        return path

    def known(self, name: str, password: str) -> None:
        """Wait until Dovecot takes `name`'s password (and so knows the user for LMTP delivery too)."""

        def works() -> bool:
            import imaplib

            try:
                imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10).login(name, password)
            except imaplib.IMAP4.error:
                return False
            return True

        until(works, f"Dovecot to accept {name}'s new password", interval=0.2)


    def logs(self) -> str:
        return f"--- postfix\n{self.postfix.log_text()}\n--- dovecot\n{self.dovecot.output()}"


class ServeServer(Server):
    """`agentmail serve` on the server store, with the test certificate for STARTTLS."""

    kind = "serve"

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(root)
        self.serve: Serve | None = None
        self.smtp_port, self.imap_port = free_port(), free_port()  # kept across a stop and a start
        self.imap_url = f"imap://{HOSTNAME}:{self.imap_port}"
        self.smtp_url = f"smtp://{HOSTNAME}:{self.smtp_port}"

    def start(self) -> ServeServer:
        self.serve = Serve.start(self.server_store, "--smtp-port", str(self.smtp_port), "--imap-port",
                                 str(self.imap_port), "--tls-cert", str(self.cert.cert), "--tls-key",
                                 str(self.cert.key))
        return self

    def stop(self) -> None:
        if self.serve is not None:
            self.serve.stop()
            self.serve = None

    def logs(self) -> str:
        return self.serve.log() if self.serve else ""


def start_server(kind: str, root: Path | None = None) -> Server:
    """A started server of `kind` ("dovecot": Dovecot + Postfix, "serve": agentmail serve); `cleanup()` it."""
    server: Server = MailServer(root) if kind == "dovecot" else ServeServer(root)
    try:
        return server.start()
    except BaseException:
        server.cleanup()
        raise


@dataclass
class Machine(remotehome.Machine):
    """A client home standing for another computer (tests/support/remotehome.py), joined to one of these servers
    the way an operator hands an account over: the password file `admin add` wrote, copied here (0600), and
    `agentmail remote set` with the server's URLs, the full address and the test CA."""

    server: Server | None = None

    def join(self, server: Server, *extra: str, imap: str | None = None, smtp: str | None = None,
             password_file: Path | None = None) -> Result:
        self.server = server
        shutil.copyfile(password_file or server.pwfiles[self.name], self.password_file)
        os.chmod(self.password_file, 0o600)
        return self.run("remote", "set", "--imap", imap or server.imap_url, "--smtp", smtp or server.smtp_url,
                        "--user", f"{self.name}@{server.domain}", "--password-file", str(self.password_file),
                        "--ca-file", str(server.ca_file), *extra)

    def joined(self, server: Server, *extra: str) -> Machine:
        """`join`, insisting it works."""
        self.join(server, *extra).ok()
        return self


class Machines(remotehome.Machines):
    """Client homes under `root`; `new(name)` provisions a fresh account `name-XXXX` on the server first."""

    def __init__(self, root: Path, server: Server) -> None:
        super().__init__(root)
        self.server = server

    def __call__(self, name: str, label: str | None = None) -> Machine:
        machine = Machine(self.root / f"{label or name}-home", name)
        self.made.append(machine)
        return machine

    def new(self, stem: str) -> Machine:
        """A new account on the server (`admin add`) and a machine joined to it."""
        name = f"{stem}-{uuid.uuid4().hex[:6]}"
        self.server.add(name)
        return self(name).joined(self.server)


def machines(root: Path, server: Server) -> Iterator[Machines]:
    """Machines for one test; every sync process they started is stopped at the end."""
    made = Machines(root, server)
    try:
        yield made
    finally:
        made.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(remotehome.sync_running(m.home) for m in made.made):
            made.close()
            time.sleep(0.1)


def owner_of(path: Path) -> str:
    return pwd.getpwuid(os.stat(path).st_uid).pw_name


def wait_port_closed(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still open after {timeout} s")


def unique(prefix: str = "pc") -> str:
    """A marker to find one postcard by (in its title or body)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def stop_quietly(proc: subprocess.Popen[Any]) -> None:
    stop_process(proc, timeout=10)


__all__ = ["DOMAIN", "CertFiles", "Machine", "Machines", "MailServer", "Server", "ServeServer", "machines",
           "make_home", "owner_of", "start_server", "unique", "wait_port_closed"]
