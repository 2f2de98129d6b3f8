"""Dovecot as the reference server on the same store (INTEROP.md): needs root and /usr/sbin/dovecot.

Dovecot refuses to run mail processes as root, so the tree is handed to user `vmail` (created if
missing); our server runs as root and can still read and write it. Files our side writes later are
root's: call `Dovecot.chown()` before letting Dovecot at them again.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def need_dovecot() -> None:
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot is not installed (Debian: dovecot-imapd; CI installs it)")
    if os.geteuid() != 0:
        pytest.skip("running Dovecot on a test tree needs root (mail_uid vmail)")
    try:
        pwd.getpwnam("vmail")
    except KeyError:
        subprocess.run(["useradd", "-r", "-M", "vmail"], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    def __init__(self, home: Path) -> None:
        need_dovecot()
        self.home = home
        work = Path(tempfile.mkdtemp(prefix="am-dovecot-"))
        # Dovecot's processes (users dovecot and vmail) must be able to walk down to the store
        for parent in home.parents:
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
        self.port = free_port()
        for d in ("run", "state", "users"):
            (work / d).mkdir(parents=True, exist_ok=True)
        conf = work / "dovecot.conf"
        conf.write_text(f"""protocols = imap
listen = 127.0.0.1
base_dir = {work}/run
state_dir = {work}/state
instance_name = am{self.port}
log_path = {work}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_uid = vmail
mail_gid = vmail
mail_location = maildir:{home}/maildirs/%n:LAYOUT=maildir++:INDEX=MEMORY
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {work}/passwd
}}
userdb {{
  driver = static
  args = home={work}/users/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        self.work = work
        # the auth process runs as user dovecot: give it a readable copy of the (hashed) passwd file
        shutil.copy(home / "passwd", work / "passwd")
        os.chmod(work / "passwd", 0o644)
        self.chown()
        os.chmod(work, 0o755)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("dovecot did not start: " + (work / "dovecot.log").read_text(errors="replace"))

    def chown(self) -> None:
        subprocess.run(["chown", "-R", "vmail:vmail", str(self.home), str(self.work)], check=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.work, ignore_errors=True)
