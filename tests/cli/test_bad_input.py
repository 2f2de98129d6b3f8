"""Bad input: each named case gets its sysexits code, one line on stderr, and leaves the store exactly as it was.

The store is snapshotted (every path and a hash of its content, cache/ and presence last_seen excluded) before
and after each command. Unwritable store and full disk are separate tests below (they need root or a non-root
user to be meaningful).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent.compose import send
from agentmail.format.postcard import Draft, Limits, build
from tests.support import disk
from tests.support.cli import Result, run_script, snapshot
from tests.support.messages import assert_complete, files
from tests.support.store import create_accounts
from tests.support.tools import missing, need

DATE = 1_795_510_800.0
A65 = "a" * 65


def ambiguous_titles(cfg: config.Config) -> tuple[str, str, str]:
    """Two titles whose postcards (alice -> bob at DATE) have keys sharing the first 4 hex digits."""
    seen: dict[str, str] = {}
    for i in range(5000):
        title = f"collide {i}"
        built = build(Draft(sender=cfg.address("alice"), to=[cfg.address("bob")], title=title, body="x", date=DATE),
                      Limits.from_config(cfg), cfg.domain)
        prefix = built.key[:4]
        if prefix in seen:
            return seen[prefix], title, prefix
        seen[prefix] = title
    raise AssertionError("no 4-hex collision in 5000 keys")


@pytest.fixture
def store(home: Path) -> dict[str, str]:
    """alice and bob, some mail in bob's inbox (two postcards whose ids share a 4-hex prefix), one read."""
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob")
    t1, t2, prefix = ambiguous_titles(cfg)
    send(cfg, "alice", ["bob"], t1, "x", date=DATE)
    send(cfg, "alice", ["bob"], t2, "x", date=DATE)
    answer = send(cfg, "bob", ["alice"], "an answer", "y")
    big = home.parent / "big.bin"
    big.write_bytes(b"\0" * (cfg.max_attachments + 1))
    missing = home.parent / "no-such-file.txt"
    fifo = home.parent / "a-fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    return {"ambiguous": prefix, "answer": answer.key[:8], "big": str(big), "missing": str(missing),
            "fifo": str(fifo), "dir": str(home.parent)}


# (name, argv, stdin, exit code, text the error must contain)
CASES: list[tuple[str, list[str], bytes | None, int, str]] = [
    ("register-dotdot-etc", ["register", "../etc"], None, 64, "invalid name"),
    ("register-slash", ["register", "a/b"], None, 64, "invalid name"),
    ("register-dot-hidden", ["register", ".hidden"], None, 64, "invalid name"),
    ("register-dot-inside", ["register", "a.b"], None, 64, "invalid name"),
    ("register-leading-dash", ["register", "--", "-lead"], None, 64, "starts with '-'"),
    ("register-65-chars", ["register", A65], None, 64, "65 characters"),
    ("register-empty", ["register", ""], None, 64, "empty"),
    ("register-non-ascii", ["register", "ünï"], None, 64, "non-ASCII"),
    ("register-space", ["register", "a b"], None, 64, "space"),
    ("register-foreign-address", ["register", "a@evil.com"], None, 64, "invalid name"),
    ("register-reserved-all", ["register", "all"], None, 64, "reserved"),
    ("register-human", ["register", "human"], None, 64, "human"),
    ("as-path-traversal", ["--as", "../etc", "send", "bob", "t", "b"], None, 64, "invalid name"),
    ("as-slash-absolute", ["--as", "/etc/passwd", "inbox"], None, 64, "invalid name"),
    ("as-empty", ["--as", "", "whoami"], None, 64, "invalid name"),
    ("as-foreign-domain", ["--as", "alice@evil.com", "inbox"], None, 64, "not an agentmail address"),
    ("as-unknown", ["--as", "mallory", "inbox"], None, 67, "no such account: mallory"),
    ("to-path-traversal", ["--as", "alice", "send", "../../etc/passwd", "t", "b"], None, 64, "invalid name"),
    ("to-traversal-inside", ["--as", "alice", "send", "bob/../alice", "t", "b"], None, 64, "invalid name"),
    ("to-dot-name", ["--as", "alice", "send", "..", "t", "b"], None, 64, "invalid name"),
    ("to-foreign-domain", ["--as", "alice", "send", "a@evil.com", "t", "b"], None, 64, "not an agentmail"),
    ("to-empty", ["--as", "alice", "send", "", "t", "b"], None, 64, "no recipient"),
    ("cc-foreign-domain", ["--as", "alice", "send", "bob", "t", "b", "--cc", "x@evil.com"], None, 64, "evil.com"),
    ("title-crlf-injection", ["--as", "alice", "send", "bob", "hi\r\nBcc: x@y", "b"], None, 65, "U+000D"),
    ("title-lf-injection", ["--as", "alice", "send", "bob", "hi\nBcc: x@y", "b"], None, 65, "U+000A"),
    ("title-141-chars", ["--as", "alice", "send", "bob", "t" * 141, "b"], None, 65, "141 characters"),
    ("title-empty", ["--as", "alice", "send", "bob", "", "b"], None, 65, "title is empty"),
    ("broadcast-title-crlf", ["--as", "alice", "broadcast", "x\r\nBcc: y@z", "b"], None, 65, "U+000D"),
    ("body-1401-chars", ["--as", "alice", "send", "bob", "t", "b" * 1401], None, 65, "1401 characters"),
    ("body-1401-stdin", ["--as", "alice", "send", "bob", "t", "-"], b"b" * 1401, 65, "1401 characters"),
    ("body-invalid-utf8-stdin", ["--as", "alice", "send", "bob", "t", "-"], b"ok \xff\xfe bad", 65, "UTF-8"),
    ("reply-invalid-utf8-stdin", ["--as", "alice", "reply", "{answer}", "-"], b"\xc3(", 65, "UTF-8"),
    ("unknown-recipient", ["--as", "alice", "send", "bobb", "t", "b"], None, 67, "did you mean bob"),
    ("one-unknown-of-two", ["--as", "alice", "send", "bob,zed", "t", "b"], None, 67, "unknown recipient: zed"),
    ("unknown-message-id", ["--as", "bob", "read", "deadbeef"], None, 66, "no message with id deadbeef"),
    ("unknown-id-reply", ["--as", "bob", "reply", "deadbeef", "x"], None, 66, "no message"),
    ("unknown-id-clerk-file", ["--as", "bob", "clerk", "file", "deadbeef"], None, 66, "no message"),
    ("ambiguous-message-id", ["--as", "bob", "read", "{ambiguous}"], None, 64, "ambiguous"),
    ("invalid-message-id", ["--as", "bob", "read", "xyz!"], None, 64, "invalid message id"),
    ("short-message-id", ["--as", "bob", "read", "ab"], None, 64, "invalid message id"),
    ("missing-attachment", ["--as", "alice", "send", "bob", "t", "b", "--attach", "{missing}"], None, 66,
     "cannot read attachment"),
    ("oversized-attachment", ["--as", "alice", "send", "bob", "t", "b", "--attach", "{big}"], None, 65, "limit"),
    # read up to the limit only: /dev/zero would fill memory, a FIFO would block send forever
    ("endless-attachment", ["--as", "alice", "send", "bob", "t", "b", "--attach", "/dev/zero"], None, 65,
     "cannot attach /dev/zero: not a regular file"),
    ("fifo-attachment", ["--as", "alice", "send", "bob", "t", "b", "--attach", "{fifo}"], None, 65,
     "not a regular file"),
    ("directory-attachment", ["--as", "alice", "send", "bob", "t", "b", "--attach", "{dir}"], None, 65,
     "not a regular file"),
    ("no-identity-send", ["send", "bob", "t", "b"], None, 78, "agentmail register"),
    ("no-identity-inbox", ["inbox"], None, 78, "agentmail register"),
    ("since-typo", ["--as", "alice", "log", "--since", "1hr"], None, 64, "invalid --since"),
    ("since-unit-typo", ["--as", "alice", "log", "--since", "5y"], None, 64, "invalid --since"),
    ("folder-traversal", ["--as", "bob", "inbox", "--folder", "../alice"], None, 64, "invalid folder"),
    ("folder-unknown", ["--as", "bob", "inbox", "--folder", "Nope"], None, 66, "no folder"),
    ("folder-unknown-all", ["--as", "bob", "inbox", "--all", "--folder", "Nope"], None, 66, "no folder"),
    ("rename-to-existing", ["--as", "alice", "rename", "bob"], None, 73, "already exists"),
    ("rename-to-reserved", ["--as", "alice", "rename", "postmaster"], None, 64, "reserved"),
    ("rename-human", ["--as", "human", "rename", "boss"], None, 64, "cannot be renamed"),
    ("login-info-unknown", ["login-info", "mallory"], None, 67, "mallory"),
    ("login-info-traversal", ["login-info", "../passwd"], None, 64, "invalid name"),
    ("limit-zero", ["--as", "bob", "inbox", "--all", "--limit", "0"], None, 64, "limit"),
    ("unknown-option", ["--as", "alice", "send", "bob", "t", "b", "--bcc", "x"], None, 64, "--bcc"),
]


@pytest.mark.parametrize(("argv", "stdin", "code", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_leaves_store_unchanged(am, home: Path, store: dict[str, str], argv: list[str],
                                          stdin: bytes | None, code: int, needle: str) -> None:
    args = [a.format(**store) for a in argv]
    before = snapshot(home)
    res = am(*args, input=stdin).fails(code)
    assert needle.format(**store) in res.err, res.err
    assert res.out == ""
    assert snapshot(home) == before


def test_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
    assert len({c[0] for c in CASES}) == len(CASES)


def test_config_error_is_78(am, home: Path, store: dict[str, str]) -> None:
    (home / "config.json").write_text('{"max_body": "lots"}')
    before = snapshot(home)
    am("--as", "alice", "send", "bob", "t", "b").fails(78)
    assert snapshot(home) == before


# ---------------------------------------------------------------- unwritable store
@pytest.fixture
def unwritable(tmp_path: Path):
    """(home, command prefix, as_root). As root the store is chowned to `nobody` and the CLI runs as nobody
    (setpriv), because root ignores permission bits; as another user the store is simply chmodded."""
    if os.geteuid() != 0:
        yield tmp_path / "store", [], False
        return
    setpriv = need("setpriv")["setpriv"]  # util-linux: root ignores permission bits, so drop to `nobody`
    import pwd
    import tempfile

    user = pwd.getpwnam("nobody")
    top = Path(tempfile.mkdtemp(prefix="agentmail-nobody-"))  # pytest's tmp_path is 0700 root: nobody cannot enter
    top.chmod(0o755)
    try:
        yield top / "store", [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"], True
    finally:
        subprocess.run(["chmod", "-R", "u+rwX", str(top)], check=False)
        shutil.rmtree(top)


def send_into_read_only_maildir(unwritable) -> tuple[Path, Result, bool]:
    """alice sends to bob, whose Maildir root (where the uidlist lock lives) is read-only, then bob sends to alice:
    (home, the first result, whether the store was unchanged by it); the permissions are restored afterwards."""
    home, prefix, as_root = unwritable
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob")
    send(cfg, "alice", ["bob"], "already here", "x")
    if as_root:
        subprocess.run(["chown", "-R", "nobody:", str(home)], check=True)
    box = home / "maildirs" / "bob"
    os.chmod(box, 0o500)
    try:
        before = snapshot(home)
        res = run_script(home, "--as", "alice", "send", "bob", "into a read-only maildir", "x", prefix=prefix)
        unchanged = snapshot(home) == before
        # sending elsewhere still works: one unwritable mailbox does not block the store
        run_script(home, "--as", "bob", "send", "alice", "fine", "y", prefix=prefix).ok()
    finally:
        os.chmod(box, 0o700)
    return home, res, unchanged


def test_unwritable_maildir(unwritable) -> None:
    home, res, unchanged = send_into_read_only_maildir(unwritable)
    res.fails(73)  # cannot create (the lock), and nothing was delivered
    assert "bob" in res.err and "Permission denied" in res.err
    assert unchanged
    assert len(files(home / "maildirs" / "bob")) == 1


def test_unwritable_tmp_of_one_recipient_delivers_to_nobody(unwritable) -> None:
    """Two recipients, the second one's tmp/ is read-only: nobody gets the message (staging comes first)."""
    home, prefix, as_root = unwritable
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob", "carol")
    if as_root:
        subprocess.run(["chown", "-R", "nobody:", str(home)], check=True)
    tmp = home / "maildirs" / "carol" / "tmp"
    os.chmod(tmp, 0o500)
    try:
        before = snapshot(home)
        res = run_script(home, "--as", "alice", "send", "bob,carol", "half?", "x", prefix=prefix).fails(73)
        assert "nothing was delivered" in res.err
        assert snapshot(home) == before
    finally:
        os.chmod(tmp, 0o700)


def test_late_failure_names_who_got_it_and_keeps_the_journal_copy(unwritable) -> None:
    """bob's copy is published, then carol's Maildir root (where the uidlist lock lives) refuses: the error says
    bob got it and carol did not, bob's copy is whole, and the journal holds the message that was accepted."""
    home, prefix, as_root = unwritable
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob", "carol")
    if as_root:
        subprocess.run(["chown", "-R", "nobody:", str(home)], check=True)
    carol = home / "maildirs" / "carol"
    os.chmod(carol, 0o500)  # tmp/ stays writable (staging works); the lock in the root cannot be created
    try:
        res = run_script(home, "--as", "alice", "send", "bob,carol", "half way", "x", prefix=prefix)
        res.fails(74)
        assert "delivered to bob" in res.err and "NOT delivered to carol" in res.err
    finally:
        os.chmod(carol, 0o700)
    (got,) = files(home / "maildirs" / "bob", "new")
    assert_complete(got)
    assert files(carol, "new", "cur", "tmp") == []
    journal = files(home / "journal", "new")
    assert len(journal) == 1 and b"half way" in journal[0].read_bytes()


def test_read_only_mount(tmp_path: Path) -> None:
    """A store on a read-only bind mount (EROFS; root only): 73 and nothing changes."""
    if os.geteuid() != 0:
        missing("bind mounts need root (test_unwritable_maildir covers a non-root chmod)")
    home = tmp_path / "store"
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob")
    box = home / "maildirs" / "bob"
    subprocess.run(["mount", "--bind", str(box), str(box)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(box)], check=True)
        before = snapshot(home)
        res = run_script(home, "--as", "alice", "send", "bob", "t", "b").fails(73)
        assert "Read-only file system" in res.err
        assert snapshot(home) == before
    finally:
        subprocess.run(["umount", str(box)], check=True)


# ---------------------------------------------------------------- full disk
@pytest.mark.parametrize("leave", [0, 4096], ids=["no-space", "room-for-one-copy"])
def test_full_disk(tiny_tmpfs: Path, leave: int) -> None:
    home = tiny_tmpfs / "store"
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob")
    send(cfg, "alice", ["bob"], "before the disk filled", "x")
    filler = disk.fill(tiny_tmpfs, leave)
    before = snapshot(home)
    body = "y" * 1400
    res = run_script(home, "--as", "alice", "send", "bob", "does not fit", body).fails(74)
    assert "No space left on device (disk full)" in res.err
    assert snapshot(home) == before
    disk.no_partial_files(home)
    # space comes back: sending works again
    filler.unlink()
    run_script(home, "--as", "alice", "send", "bob", "after", body).ok()
    assert len(files(home / "maildirs" / "bob")) == 2
    disk.no_partial_files(home)


@pytest.mark.parametrize("argv", [["--as", "alice", "send", "bob", "t", "b"], ["--as", "bob", "inbox"],
                                  ["--as", "bob", "inbox", "--all"], ["directory"]],
                         ids=["send-fast-path", "inbox-fast-path", "inbox-click", "directory"])
def test_unreadable_store_is_one_line_77(unwritable, argv: list[str]) -> None:
    """A store this user may not read (another user's, or chmod 000) is a clear error, never a traceback."""
    home, prefix, as_root = unwritable
    cfg = config.load(str(home))
    create_accounts(cfg, "alice", "bob")
    maildirs = home / "maildirs"
    os.chmod(maildirs, 0o000)
    if as_root:
        subprocess.run(["chown", "-R", "nobody:", str(home)], check=True)
    try:
        before = snapshot(home)
        res = run_script(home, *argv, prefix=prefix)
        res.fails(77)
        assert "ermission denied" in res.err
        assert snapshot(home) == before
    finally:
        os.chmod(maildirs, 0o700)
