"""The aiohttp application of the web view: security on every response, sign-in, static files, routes.

Every request passes, in order:
1. headers on every answer, errors too: a strict Content-Security-Policy (scripts only from this server, no inline
   script, no framing), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (the login link never
   leaks), `Cache-Control: no-store`;
2. the Host check: a loopback server answers only to its own host names, so a page whose DNS name was rebound to
   127.0.0.1 gets nothing (the browser would count it as that page's own origin);
3. the session: every path but /login needs a live session of the `human` account (401 / 403 otherwise), the API
   and the live stream included;
4. for every write (POST): a JSON body (415 otherwise), no foreign Origin or cross-site Sec-Fetch-Site, and the
   session's CSRF token in `X-CSRF-Token` (403 otherwise);
5. errors as one line: an AgentmailError becomes {"error", "code"} with its sysexits code and a matching HTTP
   status; anything unexpected is logged and answered 500 without details.

Static files are read from the package once and served from memory by name: no path from a URL reaches the file
system.
"""

from __future__ import annotations

import hmac
import logging
from importlib import resources

from aiohttp import web

from ..errors import AgentmailError
from ..store import registry, weblogin
from . import api
from .state import SESSION_KEY, STATE, WebState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("agentmail.web")

MAX_REQUEST = 64 * 1024  # bytes of a request body: a postcard is 1,400 characters; attachments go by the CLI
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "index.html": "text/html; charset=utf-8", "icon.svg": "image/svg+xml"}
OPEN = frozenset({"/login", "/favicon.ico"})
# sysexits code -> HTTP status
STATUS = {64: 400, 65: 400, 66: 404, 67: 404, 69: 503, 73: 507, 74: 500, 75: 503, 77: 403, 78: 500}

SIGNED_OUT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>agentmail: sign in</title>
</head><body><main class="signin"><h1>agentmail</h1><p>{message}</p>
<p>Open the one-time link that <code>make run</code> printed, or get a new one with
<code>agentmail login-info --json</code> (its <code>web.login_url</code>).</p></main></body></html>
"""


def load_static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("agentmail.web") / "static"
    return {name: ((folder / name).read_bytes(), ctype) for name, ctype in STATIC.items()}


def error_json(status: int, message: str, code: int | None = None) -> web.Response:
    return web.json_response({"error": message, "code": code}, status=status)


def page(status: int, message: str) -> web.Response:
    import html

    return web.Response(status=status, text=SIGNED_OUT.format(message=html.escape(message)),
                        content_type="text/html", charset="utf-8")


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api/"):
        return error_json(status, message)
    return page(status, message)


@web.middleware
async def headers_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own: 404, 405, 413 ...
        text = exc.text or exc.reason
        if exc.status == 413:
            text = f"the request is too big: at most {MAX_REQUEST} bytes"
        response = refuse(request, exc.status, text) if exc.status >= 400 else exc
        if isinstance(exc, web.HTTPRedirection):
            response = exc
    secure(response, request)
    return response


def secure(response: web.StreamResponse, request: web.Request) -> None:
    if response.prepared:
        return  # an SSE stream sets its headers before it starts
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Frame-Options"] = "DENY"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h.setdefault("Cache-Control", "no-store")
    if request.app[STATE].tls:
        h["Strict-Transport-Security"] = "max-age=31536000"


@web.middleware
async def host_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if not state.remote and request.headers.get("Host", "").lower() not in state.allowed_hosts():
        return refuse(request, 421, "this server answers only to its own loopback address")
    return await handler(request)


@web.middleware
async def errors_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except AgentmailError as exc:
        status = STATUS.get(exc.exit_code, 500)
        if request.path.startswith("/api/"):
            return error_json(status, str(exc), exc.exit_code)
        return page(status, str(exc))
    except (ConnectionResetError, ConnectionError):
        raise
    except Exception:
        log.exception("web view: %s %s failed", request.method, request.path)
        return refuse(request, 500, "internal error (the server log says more)")


@web.middleware
async def session_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if request.path in OPEN:
        return await handler(request)
    session = state.sessions.get(request.cookies.get(state.cookie))
    if session is None:
        return refuse(request, 401, "not signed in")
    if session.account != registry.HUMAN:
        return refuse(request, 403, "the web view is the person's (the human account); agents use the CLI")
    request[SESSION_KEY] = session
    if request.method not in ("GET", "HEAD"):
        why = write_refusal(request, state, session.csrf)
        if why is not None:
            return refuse(request, why[0], why[1])
    return await handler(request)


def write_refusal(request: web.Request, state: WebState, csrf: str) -> tuple[int, str] | None:
    """Why a write is refused (status, message), or None: CSRF token, origin, JSON body."""
    origin = request.headers.get("Origin")
    scheme = "https" if state.tls else "http"
    if origin is not None and origin != f"{scheme}://{request.headers.get('Host', '')}":
        return 403, "a write from another origin is refused"
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return 403, "a cross-site write is refused"
    sent = request.headers.get("X-CSRF-Token", "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf.encode()):
        return 403, "missing or wrong CSRF token (reload the page)"
    if request.content_type != "application/json":
        return 415, "a write takes a JSON body (Content-Type: application/json)"
    return None


# --- sign-in ----------------------------------------------------------------------------------------------------
async def login(request: web.Request) -> web.StreamResponse:
    """GET /login?token=...: redeem a one-time token, start a session, go to the view."""
    state = request.app[STATE]
    token = request.query.get("token", "")
    try:
        account = await state.run(weblogin.redeem, state.cfg, token)
    except weblogin.LoginRefused as exc:
        log.warning("web view: login refused: %s", exc)
        return page(403, f"{exc}.")
    if account != registry.HUMAN:
        log.warning("web view: login refused: a token for %s", account)
        return page(403, f"the web view is the person's (the human account): {account} cannot sign in here.")
    session = state.sessions.new(account)
    response = web.HTTPSeeOther("/")
    response.set_cookie(state.cookie, session.id, httponly=True, samesite="Strict", path="/", secure=state.tls)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.sessions.drop(request[SESSION_KEY])
    response = web.json_response({"signed_out": True})
    response.del_cookie(state.cookie, path="/")
    return response


# --- static files -------------------------------------------------------------------------------------------------
def static_handler(files: dict[str, tuple[bytes, str]]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "index.html")
        found = files.get(name)
        if found is None or name == "index.html" and request.path != "/":
            return refuse(request, 404, "no such file")
        response = web.Response(body=found[0], headers={"Content-Type": found[1]})
        response.headers["Cache-Control"] = "no-cache"
        return response

    return handler


async def no_icon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


def build_app(state: WebState) -> web.Application:
    app = web.Application(middlewares=[headers_mw, host_mw, errors_mw, session_mw], client_max_size=MAX_REQUEST)
    app[STATE] = state
    files = load_static()
    serve_static = static_handler(files)
    app.router.add_get("/", serve_static)
    app.router.add_get("/static/{name}", serve_static)
    app.router.add_get("/login", login)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_post("/api/logout", logout)
    api.add_routes(app)
    return app
