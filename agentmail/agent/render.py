"""Terse text and stable JSON for what the CLI prints (no click here: the fast path uses it too)."""

from __future__ import annotations

import time

from ..format.postcard import unique_prefixes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..config import Config
    from .mailbox import Item


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def bare_address(text: str) -> str:
    """`bob@x` for `Bob <bob@x>` or `bob@x`: the address alone, as every --json output gives it."""
    addr = text.strip()
    if "<" in addr and addr.endswith(">"):
        addr = addr[addr.rfind("<") + 1:-1].strip()
    return addr


def address_list(value: str) -> list[str]:
    """The bare addresses of a decoded address-list header value (`A <a@x>, "B, C" <b@x>`).

    Commas inside quotes or angle brackets do not split; a piece without `@` (a display name whose encoded comma
    was decoded) is not an address and is dropped.
    """
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, c in enumerate(value):
        if c == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and c == "<":
            depth += 1
        elif not quoted and c == ">" and depth:
            depth -= 1
        elif c == "," and not quoted and not depth:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return [bare_address(p) for p in parts if "@" in p]


def short_name(cfg: Config, address: str) -> str:
    """`bob` for bob@<our domain> (bare or `Bob <bob@...>`), the bare address itself otherwise."""
    addr = bare_address(address)
    local, _, domain = addr.rpartition("@")
    return local if local and domain.lower() == cfg.domain else addr


def people(cfg: Config, key: str, addresses: list[str]) -> dict[str, list[str]]:
    """`{key: [short names], key_addresses: [bare addresses]}`: the one JSON shape for a list of people."""
    return {key: [short_name(cfg, a) for a in addresses], f"{key}_addresses": addresses}


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
        "from_address": bare_address(item.sender),
        **people(cfg, "to", address_list(item.headers.get("to", ""))),
        "title": item.title,
        "urgent": item.urgent,
        "date": item.headers.get("date"),
        "delivered_at": round(item.delivered_at, 3),
        "seen": "S" in item.flags,
        "flagged": "F" in item.flags,
        "new": item.subdir == "new",
    }


FEW = 5  # names listed in full; past that a count (199 names cost the sending agent ~450 tokens)


def names_all(texts: list[str]) -> bool:
    """Does a recipient list name the broadcast list `all` (as a name or all@domain)? (As compose.is_all, which
    imports this module's neighbours: render stays below compose and wake.)"""
    from ..store.registry import BROADCAST

    return any(t.split("@")[0].strip().lower() == BROADCAST for t in texts)


def sent_line(key: str, names: list[str], to_all: bool = False, queued: str | None = None) -> str:
    """`sent <id> to bob, carol`; a broadcast `sent <id> to all: bob, carol`; past a few names a count:
    `sent <id> to all: 199 agents`, `sent <id> to 12 accounts`. On a remote home whose server is away:
    `queued <id> for bob (<why>); it goes out when the server is back`."""
    if queued is not None:
        whom = "all" if to_all else ", ".join(names) if len(names) <= FEW else f"{len(names)} accounts"
        return f"queued {key[:8]} for {whom} ({queued}); it goes out when the server is back"
    if to_all and not names:
        return f"sent {key[:8]} to all"  # a remote home: the server expands the list
    if to_all:
        kind = "accounts" if "human" in names else "agents"
        return f"sent {key[:8]} to all: " + (", ".join(names) if len(names) <= FEW else f"{len(names)} {kind}")
    return f"sent {key[:8]} to " + (", ".join(names) if len(names) <= FEW else f"{len(names)} accounts")


def same(text: object) -> str:
    return str(text)


def card_text(shown: dict[str, Any], clean: Callable[[object], str] = same) -> str:
    """`agentmail read`'s card from `reading.read_message`'s dict: header lines, a blank line, the body as it is.
    `clean` is applied to every header value that another sender wrote (the MCP server neutralises them)."""
    head = [f"From: {clean(shown['from_address'])}", f"To: {clean(', '.join(shown['to_addresses']))}"]
    if shown["cc"]:
        head.append(f"Cc: {clean(', '.join(shown['cc_addresses']))}")
    if shown["date"]:
        head.append(f"Date: {clean(shown['date'])}")
    head += [f"Title: {shown['title']}", f"Id: {shown['id']}" + (" [URGENT]" if shown["urgent"] else "")]
    if shown["in_reply_to"]:
        head.append(f"In-Reply-To: {clean(shown['in_reply_to'])}")
    for att in shown["attachments"]:
        head.append(f"Attachment: {clean(att['filename'])} ({att['size']} bytes)")
    return "\n".join(head) + "\n\n" + str(shown["body"]).rstrip("\n")


VERBS = {"displayed": "read by", "processed": "filed by", "deleted": "deleted unread by"}


def log_line(row: dict[str, Any], now: float, title: str | None = None,
             reader: Callable[[str], str] = same) -> str:
    """One line of `agentmail log` from a `reading.sent_log` row: `<id> <age> to <names>: <title> - read by bob`."""
    done = [f"{VERBS.get(r['disposition'], r['disposition'] + ' by')} {reader(r['reader'])}" for r in row["receipts"]]
    state = ", ".join(done) if done else ("no receipt asked" if not row["receipt_requested"] else "not read yet")
    thread = f" (re {row['in_reply_to_id']})" if row["in_reply_to_id"] else ""
    shown = row["title"] if title is None else title
    return f"{row['id']} {age(now - row['sent_at'])} to {', '.join(row['to'])}: {shown}{thread} - {state}"


def parse_age(text: str, label: str = "--since") -> float:
    """`30m`, `2h`, `1d`, `1w` or plain seconds (`log --since`) in seconds; UsageError (64) for anything else."""
    from ..errors import UsageError
    from ..format.safetext import neutral

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    if len(text) >= 2 and text[-1] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    if text.isdigit():
        return int(text)
    raise UsageError(f"invalid {label} '{neutral(text, 40)}': use a number with s, m, h, d or w (e.g. 1h)")


def dumps(data: object) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, indent=None, sort_keys=False)
