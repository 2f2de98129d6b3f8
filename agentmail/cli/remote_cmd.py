"""`agentmail remote set|show|unset|sync`: a home whose account lives on a mail server elsewhere
(docs/scale-out.md, "The client side"), and `directory` on such a home."""

from __future__ import annotations

import time
from typing import Any

import click

from .app import Ctx, emit_json, out, pass_ctx


@click.group()
def remote() -> None:
    """Use a mail server on another machine (Dovecot + Postfix, or agentmail serve) for this home's account."""


@remote.command("set")
@click.option("--imap", "imap_url", required=True, metavar="URL", help="imap://HOST[:PORT] (STARTTLS when offered) "
              "or imaps://HOST[:PORT].")
@click.option("--smtp", "smtp_url", required=True, metavar="URL", help="smtp://HOST[:PORT] (submission, 587; "
              "STARTTLS when offered) or smtps://HOST[:PORT].")
@click.option("--user", required=True, metavar="NAME", help="The account on the server (NAME or NAME@DOMAIN).")
@click.option("--password-file", required=True, metavar="FILE", help="A file whose first line is the password "
              "(- reads stdin); never give the password itself on a command line.")
@click.option("--ca-file", metavar="FILE", help="Also trust this PEM certificate authority (a private CA).")
@click.option("--allow-plain", is_flag=True, help="Allow a login without TLS to a host that is not loopback.")
@click.option("--idle-timeout", type=click.FloatRange(min=1), metavar="SECONDS",
              help="How long the sync process stays after nothing needs it (default 600).")
@click.option("--no-check", is_flag=True, help="Save without logging in to the servers first.")
@pass_ctx
def set_cmd(c: Ctx, imap_url: str, smtp_url: str, user: str, password_file: str, ca_file: str | None,
            allow_plain: bool, idle_timeout: float | None, no_check: bool) -> None:
    """Make this home mirror an account on a mail server; every command then talks to it."""
    from ..remote.setup import configure

    settings, notes = configure(c.cfg, imap_url, smtp_url, user, password_file, ca_file=ca_file,
                                allow_plain=allow_plain, idle_timeout=idle_timeout, check=not no_check)
    for note in notes:
        click.echo(f"agentmail: {note}", err=True)
    out(f"{settings.address}: reading {settings.imap.url}, sending through {settings.smtp.url}; a sync process "
        "keeps a copy here (agentmail remote show)")


@remote.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def show_cmd(c: Ctx, as_json: bool) -> None:
    """Show the servers, the sync process and the outbox (never the password)."""
    from ..remote.setup import show

    info = show(c.cfg)
    if as_json:
        emit_json(info)
        return
    if info is None:
        out("this home is local (no mail server set; see `agentmail remote set --help`)")
        return
    sync, box = info["sync"], info["outbox"]
    out(f"account:  {info['address']}")
    out(f"imap:     {info['imap']}")
    out(f"smtp:     {info['smtp']}")
    out(f"tls:      {'custom CA' if info['ca'] == 'custom' else 'system CAs'}"
        + (", plain text allowed" if info["allow_plain"] else ""))
    out("password: stored in remote.json (mode 0600)")
    if sync["running"]:
        last = f", last sync {_ago(sync['last_sync'])}" if sync.get("last_sync") else ""
        why = f": {sync['error']}" if sync.get("error") else ""
        out(f"sync:     running (pid {sync['pid']}), {sync['state']}{why}{last}")
    else:
        out("sync:     not running (the next command or hook starts it)")
    out(f"outbox:   {box['queued']} queued, {box['in_doubt']} in doubt, {box['failed']} failed")


def _ago(when: Any) -> str:
    if not isinstance(when, (int, float)):
        return "never"
    from ..agent.render import age

    return f"{age(time.time() - when)} ago"


@remote.command("unset")
@click.option("--force", is_flag=True, help="Even with mail still queued (it stays unsent in outbox/).")
@pass_ctx
def unset_cmd(c: Ctx, force: bool) -> None:
    """Make this home local again; the mail mirrored here stays."""
    from ..remote.setup import unset

    left = unset(c.cfg, force)
    extra = f"; {left} unsent message(s) stay in outbox/" if left else ""
    out(f"this home is local again; the mail mirrored here stays{extra}")


@remote.command("sync")
@pass_ctx
def sync_cmd(c: Ctx) -> None:
    """Bring the local copy up to date now and send what is queued."""
    from ..errors import TempFailError
    from ..remote.alive import ensure
    from ..remote.client import refresh

    if not ensure(c.cfg.home):
        from ..errors import ConfigError

        raise ConfigError("this home is local (no mail server set)")
    warning = refresh(c.cfg.home)
    if warning:
        raise TempFailError(warning.removesuffix("; showing the local copy"))
    out("in step with the server")


def remote_directory(c: Ctx, as_json: bool) -> None:
    """`directory` on a remote home: every agent with presence on the server (docs/scale-out.md)."""
    from ..errors import AgentmailError
    from ..remote.client import settings
    from ..remote.connect import AuthRefused, TlsRefused, close_imap, open_imap
    from ..remote.presence import rows

    remote_settings = settings(c.cfg)
    try:
        imap = open_imap(remote_settings)
    except (AuthRefused, TlsRefused):
        raise
    except AgentmailError as exc:
        click.echo(f"agentmail: warning: {exc}", err=True)
        imap = None
    try:
        found, note = rows(c.cfg, remote_settings, imap)
    finally:
        close_imap(imap)
    if as_json:
        emit_json(found)
        return
    if note:
        click.echo(f"agentmail: {note}", err=True)
    for row in found:
        state = "online" if row["online"] else "offline"
        if row["online"] and row["state"] in ("working", "idle"):
            state += ", working" if row["state"] == "working" else (
                ", idle, wakeable" if row["wakeable"] else ", idle, not wakeable")
        where = " ".join(w for w in (row.get("host") and f"on {row['host']}", row.get("cwd")) if w)
        out(f"{row['name']} ({row['kind']}, {state})" + (f" {where}" if where else ""))


def register_commands(group: click.Group) -> None:
    if "remote" not in group.commands:
        group.add_command(remote)
