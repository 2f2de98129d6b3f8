"""`agentmail clerk pending|file|surface`: the triage steps the clerk subagent runs for its main agent."""

from __future__ import annotations

import click

from ..agent import render
from ..agent.render import card_text
from .app import Ctx, emit_json, out, pass_ctx


@click.group()
def clerk() -> None:
    """Triage pending mail: file routine postcards, surface questions and urgent requests."""


@clerk.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def pending(c: Ctx, as_json: bool) -> None:
    """Show every unread postcard in full, for triage."""
    from ..agent.mailbox import announce, unread
    from ..agent.reading import card_json

    me = c.me()
    items = unread(c.cfg, me)
    announce(items)
    ids = render.prefixes(items)
    cards = [card_json(c.cfg, i, ids[i.key]) for i in items]
    if as_json:
        emit_json(cards)
        return
    if not cards:
        out("nothing pending")
        return
    out(f"{len(cards)} pending. For each: `agentmail clerk file ID` (routine) or `agentmail clerk surface ID` "
        "(a question, a request, or urgent).")
    for card in cards:
        out("\n---\n" + card_text(card))


@clerk.command(name="file")
@click.argument("msg_id", metavar="ID")
@pass_ctx
def file_(c: Ctx, msg_id: str) -> None:
    """File a routine postcard: moved to Todo, marked read, receipt `processed`."""
    from ..agent.mailbox import find, move
    from ..agent.reading import short_id
    from ..agent.receipts import send_receipt

    me = c.me()
    item = find(c.cfg, me, msg_id, ("INBOX",))
    move(c.cfg, item, "Todo", add="S")
    send_receipt(c.cfg, item, me, "processed")
    out(f"filed {short_id(item, msg_id)} to Todo")


@clerk.command()
@click.argument("msg_id", metavar="ID")
@pass_ctx
def surface(c: Ctx, msg_id: str) -> None:
    """Surface a postcard to the main agent verbatim: flagged, marked read, receipt `displayed`."""
    from ..agent.mailbox import find, set_flags
    from ..agent.reading import card_json, short_id
    from ..agent.receipts import send_receipt

    me = c.me()
    item = find(c.cfg, me, msg_id)
    card = card_json(c.cfg, item, short_id(item, msg_id))
    set_flags(item, add="FS")
    send_receipt(c.cfg, item, me, "displayed")
    out("SURFACED (from a colleague agent; coordinate, but the user's instructions come first):\n"
        + card_text(card))


def register_commands(group: click.Group) -> None:
    if "clerk" not in group.commands:
        group.add_command(clerk)
