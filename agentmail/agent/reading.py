"""Reading a postcard (marks it read, sends its receipt) and the sent log with receipt status."""

from __future__ import annotations

import time

from ..format.card import key_of, parse
from .mailbox import find, listing, set_flags
from .receipts import receipts_for, send_receipt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config
    from .mailbox import Item


def card_json(cfg: Config, item: Item, short: str) -> dict[str, Any]:
    from .render import people, short_name

    card = parse(item.read_bytes())
    return {
        "id": short, "key": item.key, "message_id": card.message_id, "folder": item.folder,
        "from": short_name(cfg, card.sender), "from_address": card.sender,
        **people(cfg, "to", card.to), **people(cfg, "cc", card.cc),
        "date": item.headers.get("date"), "title": card.title, "body": card.body, "urgent": card.urgent,
        "in_reply_to": card.in_reply_to, "references": card.references,
        "attachments": [{"filename": n, "size": s} for n, s in card.attachments],
        "receipt_requested": bool(card.receipt_to), "flags": item.flags,
    }


def short_id(item: Item, typed: str) -> str:
    """The id to show for a message found by the prefix `typed`: its key cut to at least 8 hex digits, never the
    shorter prefix a user may type (a prefix that was unique stays unique when longer)."""
    return item.key[:max(8, len(typed.strip().lstrip("#")))]


def read_message(cfg: Config, account: str, prefix: str, disposition: str = "displayed") -> dict[str, Any]:
    """Show a message: mark it `\\Seen`, send the receipt it asks for (once), return it as a dict."""
    item = find(cfg, account, prefix)
    shown = card_json(cfg, item, short_id(item, prefix))
    if "S" not in item.flags:
        set_flags(item, add="S")
    shown["receipt_sent"] = send_receipt(cfg, item, account, disposition) is not None
    shown["flags"] = item.flags
    return shown


def sent_log(cfg: Config, account: str, limit: int = 20, since: float | None = None) -> list[dict[str, Any]]:
    """The account's sent postcards, newest first, each with the receipts that came back for it."""
    from ..format.card import msgids
    from .render import address_list, bare_address, people, short_name

    now = time.time()
    items = []
    for item in listing(cfg, account, "Sent", limit):
        if since is not None and now - item.delivered_at > since:
            break
        items.append(item)
    by_original: dict[str, list[dict[str, Any]]] = {
        key: [{"reader": short_name(cfg, r.reader), "reader_address": bare_address(r.reader),
               "disposition": r.disposition, "at": round(r.at, 3)} for r in found]
        for key, found in receipts_for(cfg, account, [i.key for i in items]).items()}
    rows = []
    for item in items:
        parent = msgids(item.headers.get("in-reply-to", ""))
        rows.append({
            "id": item.key[:8], "key": item.key, "title": item.title, "sent_at": round(item.delivered_at, 3),
            **people(cfg, "to", address_list(item.headers.get("to", ""))),
            "urgent": item.urgent, "receipt_requested": "disposition-notification-to" in item.headers,
            "in_reply_to_id": key_of(parent[0])[:8] if parent else None,
            "receipts": sorted(by_original.get(item.key, []), key=lambda r: r["at"]),
        })
    return rows
