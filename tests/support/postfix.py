"""Postfix 3 as a test instance of the reference deployment (docs/scale-out.md), per ../shared/INTEROP.md.

`Postfix(deployment, work)` is a private instance: its own config_directory `work/conf` (main.cf: the test instance's
queue, data directory and log, then the deployment's main.cf block as `agentmail admin config` writes it; master.cf:
Postfix's internal services, then the deployment's submission service on `deployment.submission`, a loopback
HOST:PORT), its own queue `work/queue` (Dovecot's auth and LMTP sockets go into its private/ directory), log
`work/postfix.log`. `start()` runs `postfix -c DIR check` (which creates the queue) and then the master daemon in the
foreground (`master -c DIR -d`); `stop()` ends it with SIGTERM. Root only: Postfix runs its daemons as `postfix`.

The order with Dovecot: `prepare()` (the queue directory must exist before Dovecot makes its sockets in it), Dovecot,
then `start()`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from agentmail.agent import deploy
from agentmail.agent.deploy import Deployment
from tests.support.servers import stop_process
from tests.support.tools import missing, need

DAEMONS = Path("/usr/lib/postfix/sbin")

MAIN = """\
# the test instance (tests/support/postfix.py): its own queue, data directory and log, loopback only
compatibility_level = 3.6
queue_directory = {work}/queue
data_directory = {work}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file_prefixes = {work}
maillog_file = {work}/postfix.log
alias_maps =
alias_database =
"""

# Postfix's own services (Debian's master.cf without chroot, with no listener of its own on port 25)
MASTER = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def need_postfix() -> dict[str, str]:
    """The Postfix programs; skip (fail in CI) when Postfix or root is missing."""
    found = need("postfix", "postmap")
    if not (DAEMONS / "master").exists():
        missing(f"Postfix's master daemon is not in {DAEMONS} (Debian: postfix)")
    if os.geteuid() != 0:
        missing("a Postfix test instance needs root (its daemons run as user postfix)")
    return found


class Postfix:
    def __init__(self, deployment: Deployment, work: Path) -> None:
        self.bins = need_postfix()
        self.deployment = deployment
        self.work = work
        self.conf = work / "conf"
        self.queue = work / "queue"
        self.log = work / "postfix.log"
        host, _, port = deployment.submission.rpartition(":")
        self.host, self.port = host, int(port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf.mkdir(parents=True, exist_ok=True)
        (work / "data").mkdir(exist_ok=True)
        (self.conf / "main.cf").write_text(MAIN.format(work=work) + deploy.postfix_main(deployment))
        (self.conf / "master.cf").write_text(MASTER + deploy.postfix_master(deployment))

    def postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.bins["postfix"], "-c", str(self.conf), *args], capture_output=True, text=True,
                              check=False)

    def prepare(self) -> Postfix:
        """`postfix check`: creates the queue directories (Dovecot's sockets go into queue/private)."""
        os.chown(self.work / "data", _uid("postfix"), -1)
        self.queue.mkdir(exist_ok=True)  # `postfix check` fails silently (its log has no daemon yet) without it
        proc = self.postfix("check")
        if proc.returncode != 0:
            raise AssertionError(f"postfix check failed: {proc.stdout}{proc.stderr}{self.log_text()}")
        return self

    def start(self, timeout: float = 20) -> Postfix:
        if not (self.queue / "private").is_dir():
            self.prepare()
        with open(self.work / "master.out", "wb") as out:
            self.proc = subprocess.Popen([str(DAEMONS / "master"), "-c", str(self.conf), "-d"], stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"postfix master exited {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"postfix did not listen on {self.host}:{self.port} in {timeout} s: {self.output()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=15)
            self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def output(self) -> str:
        out = self.work / "master.out"
        return (out.read_text(errors="replace") if out.exists() else "") + "\n" + self.log_text()

    def queue_ids(self) -> list[str]:
        """The ids of messages still in the queue (deferred or active), from `postqueue -j` as JSON lines."""
        import json

        proc = subprocess.run(["postqueue", "-c", str(self.conf), "-j"], capture_output=True, text=True, check=False)
        return [json.loads(line)["queue_id"] for line in proc.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        """Ask the queue manager to retry deferred mail now (`postqueue -f`)."""
        subprocess.run(["postqueue", "-c", str(self.conf), "-f"], capture_output=True, check=False)


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid
