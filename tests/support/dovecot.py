"""Dovecot 2.3 as the reference server on an agentmail store: the configuration of /work/shared/INTEROP.md.

`Dovecot(home)` serves `home/maildirs/%n` (Maildir++) to the users of `home/passwd` on a free loopback port; its
config, run and state directories, log and the users' Dovecot homes live in `work` (a temp dir, removed by `stop()`,
unless one is given). The index is in memory, or on disk under `work/index` with `index_on_disk=True` (the first
SELECT builds it, later ones reuse it).

As root, Dovecot refuses to run mail processes as root: they run as user `vmail` (`unavailable()` creates it when
missing) and `start()` hands the tree to it. Files our side writes later are root's: call `chown()` before letting
Dovecot at them again. The auth process runs as root, so it reads the store's own passwd file. As another user,
every Dovecot process runs as that user.

`ServerDovecot(deployment, work)` is the reference deployment of docs/scale-out.md instead: the configuration
`agentmail.agent.deploy` renders (IMAP with STARTTLS and IMAPS, LMTP with the Sieve script, METADATA, the auth and
LMTP sockets in Postfix's queue directory), with the test instance's own directories appended. It serves a store
owned by `vmail` (the test hands it over with `chown()`), as the deployment does.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from agentmail.agent.deploy import Deployment
from tests.support.servers import free_port, stop_process
from tests.support.tools import missing, which

DOVECOT = which("dovecot") or "/usr/sbin/dovecot"

CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {work}/run
state_dir = {work}/state
instance_name = am{port}
log_path = {work}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
{users}
mail_location = maildir:{home}/maildirs/%n:LAYOUT=maildir++:INDEX={index}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {home}/passwd
}}
userdb {{
  driver = static
  args = home={work}/homes/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

AS_ROOT = "mail_uid = vmail\nmail_gid = vmail\nservice auth {\n  user = root\n}\n"


def has_vmail() -> bool:
    try:
        pwd.getpwnam("vmail")
    except KeyError:
        return False
    return True


def unavailable() -> str | None:
    """Why Dovecot cannot serve a test tree here (None: it can). Needs root; creates user vmail when missing."""
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (Debian: dovecot-imapd; CI installs it)"
    if os.geteuid() != 0:
        return "running Dovecot on a test tree needs root (mail_uid vmail)"
    if not has_vmail():
        subprocess.run(["useradd", "-r", "-M", "vmail"], check=True)
    return None


def need_dovecot() -> None:
    """Skip the calling test when `unavailable()` says why (fail in CI, which installs Dovecot and runs as root)."""
    why = unavailable()
    if why:
        missing(why)


class Dovecot:
    def __init__(self, home: Path, work: Path | None = None, *, index_on_disk: bool = False) -> None:
        self.home = home
        self.own_work = work is None
        self.work = Path(tempfile.mkdtemp(prefix="am-dovecot-")) if work is None else work
        self.port = free_port()
        self.log = self.work / "dovecot.log"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            users = AS_ROOT
            # Dovecot's processes (users dovecot and vmail) must be able to walk down to the store
            for parent in home.parents:
                if parent == Path("/"):
                    break
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            users = f"default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {me}\n"
        for sub in ("run", "state", "homes", *(("index",) if index_on_disk else ())):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        if self.own_work:
            os.chmod(self.work, 0o755)
        self.conf = self.work / "dovecot.conf"
        index = f"{self.work}/index/%n" if index_on_disk else "MEMORY"
        self.conf.write_text(CONF.format(work=self.work, port=self.port, users=users, home=home, index=index))
        self.proc: subprocess.Popen[bytes] | None = None

    def chown(self) -> None:
        """As root, give the store and Dovecot's own directories to user vmail (again after our side wrote)."""
        if self.as_root:
            subprocess.run(["chown", "-R", "vmail:vmail", str(self.home), str(self.work)], check=True)

    def start(self, timeout: float = 15) -> Dovecot:
        """`dovecot -F -c CONF`, once it accepts connections."""
        self.chown()
        with open(self.work / "dovecot.out", "wb") as out:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)], stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                self.stop()
                raise AssertionError(f"dovecot exited {self.proc.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        output = self.output()
        self.stop()
        raise AssertionError(f"dovecot did not listen in {timeout} s: {output}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
        if self.own_work:
            shutil.rmtree(self.work, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def output(self) -> str:
        """What Dovecot printed, then its log."""
        out = self.work / "dovecot.out"
        return (out.read_text(errors="replace") if out.exists() else "") + "\n" + self.log_text()

    def login(self, user: str, password: str | None = None) -> imaplib.IMAP4:
        """An imaplib connection logged in as `user` (with the store's own password for it by default)."""
        if password is None:
            from agentmail import config
            from agentmail.store import passwd

            password = passwd.password_for(config.load(str(self.home)), user)
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error as exc:
            raise AssertionError(f"{exc}\n{self.log_text()}") from exc
        return imap


# What a test instance changes in the deployment's configuration: its own run and state directories and log, so
# it never meets the machine's own Dovecot (settings given again replace the earlier value).
TEST_INSTANCE = """\
# the test instance (tests/support/dovecot.py): its own directories and log
base_dir = {work}/run
state_dir = {work}/state
instance_name = am{port}
log_path = {work}/dovecot.log
# every client here comes from 127.0.0.1: the wrong-password tests must not slow down the tests after them with
# Dovecot's growing per-IP delay (kept in the deployment: it slows down password guessing)
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


class ServerDovecot(Dovecot):
    """Dovecot with the reference deployment's configuration (agentmail.agent.deploy) on the loopback ports of
    `deployment` (imap_port, imaps_port), delivering over LMTP through the sockets in `deployment.postfix_queue`."""

    def __init__(self, deployment: Deployment, work: Path) -> None:
        from agentmail.agent import deploy

        if os.geteuid() != 0:
            missing("the reference deployment runs Dovecot as root with mail user vmail")
        self.deployment = deployment
        self.home = Path(deployment.store)
        self.own_work = False
        self.work = work
        self.port = deployment.imap_port
        self.imaps_port = deployment.imaps_port
        self.log = work / "dovecot.log"
        self.as_root = True
        for sub in ("run", "state"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        open_path(self.home)
        self.conf = work / "dovecot.conf"
        self.conf.write_text(deploy.dovecot_conf(deployment) + TEST_INSTANCE.format(work=work, port=self.port))
        self.proc = None

    def chown(self) -> None:
        subprocess.run(["chown", "-R", "vmail:vmail", str(self.home)], check=True)

    def doveadm(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`doveadm -c CONF ARGS` against this instance."""
        return subprocess.run([which("doveadm") or "/usr/bin/doveadm", "-c", str(self.conf), *args],
                              capture_output=True, text=True, check=False)


def open_path(path: Path) -> None:
    """Let other users (dovecot, vmail, postfix) walk down to `path` (its parents get the x bits)."""
    for parent in path.parents:
        if parent == Path("/"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
