"""The web view of a real `agentmail serve` over a temp store holding the three-agent demo conversation.

`Web` is a small HTTP client on the standard library's http.client (it sends paths and headers exactly as given, so
the refusal tests can send what a browser never would), with one cookie jar and the session's CSRF token.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agentmail import config
from agentmail.agent import demo
from tests.support.servers import Serve
from tests.support.store import AGENTMAIL, Store, create_accounts, env_for


class Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.headers
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Web:
    """One browser's worth of state: the cookie it holds and the CSRF token its page read."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.cookie: str | None = None  # "name=value"
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                cookie: bool = True) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=20)
        try:
            sent = {"Host": f"127.0.0.1:{self.port}"}
            if cookie and self.cookie:
                sent["Cookie"] = self.cookie
            sent.update(headers or {})
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in sent.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            res = conn.getresponse()
            return Reply(res.status, res.headers, res.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: Any, csrf: str | None = None, headers: dict[str, str] | None = None,
             cookie: bool = True) -> Reply:
        sent = {"Content-Type": "application/json", "X-CSRF-Token": self.csrf if csrf is None else csrf}
        sent.update(headers or {})
        return self.request("POST", path, json.dumps(data).encode(), sent, cookie=cookie)

    def login(self, url: str) -> Reply:
        """Open a one-time link; on success keep the session cookie and read the CSRF token."""
        parts = urlsplit(url)
        assert parts.port == self.port, url
        reply = self.get(f"{parts.path}?{parts.query}", cookie=False)
        if reply.status == 303:
            set_cookie = reply.headers.get("Set-Cookie", "")
            self.cookie = set_cookie.split(";", 1)[0]
            self.csrf = self.get("/api/session").json()["csrf"]
        return reply


def login_url(store: Store, name: str | None = None) -> str | None:
    out = subprocess.run([AGENTMAIL, "login-info", *([name] if name else []), "--json"], env=env_for(store.home),
                         capture_output=True, check=True, timeout=30)
    web = json.loads(out.stdout)["web"]
    return web["login_url"]  # type: ignore[no-any-return]


def cli(store: Store, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTMAIL, *args], env=env_for(store.home), capture_output=True, text=True,
                          input=stdin, timeout=30)


def demo_store(path: Path) -> Store:
    """A store with the demo conversation (frontend, backend, database) and one more agent, alice."""
    cfg = config.load(str(path))
    demo.play(cfg)
    create_accounts(cfg, "alice")
    return Store(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return demo_store(tmp_path_factory.mktemp("web") / "home")


@pytest.fixture(scope="module")
def served(store: Store) -> Iterator[Serve]:
    srv = Serve.start(store)
    try:
        yield srv
    finally:
        assert srv.stop() == 0, srv.log()


@pytest.fixture(scope="module")
def web_port(served: Serve) -> int:
    return int(served.info["web_port"])


@pytest.fixture
def web(store: Store, web_port: int) -> Web:
    """A signed-in client (a fresh session for every test)."""
    client = Web(web_port)
    url = login_url(store)
    assert url is not None
    assert client.login(url).status == 303
    return client
