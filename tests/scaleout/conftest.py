"""Fixtures for the scale-out suite: one server per test module (a fixture parametrized over the server kinds, so
a module starts Dovecot + Postfix once and `agentmail serve` once), with three agent accounts provisioned by
`agentmail admin add`, and helpers to talk to it with the standard library's SMTP and IMAP clients."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
from collections.abc import Iterator

import pytest

from tests.support.scaleout import MailServer, Server, start_server

KINDS = ("dovecot", "serve")
AGENTS = ("alice", "bob", "carol")


@pytest.fixture(scope="module", params=KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A running server of each kind, with AGENTS provisioned (their password files in `server.pwfiles`)."""
    srv = start_server(request.param)
    try:
        for name in AGENTS:
            srv.add(name)
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def mail_server() -> Iterator[MailServer]:
    """The reference deployment (Dovecot + Postfix) alone, with AGENTS provisioned."""
    srv = MailServer()
    try:
        srv.start()
        for name in AGENTS:
            srv.add(name)
        yield srv
    finally:
        srv.cleanup()


def tls_context(server: Server) -> ssl.SSLContext:
    """What a client of the server trusts: the test CA, names checked."""
    return ssl.create_default_context(cafile=str(server.ca_file))


def submit(server: Server, user: str, password: str | None = None, host: str = "localhost") -> smtplib.SMTP:
    """An SMTP session to the server's submission port after STARTTLS and AUTH as `user`."""
    client = smtplib.SMTP(host, server.smtp_port, timeout=30)
    client.starttls(context=tls_context(server))
    client.login(user, password if password is not None else server.password(user))
    return client


def imap_login(server: Server, user: str, password: str | None = None) -> imaplib.IMAP4:
    """An IMAP session as `user` (STARTTLS when the server offers it)."""
    client = imaplib.IMAP4("localhost", server.imap_port, timeout=30)
    if "STARTTLS" in client.capabilities:
        client.starttls(tls_context(server))
    client.login(user, password if password is not None else server.password(user))
    return client
