"""`agentmail serve` as a process: run file, one server per store, stale run files, bind refusals, signals."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import threading
from pathlib import Path

from tests.smtp.conftest import DOMAIN, lf, message, start_server, strip_trace
from tests.support import wait
from tests.support.store import AGENTMAIL, Store, env_for
from tests.support.tools import need


def serve_once(store: Store, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([AGENTMAIL, "serve", "--smtp-port", "0", "--imap-port", "0", *args],
                          env=env_for(store.home), capture_output=True, timeout=30)


def test_run_file_second_start_and_clean_sigint(fresh_store: Store) -> None:
    srv = start_server(fresh_store)
    try:
        info = json.loads((fresh_store.home / "run" / "serve.json").read_text())
        assert info["pid"] == srv.proc.pid and info["host"] == "127.0.0.1" and info["smtp_port"] == srv.port
        assert "started_at" in info
        login = subprocess.run([AGENTMAIL, "login-info", "--json"], env=env_for(fresh_store.home),
                               capture_output=True, check=True)
        assert json.loads(login.stdout)["smtp"]["port"] == srv.port
        second = serve_once(fresh_store)
        assert second.returncode == 69
        err = second.stderr.decode()
        assert "already running" in err and f"pid {srv.proc.pid}" in err and str(srv.port) in err
    finally:
        code = srv.stop(signal.SIGINT)
    assert code == 0
    assert not (fresh_store.home / "run" / "serve.json").exists()
    assert "listen" not in srv.log().lower() or "SMTP" in srv.log()


def test_stale_run_file_does_not_block(fresh_store: Store) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    run = fresh_store.home / "run" / "serve.json"
    run.write_text(json.dumps({"pid": dead.pid, "host": "127.0.0.1", "smtp_port": 1, "imap_port": 2,
                               "started_at": "2020-01-01T00:00:00Z"}))
    srv = start_server(fresh_store)
    assert srv.stop() == 0


def test_crashed_server_does_not_block_restart(fresh_store: Store) -> None:
    srv = start_server(fresh_store)
    srv.stop(signal.SIGKILL)
    assert (fresh_store.home / "run" / "serve.json").exists()  # left behind by the crash
    again = start_server(fresh_store)
    assert again.stop() == 0


def test_port_in_use_is_69(fresh_store: Store) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = subprocess.run([AGENTMAIL, "serve", "--smtp-port", str(busy.getsockname()[1])],
                              env=env_for(fresh_store.home), capture_output=True, timeout=30)
    assert proc.returncode == 69 and b"in use" in proc.stderr


def test_non_loopback_needs_option_and_tls(fresh_store: Store, tmp_path: Path) -> None:
    proc = serve_once(fresh_store, "--host", "0.0.0.0")
    assert proc.returncode == 64 and b"--allow-remote" in proc.stderr
    proc = serve_once(fresh_store, "--host", "0.0.0.0", "--allow-remote")
    assert proc.returncode == 78 and b"--tls-cert" in proc.stderr
    openssl = need("openssl")["openssl"]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days",
                    "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = start_server(fresh_store, "--host", "0.0.0.0", "--allow-remote", "--tls-cert", str(cert),
                       "--tls-key", str(key))
    try:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as client:
            client.ehlo("x")
            assert client.has_extn("starttls") and not client.has_extn("auth")  # RFC 3207 4.2: TLS first
            assert client.mail(f"bob@{DOMAIN}")[0] == 530
            import ssl

            client.starttls(context=ssl._create_unverified_context())
            client.ehlo("x")
            client.login("bob", fresh_store.passwords["bob"])
            client.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], message(f"bob@{DOMAIN}", "alice", "tls-1"))
        assert b"with ESMTPSA" in fresh_store.only("alice", "tls-1@test")
    finally:
        assert srv.stop() == 0


def test_sigterm_mid_load_loses_nothing_acknowledged(fresh_store: Store) -> None:
    srv = start_server(fresh_store)
    acked: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    go = threading.Event()

    def client(n: int) -> None:
        try:
            with smtplib.SMTP(srv.host, srv.port, timeout=20) as smtp:
                smtp.login("bob", fresh_store.passwords["bob"])
                go.wait()
                for i in range(10_000):
                    tag = f"load-{n}-{i}"
                    data = message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag, f"body {n} {i}\r\n")
                    smtp.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], data)  # raises unless 250
                    with lock:
                        acked.append((tag, data))
        except (smtplib.SMTPException, OSError):
            return  # the server went away: whatever was not acknowledged may be lost

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    go.set()
    wait.until(lambda: len(acked) > 20, "20 messages acknowledged under load")  # SIGTERM comes mid-load
    srv.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert srv.proc.wait(30) == 0, srv.log()
    assert len(acked) > 20, f"only {len(acked)} messages were sent before SIGTERM"
    print(f"{len(acked)} acknowledged before SIGTERM")
    stored = {p.read_bytes().split(b"Message-ID: <", 1)[1].split(b"@", 1)[0].decode(): p
              for p in fresh_store.files("alice")}
    for tag, data in acked:
        assert tag in stored, f"{tag} was acknowledged with 250 but is not in the Maildir"
        assert strip_trace(stored[tag].read_bytes()) == lf(data)
    assert not [p for p in fresh_store.home.rglob("tmp/*") if p.is_file()]
    assert not (fresh_store.home / "run" / "serve.json").exists()
    assert os.path.exists(fresh_store.home / "run" / "serve.lock")


def test_verbose_trace_masks_auth_secrets(fresh_store: Store) -> None:
    import base64

    srv = start_server(fresh_store, "-vv")
    try:
        password = fresh_store.passwords["bob"]
        for mechanism in ("PLAIN", "LOGIN"):
            with smtplib.SMTP(srv.host, srv.port, timeout=10) as client:
                client.ehlo("x")
                client.user, client.password = "bob", password
                client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
                client.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], message(f"bob@{DOMAIN}", "alice", "vv-1"))
    finally:
        assert srv.stop() == 0
    log = srv.log()
    assert "AUTH PLAIN ********" in log and "as bob" in log and "ehlo x" in log.lower()
    secrets = [password, base64.b64encode(password.encode()).decode(),
               base64.b64encode(f"\0bob\0{password}".encode()).decode()]
    assert not [s for s in secrets if s in log]


def test_sigterm_says_goodbye_on_every_open_connection(fresh_store: Store) -> None:
    """Stopping serve tells an idle SMTP session 421 (RFC 5321 3.8) and a logged-in IMAP client BYE (RFC 3501
    7.1.5), on the event loop serve really runs (uvloop where installed), before the connections close."""
    srv = start_server(fresh_store)
    smtp = socket.create_connection((srv.host, srv.port), timeout=wait.DEADLINE)
    imap = socket.create_connection((srv.host, srv.imap_port), timeout=wait.DEADLINE)
    try:
        assert smtp.recv(4096).startswith(b"220")
        smtp.sendall(b"EHLO goodbye\r\n")
        got = b""
        while not got.endswith(b"\r\n") or b"250 " not in got:
            got += smtp.recv(4096)
        imap.recv(4096)  # the greeting
        imap.sendall(f'a LOGIN bob "{fresh_store.passwords["bob"]}"\r\n'.encode())
        got = b""
        while b"a OK" not in got:
            got += imap.recv(4096)
        assert srv.stop(signal.SIGTERM) == 0
        for sock, farewell in ((smtp, b"421 4.3.2 agentmail is shutting down, try again later\r\n"),
                               (imap, b"* BYE Server shutting down\r\n")):
            rest = b""
            while chunk := sock.recv(4096):  # b"" once serve closed it; the socket timeout fails the test
                rest += chunk
            assert rest.endswith(farewell), rest
    finally:
        smtp.close()
        imap.close()
