"""What only the reference deployment (Dovecot + Postfix, docs/scale-out.md) does: TLS before AUTH and a checked
certificate, presence in IMAP METADATA on the shared folder, and `agentmail serve` and local agents on the server
machine using the same tree as Dovecot at the same time."""

from __future__ import annotations

import imaplib
import json
import smtplib
import ssl
import subprocess
import time

import pytest

from agentmail.agent.deploy import PRESENCE_ENTRY, PRESENCE_MAILBOX
from tests.scaleout.conftest import imap_login, submit, tls_context
from tests.scaleout.test_server import arrived, postcard
from tests.support.scaleout import DOMAIN, MAIL_USER, MailServer, owner_of, unique
from tests.support.servers import free_port
from tests.support.store import AGENTMAIL, env_for
from tests.support.wait import until


def test_submission_offers_auth_only_after_starttls(mail_server: MailServer) -> None:
    with smtplib.SMTP("localhost", mail_server.smtp_port, timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        code, text = smtp.docmd("AUTH", "PLAIN")
        assert code in (503, 530, 538), (code, text)
        code, text = smtp.docmd("MAIL", f"FROM:<alice@{DOMAIN}>")
        assert code == 530 or (code == 250 and smtp.docmd("RCPT", f"TO:<bob@{DOMAIN}>")[0] >= 500), (code, text)
        smtp.starttls(context=tls_context(mail_server))
        smtp.ehlo()
        assert smtp.has_extn("auth")


def test_a_certificate_for_another_name_is_refused(mail_server: MailServer) -> None:
    """The certificate names `localhost`; a client told to reach 127.0.0.1 must not accept it."""
    with smtplib.SMTP("127.0.0.1", mail_server.smtp_port, timeout=30) as smtp:
        with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
            smtp.starttls(context=tls_context(mail_server))
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        imaplib.IMAP4_SSL("127.0.0.1", mail_server.deployment.imaps_port, ssl_context=tls_context(mail_server),
                          timeout=30)
    # with the right name, both verify
    imaps = imaplib.IMAP4_SSL("localhost", mail_server.deployment.imaps_port, ssl_context=tls_context(mail_server),
                              timeout=30)
    imaps.login("alice", mail_server.password("alice"))
    imaps.logout()


def metadata(imap: imaplib.IMAP4, *args: str) -> bytes:
    """The METADATA responses to a GETMETADATA or SETMETADATA, flattened (literals included)."""
    typ, data = imap.xatom(*args)
    assert typ == "OK", (args, data)
    found = imap.untagged_responses.pop("METADATA", [])
    return b" ".join(b"".join(x) if isinstance(x, tuple) else x for x in found)


def test_presence_is_shared_in_metadata_and_private_entries_stay_private(mail_server: MailServer) -> None:
    alice, bob = imap_login(mail_server, "alice"), imap_login(mail_server, "bob")
    try:
        assert b"METADATA" in alice.capability()[1][0].split()  # after LOGIN: imaplib keeps the first list
        ns = alice.namespace()[1][0].decode()
        assert f'"{PRESENCE_MAILBOX.split("/")[0]}/"' in ns  # the public namespace, as NAMESPACE's third part
        record = {"host": "laptop-a", "cwd": "/work/a", "last_seen": "2026-01-01T00:00:00Z", "state": "online"}
        value = json.dumps(record).replace("\\", "\\\\").replace('"', '\\"')
        metadata(alice, "SETMETADATA", PRESENCE_MAILBOX, f'({PRESENCE_ENTRY}/alice "{value}")')
        metadata(alice, "SETMETADATA", "INBOX", f'(/private/vendor/agentmail/presence "{value}")')
        found = metadata(bob, "GETMETADATA", "(DEPTH 1)", PRESENCE_MAILBOX, PRESENCE_ENTRY)
        assert f"{PRESENCE_ENTRY}/alice".encode() in found and b"laptop-a" in found
        # alice's INBOX is not bob's to name, and his own INBOX holds only his own private entries
        assert b"laptop-a" not in metadata(bob, "GETMETADATA", "INBOX", "/private/vendor/agentmail/presence")
        assert not any(b"alice" in line for line in bob.list()[1] if line)
        # the shared folder cannot be deleted or emptied by an account
        typ, _ = bob.delete(PRESENCE_MAILBOX)
        assert typ == "NO"
        assert bob.list('""', PRESENCE_MAILBOX)[1] != [None]
    finally:
        alice.logout()
        bob.logout()


def agentmail_as_vmail(server: MailServer, *args: str) -> subprocess.CompletedProcess[str]:
    return server.local(*args)


def test_agentmail_serve_and_dovecot_serve_the_same_tree_with_the_same_uids(mail_server: MailServer) -> None:
    """agentmail serve runs on the server machine next to Dovecot and Postfix (as the mail user where this
    machine lets it run the checkout's Python, on its own loopback ports): a postcard that came through Postfix and
    LMTP has the same UID in both."""
    marker = unique()
    with submit(mail_server, "alice") as smtp:
        smtp.sendmail(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"], postcard("alice", "bob", marker))
    arrived(mail_server, "bob", marker)
    smtp_port, imap_port = free_port(), free_port()
    log = mail_server.root / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([AGENTMAIL, "serve", "--smtp-port", str(smtp_port), "--imap-port", str(imap_port),
                                  "--web-port", "0"], env=env_for(mail_server.home), stdout=out,
                                 stderr=subprocess.STDOUT, user=mail_server.local_user(),
                                 group=mail_server.local_user())
    try:
        def connect() -> imaplib.IMAP4 | None:
            try:
                return imaplib.IMAP4("127.0.0.1", imap_port, timeout=30)
            except OSError:
                assert serve.poll() is None, log.read_text()
                return None

        ours = until(connect, "agentmail serve listening on the server store")
        assert ours is not None
        ours.login("bob", mail_server.password("bob"))
        theirs = imap_login(mail_server, "bob")
        answers = []
        for imap in (ours, theirs):
            typ, data = imap.select("INBOX", readonly=True)
            uidvalidity = imap.response("UIDVALIDITY")[1]
            typ, data = imap.uid("SEARCH", "SUBJECT", marker)
            answers.append((uidvalidity, data[0]))
            imap.logout()
        assert answers[0] == answers[1] and answers[0][1], answers
        if mail_server.local_user() == MAIL_USER:  # it left the tree to the mail user
            assert owner_of(mail_server.home / "maildirs" / "bob" / "dovecot-uidlist") == MAIL_USER
    finally:
        serve.terminate()
        serve.wait(20)
        mail_server.settle()


def test_a_local_agent_on_the_server_mails_a_remote_one_and_idle_sees_it(mail_server: MailServer) -> None:
    """An agent on the server machine itself uses the CLI on the store directly (as the mail user); a client of
    Dovecot in IDLE is told at once."""
    proc = agentmail_as_vmail(mail_server, "register", "local-agent")
    assert proc.returncode == 0, proc.stderr
    mail_server.admin("maps")
    # Dovecot reads its passwd file at most once a second: an LMTP delivery before it knows the new user is
    # deferred by Postfix for minutes
    mail_server.known("local-agent", mail_server.password("local-agent"))
    imap = imap_login(mail_server, "carol")
    try:
        imap.select("INBOX")
        tag = imap._new_tag().decode()
        imap.send(f"{tag} IDLE\r\n".encode())
        assert imap.readline().startswith(b"+")
        marker = unique()
        proc = agentmail_as_vmail(mail_server, "--as", "local-agent", "send", "carol", f"title {marker}", "hi")
        assert proc.returncode == 0, proc.stderr
        imap.sock.settimeout(20)
        deadline, line = time.monotonic() + 20, b""
        while time.monotonic() < deadline and not line.rstrip().endswith(b"EXISTS"):
            line = imap.readline()
        assert line.rstrip().endswith(b"EXISTS"), line
        imap.send(b"DONE\r\n")
        while not imap.readline().startswith(tag.encode()):
            pass
        # and the remote side can answer it through Postfix
        with submit(mail_server, "carol") as smtp:
            assert smtp.sendmail(f"carol@{DOMAIN}", [f"local-agent@{DOMAIN}"],
                                 postcard("carol", "local-agent", marker + "-re")) == {}
        arrived(mail_server, "local-agent", marker + "-re")
    finally:
        imap.logout()
