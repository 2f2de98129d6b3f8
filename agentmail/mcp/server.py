"""The stdio MCP server on the official SDK's low-level `Server`: tools, the inbox resource, update notifications.

The low-level `Server` (not `MCPServer`) because it is the only one that serves `resources/subscribe`, and it sends
`tools/list` exactly as `tools.definitions` writes it (no generated titles or output schemas eating the token
budget). Store work runs in one worker thread at a time (deliveries fsync; the event loop keeps answering pings).

The inbox resource, `agentmail://inbox`, is the unread list as `inbox` prints it, without announcing anything.
A client that subscribes to it gets `notifications/resources/updated` when mail arrives: a background task polls
the account's `new/` (new/ holds the mail not yet announced, DESIGN.md), as the stdlib has no inotify.
"""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from .. import __version__
from ..errors import EX_SOFTWARE, AgentmailError, os_failure
from . import tools

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

    from mcp.server.context import ServerRequestContext
    from mcp.server.session import ServerSession

    from .identity import Speaker

INBOX_URI = "agentmail://inbox"
POLL_SECONDS = 0.25  # how often new/ is looked at while a client is subscribed
RESOURCE_LIMIT = 50  # postcards the inbox resource lists


class State:
    """One stdio connection's state: who speaks, the tools, the subscribed sessions and what new/ held."""

    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker
        self.tools = {t["name"]: t for t in tools.definitions(speaker.cfg)}
        self.listed = types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in self.tools.values()])
        self.subscribers: set[ServerSession] = set()
        self.seen: tuple[str, frozenset[str]] | None = None  # (account, names in its new/) at the last look
        self.limiter = anyio.CapacityLimiter(1)

    async def in_worker(self, fn: Callable[[], str]) -> str:
        return await anyio.to_thread.run_sync(fn, limiter=self.limiter)


def failure_text(exc: Exception) -> str:
    """The one line a failed call reports: an AgentmailError as the CLI says it, anything else as a bug."""
    if isinstance(exc, AgentmailError):
        return tools.error_text(exc)
    if isinstance(exc, OSError):
        return tools.error_text(os_failure(exc))
    text = " ".join(str(exc).split())[:300]
    line = (f"exit {EX_SOFTWARE}: internal error (a bug in agentmail, please report it): "
            f"{type(exc).__name__}{': ' + text if text else ''}")
    print(f"agentmail mcp: {line}", file=sys.stderr)  # the harness's MCP log keeps it
    return line


def _text(text: str, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


async def list_tools(ctx: ServerRequestContext[State, Any], params: Any) -> types.ListToolsResult:
    return ctx.lifespan_context.listed


async def call_tool(ctx: ServerRequestContext[State, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    state = ctx.lifespan_context
    meta: Mapping[str, Any] | None = ctx.meta or getattr(params, "meta", None)

    def run() -> str:
        return tools.call(state.speaker, state.tools, params.name, params.arguments, meta)

    try:
        return _text(await state.in_worker(run))
    except Exception as exc:  # never a JSON-RPC error with a traceback's text: an is_error result the model reads
        return _text(failure_text(exc), error=True)


async def list_resources(ctx: ServerRequestContext[State, Any], params: Any) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=[types.Resource(
        uri=INBOX_URI, name="inbox", description="Your unread postcards, one line each (subscribe for updates).",
        mime_type="text/plain")])


def inbox_listing(state: State, meta: Mapping[str, Any] | None) -> str:
    """The unread list for the resource: nothing announced, nobody registered by merely looking."""
    from ..agent.mailbox import unread
    from .views import inbox_text

    me, _ = state.speaker.name(meta, register_if_none=False)
    return inbox_text(state.speaker.cfg, unread(state.speaker.cfg, me)[:RESOURCE_LIMIT], False)


async def read_resource(ctx: ServerRequestContext[State, Any],
                        params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    if str(params.uri) != INBOX_URI:
        raise MCPError(code=-32002, message=f"unknown resource {params.uri} (there is {INBOX_URI})")  # not found
    state = ctx.lifespan_context
    try:
        text = await state.in_worker(lambda: inbox_listing(state, ctx.meta))
    except Exception as exc:
        raise MCPError(code=types.INTERNAL_ERROR, message=failure_text(exc)) from None
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=INBOX_URI, text=text,
                                                                         mime_type="text/plain")])


async def subscribe(ctx: ServerRequestContext[State, Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
    if str(params.uri) != INBOX_URI:
        raise MCPError(code=-32002, message=f"unknown resource {params.uri} (there is {INBOX_URI})")
    state = ctx.lifespan_context
    state.subscribers.add(ctx.session)
    if state.seen is None:  # mail that lands between this answer and the first look must count as new
        state.seen = await anyio.to_thread.run_sync(lambda: look(state))
    return types.EmptyResult()


async def unsubscribe(ctx: ServerRequestContext[State, Any],
                      params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    state = ctx.lifespan_context
    state.subscribers.discard(ctx.session)
    return types.EmptyResult()


def look(state: State) -> tuple[str, frozenset[str]] | None:
    """(account, the names in its new/), or None while the server has no identity to watch."""
    account = state.speaker.last
    if account is None:
        try:
            account, _ = state.speaker.name(register_if_none=False)
        except AgentmailError:
            return None
    try:
        names = frozenset(os.listdir(state.speaker.cfg.maildir_path(account) + "/new"))
    except OSError:  # renamed, or not yet created: resolve the identity again next time
        state.speaker.last = None
        return None
    return account, names


async def watch(state: State) -> None:
    """While anyone is subscribed: a postcard new in new/ sends `notifications/resources/updated` for the inbox."""
    while True:
        await anyio.sleep(POLL_SECONDS)
        if not state.subscribers:
            state.seen = None
            continue
        try:
            now = look(state)
        except Exception as exc:  # a failed look must not end the server: the tools still work
            failure_text(exc)
            continue
        before, state.seen = state.seen, now
        if now is None or before is None or now[0] != before[0] or not now[1] - before[1]:
            continue
        for session in list(state.subscribers):
            await session.send_resource_updated(INBOX_URI)  # a closed pipe is swallowed by the SDK


def build(speaker: Speaker) -> Server[State]:
    @asynccontextmanager
    async def lifespan(server: Server[State]) -> AsyncIterator[State]:
        state = State(speaker)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, state)
            try:
                yield state
            finally:
                tg.cancel_scope.cancel()

    return Server(
        "agentmail", version=__version__, instructions=tools.INSTRUCTIONS, lifespan=lifespan,
        on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
        on_read_resource=read_resource, on_subscribe_resource=subscribe, on_unsubscribe_resource=unsubscribe,
    )


def serve(speaker: Speaker) -> int:
    """Serve MCP on stdin/stdout until the client closes stdin."""

    async def main() -> None:
        server = build(speaker)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        anyio.run(main)
    except BaseException as exc:
        if gone(exc):
            return 0  # the client went away (stdout closed): nothing left to answer, as `agentmail inbox | head`
        raise
    return 0


def gone(exc: BaseException) -> bool:
    """Is this (a task group's bundle of) the other end of the pipe closing?"""
    inner = getattr(exc, "exceptions", None)
    if inner is not None:
        return bool(inner) and all(gone(e) for e in inner)
    return isinstance(exc, (BrokenPipeError, ConnectionResetError, anyio.BrokenResourceError,
                            anyio.ClosedResourceError))
