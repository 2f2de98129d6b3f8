"""`agentmail admin` (docs/scale-out.md, "Accounts"): adding accounts for other machines, their password files, the
Postfix tables, the reference configuration, and every bad input refused with one line and its exit code, nothing
half-written. Run through the installed script on a temp store; postmap is the real one."""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent import deploy
from agentmail.store import passwd, registry
from tests.support.cli import Result, run_script
from tests.support.dovecot import unavailable
from tests.support.tools import missing, need

URLS = ("--imap", "imaps://mail.example.com", "--smtp", "smtp://mail.example.com:587")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A store outside pytest's 0700 base directory, so another user (the mail user) can reach it too."""
    need("postmap")
    root = Path(tempfile.mkdtemp(prefix="am-admin-"))
    os.chmod(root, 0o755)
    home = root / "store"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"domain": "agents.example.com"}))
    yield home
    shutil.rmtree(root, ignore_errors=True)


def admin(home: Path, *args: str) -> Result:
    return run_script(home, "admin", *args)


def table(home: Path, name: str) -> list[list[str]]:
    text = (home / "server" / "postfix" / name).read_text()
    return [line.replace(",", " ").split() for line in text.splitlines() if line and not line.startswith("#")]


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_add_creates_the_account_its_password_file_and_the_postfix_tables(home: Path) -> None:
    result = admin(home, "add", "bob", *URLS).ok()
    cfg = config.load(str(home))
    pw_file = home / "server" / "credentials" / "bob.password"
    lines = result.out.splitlines()
    assert lines[0] == "added bob (agent): bob@agents.example.com"
    assert lines[1].startswith(f"password file: {pw_file} (mode 0600")
    assert lines[-1].strip() == ("agentmail remote set --imap imaps://mail.example.com --smtp "
                                 f"smtp://mail.example.com:587 --user bob@agents.example.com --password-file {pw_file}")
    password = pw_file.read_text()
    assert password.endswith("\n") and oct(pw_file.stat().st_mode & 0o777) == "0o600"
    assert passwd.verify(cfg, "bob", password.strip())  # the hash Dovecot checks is of this password
    assert password.strip() not in result.out + result.err  # never printed
    info = registry.account(cfg, "bob")
    assert info is not None and info["kind"] == "agent"
    assert ["bob@agents.example.com", "bob/"] in table(home, "virtual_mailbox")
    assert ["human@agents.example.com", "human/"] in table(home, "virtual_mailbox")
    assert ["all@agents.example.com", "bob@agents.example.com"] in table(home, "virtual_alias")
    assert ["postmaster@agents.example.com", "human@agents.example.com"] in table(home, "virtual_alias")
    assert ["bob@agents.example.com", "bob"] in table(home, "sender_login")
    for name in ("virtual_mailbox", "virtual_alias", "sender_login"):
        assert (home / "server" / "postfix" / f"{name}.db").stat().st_size > 0  # indexed by the real postmap


def test_the_all_list_holds_agents_only_and_renamed_accounts_stay_reachable(home: Path) -> None:
    admin(home, "add", "alice", *URLS).ok()
    admin(home, "add", "bob", *URLS).ok()
    admin(home, "add", "ci-runner", "--kind", "service", *URLS).ok()
    admin(home, "add", "erin", "--kind", "human", *URLS).ok()
    run_script(home, "--as", "bob", "rename", "robert").ok()
    admin(home, "maps").ok()
    aliases = {row[0]: row[1:] for row in table(home, "virtual_alias")}
    assert aliases["all@agents.example.com"] == ["alice@agents.example.com", "robert@agents.example.com"]
    assert aliases["bob@agents.example.com"] == ["robert@agents.example.com"]
    logins = {row[0]: row[1] for row in table(home, "sender_login")}
    assert logins["bob@agents.example.com"] == "robert" and logins["robert@agents.example.com"] == "robert"
    assert "bob@agents.example.com" not in {row[0] for row in table(home, "virtual_mailbox")}
    listed = json.loads(admin(home, "list", "--json").ok().out)
    assert {r["name"]: r["kind"] for r in listed} == {"alice": "agent", "ci-runner": "service", "erin": "human",
                                                      "human": "human", "robert": "agent"}


def test_password_writes_the_file_again_and_names_the_account(home: Path, tmp_path: Path) -> None:
    admin(home, "add", "bob", *URLS).ok()
    elsewhere = tmp_path / "handoff" / "bob.pw"
    elsewhere.parent.mkdir()
    result = admin(home, "password", "bob", "--password-file", str(elsewhere), *URLS).ok()
    assert elsewhere.read_text() == (home / "server" / "credentials" / "bob.password").read_text()
    assert oct(elsewhere.stat().st_mode & 0o777) == "0o600"
    assert f"--user bob@agents.example.com --password-file {elsewhere}" in result.out
    admin(home, "password", "nobody", *URLS).fails(67)


@pytest.mark.parametrize(("args", "code", "says"), [
    (("add", "../evil"), 64, "invalid name"),
    (("add", "Bad Name"), 64, "invalid name"),
    (("add", "all"), 64, "reserved"),
    (("add", "journal"), 64, "reserved"),
    (("add", "bob", "--kind", "robot"), 64, "robot"),
    (("add", "bob", "--imap", "http://mail.example.com"), 64, "--imap"),
    (("add", "bob", "--smtp", "smtp://mail.example.com:587 --user x"), 64, "--smtp"),
    (("config", "--hostname", "mail example", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--out", "o"), 64,
     "--hostname"),
    (("config", "--hostname", "mail.example.com", "--tls-cert", "c\n.pem", "--tls-key", "k.pem", "--out", "o"), 64,
     "--tls-cert"),
], ids=["traversal", "space", "all", "journal", "kind", "imap-url", "smtp-url", "hostname", "cert-newline"])
def test_bad_input_is_refused_with_one_line_and_nothing_written(home: Path, args: tuple[str, ...], code: int,
                                                                says: str) -> None:
    result = admin(home, *args)
    result.fails(code)
    assert says in result.err
    assert not (home / "server").exists()
    assert not (home / "maildirs").exists() or sorted(os.listdir(home / "maildirs")) == ["human"]


def test_an_existing_account_is_not_added_twice(home: Path) -> None:
    admin(home, "add", "bob", *URLS).ok()
    before = files_of(home / "maildirs")
    result = admin(home, "add", "bob", *URLS).fails(73)
    assert "admin password bob" in result.err
    assert files_of(home / "maildirs") == before


def test_a_symlink_in_the_password_files_place_is_not_followed(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    link = tmp_path / "bob.password"
    link.symlink_to(target)
    admin(home, "add", "bob", "--password-file", str(link), *URLS).fails(73)
    assert target.read_text() == "keep me\n" and link.is_symlink()
    admin(home, "add", "carol", "--password-file", str(tmp_path / "no" / "such" / "dir" / "f"), *URLS).fails(73)
    assert not (home / "maildirs" / "bob").exists() and not (home / "maildirs" / "carol").exists()  # not added


def test_config_writes_the_reference_configuration_and_add_uses_its_urls(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "conf"
    result = admin(home, "config", "--hostname", "mail.example.com", "--tls-cert", "/etc/ssl/m.pem",
                   "--tls-key", "/etc/ssl/m.key", "--out", str(out)).ok()
    d = deploy.Deployment(str(home), "agents.example.com", "mail.example.com", "/etc/ssl/m.pem", "/etc/ssl/m.key")
    assert {p.name: p.read_text() for p in out.iterdir()} == deploy.files(d)
    assert (home / "server" / "sieve" / "agentmail.sieve").read_text() == deploy.sieve_script(d)
    presence = home / "server" / "public" / ".agentmail-presence"
    assert (presence / "cur").is_dir() and (presence / "dovecot-acl").read_text() == deploy.PRESENCE_ACL
    assert f"wrote {out / 'dovecot.conf'}" in result.out
    added = admin(home, "add", "bob").ok()
    assert "--imap imaps://mail.example.com --smtp smtp://mail.example.com:587" in added.out


def test_root_acting_on_a_store_of_the_mail_user_leaves_every_file_to_that_user(home: Path) -> None:
    why = unavailable()
    if why:
        missing(why)
    subprocess.run(["chown", "-R", "vmail:vmail", str(home)], check=True)
    admin(home, "config", "--hostname", "mail.example.com", "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
          "--out", str(home.parent / "conf")).ok()
    admin(home, "add", "bob", *URLS).ok()
    vmail = pwd.getpwnam("vmail").pw_uid
    foreign = [str(p) for p in [home, *home.rglob("*")] if p.lstat().st_uid != vmail]
    assert foreign == []
    # and the mail user can go on writing where Dovecot writes
    probe = home / "maildirs" / "bob" / "tmp" / "probe"
    subprocess.run(["setpriv", f"--reuid={vmail}", f"--regid={pwd.getpwnam('vmail').pw_gid}", "--clear-groups",
                    "touch", str(probe)], check=True)
    assert probe.exists()


def test_the_printed_remote_set_line_is_one_shell_command(home: Path, tmp_path: Path) -> None:
    odd = tmp_path / "hand over" / "bob's.password"
    odd.parent.mkdir()
    result = admin(home, "add", "bob", "--password-file", str(odd), *URLS).ok()
    words = shlex.split(result.out.splitlines()[-1])
    assert words[:3] == ["agentmail", "remote", "set"] and words[words.index("--password-file") + 1] == str(odd)
