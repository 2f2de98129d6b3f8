"""`agentmail-sendmail`: flags as mutt, cron, scripts and git send-email use them; exit codes; who the sender is."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

import pytest

from agentmail.smtp.sendmail import parse_args, split_message
from tests.smtp.conftest import DOMAIN, lf, marker, message, strip_trace
from tests.support import disk
from tests.support.store import SENDMAIL, Store, env_for, make_store
from tests.support.tools import missing, need


def run(store: Store, args: list[str], data: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SENDMAIL, *args], input=data, env=env_for(store.home, **env), capture_output=True,
                          timeout=30)


def test_parse_flags() -> None:
    opts = parse_args(["-oem", "-oi", "-FCron Daemon", "-B8BITMIME", "-v", "-f", "bob", "-N", "never",
                       "alice", "--", "-weird"])
    assert opts.ignore_dots and opts.full_name == "Cron Daemon" and opts.sender == "bob"
    assert opts.recipients == ["alice", "-weird"] and not opts.from_headers
    opts = parse_args(["-t", "-i", "-rbob@agents.localhost", "-B", "8BITMIME"])
    assert opts.from_headers and opts.sender == "bob@agents.localhost" and opts.recipients == []


def test_split_message_without_headers_is_all_body() -> None:
    assert split_message(b"hello there\n") == (b"", b"hello there\n")
    assert split_message(b"Subject: x\r\nTo: y\r\n\r\nbody\r\n") == (b"Subject: x\r\nTo: y\r\n", b"\r\nbody\r\n")


def test_cron_style(fresh_store: Store) -> None:
    tag = marker()
    data = (f"From: root (Cron Daemon)\nTo: bob\nSubject: Cron <root@host> backup {tag}\n"
            "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n"
            "X-Cron-Env: <SHELL=/bin/sh>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nMessage-ID: <c1@host>\n\n"
            "backup done \u2713\n").encode()
    proc = run(fresh_store, ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "bob"], data)
    assert proc.returncode == 0, proc.stderr
    stored = fresh_store.only("bob", tag)
    assert strip_trace(stored) == data
    # no -f and no agentmail identity: nobody's account sends; the envelope sender is <login>@<host>
    login = f"{getpass.getuser()}@{os.uname().nodename}"
    assert stored.startswith(f"Return-Path: <{login}>\n".encode()) and b"via sendmail" in stored
    assert fresh_store.files("bob", "Sent") == []


def test_scripts_t_i_f_with_bcc(fresh_store: Store) -> None:
    tag = marker()
    data = message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag, extra=f"Bcc: carol@{DOMAIN}\r\n")
    proc = run(fresh_store, ["-t", "-i", "-f", f"bob@{DOMAIN}"], data)
    assert proc.returncode == 0, proc.stderr
    without_bcc = lf(data).replace(f"Bcc: carol@{DOMAIN}\n".encode(), b"")
    for name in ("alice", "carol"):
        stored = fresh_store.only(name, tag)
        assert strip_trace(stored) == without_bcc
        assert stored.startswith(b"Return-Path: <bob@agents.localhost>\n")
    # -f names a local account: it is the sender, and gets a .Sent copy as with `agentmail send`
    assert strip_trace(fresh_store.only("bob", tag, "Sent")) == without_bcc


def test_identity_from_environment_when_no_f(fresh_store: Store) -> None:
    tag = marker()
    proc = run(fresh_store, ["alice"], f"Subject: {tag}\n\nhi\n".encode(), AGENTMAIL_ADDRESS="carol")
    assert proc.returncode == 0, proc.stderr
    stored = fresh_store.only("alice", tag)
    assert stored.startswith(b"Return-Path: <carol@agents.localhost>\n")
    assert b"\nFrom: carol@agents.localhost\n" in stored  # added: the message had none
    assert fresh_store.find("carol", tag, "Sent")


def test_foreign_f_without_identity_is_envelope_only(fresh_store: Store) -> None:
    tag = marker()
    proc = run(fresh_store, ["-f", "ci@build.example", "-F", "CI bot", "alice"], f"Subject: {tag}\n\nhi\n".encode())
    assert proc.returncode == 0, proc.stderr
    stored = fresh_store.only("alice", tag)
    assert stored.startswith(b"Return-Path: <ci@build.example>\n")
    assert b'\nFrom: "CI bot" <ci@build.example>\n' in stored


def test_body_only_input_and_dot_handling(fresh_store: Store) -> None:
    tag = marker()
    proc = run(fresh_store, ["bob"], f"{tag}\nfirst\n.\nnot read\n".encode())  # no -i: "." ends the message
    assert proc.returncode == 0, proc.stderr
    stored = fresh_store.only("bob", tag)
    assert stored.endswith(f"\n\n{tag}\nfirst\n".encode()) and b"not read" not in stored
    proc = run(fresh_store, ["-oi", "bob"], f"Subject: {tag}-i\n\na\n.\nb\n".encode())
    assert proc.returncode == 0
    assert fresh_store.only("bob", f"{tag}-i").endswith(b"\n\na\n.\nb\n")


@pytest.mark.parametrize(("args", "data", "code", "text"), [
    (["nobody"], b"Subject: x\n\nhi\n", 67, "unknown recipient: nobody"),
    (["x@example.com"], b"Subject: x\n\nhi\n", 67, "relay denied"),
    (["-t"], b"Subject: x\nTo: a@example.org\n\nhi\n", 67, "relay denied"),
    (["-bs"], b"", 64, "unsupported option"),
    ([], b"Subject: x\n\nhi\n", 64, "no recipients"),
    (["bob"], b"", 66, "no message"),
    (["-f"], b"", 64, "needs a value"),
    (["-f", "a@b\nX-Injected: 1", "bob"], b"Subject: x\n\nhi\n", 64, "invalid sender"),
])
def test_exit_codes(fresh_store: Store, args: list[str], data: bytes, code: int, text: str) -> None:
    before = fresh_store.journal_count()
    proc = run(fresh_store, args, data)
    assert proc.returncode == code, proc.stderr
    err = proc.stderr.decode()
    assert text in err and err.count("\n") == 1 and err.startswith("agentmail: ")
    assert fresh_store.journal_count() == before


def test_oversized_is_65(fresh_store: Store) -> None:
    (fresh_store.home / "config.json").write_text(json.dumps({"max_message": 1000}))
    proc = run(fresh_store, ["bob"], b"Subject: big\n\n" + b"x" * 2000 + b"\n")
    assert proc.returncode == 65 and b"larger than" in proc.stderr


@pytest.mark.parametrize("leave", [0, 4096], ids=["no-space", "room-for-one-copy"])
def test_full_disk_is_temporary_75(tiny_tmpfs: Path, leave: int) -> None:
    """A real full disk (a tmpfs): 75 so the caller retries (sendmail's EX_TEMPFAIL), one line, nothing stored or
    left in tmp/; once there is space again the same command delivers."""
    store = make_store(tiny_tmpfs / "home")
    store.send("alice", "bob", "before the disk filled")
    filler = disk.fill(tiny_tmpfs, leave)
    before = disk.tree(store.home)
    data = b"Subject: does not fit\n\n" + b"y" * 1400 + b"\n"
    proc = run(store, ["-i", "bob"], data)
    err = proc.stderr.decode()
    assert proc.returncode == 75, err
    assert err.startswith("agentmail: ") and err.count("\n") == 1 and "No space left on device (disk full)" in err
    assert disk.tree(store.home) == before
    disk.no_partial_files(store.home)
    filler.unlink()
    proc = run(store, ["-i", "bob"], data)
    assert proc.returncode == 0, proc.stderr
    assert len(store.find("bob", "does not fit")) == 1
    disk.no_partial_files(store.home)


def test_mutt_batch_through_sendmail(fresh_store: Store, tmp_path: Path) -> None:
    mutt = need("mutt")["mutt"]
    tag = marker()
    copy = tmp_path / "what-mutt-sent.eml"
    wrapper = tmp_path / "sendmail-tee"
    wrapper.write_text(f'#!/bin/sh\ntee "{copy}" | exec "{SENDMAIL}" "$@"\n')
    wrapper.chmod(0o755)
    rc = tmp_path / "muttrc"
    # use_envelope_from: mutt passes -f, so bob is the sender (Return-Path, .Sent copy); see docs/smtp.md
    rc.write_text(f'set sendmail="{wrapper}"\nset from="bob@{DOMAIN}"\nset use_from=yes\nset use_envelope_from=yes\n'
                  'set record=""\nset charset="utf-8"\nset send_charset="utf-8"\nset copy=no\n')
    (tmp_path / "body.txt").write_text(f"hello from mutt {tag}\n\u00e9t\u00e9\n")
    with open(tmp_path / "body.txt", "rb") as body:
        proc = subprocess.run([mutt, "-n", "-F", str(rc), "-s", f"mutt {tag}", f"alice@{DOMAIN}"], stdin=body,
                              env=env_for(fresh_store.home, HOME=str(tmp_path)), capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    stored = fresh_store.only("alice", tag)
    assert strip_trace(stored) == lf(copy.read_bytes())
    assert stored.startswith(b"Return-Path: <bob@agents.localhost>\n")


def test_git_send_email(fresh_store: Store, tmp_path: Path) -> None:
    git = need("git")["git"]
    repo = tmp_path / "repo"
    genv = env_for(fresh_store.home, GIT_AUTHOR_NAME="Bob", GIT_AUTHOR_EMAIL=f"bob@{DOMAIN}",
                   GIT_COMMITTER_NAME="Bob", GIT_COMMITTER_EMAIL=f"bob@{DOMAIN}", HOME=str(tmp_path))
    subprocess.run([git, "init", "-q", str(repo)], check=True, env=genv)
    (repo / "f.txt").write_text("x\n")
    subprocess.run([git, "-C", str(repo), "add", "f.txt"], check=True, env=genv)
    subprocess.run([git, "-C", str(repo), "commit", "-qm", "add f"], check=True, env=genv)
    subprocess.run([git, "-C", str(repo), "format-patch", "-q", "-1", "-o", str(tmp_path / "out")], check=True,
                   env=genv)
    patch = next((tmp_path / "out").iterdir())
    proc = subprocess.run([git, "-C", str(repo), "send-email", f"--smtp-server={SENDMAIL}", "--confirm=never",
                           "--suppress-cc=all", f"--from=bob@{DOMAIN}", f"--to=alice@{DOMAIN}", str(patch)],
                          env=genv, capture_output=True, timeout=60)
    # The availability check is this real send: `git send-email -h` works even when the Perl modules that sending
    # needs are missing (git-email without libmailtools-perl dies with "BUG: The 'Mail::Address' module ...").
    if b"not a git command" in proc.stderr or b"module is not here" in proc.stderr:
        missing("git send-email cannot send here (Debian packages git-email and libmailtools-perl): "
                + proc.stderr.decode(errors="replace").strip().splitlines()[0])
    assert proc.returncode == 0, proc.stderr
    assert fresh_store.find("alice", "add f")
