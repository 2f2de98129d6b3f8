"""Commands around the mail itself: login-info, init, cleanup, demo."""

from __future__ import annotations

import os

import click

from .app import Ctx, emit_json, out, pass_ctx


@click.command(name="login-info")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def login_info(c: Ctx, name: str | None, as_json: bool) -> None:
    """IMAP/SMTP host, ports, user and password for a mail client (default: the human account)."""
    from ..agent.identity import no_such_account
    from ..agent.server_info import server_info, web_login
    from ..format.address import normalize_name
    from ..store import passwd, registry

    registry.ensure_store(c.cfg)
    user = normalize_name(name) if name else registry.HUMAN
    real = registry.resolve(c.cfg, user)
    if real is None:
        raise no_such_account(c.cfg, user)
    info = server_info(c.cfg)
    data = {
        "user": real, "address": c.cfg.address(real), "password": passwd.password_for(c.cfg, real),
        "imap": {"host": info["host"], "port": info["imap_port"]},
        "smtp": {"host": info["host"], "port": info["smtp_port"]},
        "web": web_login(c.cfg, info, real),
        "running": info["running"],
    }
    if as_json:
        emit_json(data)
        return
    state = f"running (pid {info['pid']})" if info["running"] else "not running: start it with `agentmail serve`"
    out(f"IMAP      {info['host']}:{info['imap_port']}  (plain, no TLS: loopback only)\n"
        f"SMTP      {info['host']}:{info['smtp_port']}  (AUTH PLAIN or LOGIN)\n"
        f"user      {real}\n"
        f"password  {data['password']}\n"
        f"address   {data['address']}\n"
        f"web       {data['web']['login_url'] or 'the web view is for the human account only'}\n"
        f"server    {state}")


@click.command()
@click.option("--path", "path", type=click.Path(dir_okay=False), help="Write the hint into this file only.")
@click.option("--force", is_flag=True, help="Rewrite an existing agentmail block.")
def init(path: str | None, force: bool) -> None:
    """Add the coordination hint at the project root to CLAUDE.md, AGENTS.md and an existing GEMINI.md (idempotent)."""
    from ..agent.hint import install_hint

    for target, action in install_hint(path, force=force):
        out(f"{action}: {target}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@pass_ctx
def cleanup(c: Ctx, dry_run: bool) -> None:
    """Mark dead sessions offline, drop stale bindings, locks and stuck tmp files. Never touches mail."""
    from ..agent.cleanup import cleanup as do_cleanup

    actions = do_cleanup(c.cfg, dry_run=dry_run)
    for action in actions:
        out(("would " if dry_run else "") + action)
    if not actions:
        out("nothing to clean up")


@click.command()
@click.option("--into", "into", type=click.Path(file_okay=False), help="Create the demo store here "
              "(default: a new temporary directory).")
def demo(into: str | None) -> None:
    """Play a sample three-agent conversation (frontend, backend, database) into a fresh store."""
    import tempfile

    from .. import config
    from ..agent.demo import play

    home = into or tempfile.mkdtemp(prefix="agentmail-demo-")
    if into and os.path.exists(os.path.join(into, "maildirs")):
        from ..errors import CantCreateError

        raise CantCreateError(f"{into} already holds a store; the demo needs an empty directory")
    for line in play(config.load(home)):
        out(line)
    out(f"\nThe demo store is {home}. Look around:\n"
        f"  AGENTMAIL_HOME={home} agentmail --as backend log\n"
        f"  AGENTMAIL_HOME={home} agentmail --as frontend inbox --all\n"
        f"  mutt -f {home}/maildirs/backend")


def register_commands(group: click.Group) -> None:
    for command in (login_info, init, cleanup, demo):
        if command.name not in group.commands:
            group.add_command(command)
