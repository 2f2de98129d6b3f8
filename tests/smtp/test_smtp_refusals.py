"""Every refusal the SMTP listener makes, the reply code it uses, and that nothing is stored when it refuses."""

from __future__ import annotations

import base64
import smtplib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.smtp.conftest import DOMAIN, Server, lf, marker, message, strip_trace
from tests.smtp.wire import Raw
from tests.support import wait
from tests.support.store import Store


def login(server: Server, user: str = "bob") -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.port, timeout=15)
    client.ehlo("test.client")
    client.login(user, server.store.passwords[user])
    return client


def tmp_files(store: Store) -> list[str]:
    return [str(p) for p in store.home.rglob("tmp/*") if p.is_file()]


def test_no_auth_refused_before_mail(server: Server) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.ehlo("x")
        code, text = client.mail(f"bob@{DOMAIN}")
        assert code == 530 and b"Authentication required" in text
        code, _ = client.rcpt(f"alice@{DOMAIN}")
        assert code == 530
        assert client.docmd("DATA")[0] == 530


def test_bad_password_535_after_a_delay(server: Server) -> None:
    def attempt(case: tuple[str, str, str]) -> None:
        mechanism, user, password = case
        with smtplib.SMTP(server.host, server.port, timeout=10) as client:
            client.ehlo("x")
            client.user, client.password = user, password
            start = time.monotonic()
            with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
            assert err.value.smtp_code == 535
            assert time.monotonic() - start >= 0.8
            assert client.mail(f"bob@{DOMAIN}")[0] == 530  # still not logged in

    cases = [("PLAIN", "bob", "wrong"), ("LOGIN", "bob", "wrong"), ("PLAIN", "nosuchuser", "x"),
             ("PLAIN", "../etc", "x"), ("LOGIN", "bob", ""), ("PLAIN", "alice", server.store.passwords["bob"])]
    with ThreadPoolExecutor(len(cases)) as pool:
        list(pool.map(attempt, cases))


def test_auth_needs_ehlo_and_happens_once(server: Server) -> None:
    raw = Raw(server)
    try:
        assert raw.cmd(b"AUTH PLAIN AGJvYgB4").startswith(b"503")
        raw.auth("bob", server.store.passwords["bob"])
        assert raw.cmd(b"AUTH PLAIN AGJvYgB4").startswith(b"503")
        assert raw.cmd(b"AUTH PLAIN !!!notbase64").startswith(b"503")
    finally:
        raw.close()


def test_foreign_domain_is_relay_denied(server: Server) -> None:
    with login(server) as client:
        client.mail(f"bob@{DOMAIN}")
        code, text = client.rcpt("someone@example.com")
        assert code == 550 and b"relay" in text.lower()
        code, text = client.rcpt(f"alice@{DOMAIN}.evil.com")
        assert code == 550 and b"relay" in text.lower()


def test_unknown_name_550_with_suggestion(server: Server) -> None:
    with login(server) as client:
        client.mail(f"bob@{DOMAIN}")
        code, text = client.rcpt(f"alcie@{DOMAIN}")
        assert code == 550 and b"unknown recipient: alcie" in text and b"alice" in text
        code, text = client.rcpt(f"bad..name!@{DOMAIN}")
        assert code == 553 and b"invalid name" in text  # RFC 3463 5.1.3: bad destination mailbox syntax
        assert client.rcpt(f"alice@{DOMAIN}")[0] == 250  # the transaction goes on with good recipients


def test_spoofed_envelope_sender(server: Server) -> None:
    with login(server) as client:
        for spoof in (f"alice@{DOMAIN}", "bob@example.com", "human"):
            code, text = client.mail(spoof)
            assert code == 553 and b"not owned by bob" in text
        assert client.mail(f"bob@{DOMAIN}")[0] == 250


@pytest.mark.parametrize(("frm", "code"), [
    (f"alice@{DOMAIN}", 550), (f"Bob <alice@{DOMAIN}>", 550), ("bob@example.com", 550),  # someone else: 5.7.1
    (f"bob@{DOMAIN}, alice@{DOMAIN}", 550),  # names someone else too: 5.7.1
    ("undisclosed", 554)])  # no mailbox at all: 5.6.0
def test_spoofed_header_from_refused_and_nothing_stored(server: Server, frm: str, code: int) -> None:
    tag = marker()
    before = server.store.journal_count()
    with login(server) as client:
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail(f"bob@{DOMAIN}", [f"carol@{DOMAIN}"], message(frm, f"carol@{DOMAIN}", tag))
        assert err.value.smtp_code == code
    assert server.store.find("carol", tag) == [] and server.store.journal_count() == before


def test_sender_header_must_be_own_too(server: Server) -> None:
    tag = marker()
    data = message(f"bob@{DOMAIN}", f"carol@{DOMAIN}", tag, extra=f"Sender: alice@{DOMAIN}\r\n")
    with login(server) as client, pytest.raises(smtplib.SMTPDataError) as err:
        client.sendmail(f"bob@{DOMAIN}", [f"carol@{DOMAIN}"], data)
    assert err.value.smtp_code == 550
    assert server.store.find("carol", tag) == []


def test_missing_from_header_refused(server: Server) -> None:
    data = b"To: carol@agents.localhost\r\nSubject: no from\r\n\r\nbody\r\n"
    with login(server) as client, pytest.raises(smtplib.SMTPDataError) as err:
        client.sendmail(f"bob@{DOMAIN}", [f"carol@{DOMAIN}"], data)
    assert err.value.smtp_code == 554


def test_oversized_message_552(server: Server) -> None:
    limit = server.store.cfg.max_message
    with login(server) as client:
        ehlo_size = int(client.esmtp_features["size"])
        assert ehlo_size == limit
        code, _ = client.mail(f"bob@{DOMAIN}", options=[f"SIZE={limit + 1}"])
        assert code == 552  # RFC 1870: refused up front when the client declares the size
    tag = marker()
    big = message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag, ("x" * 998 + "\r\n") * (limit // 1000 + 10))
    before = server.store.journal_count()
    with login(server) as client:
        assert client.mail(f"bob@{DOMAIN}")[0] == 250  # no SIZE declared
        assert client.rcpt(f"alice@{DOMAIN}")[0] == 250
        code, _ = client.data(big)
        assert code == 552
        assert client.noop()[0] == 250  # the session survives
    assert server.store.find("alice", tag) == [] and server.store.journal_count() == before


def test_malformed_commands_answered_and_session_survives(server: Server) -> None:
    raw = Raw(server)
    try:
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"503")  # no EHLO yet
        raw.auth("bob", server.store.passwords["bob"])
        assert raw.cmd(b"RCPT TO:<alice@agents.localhost>").startswith(b"503")  # no MAIL yet
        assert raw.cmd(b"DATA").startswith(b"503")
        assert raw.cmd(b"FROBNICATE").startswith(b"500")
        assert raw.cmd(b"MAIL FROM:<bob@").startswith(b"553")
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost> FOO=BAR").startswith(b"555")
        assert raw.cmd(b"MAIL TO:<bob@agents.localhost>").startswith(b"501")
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost> " + b"X" * 2000).startswith(b"500")
        assert raw.cmd(b"\xff\xfe").startswith(b"500")
        assert raw.cmd(b"RCPT TO:<alice@agents.localhost>\r\nQUIT"[:0] + b"NOOP").startswith(b"250")
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"250")
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"503")  # nested MAIL
        assert raw.cmd(b"RCPT TO:<alice@agents.localhost>").startswith(b"250")
        assert raw.cmd(b"DATA x").startswith(b"501")
        assert raw.cmd(b"RSET").startswith(b"250")
    finally:
        raw.close()


def test_disconnect_mid_data_stores_nothing(server: Server) -> None:
    tag = marker()
    before = server.store.journal_count()
    raw = Raw(server)
    raw.auth("bob", server.store.passwords["bob"])
    assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"250")
    assert raw.cmd(b"RCPT TO:<alice@agents.localhost>").startswith(b"250")
    assert raw.cmd(b"DATA").startswith(b"354")
    raw.sock.sendall(message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag, "half a message\r\n" * 50)[:-30])
    raw.sock.shutdown(socket.SHUT_WR)  # the client is gone mid-DATA (EOF) ...
    raw.sock.settimeout(wait.DEADLINE)
    while raw.sock.recv(4096):  # ... and the server has closed the connection: nothing can follow
        pass
    raw.close()
    assert server.store.find("alice", tag) == [] and server.store.journal_count() == before
    assert tmp_files(server.store) == []
    with login(server) as client:
        assert client.noop()[0] == 250


def test_200_concurrent_connections_all_delivered(server: Server) -> None:
    n = 200
    tag = marker()
    opened = threading.Barrier(n, timeout=60)

    def one(i: int) -> tuple[int, bytes]:
        client = smtplib.SMTP(server.host, server.port, timeout=60)
        try:
            client.ehlo("load")
            client.login("carol", server.store.passwords["carol"])
            opened.wait()  # all 200 are connected and authenticated before anyone sends
            data = message(f"carol@{DOMAIN}", f"alice@{DOMAIN}", f"{tag}-{i:03d}", f"message {i}\r\n")
            client.sendmail(f"carol@{DOMAIN}", [f"alice@{DOMAIN}"], data)
            return i, data
        finally:
            client.quit()

    with ThreadPoolExecutor(n) as pool:
        sent = list(pool.map(one, range(n)))
    for i, data in sent:
        assert strip_trace(server.store.only("alice", f"{tag}-{i:03d}@test")) == lf(data)
    with login(server) as client:
        assert client.noop()[0] == 250


def test_ehlo_name_cannot_inject_into_received(server: Server) -> None:
    raw = Raw(server)
    try:
        assert raw.cmd(b"EHLO evil\rX-Injected: yes").startswith(b"250")
        token = base64.b64encode(f"\0bob\0{server.store.passwords['bob']}".encode())
        assert raw.cmd(b"AUTH PLAIN " + token).startswith(b"235")
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"250")
        assert raw.cmd(b"RCPT TO:<alice@agents.localhost>").startswith(b"250")
        assert raw.cmd(b"DATA").startswith(b"354")
        assert raw.cmd(message(f"bob@{DOMAIN}", "alice", "ehlo-inject") + b".").startswith(b"250")
    finally:
        raw.close()
    stored = server.store.only("alice", "ehlo-inject@test")
    assert b"\r" not in stored and b"Received: from evilX-Injected:yes ([127.0.0.1])" in stored
