"""`agentmail mcp`: the stdio MCP server for any MCP-speaking harness (docs/harnesses.md)."""

from __future__ import annotations

import click

from .app import Ctx, pass_ctx


@click.command()
@pass_ctx
def mcp(c: Ctx) -> None:
    """Serve MCP on stdin/stdout (tools whoami, send, inbox, read, log; the inbox as a resource).

    Start it from a harness, e.g. `claude mcp add agentmail -- agentmail mcp`. It acts as --as, AGENTMAIL_ADDRESS or
    the harness session, exactly as the other commands; a session with no account yet gets one at its first call.
    """
    from ..mcp.identity import Speaker

    speaker = Speaker(c.cfg, c.as_name)
    speaker.check()
    # the SDK costs ~0.8 s to import: only this command loads it, never the fast path or the hooks
    from ..mcp.server import serve

    code = serve(speaker)
    if code:
        raise click.exceptions.Exit(code)


def register_commands(group: click.Group) -> None:
    if mcp.name not in group.commands:
        group.add_command(mcp)
