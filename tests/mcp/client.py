"""The SDK's own stdio client against `agentmail mcp` run as a subprocess (the installed console script) on a temp
store: what any MCP harness does, without a harness."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.support.store import AGENTMAIL, env_for

DEADLINE = 60.0  # seconds for a whole conversation: only a hang gets near it


class Client:
    """One connected session: tool calls as (is_error, text), and the resource updates received."""

    def __init__(self, session: ClientSession, init: types.InitializeResult) -> None:
        self.session = session
        self.init = init
        self.updates: list[str] = []
        self.updated = anyio.Event()

    async def call(self, name: str, args: dict[str, Any] | None = None,
                   meta: dict[str, Any] | None = None) -> tuple[bool, str]:
        result = await self.session.call_tool(name, args or {}, meta=meta)  # type: ignore[arg-type]
        assert len(result.content) == 1 and isinstance(result.content[0], types.TextContent), result
        return bool(result.is_error), result.content[0].text

    async def ok(self, name: str, args: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> str:
        error, text = await self.call(name, args, meta)
        assert not error, f"{name} {args} failed: {text}"
        return text

    async def fails(self, name: str, args: dict[str, Any] | None, code: int) -> str:
        """The call is an MCP tool error (is_error) of one line: `exit <code>: <the CLI's message>`."""
        error, text = await self.call(name, args)
        assert error, f"{name} {args} did not fail: {text}"
        assert "\n" not in text and text.startswith(f"exit {code}: "), text
        return text.removeprefix(f"exit {code}: ")

    async def subscribe(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated for the 2026-07-28 protocol; this session speaks 2025-11-25
            await self.session.subscribe_resource("agentmail://inbox")

    async def inbox_resource(self) -> str:
        result = await self.session.read_resource("agentmail://inbox")
        content = result.contents[0]
        assert isinstance(content, types.TextResourceContents)
        return content.text

    async def tools_blob(self) -> tuple[list[types.Tool], str]:
        """The tools, and the `tools/list` result as compact JSON (what the token budget counts)."""
        listed = await self.session.list_tools()
        wire = listed.model_dump(by_alias=True, mode="json", exclude_none=True)
        return listed.tools, json.dumps(wire, separators=(",", ":"), ensure_ascii=False)


# A stand-in harness: a process of its own between the test and the server, as Claude Code or Gemini CLI is (the
# server's parent is the harness, whose process a registration binds).
HARNESS = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


@asynccontextmanager
async def connect(home: Path, *args: str, errlog: Path, env: dict[str, str] | None = None,
                  drop: tuple[str, ...] = (), cwd: Path | None = None, harness: bool = False) -> AsyncIterator[Client]:
    """`agentmail ARGS mcp` on the store at `home`, initialized; its stderr goes to `errlog`. With `harness`, the
    server runs under a stand-in harness process of its own (else this test process is its parent)."""
    command = [AGENTMAIL, *args, "mcp"]
    if harness:
        command = [sys.executable, "-c", HARNESS, *command]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env_for(home, drop, **(env or {})),
                                   cwd=str(cwd or home.parent))
    holder: list[Client] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification) and holder:
            holder[0].updates.append(str(message.params.uri))
            holder[0].updated.set()

    with errlog.open("a") as err:
        async with stdio_client(params, errlog=err) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                client = Client(session, await session.initialize())
                holder.append(client)
                yield client


def converse(home: Path, body: Callable[[Client], Awaitable[None]], *args: str, env: dict[str, str] | None = None,
             drop: tuple[str, ...] = (), cwd: Path | None = None, harness: bool = False) -> str:
    """Run `body` against a server started with ARGS; returns the server's stderr, which never holds a traceback."""
    errlog = home.parent / "mcp-stderr.log"

    async def main() -> None:
        with anyio.fail_after(DEADLINE):
            async with connect(home, *args, errlog=errlog, env=env, drop=drop, cwd=cwd, harness=harness) as client:
                await body(client)

    anyio.run(main)
    err = errlog.read_text() if errlog.exists() else ""
    assert "Traceback" not in err, err
    return err
