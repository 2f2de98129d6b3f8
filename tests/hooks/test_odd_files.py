"""Odd files in new/ (issue 8.3): the prompt, post-tool and stop hooks finish, announce only real postcards, never
what a link points at, and stay on the idle path when new/ holds nothing but odd entries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentmail.hooks.idle import has_unannounced
from agentmail.store.maildir import Maildir
from tests.hooks.hookkit import AGENTMAIL, ROOT, Store, hook_payload
from tests.support import oddfiles
from tests.support.oddfiles import SECRET, plant, secret_message

SID = "0dd0f11e-9a8e-4f7d-b6c5-0123456789ab"
DEADLINE = 20  # seconds: a FIFO used to hang the hook for ever


def bound(store: Store, name: str = "alice") -> Path:
    """`name` registered and bound to session SID (what session-start leaves behind); its new/."""
    store.register(name)
    store.register("bob")
    (store.home / "sessions" / SID).write_text(name + "\n")
    return store.home / "maildirs" / name / "new"


def run_hook(store: Store, event: str, wrapper: bool = False,
             importtime: bool = False) -> subprocess.CompletedProcess[bytes]:
    raw = json.dumps(hook_payload(event, SID, str(store.root))).encode()
    if wrapper:
        cmd = [str(ROOT / "hooks" / "agentmail-hook"), event]
    else:
        cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), AGENTMAIL, "hook", event]
    env = {**store.env, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(cmd, input=raw, capture_output=True, env=env, timeout=DEADLINE)
    assert proc.returncode == 0, proc
    assert SECRET.encode() not in proc.stdout + proc.stderr
    return proc


def context(proc: subprocess.CompletedProcess[bytes]) -> str:
    data = json.loads(proc.stdout)
    text = data["hookSpecificOutput"]["additionalContext"]
    assert isinstance(text, str)
    return text


def test_prompt_announces_real_mail_and_skips_odd_files(store: Store, tmp_path: Path) -> None:
    new = bound(store)
    store.send("bob", "alice", "a real postcard")
    made = plant(new.parent, secret_message(tmp_path / "secret.eml"), ("new",))
    text = context(run_hook(store, "prompt"))
    assert "1 new postcard" in text and "a real postcard" in text
    assert sorted(os.listdir(new)) == sorted(p.name for p in made.values())  # odd entries stay where they were
    assert run_hook(store, "prompt").stdout == b""  # and are not announced next time either


@pytest.mark.parametrize("event", ["prompt", "post-tool", "stop"])
def test_only_odd_files_in_new_is_idle(store: Store, tmp_path: Path, event: str) -> None:
    new = bound(store)
    made = plant(new.parent, secret_message(tmp_path / "secret.eml"), ("new",))
    for p in made.values():  # the sparse files are regular files: leave them out here, they have a test below
        if p.is_file() and not p.is_symlink():
            p.unlink()
    assert not has_unannounced(str(new))
    proc = run_hook(store, event, importtime=True)
    assert proc.stdout == b""
    assert "agentmail.hooks.events" not in proc.stderr.decode()  # answered by the import-light idle path
    assert run_hook(store, event, wrapper=True).stdout == b""  # the plugin's shell wrapper hands it on and agrees


@pytest.mark.parametrize("event", ["prompt", "post-tool", "stop"])
def test_huge_sparse_files_in_new_are_skipped(store: Store, event: str) -> None:
    new = bound(store)
    store.send("bob", "alice", "urgent and real", urgent=True)  # post-tool and stop speak only of urgent mail
    big = [oddfiles.sparse(new / oddfiles.name(1, "new", "")), oddfiles.sparse(new / oddfiles.name(2, "new"))]
    proc = run_hook(store, event)
    if event == "stop":
        reason = json.loads(proc.stdout)["reason"]
        assert "urgent and real" in reason
    else:
        assert "urgent and real" in context(proc)
    assert all(p.exists() and p.stat().st_size == oddfiles.SPARSE for p in big)
    assert sorted(os.listdir(new)) == sorted(p.name for p in big)


def test_linked_new_directory_is_not_read_through(store: Store, tmp_path: Path) -> None:
    new = bound(store)
    outside = Maildir(str(tmp_path / "outside")).create()
    outside.deliver(secret_message(tmp_path / "m.eml").read_bytes(), "new")
    shutil.rmtree(new)
    new.symlink_to(Path(outside.path) / "new")
    for wrapper in (False, True):  # a broken mailbox: one line on stderr, as when new/ is no directory at all
        proc = run_hook(store, "prompt", wrapper=wrapper)
        assert proc.stdout == b"" and proc.stderr.decode().startswith(f"agentmail hook prompt: cannot read {new}: "
                                                                      "it is a symbolic link, not a directory")
    assert len(os.listdir(Path(outside.path) / "new")) == 1  # nothing was announced out of it


def test_non_utf8_name_in_new_is_announced(store: Store) -> None:
    new = bound(store)
    store.send("bob", "alice", "oddly named")
    (name,) = os.listdir(new)
    data = (new / name).read_bytes()
    (new / name).unlink()
    raw = oddfiles.non_utf8_name(new.parent, data, "new")
    assert "oddly named" in context(run_hook(store, "prompt"))
    assert os.listdir(os.fsencode(new)) == [] and raw + b":2," in os.listdir(os.fsencode(new.parent / "cur"))
