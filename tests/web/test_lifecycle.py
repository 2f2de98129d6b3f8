"""The web listener in `agentmail serve`'s life: run/serve.json, a busy port, shutdown with open live views, and
HTTPS only beyond loopback."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
from pathlib import Path

from tests.support import wait
from tests.support.servers import Serve
from tests.support.store import AGENTMAIL, env_for
from tests.support.tools import need
from tests.web.conftest import Web, demo_store, login_url


def test_shutdown_ends_open_live_views_and_cleans_up(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "home")
    srv = Serve.start(store)
    port = int(srv.info["web_port"])
    assert port and json.loads((store.home / "run" / "serve.json").read_text())["web_port"] == port
    client = Web(port)
    url = login_url(store)
    assert url is not None and client.login(url).status == 303
    streams = []
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=wait.DEADLINE)
        conn.request("GET", "/api/events", headers={"Cookie": client.cookie or ""})
        res = conn.getresponse()
        assert res.status == 200
        streams.append((conn, res))
    second = subprocess.run([AGENTMAIL, "serve", "--smtp-port", "0", "--imap-port", "0", "--web-port", "0"],
                            env=env_for(store.home), capture_output=True, text=True, timeout=30)
    assert second.returncode == 69 and f"WEB 127.0.0.1:{port}" in second.stderr
    assert srv.stop() == 0, srv.log()
    for conn, res in streams:
        assert res.read()  # the stream ended (hello, then the end), it did not hang
        conn.close()
    assert not (store.home / "run" / "serve.json").exists()
    assert "Traceback" not in srv.log()


def test_a_busy_web_port_is_69(tmp_path: Path) -> None:
    store = demo_store(tmp_path / "home")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([AGENTMAIL, "serve", "--smtp-port", "0", "--imap-port", "0", "--web-port", str(port)],
                              env=env_for(store.home), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 69
    assert proc.stderr.strip().endswith(f"cannot listen for Web on 127.0.0.1:{port}: the port is in use")
    assert "Traceback" not in proc.stderr


def test_beyond_loopback_the_view_speaks_https_only(tmp_path: Path) -> None:
    openssl = need("openssl")["openssl"]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    store = demo_store(tmp_path / "home")
    srv = Serve.start(store, "--host", "0.0.0.0", "--allow-remote", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        port = int(srv.info["web_port"])
        url = login_url(store)
        assert url is not None and url.startswith("https://") and f":{port}/login?token=" in url
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            plain.request("GET", "/")
            status = plain.getresponse().status
        except (OSError, http.client.HTTPException):
            status = None
        finally:
            plain.close()
        assert status in (None, 400)  # no page over plain HTTP
        tls = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl._create_unverified_context())
        try:
            tls.request("GET", "/login?" + url.split("?", 1)[1], headers={"Host": "some.host.example"})
            res = tls.getresponse()
            assert res.status == 303
            cookie = res.headers["Set-Cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
            assert res.headers["Strict-Transport-Security"].startswith("max-age=")
        finally:
            tls.close()
    finally:
        assert srv.stop() == 0, srv.log()
