"""Real clients (smtplib, curl, swaks, msmtp) send through a running `agentmail serve`; each message is read back
from the recipient's Maildir byte for byte, apart from the trace fields deliver() adds."""

from __future__ import annotations

import smtplib
import subprocess
from pathlib import Path

import pytest

from agentmail.format.mdn import build_mdn
from tests.smtp.conftest import DOMAIN, Server, lf, marker, message, strip_trace
from tests.support.tools import missing, need


def smtp(server: Server, user: str | None = "bob") -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.port, timeout=10)
    client.ehlo("test.client")
    if user:
        client.login(user, server.store.passwords[user])
    return client


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtplib_auth_delivers_byte_exact(server: Server, mechanism: str) -> None:
    tag = marker()
    body = "Line one\r\n.leading dot survives dot-stuffing\r\nUnicode: caf\u00e9 \u2713\r\n  indented\r\n"
    data = message(f"Bob <bob@{DOMAIN}>", f"alice@{DOMAIN}", tag, body)
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.ehlo("test.client")
        assert client.has_extn("auth") and client.has_extn("8bitmime") and client.has_extn("smtputf8")
        client.user, client.password = "bob", server.store.passwords["bob"]
        client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        refused = client.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], data, mail_options=["BODY=8BITMIME"])
        assert refused == {}
    stored = server.store.only("alice", tag)
    assert strip_trace(stored) == lf(data)
    head = stored.split(b"\n\n", 1)[0]
    assert b"Return-Path: <bob@agents.localhost>" in head and b"Delivered-To: alice@agents.localhost" in head
    assert b"with ESMTPA" in head
    # SMTP submissions get no .Sent copy (the mail client APPENDs its own), but the journal has one
    assert server.store.find("bob", tag, "Sent") == []


def test_smtputf8_and_login_with_full_address(server: Server) -> None:
    tag = marker()
    data = message(f"B\u00f6b <bob@{DOMAIN}>", f"carol@{DOMAIN}", tag, "\u00fcnicode body \u2603\n")
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.login(f"bob@{DOMAIN}", server.store.passwords["bob"])
        client.sendmail(f"bob@{DOMAIN}", [f"carol@{DOMAIN}"], data, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    stored = server.store.only("carol", tag)
    assert strip_trace(stored) == lf(data)
    assert b"with UTF8SMTPA" in stored


def test_several_recipients_names_and_aliases(server: Server) -> None:
    tag = marker()
    data = message(f"human@{DOMAIN}", f"alice@{DOMAIN}, carol@{DOMAIN}", tag)
    with smtp(server, "human") as client:
        client.sendmail(f"human@{DOMAIN}", [f"alice@{DOMAIN}", f"Carol@{DOMAIN.upper()}"], data)
    for name in ("alice", "carol"):
        assert strip_trace(server.store.only(name, tag)) == lf(data)


def test_mdn_with_null_sender_is_filed_in_receipts(server: Server) -> None:
    built = build_mdn(reader=f"alice@{DOMAIN}", original_message_id="<orig-1@test>",
                      original_sender=f"bob@{DOMAIN}", original_title="hi", disposition="displayed", domain=DOMAIN)
    data = built.data.replace(b"\n", b"\r\n")  # smtplib sends bytes as they are: give it CRLF lines
    with smtp(server, "alice") as client:
        client.sendmail("", [f"bob@{DOMAIN}"], data)  # MAIL FROM:<> (RFC 3461 / RFC 8098)
    mid = built.message_id.encode()
    stored = server.store.only("bob", mid, "Receipts")
    assert stored.startswith(b"Return-Path: <>\n")
    assert strip_trace(stored) == lf(data)
    assert server.store.find("bob", mid) == []


def test_curl(server: Server, tmp_path: Path) -> None:
    curl = need("curl")["curl"]
    tag = marker()
    data = message(f"alice@{DOMAIN}", f"bob@{DOMAIN}", tag, "sent by curl\n")
    (tmp_path / "msg.eml").write_bytes(data)
    subprocess.run([curl, "-sS", f"smtp://{server.host}:{server.port}", "--user",
                    f"alice:{server.store.passwords['alice']}", "--mail-from", f"alice@{DOMAIN}",
                    "--mail-rcpt", f"bob@{DOMAIN}", "-T", str(tmp_path / "msg.eml")], check=True, timeout=20)
    assert strip_trace(server.store.only("bob", tag)) == lf(data)


def test_curl_refused_recipient_fails(server: Server, tmp_path: Path) -> None:
    curl = need("curl")["curl"]
    (tmp_path / "msg.eml").write_bytes(message(f"alice@{DOMAIN}", "x@example.com", marker()))
    proc = subprocess.run([curl, "-sS", f"smtp://{server.host}:{server.port}", "--user",
                           f"alice:{server.store.passwords['alice']}", "--mail-from", f"alice@{DOMAIN}",
                           "--mail-rcpt", "x@example.com", "-T", str(tmp_path / "msg.eml")],
                          capture_output=True, timeout=20)
    assert proc.returncode != 0 and b"550" in proc.stderr


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks(server: Server, tmp_path: Path, mechanism: str) -> None:
    swaks = need("swaks")["swaks"]
    tag = marker()
    data = message(f"carol@{DOMAIN}", f"alice@{DOMAIN}", tag, "sent by swaks\n")
    (tmp_path / "msg.eml").write_bytes(data[:-2])  # swaks itself ends the data with CRLF "." CRLF
    proc = subprocess.run([swaks, "--server", f"{server.host}:{server.port}", "--from", f"carol@{DOMAIN}",
                           "--to", f"alice@{DOMAIN}", "--auth", mechanism, "--auth-user", "carol",
                           "--auth-password", server.store.passwords["carol"], "--data", str(tmp_path / "msg.eml")],
                          capture_output=True, timeout=20)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert strip_trace(server.store.only("alice", tag)) == lf(data)


def test_swaks_shows_the_usual_auth_login_challenges(server: Server) -> None:
    swaks = need("swaks")["swaks"]
    proc = subprocess.run([swaks, "--server", f"{server.host}:{server.port}", "--from", f"carol@{DOMAIN}",
                           "--to", f"alice@{DOMAIN}", "--auth", "LOGIN", "--auth-user", "carol",
                           "--auth-password", server.store.passwords["carol"], "--auth-plaintext"],
                          capture_output=True, timeout=20)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    # swaks decodes the challenges it got: draft-murchison-sasl-login's "Username:" and "Password:"
    assert b"<-  334 Username:\n" in proc.stdout and b"<-  334 Password:\n" in proc.stdout


JS = Path(__file__).parent / "js"


def emailjs(server: Server, user: str, password: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    """Send with emailjs-smtp-client (js/smtp_login.js): Thunderbird's SMTP code derives from it, and its AUTH
    LOGIN accepts only the challenges `334 VXNlcm5hbWU6` and `334 UGFzc3dvcmQ6`, as Thunderbird does."""
    node = need("node")["node"]
    if not (JS / "node_modules" / "emailjs-smtp-client").is_dir():
        missing("emailjs-smtp-client is not installed (npm ci --prefix tests/smtp/js)")
    return subprocess.run([node, str(JS / "smtp_login.js"), str(server.port), user, password, f"{user}@{DOMAIN}",
                           f"alice@{DOMAIN}"], input=data, capture_output=True, timeout=30)


def test_thunderbird_style_auth_login(server: Server) -> None:
    tag = marker()
    data = message(f"carol@{DOMAIN}", f"alice@{DOMAIN}", tag, "sent by emailjs-smtp-client\n")
    proc = emailjs(server, "carol", server.store.passwords["carol"], data)
    assert proc.returncode == 0 and proc.stdout == b"sent\n", proc.stdout + proc.stderr
    assert b"sent by emailjs-smtp-client" in server.store.only("alice", tag)
    # a wrong password is reported as one (535), which is when Thunderbird offers to enter a new one; with other
    # challenges it stopped at "Invalid login sequence while waiting for 334 VXNlcm5hbWU6"
    proc = emailjs(server, "carol", "wrong", data)
    assert proc.returncode == 1 and proc.stdout == b"error: Authentication credentials invalid\n", proc.stdout


def test_swaks_bad_password_gets_535(server: Server) -> None:
    swaks = need("swaks")["swaks"]
    proc = subprocess.run([swaks, "--server", f"{server.host}:{server.port}", "--from", f"carol@{DOMAIN}",
                           "--to", f"alice@{DOMAIN}", "--auth", "PLAIN", "--auth-user", "carol",
                           "--auth-password", "wrong"], capture_output=True, timeout=20)
    assert proc.returncode != 0 and b"535" in proc.stdout


def test_msmtp(server: Server, tmp_path: Path) -> None:
    msmtp = need("msmtp")["msmtp"]
    tag = marker()
    data = message(f"alice@{DOMAIN}", f"carol@{DOMAIN}", tag, "sent by msmtp\n", extra=f"Cc: bob@{DOMAIN}\r\n")
    rc = tmp_path / "msmtprc"
    rc.write_text(f"account default\nhost {server.host}\nport {server.port}\nauth plain\nuser alice\n"
                  f"password {server.store.passwords['alice']}\ntls off\nfrom alice@{DOMAIN}\n")
    rc.chmod(0o600)
    proc = subprocess.run([msmtp, "-C", str(rc), "-t", "-i"], input=data, capture_output=True, timeout=20)
    assert proc.returncode == 0, proc.stderr.decode()
    for name in ("carol", "bob"):
        assert strip_trace(server.store.only(name, tag)) == lf(data)


def test_log_masks_auth_secrets(server: Server) -> None:
    with smtp(server, "bob"):
        pass
    log = server.log()
    for secret in server.store.passwords.values():
        assert secret not in log
    assert "AUTH" not in log or "********" in log or "as bob" in log
