"""What the tests with real Claude Code sessions share: the installed `agentmail` run on the test's store, the short
id a send prints, and the programs a run needs (claude from npm, tmux)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.store import AGENTMAIL, env_for
from tests.support.tools import need


def need_claude() -> None:
    """Skip on a laptop without claude or tmux; fail in CI (.ci/run installs both)."""
    need("claude", "tmux")


def agentmail(home: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """`agentmail ARGS` on the store at `home`; fails the test unless it exits 0."""
    proc = subprocess.run([AGENTMAIL, *args], env=env_for(home), input=input, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"agentmail {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc


def send(home: Path, sender: str, to: str, title: str, *flags: str, body: str = "hello") -> tuple[str, float]:
    """`agentmail --as SENDER send TO TITLE - FLAGS` (the body on stdin): the short id it printed and the time
    (time.time()) it returned, which is when the postcard was stored."""
    proc = agentmail(home, "--as", sender, "send", to, title, "-", *flags, input=body)
    done = time.time()
    match = re.match(r"sent ([0-9a-f]{8,}) to ", proc.stdout)
    assert match, proc.stdout
    return match.group(1), done


def inbox(home: Path, name: str, folder: str = "INBOX") -> list[dict[str, Any]]:
    """Every postcard of `name`'s folder, read or not (`inbox --all --json`, which announces nothing new: call it
    only once the postcards in question have left new/)."""
    out = agentmail(home, "--as", name, "inbox", "--all", "--json", "--limit", "1000", "--folder", folder).stdout
    items = json.loads(out)
    assert isinstance(items, list), out
    return items


def in_folder(home: Path, name: str, sub: str, needle: str) -> list[Path]:
    """Files of `name`'s INBOX `sub` (new or cur) that contain `needle`."""
    box = home / "maildirs" / name / sub
    return [p for p in sorted(box.iterdir()) if needle.encode() in p.read_bytes()]
