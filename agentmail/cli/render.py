"""Terse text and stable JSON for what the CLI prints (no click here: the fast path uses it too)."""

from __future__ import annotations

import time

from ..format.postcard import unique_prefixes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config
    from ..mailbox import Item


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def short_name(cfg: Config, address: str) -> str:
    """`bob` for bob@<our domain>, the address itself otherwise."""
    addr = address.strip()
    if "<" in addr and addr.endswith(">"):
        addr = addr[addr.rfind("<") + 1:-1]
    local, _, domain = addr.rpartition("@")
    return local if local and domain.lower() == cfg.domain else addr


def prefixes(items: list[Item]) -> dict[str, str]:
    return unique_prefixes([i.key for i in items])


def line(cfg: Config, item: Item, short: str, now: float | None = None) -> str:
    """One postcard in one line: `<id> <age> <sender>: <title>[ [URGENT]]` (about 15 tokens)."""
    now = time.time() if now is None else now
    urgent = " [URGENT]" if item.urgent else ""
    return f"{short} {age(now - item.delivered_at)} {short_name(cfg, item.sender)}: {item.title}{urgent}"


def lines(cfg: Config, items: list[Item]) -> list[str]:
    ids = prefixes(items)
    now = time.time()
    return [line(cfg, i, ids[i.key], now) for i in items]


def item_json(cfg: Config, item: Item, short: str) -> dict[str, Any]:
    return {
        "id": short,
        "key": item.key,
        "message_id": item.headers.get("message-id"),
        "folder": item.folder,
        "from": short_name(cfg, item.sender),
        "from_address": item.sender,
        "to": item.headers.get("to", ""),
        "title": item.title,
        "urgent": item.urgent,
        "date": item.headers.get("date"),
        "delivered_at": round(item.delivered_at, 3),
        "seen": "S" in item.flags,
        "flagged": "F" in item.flags,
        "new": item.subdir == "new",
    }


def dumps(data: object) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, indent=None, sort_keys=False)
