"""The idle hot path: what it reads from stdin, what it imports, and that it agrees with the store's own code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from agentmail import config
from agentmail.hooks.idle import fast_session_id, store_home
from agentmail.store import presence
from tests.hooks.hookkit import AGENTMAIL, Store

SID = "5f1d2c3b-9a8e-4f7d-b6c5-0123456789ab"


@pytest.mark.parametrize("raw", [
    json.dumps({"session_id": SID, "cwd": "/x"}),
    json.dumps({"session_id": SID}, indent=2),
    '  {\n "session_id" :\t"' + SID + '", "prompt": "x"}',
])
def test_session_id_as_the_first_key(raw: str) -> None:
    assert fast_session_id(raw.encode()) == SID


@pytest.mark.parametrize("raw", [
    "",
    "not json",
    json.dumps({"cwd": "/x", "session_id": SID}),  # not first: json decides
    json.dumps({"prompt": 'say "session_id": "evil"', "session_id": SID}),
    json.dumps({"tool_input": {"session_id": "evil"}, "session_id": SID}),
    '{"session_id": "a\\u002fb"}',  # escapes: json decides
    '{"session_id": "../../etc"}',
    '{"session_id": ".hidden"}',
    '{"session_id": ""}',
    '{"session_id": 42}',
    '{"session_id": "' + "a" * 200 + '"}',
    '[{"session_id": "x"}]',
])
def test_anything_unusual_is_left_to_json(raw: str) -> None:
    assert fast_session_id(raw.encode()) is None


def test_a_mention_in_the_prompt_cannot_mislead_it() -> None:
    raw = json.dumps({"session_id": SID, "prompt": '{"session_id": "evil"}'}).encode()
    assert fast_session_id(raw) == SID


@pytest.mark.parametrize("sid", [SID, "abc_DEF.1-2", "x"])
def test_plain_ids_name_the_file_presence_writes(sid: str, tmp_path: os.PathLike[str]) -> None:
    cfg = config.load(str(tmp_path))
    assert presence.session_path(cfg, sid) == os.path.join(store_home(str(tmp_path)), "sessions", sid)


def test_store_home_matches_config(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for env in (None, "~/mail", "relative/dir", str(tmp_path)):
        if env is None:
            monkeypatch.delenv("AGENTMAIL_HOME", raising=False)
        else:
            monkeypatch.setenv("AGENTMAIL_HOME", env)
        assert store_home(None) == config.load().home
        assert store_home("~/other") == config.load("~/other").home


FORBIDDEN = {"json", "re", "typing", "email", "click", "pathlib", "dataclasses", "agentmail.config",
             "agentmail.hooks.events", "agentmail.store"}
# agentmail.remote.alive is on it for remote homes (docs/scale-out.md): it imports only os and sys, and on a local
# home its whole check is one failed stat of remote.json
IDLE_PATH = {"agentmail", "agentmail.cli", "agentmail.errors", "agentmail.hooks", "agentmail.hooks.command",
             "agentmail.hooks.idle", "agentmail.remote", "agentmail.remote.alive"}


def imported_modules(store: Store, event: str, silent: bool = True) -> set[str]:
    claude_env = {**store.env, "PYTHONDONTWRITEBYTECODE": "1"}
    raw = json.dumps({"session_id": SID, "cwd": str(store.root)})
    proc = subprocess.run([sys.executable, "-X", "importtime", AGENTMAIL, "hook", event], input=raw.encode(),
                          capture_output=True, env=claude_env, timeout=30)
    assert proc.returncode == 0 and (proc.stdout == b"") == silent
    lines = proc.stderr.decode().splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


@pytest.mark.parametrize("event", ["prompt", "post-tool", "stop"])
def test_idle_path_imports_almost_nothing(store: Store, event: str) -> None:
    store.register("frontend")
    (store.home / "sessions" / SID).write_text("frontend\n")
    modules = imported_modules(store, event)
    # exactly the launcher's fast path (agentmail.cli, agentmail.errors, the remote-home check) and the idle module
    assert {m for m in modules if m.split(".")[0] == "agentmail"} == IDLE_PATH
    assert not modules & FORBIDDEN, modules & FORBIDDEN


def test_post_tool_with_routine_mail_and_a_stamp_stays_on_the_fast_path(store: Store) -> None:
    store.register("frontend")
    store.register("backend")
    store.send("backend", "frontend", "routine")
    (store.home / "sessions" / SID).write_text("frontend\n")
    new = store.home / "maildirs/frontend/new"
    stamp = store.home / "cache/post-tool/frontend"
    stamp.parent.mkdir(parents=True)
    stamp.write_text("")
    m = new.stat().st_mtime_ns
    os.utime(stamp, ns=(m, m))
    assert "agentmail.hooks.events" not in imported_modules(store, "post-tool")
    assert "agentmail.hooks.events" in imported_modules(store, "prompt", silent=False)  # the prompt ignores the stamp
