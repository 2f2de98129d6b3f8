"""What the web view shows and does, as blocking calls over agent/ (the server runs them in its worker threads).

Everything a URL names is an id, checked here before any file is looked at: account names by the address rules
(format.address), folders against the account's own folder list, messages by their hex key. Agents' mailboxes are
read-only: nothing here changes their flags (no `\\Seen`, no receipt on their behalf); the person's own mailbox
(`human`) takes `\\Seen` and the receipts the person chooses to send. Every postcard goes out through
agent.compose, so deliver() files it, wakes its recipients and journals it as for the CLI.
"""

from __future__ import annotations

from ..agent import compose
from ..agent.mailbox import Item, find, folders, listing, set_flags
from ..agent.reading import card_json
from ..agent.receipts import receipts_for, send_receipt, wants_receipt
from ..agent.render import item_json
from ..errors import DataError, NoInputError, PermissionDeniedError, UsageError
from ..format.address import normalize_name
from ..format.card import msgids, read_headers
from ..format.postcard import reply_title
from ..store import presence, registry
from ..store.msgfile import read_cap, read_head

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config
    from ..delivery.deliver import Delivery
    from .journal import JournalIndex

HUMAN = registry.HUMAN
MAX_LIST = 200  # postcards in one page of a folder
MAX_RECIPIENTS = 50
HEX = frozenset("0123456789abcdef")


# --- ids from URLs ------------------------------------------------------------------------------------------------
def account_of(cfg: Config, text: str) -> str:
    """The account a URL names (a valid name of an existing account, aliases followed)."""
    name = normalize_name(text)  # UsageError (400) for anything but [a-z0-9-]: no dots, no slashes
    real = registry.resolve(cfg, name)
    if real is None:
        raise NoInputError(f"no such account: {name}")
    return real


def folder_of(cfg: Config, account: str, text: str) -> str:
    """A folder of `account`, only if it is one of those the account has (never a path)."""
    known = folders(cfg, account)
    if text not in known:
        raise NoInputError(f"no folder '{text[:64]}' in {account}'s mailbox (folders: {', '.join(known)})")
    return text


def key_of_url(text: str) -> str:
    key = text.strip().lower()
    if not (8 <= len(key) <= 32) or not set(key) <= HEX:
        raise UsageError("a message id is 8 to 32 hex digits")
    return key


def number(value: str | None, default: int, low: int, high: int, what: str) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f"{what} must be a whole number") from None
    if not low <= n <= high:
        raise UsageError(f"{what} must be between {low} and {high}")
    return n


# --- the directory ------------------------------------------------------------------------------------------------
def directory(cfg: Config) -> list[dict[str, Any]]:
    """Every account with its presence and what a postcard from the person would do to it now."""
    from ..agent.wake import awake

    rows = []
    for acct in registry.accounts(cfg):
        name = acct["name"]
        info = presence.presence(cfg, name) or {}
        state = awake(cfg, name, info, HUMAN)
        try:
            new = len(registry.mailbox(cfg, name).list_new())
        except Exception:  # noqa: BLE001 - a damaged mailbox shows as empty here; reading it says why
            new = 0
        rows.append({
            "name": name, "kind": acct.get("kind", "agent"), "online": presence.is_live(info),
            "last_seen": info.get("last_seen"), "cwd": info.get("cwd"), "state": state["state"],
            "wakeable": state["wakeable"], "wake_note": state["why"], "new": new,
        })
    return rows


# --- folders and messages -----------------------------------------------------------------------------------------
def folder_listing(cfg: Config, account: str, folder: str, limit: int, offset: int) -> dict[str, Any]:
    items = listing(cfg, account, folder, limit + offset)[offset:]
    rows = [item_json(cfg, i, i.key[:8]) for i in items]
    if folder == "Sent" and items:
        found = receipts_for(cfg, account, [i.key for i in items])
        for row in rows:
            row["receipts"] = [{"reader": _short(cfg, r.reader), "disposition": r.disposition, "at": round(r.at, 3)}
                               for r in found.get(row["key"], [])]
    return {"account": account, "folder": folder, "folders": folders(cfg, account), "items": rows,
            "read_only": account != HUMAN}


def _short(cfg: Config, address: str) -> str:
    from ..agent.render import short_name

    return short_name(cfg, address)


def item_of(cfg: Config, account: str, folder: str, key: str) -> Item:
    item = find(cfg, account, key, (folder,))
    if not item.key.startswith(key):
        raise NoInputError(f"no message with id {key} in {account}'s {folder}")
    return item


def message(cfg: Config, journal: JournalIndex, account: str, folder: str, key: str) -> dict[str, Any]:
    """One postcard of a mailbox, with the receipts that came back for it. Changes nothing."""
    item = item_of(cfg, account, folder, key)
    shown = card_json(cfg, item, item.key[:8])
    shown.update(account=account, read_only=account != HUMAN, receipts=journal.receipts_for(item.key),
                 receipt_offer=account == HUMAN and folder != "Sent" and wants_receipt(cfg, item, HUMAN) is not None)
    entry = journal.find(item.key)
    shown["thread"] = entry.thread if entry else None
    return shown


def journal_item(cfg: Config, journal: JournalIndex, key: str) -> Item:
    entry = journal.find(key) if len(key) == 32 else None
    if entry is None:
        raise NoInputError(f"no postcard with id {key} in the journal")
    box = journal.box
    headers = read_headers(read_head(journal.path_of(entry), 16 * 1024, read_cap(cfg.max_message)))
    return Item("journal", "All", box, entry.subdir, entry.name, headers, read_cap(cfg.max_message))


def journal_message(cfg: Config, journal: JournalIndex, key: str) -> dict[str, Any]:
    item = journal_item(cfg, journal, key)
    shown = card_json(cfg, item, item.key[:8])
    entry = journal.find(item.key)
    shown.update(account=None, read_only=True, receipts=journal.receipts_for(item.key), receipt_offer=False,
                 thread=entry.thread if entry else None)
    return shown


def thread(cfg: Config, journal: JournalIndex, key: str) -> dict[str, Any]:
    """A whole conversation: every postcard of the thread with its body and receipts, oldest first."""
    entries = journal.thread(key)
    if entries is None:
        raise NoInputError(f"no conversation with id {key}")
    out = []
    for entry in entries[:500]:
        try:
            item = journal_item(cfg, journal, entry["key"])
            card = card_json(cfg, item, item.key[:8])
        except (NoInputError, OSError):
            continue
        out.append(dict(entry, body=card["body"], attachments=card["attachments"], date=card["date"],
                        message_id=card["message_id"]))
    return {"key": key, "title": out[0]["title"] if out else "", "messages": out}


def mark_seen(cfg: Config, account: str, folder: str, key: str) -> dict[str, Any]:
    if account != HUMAN:
        raise PermissionDeniedError(f"{account}'s mailbox is read-only here: only the person's own mail is marked read")
    item = item_of(cfg, account, folder, key)
    if "S" not in item.flags:
        set_flags(item, add="S")
    return {"flags": item.flags}


def receipt(cfg: Config, account: str, folder: str, key: str) -> dict[str, Any]:
    """Send the receipt a postcard in the person's mailbox asks for (once; never for an agent's mail)."""
    if account != HUMAN:
        raise PermissionDeniedError(f"only the person's own mail gets a receipt from here, not {account}'s")
    item = item_of(cfg, account, folder, key)
    mid = send_receipt(cfg, item, HUMAN)
    return {"sent": mid is not None, "message_id": mid}


# --- attachments ----------------------------------------------------------------------------------------------------
def attachment(cfg: Config, item: Item, index: int) -> tuple[str, bytes]:
    """The `index`th attachment of a postcard (as card_json lists them): its file name and decoded bytes."""
    from email import message_from_bytes

    from ..format.card import decode_words
    from ..format.encoding import one_line

    msg = message_from_bytes(item.read_bytes())
    found: list[tuple[str, bytes]] = []
    body_seen = False
    mdn = msg.get_content_type() == "multipart/report"
    for i, part in enumerate(msg.walk()):
        if i >= 200 or part.is_multipart():
            continue
        ctype, disp = part.get_content_type(), part.get_content_disposition()
        if not body_seen and ctype == "text/plain" and disp != "attachment":
            body_seen = True
            continue
        if mdn and ctype in ("message/disposition-notification", "text/rfc822-headers"):
            continue
        filename = part.get_filename()
        if disp == "attachment" or filename:
            raw = part.get_payload(decode=True)
            data = raw if isinstance(raw, bytes) else str(part.get_payload()).encode("utf-8", "replace")
            found.append((one_line(decode_words(str(filename or ""))) or "unnamed", data))
    if not 0 <= index < len(found):
        raise NoInputError(f"postcard {item.key[:8]} has no attachment {index}")
    return found[index]


def safe_filename(name: str) -> str:
    """An ASCII file name for Content-Disposition: no path, no quotes, no control characters, no leading dot."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-+") else "_" for c in base).lstrip(".")
    return cleaned[:100] or "attachment"


# --- writing --------------------------------------------------------------------------------------------------------
def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise UsageError(f"'{key}' must be text")
    return value


def _flag(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"'{key}' must be true or false")
    return value


def _names(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"'{key}' must be a list of account names")
    if len(value) > MAX_RECIPIENTS:
        raise UsageError(f"at most {MAX_RECIPIENTS} recipients")
    return [v.strip() for v in value]


def original_of(cfg: Config, journal: JournalIndex, ref: object) -> Item:
    """The postcard a reply answers: {"account", "folder", "key"} in a mailbox, or {"journal": key}."""
    if not isinstance(ref, dict):
        raise UsageError("'reply_to' must name a postcard: {account, folder, key} or {journal}")
    if "journal" in ref:
        return journal_item(cfg, journal, key_of_url(_text(ref, "journal")))
    account = account_of(cfg, _text(ref, "account"))
    return item_of(cfg, account, folder_of(cfg, account, _text(ref, "folder")), key_of_url(_text(ref, "key")))


def send(cfg: Config, journal: JournalIndex, data: object) -> dict[str, Any]:
    """Send a postcard as the person: {to, cc, title, body, urgent, no_wake, receipt, done, reply_to}."""
    if not isinstance(data, dict):
        raise UsageError("the request must be a JSON object")
    unknown = set(data) - {"to", "cc", "title", "body", "urgent", "no_wake", "receipt", "done", "reply_to"}
    if unknown:
        raise UsageError(f"unknown field {sorted(unknown)[0]!r}")
    to, cc = _names(data, "to"), _names(data, "cc")
    body = _text(data, "body", "")
    urgent, wake = _flag(data, "urgent", False), not _flag(data, "no_wake", False)
    receipt_wanted, done = _flag(data, "receipt", True), _flag(data, "done", False)
    if "reply_to" in data and data["reply_to"] is not None:
        original = original_of(cfg, journal, data["reply_to"])
        if not to:
            result = compose.reply(cfg, HUMAN, original, body, urgent=urgent, receipt=receipt_wanted, wake=wake,
                                   done=done)
            return _sent(cfg, result)
        mid = original.headers.get("message-id", "")
        parent = msgids(mid)[:1]
        refs = msgids(original.headers.get("references", "")) + parent
        title = _text(data, "title", "") or reply_title(original.title or "(no title)", cfg.max_title)
        result = compose.send(cfg, HUMAN, to, title, body, cc=cc, urgent=urgent, receipt=receipt_wanted,
                              in_reply_to=parent[0] if parent else None, references=refs[-20:], wake=wake, done=done)
        return _sent(cfg, result)
    if not to:
        raise UsageError("no recipient: name at least one account, or all")
    title = _text(data, "title", "")
    if not title.strip():
        raise DataError("the title is empty")
    result = compose.send(cfg, HUMAN, to, title, body, cc=cc, urgent=urgent, receipt=receipt_wanted, wake=wake,
                          done=done)
    return _sent(cfg, result)


def _sent(cfg: Config, result: Delivery) -> dict[str, Any]:
    return {"key": result.key, "id": result.key[:8], "delivered": sorted(result.delivered),
            "warnings": list(result.warnings)}
