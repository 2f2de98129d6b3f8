"""`agentmail serve` and `agentmail sendmail` (also installed as `agentmail-sendmail`)."""

from __future__ import annotations

import click

from ..agent.server_info import DEFAULT_HOST, DEFAULT_IMAP_PORT, DEFAULT_SMTP_PORT, DEFAULT_WEB_PORT
from .app import Ctx, out, pass_ctx

PORT = click.IntRange(0, 65535)


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--smtp-port", type=PORT, default=DEFAULT_SMTP_PORT, show_default=True, help="0 picks a free port.")
@click.option("--imap-port", type=PORT, default=DEFAULT_IMAP_PORT, show_default=True, help="0 picks a free port.")
@click.option("--web-port", type=PORT, default=DEFAULT_WEB_PORT, show_default=True,
              help="The web view's port; 0 picks a free one.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (needs --tls-cert and --tls-key).")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate for STARTTLS.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key for STARTTLS.")
@click.option("-v", "--verbose", count=True, help="Protocol traces on stderr (AUTH secrets masked); -vv for more.")
@pass_ctx
def serve(c: Ctx, host: str, smtp_port: int, imap_port: int, web_port: int, allow_remote: bool,
          tls_cert: str | None, tls_key: str | None, verbose: int) -> None:
    """Run the local SMTP and IMAP servers and the web view in the foreground until Ctrl-C or SIGTERM.

    The chosen host and ports go to $AGENTMAIL_HOME/run/serve.json; `agentmail login-info` shows a mail client's
    settings, and `agentmail login-info --json` a one-time link for the web view.
    """
    from ..serve import serve as run_server

    code = run_server(c.cfg, host, smtp_port, imap_port, web_port=web_port, allow_remote=allow_remote,
                      tls_cert=tls_cert, tls_key=tls_key, verbose=verbose)
    if code:
        raise click.exceptions.Exit(code)


SENDMAIL_HELP = """Deliver a message from stdin, as sendmail(8) does (no server needed).

\b
  agentmail sendmail [-t] [-i|-oi] [-f ADDR] [-F NAME] [--] [RECIPIENT...] < message
Flags -o*, -B*, -v and -oem are accepted and ignored; see docs/smtp.md."""


@click.command(help=SENDMAIL_HELP, context_settings={
    "ignore_unknown_options": True, "allow_interspersed_args": False, "help_option_names": ["--help"]})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def sendmail(c: Ctx, args: tuple[str, ...]) -> None:
    from ..smtp.sendmail import sendmail as do_sendmail

    result = do_sendmail(c.cfg, list(args))
    if "-v" in args:
        out(f"delivered {result.key[:8]} to {', '.join(result.delivered)}")


def register_commands(group: click.Group) -> None:
    for command in (serve, sendmail):
        if command.name not in group.commands:
            group.add_command(command)
