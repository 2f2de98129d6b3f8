"""`agentmail doctor`: can this process use the store, and what to change when it cannot (agent/doctor.py)."""

from __future__ import annotations

import click

from .app import Ctx, emit_json, out, pass_ctx


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def doctor(c: Ctx, as_json: bool) -> None:
    """Check that this process can write the store and has an identity; in Codex's sandbox, print the
    writable_roots line that lets it. Exits 0 when all is well, else the first problem's code (73: the store is
    read-only here, 78: no identity)."""
    from ..agent.doctor import diagnose

    report = diagnose(c.cfg, c.as_name)
    if as_json:
        emit_json({**report.data, "ok": report.code == 0})
    else:
        for line in report.lines:
            out(line)
    error = report.error()
    if error is not None:
        raise error


def register_commands(group: click.Group) -> None:
    if doctor.name not in group.commands:
        group.add_command(doctor)
