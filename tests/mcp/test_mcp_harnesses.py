"""Each harness registers `agentmail mcp` with its own command and lists it, from a throw-away HOME: Claude Code and
Gemini CLI start the server to check it (a server that cannot start shows as failed, so the check can fail), Codex
only reads its config, so its configured line is then started the way Codex starts it (its filtered environment).

Offline: the harnesses run in a network namespace of their own when `unshare` can make one, with settings that
keep them from calling home (docs/testing.md; /work/research/harness/FINDINGS.md has what each one contacts).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest

from tests.mcp.client import Client
from tests.support.checkout import pythonpath
from tests.support.claude.home import claude_env, make_home
from tests.support.store import AGENTMAIL, Store, make_store
from tests.support.tools import need

TIMEOUT = 180  # seconds per harness command: they take 0.5 to 7 s here


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "store")


@functools.cache
def offline() -> tuple[str, ...]:
    """A prefix that runs a command with only loopback: a network namespace as root, else a user namespace."""
    for prefix in (("unshare", "-n"), ("unshare", "-rn")):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0:
                return prefix
        except OSError:
            break
    return ()


def run(args: list[str], env: dict[str, str], cwd: Path, stream: str = "stdout") -> str:
    proc = subprocess.run([*offline(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return str(getattr(proc, stream))


def test_claude_mcp_list_connects(store: Store, tmp_path: Path) -> None:
    need("claude")
    project = tmp_path / "project"
    project.mkdir()
    home = make_home(tmp_path / "home", project)
    env = claude_env(home, 9, {"PYTHONPATH": pythonpath(None)})  # port 9: nothing listens, nothing is looked up
    added = run(["claude", "mcp", "add", "agentmail", "-e", f"AGENTMAIL_HOME={store.home}", "--",
                 AGENTMAIL, "--as", "alice", "mcp"], env, project)
    assert "Added stdio MCP server agentmail" in added
    run(["claude", "mcp", "add", "broken", "-e", f"AGENTMAIL_HOME={store.home}", "--",
         AGENTMAIL, "--as", "nobody", "mcp"], env, project)  # exits 67 at start: the control
    listed = run(["claude", "mcp", "list"], env, project)  # spawns each: initialize + tools/list
    assert f"agentmail: {AGENTMAIL} --as alice mcp - \u2714 Connected" in listed, listed
    assert f"broken: {AGENTMAIL} --as nobody mcp - \u2718 Failed to connect" in listed, listed


CODEX_CONFIG = """check_for_update_on_startup = false

[features]
plugins = false

[analytics]
enabled = false

[feedback]
enabled = false

# docs/harnesses.md: the identity and the store follow the caller's environment (Codex passes a filtered one)
[mcp_servers.agentmail-env]
command = "agentmail"
args = ["mcp"]
env_vars = ["AGENTMAIL_HOME", "AGENTMAIL_NAME"]
"""
# What Codex 0.171 gives an MCP server of its own environment (FINDINGS 3.1), before `env` / `env_vars`.
CODEX_PASSES = ("HOME", "LANG", "PATH", "SHELL", "TERM")


def test_codex_mcp_add_and_list(store: Store, tmp_path: Path) -> None:
    need("codex")
    (tmp_path / "home").mkdir()
    (tmp_path / "codex").mkdir()
    (tmp_path / "codex" / "config.toml").write_text(CODEX_CONFIG)
    env = {"HOME": str(tmp_path / "home"), "CODEX_HOME": str(tmp_path / "codex"), "PATH": os.environ["PATH"],
           "LANG": "C.UTF-8", "TERM": "dumb", "SHELL": "/bin/sh"}
    run(["codex", "mcp", "add", "agentmail", "--env", f"AGENTMAIL_HOME={store.home}",
         "--env", f"PYTHONPATH={pythonpath(None)}", "--", AGENTMAIL, "--as", "alice", "mcp"], env, tmp_path)
    table = run(["codex", "mcp", "list"], env, tmp_path).splitlines()
    row = next(line for line in table if line.startswith("agentmail "))
    assert AGENTMAIL in row and "--as alice mcp" in row and "enabled" in row, table
    servers = {s["name"]: s for s in json.loads(run(["codex", "mcp", "list", "--json"], env, tmp_path))}
    assert servers["agentmail-env"]["transport"]["env_vars"] == ["AGENTMAIL_HOME", "AGENTMAIL_NAME"]
    transport = servers["agentmail"]["transport"]
    assert transport["command"] == AGENTMAIL and transport["args"] == ["--as", "alice", "mcp"]

    # `codex mcp list` starts nothing: start the configured line as Codex does, in its filtered environment
    codex_env = {k: os.environ[k] for k in CODEX_PASSES if k in os.environ} | transport["env"]
    said: dict[str, str] = {}

    async def main() -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(command=transport["command"], args=transport["args"], env=codex_env,
                                       cwd=str(tmp_path))
        with anyio.fail_after(60), (tmp_path / "stderr.log").open("w") as err:
            async with stdio_client(params, errlog=err) as (r, w), ClientSession(r, w) as session:
                client = Client(session, await session.initialize())
                said["whoami"] = await client.ok("whoami")
                said["send"] = await client.ok("send", {"to": "bob", "title": "From Codex", "body": "sandboxed"},
                                               meta={"threadId": "01a251e9-0c32-7000-8000-000000000000"})

    anyio.run(main)
    assert said["whoami"].startswith("you are alice@agents.localhost")
    assert said["send"].startswith("sent ") and said["send"].endswith(" to bob")
    assert len(store.find("bob", "sandboxed")) == 1


def test_gemini_mcp_list_connects(store: Store, tmp_path: Path) -> None:
    need("gemini")
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
                "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
                "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
                "ide": {"enabled": False}}
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "dumb"}
    common = ["-e", f"AGENTMAIL_HOME={store.home}", "-e", f"PYTHONPATH={pythonpath(None)}"]
    # options before NAME: after it they become the server's arguments (FINDINGS 4.3)
    run(["gemini", "mcp", "add", "-s", "user", *common, "-e", "AGENTMAIL_ADDRESS=alice", "agentmail",
         AGENTMAIL, "mcp"], env, tmp_path)
    run(["gemini", "mcp", "add", "-s", "user", *common, "-e", "AGENTMAIL_ADDRESS=nobody", "broken",
         AGENTMAIL, "mcp"], env, tmp_path)  # exits 78 at start: the control
    saved = json.loads((home / ".gemini" / "settings.json").read_text())["mcpServers"]["agentmail"]
    assert saved["command"] == AGENTMAIL and saved["args"] == ["mcp"]
    listed = run(["gemini", "mcp", "list"], env, tmp_path, "stderr")  # spawns each: initialize + ping
    assert f"\u2713 agentmail: {AGENTMAIL} mcp (stdio) - Connected" in listed, listed
    assert f"\u2717 broken: {AGENTMAIL} mcp (stdio) - Disconnected" in listed, listed
