"""The web view's JSON API and its live stream (server-sent events). Store work runs in the worker threads.

    GET  /api/session                                        who is signed in, the CSRF token, the limits
    GET  /api/directory                                      accounts, presence, what a postcard would do
    GET  /api/threads?limit&offset&person                    conversations from the journal, newest first
    GET  /api/threads/{key}                                  one conversation, every postcard with its body
    GET  /api/journal/{key}[/attachments/{n}]                one postcard from the journal (or its attachment)
    GET  /api/accounts/{account}/folders/{folder}?limit&offset                  a folder, newest first
    GET  /api/accounts/{account}/folders/{folder}/messages/{key}[/attachments/{n}]
    POST /api/accounts/human/folders/{folder}/messages/{key}/seen               the person's own mail only
    POST /api/accounts/human/folders/{folder}/messages/{key}/receipt            send the receipt it asks for
    POST /api/send                                           {to, cc, title, body, urgent, no_wake, receipt, done,
                                                              reply_to}
    GET  /api/events                                         text/event-stream: `change` events, pings
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import quote

from aiohttp import web

from ..errors import UsageError
from . import views
from .state import SESSION_KEY, STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PING = 15.0  # seconds between keep-alive comments on an idle stream


def _json(data: Any) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), content_type="application/json")


async def session_info(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    session = request[SESSION_KEY]
    cfg = state.cfg
    return _json({"account": session.account, "address": cfg.address(session.account), "csrf": session.csrf,
                  "domain": cfg.domain, "limits": {"title": cfg.max_title, "body": cfg.max_body}})


async def directory(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    return _json({"accounts": await state.run(views.directory, state.cfg)})


def _page(request: web.Request) -> tuple[int, int]:
    limit = views.number(request.query.get("limit"), 50, 1, views.MAX_LIST, "limit")
    offset = views.number(request.query.get("offset"), 0, 0, 10**6, "offset")
    return limit, offset


async def threads(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    limit, offset = _page(request)
    person = request.query.get("person") or None
    if person is not None:
        person = await state.run(views.account_of, state.cfg, person)
    journal = await state.fresh_journal()
    return _json(journal.thread_list(limit, offset, person))


async def thread(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    key = views.key_of_url(request.match_info["key"])
    journal = await state.fresh_journal()
    return _json(await state.run(views.thread, state.cfg, journal, key))


async def journal_message(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    key = views.key_of_url(request.match_info["key"])
    journal = await state.fresh_journal()
    return _json(await state.run(views.journal_message, state.cfg, journal, key))


async def _where(request: web.Request) -> tuple[str, str]:
    state = request.app[STATE]

    def check() -> tuple[str, str]:
        account = views.account_of(state.cfg, request.match_info["account"])
        return account, views.folder_of(state.cfg, account, request.match_info["folder"])

    return await state.run(check)


async def folder(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    limit, offset = _page(request)
    account, name = await _where(request)
    return _json(await state.run(views.folder_listing, state.cfg, account, name, limit, offset))


async def message(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    key = views.key_of_url(request.match_info["key"])
    account, name = await _where(request)
    journal = await state.fresh_journal()
    return _json(await state.run(views.message, state.cfg, journal, account, name, key))


async def attachment(request: web.Request) -> web.StreamResponse:
    """An attachment as a download: never shown inline, never sniffed, a file name with nothing to inject."""
    state = request.app[STATE]
    key = views.key_of_url(request.match_info["key"])
    index = views.number(request.match_info["n"], 0, 0, 199, "attachment number")
    if "account" in request.match_info:
        account, name = await _where(request)
        item = await state.run(views.item_of, state.cfg, account, name, key)
    else:
        journal = await state.fresh_journal()
        item = await state.run(views.journal_item, state.cfg, journal, key)
    filename, data = await state.run(views.attachment, state.cfg, item, index)
    ascii_name = views.safe_filename(filename)
    readable = "".join(c for c in filename.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable()) or ascii_name
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(readable, safe='')}"
    return web.Response(body=data, headers={"Content-Type": "application/octet-stream",
                                            "Content-Disposition": disposition,
                                            "Content-Security-Policy": "default-src 'none'; sandbox"})


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise UsageError("the request body is not valid JSON") from None


async def mark_seen(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    key = views.key_of_url(request.match_info["key"])
    account, name = await _where(request)
    return _json(await state.run(views.mark_seen, state.cfg, account, name, key))


async def receipt(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    key = views.key_of_url(request.match_info["key"])
    account, name = await _where(request)
    return _json(await state.run(views.receipt, state.cfg, account, name, key))


async def send(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    data = await _body(request)
    journal = await state.fresh_journal()
    return _json(await state.run(views.send, state.cfg, journal, data))


async def events(request: web.Request) -> web.StreamResponse:
    """The live stream: a `change` event after every burst of changes in the store, a comment every PING s."""
    state = request.app[STATE]
    session = request[SESSION_KEY]
    queue = state.hub.subscribe()
    if queue is None:
        raise web.HTTPServiceUnavailable(text="too many live views are open")
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'"})
    try:
        await response.prepare(request)
        await response.write(f"retry: 2000\nevent: hello\ndata: {json.dumps({'seq': state.hub.seq})}\n\n".encode())
        while True:
            try:
                change = await asyncio.wait_for(queue.get(), PING)
            except asyncio.TimeoutError:
                if state.sessions.get(session.id) is None:
                    await response.write(b"event: signed-out\ndata: {}\n\n")
                    break
                await response.write(b": ping\n\n")
                continue
            if change is None:
                break
            await response.write(f"event: change\ndata: {json.dumps(change)}\n\n".encode())
    except ConnectionError:
        pass
    finally:
        state.hub.unsubscribe(queue)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/session", session_info)
    r.add_get("/api/directory", directory)
    r.add_get("/api/threads", threads)
    r.add_get("/api/threads/{key}", thread)
    r.add_get("/api/journal/{key}", journal_message)
    r.add_get("/api/journal/{key}/attachments/{n}", attachment)
    base = "/api/accounts/{account}/folders/{folder}"
    r.add_get(base, folder)
    r.add_get(base + "/messages/{key}", message)
    r.add_get(base + "/messages/{key}/attachments/{n}", attachment)
    r.add_post(base + "/messages/{key}/seen", mark_seen)
    r.add_post(base + "/messages/{key}/receipt", receipt)
    r.add_post("/api/send", send)
    r.add_get("/api/events", events)
