"""Mail from every path wakes an idle session's waiter: `agentmail send`, SMTP through a real `agentmail serve` (a
person writing as `human`, as from Thunderbird or mutt), `agentmail-sendmail`, an IMAP APPEND to the INBOX (which
lands in cur/, not new/), and a file written into new/ as Postfix or Dovecot's LDA delivers it."""

from __future__ import annotations

import imaplib
import os
import smtplib
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from agentmail.store import passwd, registry
from tests.hooks.hookkit import Store
from tests.hooks.waitkit import Session, Sessions, Waiter
from tests.support.servers import Serve
from tests.support.store import AGENTMAIL, SENDMAIL
from tests.support.store import Store as PlainStore

D = "agents.localhost"


@pytest.fixture
def sessions(store: Store) -> Iterator[Sessions]:
    opened = Sessions(store)
    yield opened
    opened.close()


@pytest.fixture
def serve(store: Store) -> Iterator[Serve]:
    registry.ensure_store(store.cfg)
    server = Serve.start(PlainStore(store.home))
    yield server
    assert server.stop() == 0, server.log()


def message(sender: str, title: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{sender}@{D}"
    msg["To"] = f"frontend@{D}"
    msg["Subject"] = title
    msg["Message-ID"] = f"<{title.replace(' ', '-')}@test>"
    msg.set_content("hello\n")
    return msg


def armed(store: Store, sessions: Sessions) -> tuple[Session, Waiter]:
    me = sessions.started("frontend")
    store.register("backend")
    return me, me.stop()


def test_agentmail_send(store: Store, sessions: Sessions) -> None:
    _, waiter = armed(store, sessions)
    out = subprocess.run([AGENTMAIL, "--as", "backend", "send", "frontend", "from the CLI", "-"], input=b"body",
                         capture_output=True, env=store.env, timeout=60)
    assert out.returncode == 0, out.stderr
    key = out.stdout.decode().split()[1]
    assert f'{key} backend: "from the CLI"' in waiter.woke()


def test_smtp_from_a_person(store: Store, sessions: Sessions, serve: Serve) -> None:
    _, waiter = armed(store, sessions)
    with smtplib.SMTP(serve.host, serve.smtp_port, timeout=30) as smtp:
        smtp.login("human", passwd.password_for(store.cfg, "human"))
        smtp.send_message(message("human", "from Thunderbird"))
    text = waiter.woke()
    assert 'human: "from Thunderbird"' in text


def test_sendmail(store: Store, sessions: Sessions) -> None:
    _, waiter = armed(store, sessions)
    out = subprocess.run([SENDMAIL, "-i", f"frontend@{D}"], input=message("backend", "from cron").as_bytes(),
                         capture_output=True, env={**store.env, "AGENTMAIL_ADDRESS": "backend"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'backend: "from cron"' in waiter.woke()


def test_imap_append_to_the_inbox(store: Store, sessions: Sessions, serve: Serve) -> None:
    _, waiter = armed(store, sessions)
    conn = imaplib.IMAP4(serve.host, serve.imap_port, timeout=30)
    try:
        conn.login("frontend", passwd.password_for(store.cfg, "frontend"))
        typ, _ = conn.append("INBOX", None, None, message("backend", "appended").as_bytes())
        assert typ == "OK"
        # a message appended as already read is no news: it does not wake (the wake above lists only the first)
        conn.append("INBOX", "(\\Seen)", None, message("backend", "appended read").as_bytes())
    finally:
        conn.logout()
    text = waiter.woke()
    assert 'backend: "appended"' in text and "appended read" not in text


def test_a_file_written_into_new_as_postfix_or_dovecot_do(store: Store, sessions: Sessions) -> None:
    _, waiter = armed(store, sessions)
    box = store.home / "maildirs" / "frontend"
    name = f"{int(time.time())}.M1P{os.getpid()}.mx.example,S=200"
    (box / "tmp" / name).write_bytes(message("backend", "via postfix").as_bytes())
    os.rename(box / "tmp" / name, box / "new" / name)  # no dovecot-uidlist entry: Dovecot adds it when it looks
    assert 'backend: "via postfix"' in waiter.woke()
