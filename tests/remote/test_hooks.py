"""The hooks on a remote home: they read the local mirror and never touch the network (strace(1) as the witness),
a session is bound to the account the home mirrors, and no other account can be registered there."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

from tests.remote.conftest import Server
from tests.support.cli import clean_env
from tests.support.remotehome import Machine, Machines
from tests.support.store import AGENTMAIL
from tests.support.tools import need
from tests.support.wait import until


def payload(event: str, sid: str, cwd: Path) -> str:
    names = {"session-start": "SessionStart", "prompt": "UserPromptSubmit", "post-tool": "PostToolUse",
             "stop": "Stop"}
    extra = {"session-start": {"source": "startup"}, "prompt": {"prompt": "go on"},
             "post-tool": {"tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_response": {"stdout": ""}},
             "stop": {"stop_hook_active": False}}[event]
    return json.dumps({"session_id": sid, "cwd": str(cwd), "hook_event_name": names[event], **extra})


def traced_hook(machine: Machine, event: str, sid: str, trace: Path) -> tuple[str, list[str]]:
    """Run `agentmail hook EVENT` under strace -f; its stdout and every connect(2) it or a child made."""
    strace = need("strace")["strace"]
    proc = subprocess.run([strace, "-f", "-qq", "-e", "trace=connect", "-o", str(trace), AGENTMAIL, "hook", event],
                          input=payload(event, sid, machine.home.parent).encode(), capture_output=True,
                          env=clean_env(machine.home), timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = [line for line in trace.read_text().splitlines() if "connect(" in line]
    return proc.stdout.decode(), calls


def test_the_hooks_read_the_mirror_and_never_touch_the_network(server: Server, machine: Machines,
                                                               tmp_path: Path) -> None:
    alice, bob = server.connect(machine("alice")), server.connect(machine("bob"))
    sid = f"s-{uuid.uuid4().hex}"
    bob.run("hook", "session-start", input=payload("session-start", sid, bob.home.parent)).ok()
    bob.wait_sync_pid()  # running already: a hook that had to start it would fork it, and strace follows forks
    subject = f"h-{uuid.uuid4().hex[:8]}"
    alice.as_me("send", "bob", subject, "for the hook", "--urgent").ok()
    until(lambda: bob.with_title(subject), "mirrored into bob's new/")
    for event in ("post-tool", "prompt", "prompt", "stop"):  # with mail, announcing it, then idle
        out, calls = traced_hook(bob, event, sid, tmp_path / f"{event}.trace")
        inet = [c for c in calls if re.search(r"AF_INET6?\b", c)]
        assert inet == [], f"hook {event} connected to the network: {inet}"
        if event == "post-tool":
            assert subject in out  # urgent: announced at once
    assert [p.parent.name for p in bob.with_title(subject)] == ["cur"]


def test_a_session_on_a_remote_home_speaks_for_the_mirrored_account(server: Server, machine: Machines) -> None:
    bob = server.connect(machine("bob"))
    assert bob.run("whoami").ok().out.strip() == "bob@agents.localhost"  # no session, no --as: the account
    refused = bob.run("register", "someone-else").fails(78)
    assert "mirrors the account bob" in refused.err
    assert not (bob.home / "maildirs" / "someone-else").exists()
    assert bob.run("register").ok().out.strip() == "you are bob@agents.localhost"
    assert sorted(p.name for p in (bob.home / "maildirs").iterdir()) == ["bob", "human"]
