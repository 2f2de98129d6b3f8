"""Commands around the mail itself: login-info, init, cleanup, demo, and `admin` (a mail server for many machines)."""

from __future__ import annotations

import os

import click

from ..errors import UsageError
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


@click.group()
def admin() -> None:
    """Serve this store to agents on other machines through Dovecot and Postfix (docs/scale-out.md)."""


@admin.command(name="add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["agent", "human", "service"]), default="agent", show_default=True)
@click.option("--password-file", "password_file", type=click.Path(dir_okay=False),
              help="Write the password here (default: server/credentials/NAME.password in the store), mode 0600.")
@click.option("--imap", "imap_url", metavar="URL", help="The IMAP URL agents use (default: from `admin config`).")
@click.option("--smtp", "smtp_url", metavar="URL", help="The SMTP URL agents use (default: from `admin config`).")
@pass_ctx
def admin_add(c: Ctx, name: str, kind: str, password_file: str | None, imap_url: str | None,
              smtp_url: str | None) -> None:
    """Add an account for an agent on another machine; print the `remote set` line to run there."""
    from ..agent import provision
    from ..format.address import normalize_name

    name = normalize_name(name)
    imap, smtp = provision.urls(c.cfg, imap_url, smtp_url)
    done = provision.add(c.cfg, name, kind, password_file)
    out(f"added {done['name']} ({kind}): {done['address']}\n"
        f"password file: {done['password_file']} (mode 0600; copy it to the agent's machine, keep it 0600)\n"
        f"postfix tables: {done['postfix']}, {done['postfix_note']}\n"
        f"on the agent's machine, with the password file's path there:\n"
        f"  {provision.remote_line(imap, smtp, str(done['address']), str(done['password_file']))}")


@admin.command(name="password")
@click.argument("name")
@click.option("--password-file", "password_file", type=click.Path(dir_okay=False),
              help="Write the password here (default: server/credentials/NAME.password in the store), mode 0600.")
@click.option("--imap", "imap_url", metavar="URL", help="The IMAP URL agents use (default: from `admin config`).")
@click.option("--smtp", "smtp_url", metavar="URL", help="The SMTP URL agents use (default: from `admin config`).")
@pass_ctx
def admin_password(c: Ctx, name: str, password_file: str | None, imap_url: str | None, smtp_url: str | None) -> None:
    """Write an account's password file again (a lost copy); print the `remote set` line."""
    from ..agent import provision
    from ..format.address import normalize_name

    name = normalize_name(name)
    imap, smtp = provision.urls(c.cfg, imap_url, smtp_url)
    real, path = provision.password(c.cfg, name, password_file)
    out(f"password file: {path} (mode 0600)\n  {provision.remote_line(imap, smtp, c.cfg.address(real), path)}")


@admin.command(name="maps")
@pass_ctx
def admin_maps(c: Ctx) -> None:
    """Rewrite the Postfix tables from the store's accounts (after accounts were added or renamed by other means)."""
    from ..agent import provision
    from ..store import registry

    registry.ensure_store(c.cfg)
    directory, note = provision.write_tables(c.cfg)
    out(f"postfix tables: {directory}, {note}")


@admin.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def admin_list(c: Ctx, as_json: bool) -> None:
    """The accounts the server serves, with their kind (agents are on the all list)."""
    from ..store import registry

    registry.ensure_store(c.cfg)
    rows = [{"name": a["name"], "kind": a.get("kind", "agent"), "address": c.cfg.address(a["name"])}
            for a in registry.accounts(c.cfg)]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        out(f"{row['name']:<32} {row['kind']:<8} {row['address']}")


@admin.command(name="config")
@click.option("--hostname", required=True, help="The server's name, as its TLS certificate names it.")
@click.option("--tls-cert", required=True, type=click.Path(dir_okay=False), help="PEM certificate (full chain).")
@click.option("--tls-key", required=True, type=click.Path(dir_okay=False), help="PEM private key.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Write dovecot.conf, postfix-main.cf, postfix-master.cf and agentmail.sieve here.")
@click.option("--vmail", default="vmail", show_default=True, help="The user mail files belong to.")
@click.option("--imap", "imap_url", metavar="URL", help="The IMAP URL agents use (default: imaps://HOSTNAME).")
@click.option("--smtp", "smtp_url", metavar="URL", help="The SMTP URL agents use (default: smtp://HOSTNAME:587).")
@pass_ctx
def admin_config(c: Ctx, hostname: str, tls_cert: str, tls_key: str, out_dir: str, vmail: str,
                 imap_url: str | None, smtp_url: str | None) -> None:
    """Write the reference Dovecot and Postfix configuration for this store (docs/scale-out.md)."""
    from ..agent import provision
    from ..agent.deploy import Deployment

    if not hostname or any(ch.isspace() or ch in "/:@" for ch in hostname):
        raise UsageError(f"--hostname {hostname!r}: expected a host name such as mail.example.com")
    for opt, value in (("--vmail", vmail), ("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if not value or any(ch.isspace() or ord(ch) < 32 for ch in value):
            raise UsageError(f"{opt} {value!r}: no spaces or control characters")
    imap, smtp = provision.urls(c.cfg, imap_url or f"imaps://{hostname}", smtp_url or f"smtp://{hostname}:587")
    d = Deployment(c.cfg.home, c.cfg.domain, hostname, os.path.abspath(tls_cert), os.path.abspath(tls_key),
                   vmail=vmail, max_message=c.cfg.max_message)
    for path in provision.write_config(c.cfg, d, out_dir, imap, smtp):
        out(f"wrote {path}")


def register_commands(group: click.Group) -> None:
    for command in (login_info, init, cleanup, demo, admin):
        if command.name not in group.commands:
            group.add_command(command)
