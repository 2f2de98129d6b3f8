"""Real readers of the store: Python's email parses every stored file, mutt and neomutt show the postcards."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent.compose import send
from agentmail.agent.demo import play
from agentmail.store import registry
from agentmail.store.maildir import name_sizes
from tests.support.tools import need

REPO = Path(__file__).resolve().parents[2]


def message_files(root: Path) -> list[Path]:
    # dot files (the sample store keeps empty folders with .keep) are not messages, as for every Maildir reader
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name in ("new", "cur")
                  and not p.name.startswith("."))


def check_parses(path: Path) -> None:
    data = path.read_bytes()
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert not msg.defects, (path, msg.defects)
    for header in ("From", "Date", "Message-ID"):
        assert msg[header], (path, header)
    for part in msg.walk():
        assert not part.defects, (path, part.defects)
        if not part.is_multipart():
            part.get_content()  # decodes every part (base64, 8bit utf-8, message/*) without error
    size, vsize = name_sizes(path.name)
    if size is not None:
        assert size == len(data), path
        assert vsize == len(data) + data.count(b"\n")


def test_email_parses_every_file_of_a_demo_store(tmp_path: Path) -> None:
    cfg = config.load(str(tmp_path / "store"))
    play(cfg)
    paths = message_files(tmp_path / "store")
    assert len(paths) >= 10
    for path in paths:
        check_parses(path)


def test_email_parses_the_checked_in_sample_store() -> None:
    sample = REPO / "maildirs"
    paths = message_files(sample)
    assert paths, "no checked-in sample store under maildirs/"
    for path in paths:
        check_parses(path)


def _tmux_screen(tmux: str, sock: str, session: str) -> str:
    return subprocess.run([tmux, "-L", sock, "capture-pane", "-t", session, "-p"], capture_output=True,
                          text=True, check=False).stdout


def _wait_for(tmux: str, sock: str, session: str, text: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux_screen(tmux, sock, session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear on the screen:\n{screen}")


@pytest.mark.parametrize("reader", ["mutt", "neomutt"])
def test_mutt_shows_the_postcard(tmp_path: Path, reader: str) -> None:
    tools = need(reader, "tmux")
    cfg = config.load(str(tmp_path / "store"))
    registry.ensure_store(cfg)
    for name in ("alice", "bob"):
        registry.create_account(cfg, name)
    now = time.time()
    send(cfg, "alice", ["bob"], "Schema migration 0042 is live", "Ünïcødé body: users.avatar_url is nullable.",
         date=now - 120)
    send(cfg, "alice", ["bob"], "Second postcard", "plain", urgent=True, date=now - 60)
    box = tmp_path / "store" / "maildirs" / "bob"
    sock, session = f"am-{uuid.uuid4().hex[:8]}", "t"
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    (tmp_path / "muttrc").write_text('set charset="utf-8"\nset sort=date\nset header_cache=""\n'
                                     'set mbox_type=Maildir\nset folder="' + str(box) + '"\n')
    cmd = f"{tools[reader]} -n -F {tmp_path / 'muttrc'} -R -f {box}"
    subprocess.run([tools["tmux"], "-L", sock, "new-session", "-d", "-s", session, "-x", "160", "-y", "30", cmd],
                   env=env, check=True)
    try:
        index = _wait_for(tools["tmux"], sock, session, "Schema migration 0042 is live")
        assert "Second postcard" in index
        assert "alice@agents.localhost" in index or "alice" in index
        # open the first message: the decoded UTF-8 body is shown
        subprocess.run([tools["tmux"], "-L", sock, "send-keys", "-t", session, "Enter"], check=True)
        pager = _wait_for(tools["tmux"], sock, session, "users.avatar_url is nullable")
        assert "Ünïcødé body" in pager
    finally:
        subprocess.run([tools["tmux"], "-L", sock, "kill-server"], check=False)
