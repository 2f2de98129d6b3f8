"""The server side of "Past one machine", the same checks against both kinds of server: the reference deployment
(Postfix submission, LMTP into Dovecot with the Sieve script) and `agentmail serve` with a test certificate.

A client here is the standard library's smtplib/imaplib, speaking what any mail program speaks: STARTTLS with the
test CA, AUTH, MAIL/RCPT/DATA. What arrives is looked for in the server store's Maildirs (the tree both servers
deliver into) and over IMAP as the recipient."""

from __future__ import annotations

import email
import smtplib
import time

import pytest

from agentmail.format.mdn import build_mdn
from agentmail.format.postcard import Draft, build
from tests.scaleout.conftest import imap_login, submit
from tests.support.scaleout import DOMAIN, Server, unique
from tests.support.wait import until


def postcard(sender: str, to: str, marker: str, **kwargs: object) -> bytes:
    """A postcard as agentmail builds it, CRLF for the wire."""
    built = build(Draft(f"{sender}@{DOMAIN}", [f"{to}@{DOMAIN}"], f"title {marker}", f"body {marker}",
                        **kwargs), None, DOMAIN)  # type: ignore[arg-type]
    return built.data.replace(b"\n", b"\r\n")


def arrived(server: Server, name: str, marker: str, folder: str = "INBOX", count: int = 1) -> list[bytes]:
    """The server store's copies of `marker` in `name`'s `folder`, once there are `count` of them."""
    found = until(lambda: len(server.server_store.find(name, marker, folder)) >= count or None,
                  f"{marker} in {name}/{folder} on the {server.kind} server")
    assert found
    return [p.read_bytes() for p in server.server_store.find(name, marker, folder)]


def test_submission_delivers_into_the_recipients_maildir(server: Server) -> None:
    marker = unique()
    with submit(server, "alice") as smtp:
        refused = smtp.sendmail(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"], postcard("alice", "bob", marker))
    assert refused == {}
    (stored,) = arrived(server, "bob", marker)
    msg = email.message_from_bytes(stored)
    assert msg["From"] == f"alice@{DOMAIN}" and msg["Subject"] == f"title {marker}"
    assert server.server_store.find("alice", marker) == [] and server.server_store.find("carol", marker) == []
    imap = imap_login(server, "bob")
    try:
        imap.select("INBOX", readonly=True)
        typ, data = imap.search(None, "SUBJECT", marker)
        assert typ == "OK" and len(data[0].split()) == 1
    finally:
        imap.logout()


def test_unknown_recipient_is_refused_at_rcpt_and_nothing_is_stored(server: Server) -> None:
    marker = unique()
    before = server.server_store.snapshot()
    with submit(server, "alice") as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail(f"alice@{DOMAIN}", [f"nobody@{DOMAIN}"], postcard("alice", "bob", marker))
    code, text = refused.value.recipients[f"nobody@{DOMAIN}"]
    assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    time.sleep(0.5)  # a delivery that should not happen: give it a moment to show up anyway
    added = set(server.server_store.snapshot()) - set(before)
    assert [p for p in added if "/new/" in p or "/cur/" in p] == []


def test_a_wrong_password_is_refused_by_smtp_and_imap(server: Server) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        submit(server, "alice", "not-the-password")
    assert err.value.smtp_code == 535
    import imaplib

    with pytest.raises(imaplib.IMAP4.error):
        imap_login(server, "alice", "not-the-password")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        submit(server, "alice", server.password("bob"))  # another account's password


def test_an_account_cannot_send_as_another(server: Server) -> None:
    marker = unique()
    with submit(server, "alice") as smtp:
        # refused at MAIL FROM (agentmail serve) or, as Postfix delays rejections, at RCPT TO
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused)) as err:
            smtp.sendmail(f"bob@{DOMAIN}", [f"carol@{DOMAIN}"], postcard("bob", "carol", marker))
    if isinstance(err.value, smtplib.SMTPRecipientsRefused):
        code, text = err.value.recipients[f"carol@{DOMAIN}"]
    else:
        assert isinstance(err.value, smtplib.SMTPSenderRefused)
        code, text = err.value.smtp_code, err.value.smtp_error
    assert code == 553 and text.startswith(b"5.7.1"), (code, text)
    assert server.server_store.find("carol", marker) == []


def test_mail_for_other_domains_is_not_relayed(server: Server) -> None:
    with submit(server, "alice") as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as err:
        smtp.sendmail(f"alice@{DOMAIN}", ["someone@example.com"], postcard("alice", "bob", unique()))
    code, text = err.value.recipients["someone@example.com"]
    assert code in (550, 554) and text.startswith(b"5.7.1"), (code, text)


def test_a_broadcast_reaches_every_agent(server: Server) -> None:
    """all@ is every agent account. agentmail serve leaves the sender out; Postfix's alias (a plain list) includes
    it, and the sender's agentmail files that copy into its Sent (test_machines.py); the human is never on it."""
    marker = unique()
    built = build(Draft(f"alice@{DOMAIN}", [f"all@{DOMAIN}"], f"title {marker}", f"body {marker}", receipt=False),
                  None, DOMAIN)
    with submit(server, "alice") as smtp:
        assert smtp.sendmail(f"alice@{DOMAIN}", [f"all@{DOMAIN}"], built.data.replace(b"\n", b"\r\n")) == {}
    for name in ("bob", "carol"):
        assert len(arrived(server, name, marker)) == 1
    if server.kind == "dovecot":
        assert len(arrived(server, "alice", marker)) == 1
    time.sleep(0.5)  # a copy that should not come has had the time to land with the others
    assert len(server.server_store.find("alice", marker)) == (1 if server.kind == "dovecot" else 0)
    assert server.server_store.find("human", marker) == []


def test_a_receipt_is_filed_into_the_senders_receipts_folder(server: Server) -> None:
    marker = unique()
    mdn = build_mdn(reader=f"bob@{DOMAIN}", original_message_id=f"<{marker}@{DOMAIN}>",
                    original_sender=f"alice@{DOMAIN}", original_title=f"title {marker}", disposition="displayed",
                    domain=DOMAIN)
    with submit(server, "bob") as smtp:
        # RFC 8098 2.1: an MDN goes out with an empty envelope sender
        assert smtp.sendmail("<>", [f"alice@{DOMAIN}"], mdn.data.replace(b"\n", b"\r\n")) == {}
    (stored,) = arrived(server, "alice", marker, "Receipts")
    assert b"disposition-notification" in stored
    assert server.server_store.find("alice", marker) == []  # not in the inbox


def test_imap_idle_is_told_of_a_delivery(server: Server) -> None:
    imap = imap_login(server, "carol")
    try:
        imap.select("INBOX")
        tag = imap._new_tag().decode()  # IDLE by hand: imaplib has no IDLE before Python 3.14
        imap.send(f"{tag} IDLE\r\n".encode())
        assert imap.readline().startswith(b"+")
        marker = unique()
        with submit(server, "alice") as smtp:
            smtp.sendmail(f"alice@{DOMAIN}", [f"carol@{DOMAIN}"], postcard("alice", "carol", marker))
        imap.sock.settimeout(20)
        deadline = time.monotonic() + 20
        line = b""
        while time.monotonic() < deadline and not line.rstrip().endswith(b"EXISTS"):
            line = imap.readline()
        assert line.rstrip().endswith(b"EXISTS"), line
        imap.send(b"DONE\r\n")
        while not imap.readline().startswith(tag.encode()):
            pass
    finally:
        imap.logout()


def test_an_account_added_while_the_server_runs_can_be_mailed_at_once(server: Server) -> None:
    name = f"late-{unique('x')[2:8]}"
    server.add(name)
    marker = unique()
    with submit(server, "alice") as smtp:
        assert smtp.sendmail(f"alice@{DOMAIN}", [f"{name}@{DOMAIN}"], postcard("alice", name, marker)) == {}
    arrived(server, name, marker)
    imap_login(server, name, server.pwfiles[name].read_text().strip()).logout()
