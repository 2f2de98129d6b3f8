"""The web view's API against a real `agentmail serve`, without a browser: sign-in, every refusal, reading, writing."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import time

from agentmail.store import weblogin
from tests.support import wait
from tests.support.servers import Serve
from tests.support.store import Store
from tests.web.conftest import Web, cli, login_url

HOSTILE_TITLE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def stored(store: Store) -> tuple[int, int, int]:
    """What a refused write must leave as it was: the journal, backend's inbox, the person's Sent."""
    return store.journal_count(), len(store.files("backend")), len(store.files("human", "Sent"))


# --- signing in -----------------------------------------------------------------------------------------------------
def test_login_info_gives_a_web_link_for_the_person_only(store: Store, web_port: int) -> None:
    out = json.loads(cli(store, "login-info", "--json").stdout)
    assert out["web"]["host"] == "127.0.0.1" and out["web"]["port"] == web_port
    assert re.fullmatch(rf"http://127\.0\.0\.1:{web_port}/login\?token=[A-Za-z0-9_-]{{43}}", out["web"]["login_url"])
    agent = json.loads(cli(store, "login-info", "alice", "--json").stdout)
    assert agent["web"] == {"host": "127.0.0.1", "port": web_port, "login_url": None}
    text = cli(store, "login-info").stdout
    assert f"http://127.0.0.1:{web_port}/login?token=" in text


def test_the_serve_banner_prints_a_working_link(served: Serve, web_port: int) -> None:
    url = re.search(rf"http://127\.0\.0\.1:{web_port}/login\?token=\S+", served.log())
    assert url, served.log()
    client = Web(web_port)
    reply = client.login(url.group(0))
    assert reply.status in (303, 403)  # 403 only if another test of this module used it first: it is one-time
    assert reply.status == 303 or "already used" in reply.text


def test_a_link_signs_in_once(store: Store, web_port: int) -> None:
    url = login_url(store)
    assert url is not None
    first, second = Web(web_port), Web(web_port)
    reply = first.login(url)
    assert reply.status == 303 and reply.headers["Location"] == "/"
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"agentmail_{web_port}=")
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attrs
    assert reply.headers["Referrer-Policy"] == "no-referrer"  # the token in the URL goes nowhere else
    assert first.get("/api/session").json()["account"] == "human"
    again = second.login(url)
    assert again.status == 403 and "already used" in again.text and "Set-Cookie" not in again.headers
    assert second.cookie is None


def test_an_expired_link_is_refused_and_removed(store: Store, web_port: int) -> None:
    token = weblogin.issue(store.cfg, "human", ttl=-1)
    reply = Web(web_port).login(f"http://127.0.0.1:{web_port}/login?token={token}")
    assert reply.status == 403 and "expired" in reply.text and "Set-Cookie" not in reply.headers
    assert not (store.home / "run" / "web-login" / hashlib.sha256(token.encode()).hexdigest()).exists()
    again = Web(web_port).login(f"http://127.0.0.1:{web_port}/login?token={token}")
    assert again.status == 403 and "already used" in again.text


def test_malformed_and_unknown_links_are_refused(web_port: int) -> None:
    for query in ("", "token=", "token=short", "token=" + "a" * 43, "token=" + "%00" * 30, "token=../../passwd" * 3,
                  "token=" + "x" * 500):
        reply = Web(web_port).get(f"/login?{query}")
        assert reply.status == 403, query
        assert "Set-Cookie" not in reply.headers, query
        assert reply.headers["Content-Type"].startswith("text/html")


def test_an_agent_cannot_sign_in(store: Store, web_port: int) -> None:
    token = weblogin.issue(store.cfg, "alice")  # a token for an agent could only come from the store itself
    client = Web(web_port)
    reply = client.login(f"http://127.0.0.1:{web_port}/login?token={token}")
    assert reply.status == 403 and "human" in reply.text and "Set-Cookie" not in reply.headers
    assert client.get("/api/session").status == 401


def test_every_path_needs_a_session(store: Store, web_port: int) -> None:
    before = stored(store)
    anonymous, forged = Web(web_port), Web(web_port)
    forged.cookie = f"agentmail_{web_port}=" + "A" * 43
    for client in (anonymous, forged):
        for path in ("/", "/static/app.js", "/static/app.css", "/api/session", "/api/directory", "/api/threads",
                     "/api/events", "/api/accounts/human/folders/INBOX", "/api/accounts/backend/folders/INBOX",
                     "/nothing-here"):
            reply = client.get(path)
            assert reply.status == 401, (path, reply.status)
            assert b"avatar" not in reply.body
        reply = client.post("/api/send", {"to": ["backend"], "title": "t", "body": "b"}, csrf="x")
        assert reply.status == 401
    assert stored(store) == before


def test_signing_out_ends_the_session(web: Web) -> None:
    assert web.post("/api/logout", {}).status == 200
    assert web.get("/api/session").status == 401


# --- what every answer carries ------------------------------------------------------------------------------------
def test_security_headers_and_no_inline_script(web: Web) -> None:
    page = web.get("/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert "src=" in tag  # every script is a file of this server: the CSP would block any other
    api = web.get("/api/threads")
    assert api.headers["X-Content-Type-Options"] == "nosniff" and api.headers["Cache-Control"] == "no-store"


def test_a_foreign_host_name_is_refused(web: Web) -> None:
    """DNS rebinding: a page whose name now points at 127.0.0.1 must get nothing, even with the cookie."""
    for host in ("evil.example", f"evil.example:{web.port}", f"127.0.0.1.evil.example:{web.port}", ""):
        reply = web.get("/api/threads", headers={"Host": host})
        assert reply.status in (400, 421), host
        assert b"avatar" not in reply.body
    assert web.get("/api/threads", headers={"Host": f"localhost:{web.port}"}).status == 200


# --- writes: CSRF, sizes, bad data ----------------------------------------------------------------------------------
def test_writes_need_the_csrf_token_and_a_json_body(store: Store, web: Web, web_port: int) -> None:
    other = Web(web_port)
    url = login_url(store)
    assert url is not None and other.login(url).status == 303
    card = {"to": ["backend"], "title": "csrf", "body": "should not arrive"}
    before = stored(store)
    cases = [
        ({"csrf": ""}, 403), ({"csrf": "wrong"}, 403), ({"csrf": other.csrf}, 403),
        ({"headers": {"Origin": "http://evil.example"}}, 403),
        ({"headers": {"Origin": f"http://127.0.0.1:{web_port + 1}"}}, 403),
        ({"headers": {"Sec-Fetch-Site": "cross-site"}}, 403),
        ({"headers": {"Content-Type": "text/plain"}}, 415),
        ({"headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
    ]
    for kwargs, status in cases:
        reply = web.post("/api/send", card, **kwargs)  # type: ignore[arg-type]
        assert reply.status == status, (kwargs, reply.status, reply.text)
        assert reply.json()["error"]
    assert stored(store) == before
    reply = web.post("/api/send", card, headers={"Origin": f"http://127.0.0.1:{web_port}"})
    assert reply.status == 200, reply.text


def test_oversized_request_is_refused(store: Store, web: Web) -> None:
    before = stored(store)
    reply = web.post("/api/send", {"to": ["backend"], "title": "big", "body": "x" * 100_000})
    assert reply.status == 413 and "too big" in reply.json()["error"]
    assert stored(store) == before


def test_bad_postcards_are_refused_with_their_reason(store: Store, web: Web) -> None:
    before = stored(store)
    cases = [
        ({"to": ["backend"], "title": "long", "body": "x" * 1401}, 400, 65, "the body is 1401 characters long"),
        ({"to": ["backend"], "title": "a\r\nBcc: alice@agents.localhost", "body": "x"}, 400, 65, "line break"),
        ({"to": ["backend"], "title": "t" * 141, "body": "x"}, 400, 65, "the title is 141 characters long"),
        ({"to": ["backend"], "title": "   ", "body": "x"}, 400, 65, "the title is empty"),
        ({"to": ["nobody"], "title": "t", "body": "x"}, 404, 67, "unknown recipient: nobody"),
        ({"to": ["../../etc"], "title": "t", "body": "x"}, 400, 64, "invalid name"),
        ({"to": [], "title": "t", "body": "x"}, 400, 64, "no recipient"),
        ({"to": 5, "title": "t", "body": "x"}, 400, 64, "'to' must be a list"),
        ({"to": ["backend"], "title": 5, "body": "x"}, 400, 64, "'title' must be text"),
        ({"to": ["backend"], "title": "t", "body": "x", "urgent": "yes"}, 400, 64, "'urgent' must be true or false"),
        ({"to": ["backend"], "title": "t", "body": "x", "from": "backend"}, 400, 64, "unknown field 'from'"),
        ({"to": ["backend"], "title": "t", "body": "x", "reply_to": {"journal": "../../x"}}, 400, 64, "hex"),
        ({"to": ["backend"], "title": "t", "body": "x", "reply_to": {"journal": "0" * 32}}, 404, 66, "no postcard"),
        ([1, 2], 400, 64, "JSON object"),
    ]
    for data, status, code, words in cases:
        reply = web.post("/api/send", data)
        body = reply.json()
        assert (reply.status, body["code"]) == (status, code), (data, reply.text)
        assert words in body["error"], (data, body)
        assert "\n" not in body["error"] and "Traceback" not in body["error"]
    reply = web.request("POST", "/api/send", b"{not json", {"Content-Type": "application/json",
                                                             "X-CSRF-Token": web.csrf})
    assert reply.status == 400 and "not valid JSON" in reply.json()["error"]
    assert stored(store) == before


def test_compose_delivers_through_deliver(store: Store, web: Web) -> None:
    reply = web.post("/api/send", {"to": ["backend"], "title": "From the person", "body": "Ship it.\nThanks",
                                   "urgent": True, "no_wake": True})
    assert reply.status == 200, reply.text
    sent = reply.json()
    assert sent["delivered"] == ["backend"] and len(sent["key"]) == 32
    data = store.only("backend", f"<{sent['key']}@")
    head = data.split(b"\n\n", 1)[0]
    assert b"From: human@agents.localhost" in head and b"Importance: high" in head
    assert b"X-Agentmail-Wake: no" in head and b"Disposition-Notification-To: human@agents.localhost" in head
    assert b"Ship it.\nThanks" in data
    assert store.find("human", f"<{sent['key']}@", "Sent")
    quiet = web.post("/api/send", {"to": "alice, database", "title": "no receipt", "body": "", "receipt": False})
    assert quiet.status == 200 and quiet.json()["delivered"] == ["alice", "database"]
    assert b"Disposition-Notification-To" not in store.only("alice", "no receipt")
    everyone = web.post("/api/send", {"to": ["all"], "title": "to everyone", "body": "hi"})
    assert everyone.status == 200
    assert everyone.json()["delivered"] == ["alice", "backend", "database", "frontend"]


# --- reading ------------------------------------------------------------------------------------------------------
def test_conversations_thread_across_agents_with_receipts(web: Web) -> None:
    threads = {t["title"]: t for t in web.get("/api/threads?limit=200").json()["threads"]}
    avatars = threads["Need avatar_url in GET /api/users"]
    assert avatars["count"] >= 2 and set(avatars["people"]) >= {"frontend", "backend"}
    column = threads["Column for user avatars?"]
    assert column["urgent"] and set(column["people"]) >= {"backend", "database"}
    whole = web.get(f"/api/threads/{column['key']}").json()
    first, answer = whole["messages"][:2]
    assert (first["from"], first["to"], answer["from"]) == ("backend", ["database"], "database")
    assert answer["title"] == "Re: Column for user avatars?" and "0042_users_avatar_url" in answer["body"]
    assert [r["reader"] for r in first["receipts"]] == ["database"]
    reply = web.post("/api/send", {"reply_to": {"journal": answer["key"]}, "to": ["database", "backend"],
                                   "body": "Nice work, both of you."})
    assert reply.status == 200, reply.text
    again = web.get(f"/api/threads/{column['key']}").json()["messages"]
    assert again[-1]["from"] == "human" and again[-1]["title"] == "Re: Column for user avatars?"
    assert again[-1]["to"] == ["database", "backend"]
    assert web.get("/api/threads?person=database").json()["total"] >= 1
    assert web.get("/api/threads?limit=0").status == 400


def test_a_hostile_title_is_data(store: Store, web: Web) -> None:
    assert cli(store, "--as", "alice", "send", "human", HOSTILE_TITLE, "body").returncode == 0
    reply = web.get("/api/threads?limit=5")
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert HOSTILE_TITLE in [t["title"] for t in reply.json()["threads"]]


def test_agents_mailboxes_are_read_only(store: Store, web: Web) -> None:
    sent = cli(store, "--as", "alice", "send", "frontend", "unread for frontend", "body")
    assert sent.returncode == 0, sent.stderr
    names = store.names("frontend", sub="new")
    listing = web.get("/api/accounts/frontend/folders/INBOX").json()
    assert listing["read_only"] and listing["folders"][0] == "INBOX"
    item = next(i for i in listing["items"] if i["title"] == "unread for frontend")
    path = f"/api/accounts/frontend/folders/INBOX/messages/{item['key']}"
    shown = web.get(path).json()
    assert shown["body"].strip() == "body" and shown["read_only"] and not shown["receipt_offer"]
    for action in ("seen", "receipt"):
        reply = web.post(f"{path}/{action}", {})
        assert reply.status == 403 and reply.json()["code"] == 77
    assert store.names("frontend", sub="new") == names  # not announced, not marked read
    assert not store.find("alice", "unread for frontend", "Receipts")


def test_the_person_sends_a_receipt_when_asked(store: Store, web: Web) -> None:
    assert cli(store, "--as", "alice", "send", "human", "please confirm", "did you see this?").returncode == 0
    items = web.get("/api/accounts/human/folders/INBOX").json()["items"]
    key = next(i["key"] for i in items if i["title"] == "please confirm")
    path = f"/api/accounts/human/folders/INBOX/messages/{key}"
    shown = web.get(path).json()
    assert shown["receipt_offer"] and shown["receipt_requested"] and "S" not in shown["flags"]
    assert web.post(f"{path}/seen", {}).json()["flags"] == "S"
    assert web.post(f"{path}/receipt", {}).json()["sent"] is True
    mdn = store.only("alice", "Original-Message-ID", "Receipts")
    assert b"Final-Recipient: rfc822;human@agents.localhost" in mdn and f"<{key}@".encode() in mdn
    assert web.post(f"{path}/receipt", {}).json()["sent"] is False  # once only
    assert not web.get(path).json()["receipt_offer"]
    assert len(store.find("alice", f"<{key}@", "Receipts")) == 1


def test_attachments_download_with_safe_names(store: Store, web: Web) -> None:
    message = (
        "From: alice@agents.localhost\nTo: human@agents.localhost\nSubject: with a file\n"
        "Message-ID: <attach-1@agents.localhost>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nsee the file\n'
        '--b\nContent-Type: text/html\nContent-Disposition: attachment; filename="..\\\\..\\\\ev\\"il<b>.html"\n\n'
        "<script>alert(1)</script>\n--b--\n")
    assert cli(store, "sendmail", "-t", stdin=message).returncode == 0
    items = web.get("/api/accounts/human/folders/INBOX").json()["items"]
    key = next(i["key"] for i in items if i["title"] == "with a file")
    path = f"/api/accounts/human/folders/INBOX/messages/{key}"
    assert [a["filename"] for a in web.get(path).json()["attachments"]] == ['..\\..\\ev"il<b>.html']
    reply = web.get(f"{path}/attachments/0")
    assert reply.status == 200 and reply.body == b"<script>alert(1)</script>"  # the CRLF before a boundary is its own
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    disposition = reply.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="ev_il_b_.html"; filename*=UTF-8\'\'')
    assert disposition.count('"') == 2 and "\\" not in disposition and "/" not in disposition
    assert web.get(f"{path}/attachments/1").status == 404
    assert web.get(f"{path}/attachments/-1").status in (400, 404)


def test_ids_in_urls_never_reach_the_file_system(web: Web) -> None:
    paths = [
        "/api/accounts/..%2F..%2Fetc/folders/INBOX", "/api/accounts/../folders/INBOX", "/api/accounts/%2e%2e/folders/x",
        "/api/accounts/human/folders/..%2F..%2Fjournal", "/api/accounts/human/folders/.Sent",
        "/api/accounts/human/folders/..", "/api/accounts/human/folders/INBOX%2F..%2F..%2Fpasswd",
        "/api/accounts/human/folders/INBOX/messages/..%2F..%2Fpasswd",
        "/api/accounts/human/folders/INBOX/messages/%2e%2e%2f%2e%2e%2fpasswd",
        "/api/accounts/backend/folders/Sent/messages/00000000/attachments/0",
        "/api/journal/..%2F..%2Fpasswd", "/api/journal/../../passwd", "/api/threads/..%2F..%2Fetc%2Fpasswd",
        "/static/..%2F__init__.py", "/static/../service.py", "/static/%2e%2e/app.py", "/static/index.html",
        "/static/", "/api/accounts/human/folders/INBOX/messages/" + "0" * 33,
    ]
    for path in paths:
        reply = web.get(path)
        assert reply.status in (400, 404), (path, reply.status, reply.text[:200])
        assert b"import" not in reply.body and b"root:" not in reply.body


# --- the live stream ------------------------------------------------------------------------------------------------
def read_event(res: http.client.HTTPResponse, kind: str, deadline: float) -> dict[str, object]:
    event = ""
    while time.monotonic() < deadline:
        line = res.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == kind:
            return json.loads(line[6:])  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} event")


def test_the_live_stream_reports_new_mail(store: Store, web: Web) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=wait.DEADLINE)
    conn.request("GET", "/api/events", headers={"Cookie": web.cookie or "", "Host": f"127.0.0.1:{web.port}"})
    res = conn.getresponse()
    try:
        assert res.status == 200 and res.headers["Content-Type"] == "text/event-stream"
        deadline = time.monotonic() + wait.DEADLINE
        read_event(res, "hello", deadline)
        assert cli(store, "--as", "database", "send", "backend", "live one", "x").returncode == 0
        change = read_event(res, "change", deadline)
        while not change["journal"]:
            change = read_event(res, "change", deadline)
        assert "backend" in change["accounts"] or change["everything"]
    finally:
        conn.close()
