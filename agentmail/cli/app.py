"""The click application: every documented command, each a thin layer over a library function."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from .. import config
from ..agent import render
from ..errors import EX_USAGE, AgentmailError, UsageError


class Ctx:
    """Global options; the store and the identity are worked out only when a command needs them."""

    def __init__(self, home: str | None, as_name: str | None) -> None:
        self.home = home
        self.as_name = as_name
        self._cfg: config.Config | None = None

    @property
    def cfg(self) -> config.Config:
        if self._cfg is None:
            self._cfg = config.load(self.home)
        return self._cfg

    def me(self) -> str:
        from ..agent.identity import whoami

        return whoami(self.cfg, self.as_name)


pass_ctx = click.make_pass_decorator(Ctx)


def out(text: str) -> None:
    click.echo(text)


def emit_json(data: object) -> None:
    click.echo(render.dumps(data))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--as", "as_name", metavar="NAME", help="Act as this account (else AGENTMAIL_ADDRESS, the session, "
              "or the nearest registered parent process).")
@click.option("--home", metavar="DIR", help="The store (default $AGENTMAIL_HOME or ~/.agentmail).")
@click.version_option(package_name="agentmail-maildir", prog_name="agentmail")
@click.pass_context
def cli(ctx: click.Context, as_name: str | None, home: str | None) -> None:
    """agentmail: postcards between coding agents, as real mail in local Maildirs."""
    ctx.obj = Ctx(home, as_name)


# ---------------------------------------------------------------- identity
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def whoami(c: Ctx, as_json: bool) -> None:
    """Print this session's address."""
    name = c.me()
    if as_json:
        emit_json({"name": name, "address": c.cfg.address(name)})
    else:
        out(c.cfg.address(name))


@cli.command()
@click.argument("name", required=False)
@click.option("--session-id", help="Bind this harness session id too.")
@pass_ctx
def register(c: Ctx, name: str | None, session_id: str | None) -> None:
    """Give this session an account (NAME, AGENTMAIL_NAME, .agentmail, or three random words)."""
    from ..agent.identity import register as do_register

    real, note = do_register(c.cfg, name, session_id=session_id)
    if note:
        click.echo(note, err=True)
    out(f"you are {c.cfg.address(real)}")


@cli.command()
@click.argument("new")
@pass_ctx
def rename(c: Ctx, new: str) -> None:
    """Rename this account; mail to the old name still arrives."""
    from ..store import presence, registry

    old = c.me()
    info = registry.rename_account(c.cfg, old, new)
    presence.rename(c.cfg, old, info["name"])
    out(f"renamed {old} -> {info['name']} (mail to {old} still arrives)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def directory(c: Ctx, as_json: bool) -> None:
    """List accounts, which sessions are live, and whether a postcard would wake them."""
    from ..agent.wake import awake
    from ..remote.alive import is_remote
    from ..store import presence, registry

    if is_remote(c.cfg.home):  # agents on every machine, from the server (cli/remote_cmd.py)
        import importlib

        importlib.import_module("agentmail.cli.remote_cmd").remote_directory(c, as_json)
        return
    registry.ensure_store(c.cfg)
    viewer = _viewer(c)
    rows, known = [], {}
    for acct in registry.accounts(c.cfg):
        info = presence.presence(c.cfg, acct["name"]) or {}
        session = awake(c.cfg, acct["name"], info, viewer)
        known[acct["name"]] = session["known"]
        rows.append({
            "name": acct["name"], "address": c.cfg.address(acct["name"]), "kind": acct.get("kind", "agent"),
            "online": presence.is_live(info), "last_seen": info.get("last_seen"), "cwd": info.get("cwd"),
            "aliases": acct.get("aliases", []), "state": session["state"], "wakeable": session["wakeable"],
            "wake_note": session["why"],
        })
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        state = "online" if row["online"] else "offline"
        if row["online"] and known[row["name"]]:  # a session with a waiter: what a postcard does to it now
            state += ", working" if row["state"] == "working" else (
                ", idle, wakeable" if row["wakeable"] else f", idle, not wakeable: {row['wake_note']}")
        where = f" {row['cwd']}" if row["cwd"] else ""
        out(f"{row['name']} ({row['kind']}, {state}){where}")


def _viewer(c: Ctx) -> str | None:
    """Who is looking (for "your wake budget to it is spent"); None when this shell has no identity."""
    try:
        return c.me()
    except AgentmailError:
        return None


# ---------------------------------------------------------------- sending
def _attachments(paths: tuple[str, ...], limit: int) -> list[Any]:
    """The files to attach, each read up to one byte past `limit` (the postcard's check then says it is too big):
    a FIFO, a device or /dev/zero must neither hang `send` nor fill memory."""
    import mimetypes
    import os
    import stat

    from ..errors import DataError, NoInputError
    from ..format.postcard import Attachment

    found = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise DataError(f"cannot attach {path}: not a regular file")
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise NoInputError(f"cannot read attachment {path}: {exc.strerror}") from None
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        found.append(Attachment(os.path.basename(path), ctype, data))
    return found


def _split(values: tuple[str, ...] | list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


@cli.command()
@click.argument("to")
@click.argument("title")
@click.argument("body", required=False)
@click.option("--urgent", is_flag=True, help="Importance: high; the recipient's Stop hook will surface it.")
@click.option("--attach", "attach", multiple=True, type=click.Path(), help="Attach a file (repeatable).")
@click.option("--no-receipt", is_flag=True, help="Do not ask for a read receipt.")
@click.option("--cc", multiple=True, metavar="ADDR", help="Copy to (repeatable, or comma-separated).")
@click.option("--no-wake", is_flag=True, help="Do not wake an idle recipient (it is told on its next prompt).")
@click.option("--done", is_flag=True, help="Close the thread: replies in it will not wake anyone.")
@click.option("--sync", is_flag=True, help="Remote home: fail (75) rather than queue when the server is away.")
@pass_ctx
def send(c: Ctx, to: str, title: str, body: str | None, urgent: bool, attach: tuple[str, ...],
         no_receipt: bool, cc: tuple[str, ...], no_wake: bool, done: bool, sync: bool) -> None:
    """Send a postcard: TO (names, comma-separated), TITLE, BODY (or - for stdin)."""
    from ..agent.compose import send as do_send
    from . import read_body

    to_names, cc_names = _split([to]), _split(cc)
    result = do_send(c.cfg, c.me(), to_names, title, read_body(body), cc=cc_names, urgent=urgent,
                     receipt=not no_receipt, attachments=_attachments(attach, c.cfg.max_attachments),
                     wake=not no_wake, done=done, sync=sync)
    out(render.sent_line(result.key, list(result.delivered), render.names_all(to_names + cc_names),
                         queued=getattr(result, "queued", None)))


@cli.command()
@click.argument("msg_id", metavar="ID")
@click.argument("body", required=False)
@click.option("--urgent", is_flag=True, help="Mark the reply urgent.")
@click.option("--no-wake", is_flag=True, help="Do not wake an idle recipient.")
@click.option("--done", is_flag=True, help="Close the thread: replies in it will not wake anyone.")
@click.option("--sync", is_flag=True, help="Remote home: fail (75) rather than queue when the server is away.")
@pass_ctx
def reply(c: Ctx, msg_id: str, body: str | None, urgent: bool, no_wake: bool, done: bool, sync: bool) -> None:
    """Reply to postcard ID (threaded: In-Reply-To, References, Re: title)."""
    from ..agent.compose import reply as do_reply
    from ..agent.mailbox import find
    from . import read_body

    me = c.me()
    result = do_reply(c.cfg, me, find(c.cfg, me, msg_id), read_body(body), urgent=urgent, wake=not no_wake,
                      done=done, sync=sync)
    out(render.sent_line(result.key, list(result.delivered), queued=getattr(result, "queued", None)))


@cli.command()
@click.argument("title")
@click.argument("body", required=False)
@click.option("--urgent", is_flag=True)
@click.option("--sync", is_flag=True, help="Remote home: fail (75) rather than queue when the server is away.")
@pass_ctx
def broadcast(c: Ctx, title: str, body: str | None, urgent: bool, sync: bool) -> None:
    """Send a postcard to every other agent (no receipts)."""
    from ..agent.compose import broadcast as do_broadcast
    from . import read_body

    result = do_broadcast(c.cfg, c.me(), title, read_body(body), urgent=urgent, sync=sync)
    out(render.sent_line(result.key, list(result.delivered), to_all=True, queued=getattr(result, "queued", None)))


# ---------------------------------------------------------------- reading
@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Show read postcards too (newest first).")
@click.option("--folder", default="INBOX", show_default=True, help="INBOX, Sent, Receipts, Todo, Archive.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def inbox(c: Ctx, show_all: bool, folder: str, limit: int, as_json: bool) -> None:
    """List unread postcards, one line each (and mark them announced)."""
    from ..agent.mailbox import announce, listing, unread

    me = c.me()
    folder = _folder(folder)
    items = listing(c.cfg, me, folder, limit) if show_all else unread(c.cfg, me, folder)[:limit]
    if folder == "INBOX":
        announce(items)
    if as_json:
        ids = render.prefixes(items)
        emit_json([render.item_json(c.cfg, i, ids[i.key]) for i in items])
    elif items:
        out("\n".join(render.lines(c.cfg, items)))
    else:
        out("no unread postcards" if not show_all else f"{folder} is empty")


def _folder(name: str) -> str:
    for known in ("INBOX", "Sent", "Receipts", "Todo", "Archive"):
        if name.lower() == known.lower():
            return known
    from ..format.address import is_valid_name

    if not is_valid_name(name.lower()):
        raise UsageError(f"invalid folder '{name}'")
    return name


@cli.command()
@click.argument("msg_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def read(c: Ctx, msg_id: str, as_json: bool) -> None:
    """Show postcard ID in full, mark it read, and send the receipt it asks for."""
    from ..agent.reading import read_message

    shown = read_message(c.cfg, c.me(), msg_id)
    if as_json:
        emit_json(shown)
        return
    out(render.card_text(shown))


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--since", metavar="AGE", help="Only postcards newer than this (30m, 1h, 2d).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def log(c: Ctx, limit: int, since: str | None, as_json: bool) -> None:
    """Postcards this account sent, and who has read them."""
    from ..agent.reading import sent_log

    rows = sent_log(c.cfg, c.me(), limit, render.parse_age(since) if since else None)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out("nothing sent yet")
    now = time.time()
    for row in rows:
        out(render.log_line(row, now))


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def receipts(c: Ctx, limit: int, as_json: bool) -> None:
    """Read receipts received for this account's postcards."""
    from ..agent.receipts import receipts as list_receipts

    rows = list_receipts(c.cfg, c.me(), limit)
    if as_json:
        emit_json([{"reader": render.short_name(c.cfg, r.reader), "reader_address": render.bare_address(r.reader),
                    "disposition": r.disposition, "original_id": r.original_key[:8], "original_key": r.original_key,
                    "at": round(r.at, 3)}
                   for r in rows])
        return
    if not rows:
        out("no receipts")
    now = time.time()
    for r in rows:
        reader = render.short_name(c.cfg, r.reader)
        out(f"{r.original_key[:8]} {r.disposition} by {reader} {render.age(now - r.at)} ago")


@cli.command(context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def hook(c: Ctx, args: tuple[str, ...]) -> None:
    """Claude Code hooks: session-start|prompt|post-tool|stop|session-end (JSON on stdin; see docs/hooks.md).

    `agentmail hook` normally never reaches click (the fast path in cli/__init__.py runs it); this entry keeps it
    listed in --help and working with AGENTMAIL_NO_FAST_PATH set.
    """
    from ..hooks.command import main as hook_main

    raise click.exceptions.Exit(hook_main(list(args), home=c.home, as_name=c.as_name))


# Modules of agentmail.cli that add commands with a `register_commands(group)` function.
COMMAND_MODULES = ("admin", "clerk", "server_cmds", "mcp_cmd", "remote_cmd", "doctor_cmd")


def run(args: list[str]) -> int:
    """Run the click app with agentmail's error handling: one line on stderr, sysexits codes."""
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(f"agentmail.cli.{module}").register_commands(cli)
    try:
        cli.main(args=args, prog_name="agentmail", standalone_mode=False)
    except AgentmailError as err:
        click.echo(f"agentmail: {err}", err=True)
        return err.exit_code
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.format_message(), err=True)
        return EX_USAGE
    except click.UsageError as err:
        msg = err.format_message()
        hint = f" (see `agentmail {err.ctx.command_path.split(' ', 1)[-1]} --help`)" if err.ctx else ""
        click.echo(f"agentmail: {msg}{hint if err.ctx and err.ctx.parent else ''}", err=True)
        return EX_USAGE
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("agentmail: aborted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    sys.stdout.flush()
    return 0
