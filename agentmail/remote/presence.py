"""Presence across machines over IMAP METADATA (RFC 5464): where each agent runs and whether a session is live.

Each home's sync process writes its account's entry (docs/scale-out.md, "Presence across machines"):
- `/private/vendor/agentmail/presence` on the account's own INBOX, the account's own record;
- `/shared/vendor/agentmail/presence/<name>` on the directory mailbox, which every account reads: a mailbox named
  `agentmail-presence` in a shared (public) namespace when the server has one (Dovecot: a public namespace with
  an ACL of `authenticated lrw` and one attribute dictionary for all users), else the server entries (mailbox "").

The value is JSON: {"host", "cwd", "last_seen", "state": "online"|"offline", "session": "working"|"idle"|...,
"wakeable", "published_at"}. An entry not published again for STALE seconds reads as offline: a machine that
died cannot say so. Servers without METADATA simply have no presence: `directory` then shows this account only.
"""

from __future__ import annotations

import json
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from imapclient import IMAPClient

    from ..config import Config
    from .settings import Settings

OWN = "/private/vendor/agentmail/presence"
SHARED = "/shared/vendor/agentmail/presence"
DIRECTORY_MAILBOX = "agentmail-presence"
EVERY = 300.0  # the sync process publishes at least this often while it runs
STALE = 3 * EVERY


def quote(value: bytes) -> bytes:
    """An IMAP quoted string (RFC 3501 4.3): the value is one line of ASCII (JSON with ensure_ascii)."""
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def mailbox_arg(name: str) -> bytes:
    return quote(name.encode("utf-8"))


def supported(imap: IMAPClient) -> bool:
    return bool(imap.has_capability("METADATA") or imap.has_capability("METADATA-SERVER"))


def get(imap: IMAPClient, mailbox: str, entry: str, depth: str | None = None) -> dict[str, bytes]:
    """GETMETADATA: entry name -> value for the entries that have one."""
    from imapclient.response_parser import parse_response

    args = [*([b"(DEPTH " + depth.encode() + b")"] if depth else []), mailbox_arg(mailbox),
            b"(" + entry.encode("ascii") + b")"]
    data = imap._raw_command_untagged(b"GETMETADATA", args, response_name="METADATA", uid=False)
    found: dict[str, bytes] = {}
    # One response's literals arrive as several items ((line, literal) pairs, then the line's rest): they are parsed
    # together, or a value sent as a literal (Dovecot's choice for long ones, RFC 5464 4.4.1) reads as incomplete
    items = [item for item in data or [] if item is not None]
    if items:
        for part in parse_response(items):
            if isinstance(part, tuple):
                for key, value in zip(part[::2], part[1::2], strict=False):
                    if value is not None:
                        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                        found[name] = value if isinstance(value, bytes) else str(value).encode()
    return found


def put(imap: IMAPClient, mailbox: str, entry: str, value: bytes) -> None:
    imap._raw_command_untagged(b"SETMETADATA", [mailbox_arg(mailbox),
                                                b"(" + entry.encode("ascii") + b" " + quote(value) + b")"],
                               response_name="METADATA", uid=False)


def directory_mailbox(imap: IMAPClient) -> str:
    """`agentmail-presence` in the server's shared namespace when it exists, else "" (the server entries)."""
    try:
        shared = imap.namespace().shared or ()
    except Exception:  # noqa: BLE001 - no NAMESPACE: no shared namespace either
        shared = ()
    for prefix, _sep in shared:
        name = (prefix.decode() if isinstance(prefix, bytes) else prefix) + DIRECTORY_MAILBOX
        try:
            if imap.list_folders("", name):
                return name
        except Exception:  # noqa: BLE001
            continue
    return ""


def record(cfg: Config, settings: Settings) -> dict[str, Any]:
    """This account's presence as the local store knows it (store/presence.py), for publishing."""
    from ..store import presence as local

    info = local.presence(cfg, settings.user) or {}
    live = local.is_live(info)
    session = local.session_state(cfg, info) if live else {"state": "offline", "wakeable": False}
    return {"host": info.get("host"), "cwd": info.get("cwd"), "last_seen": info.get("last_seen"),
            "state": "online" if live else "offline", "session": session.get("state"),
            "wakeable": bool(session.get("wakeable"))}


def publish(imap: IMAPClient, settings: Settings, info: dict[str, Any], mailbox: str) -> None:
    value = json.dumps({**info, "published_at": round(time.time())}, sort_keys=True,
                       ensure_ascii=True).encode("ascii")
    put(imap, "INBOX", OWN, value)
    put(imap, mailbox, f"{SHARED}/{settings.user}", value)


def read_all(imap: IMAPClient) -> dict[str, dict[str, Any]]:
    """Every account's published presence, by name."""
    mailbox = directory_mailbox(imap)
    found = get(imap, mailbox, SHARED, depth="1")
    out: dict[str, dict[str, Any]] = {}
    prefix = SHARED + "/"
    for entry, raw in found.items():
        if not entry.lower().startswith(prefix):
            continue
        name = entry[len(prefix):].lower()
        try:
            info = json.loads(raw)
        except ValueError:
            continue
        if isinstance(info, dict) and name:
            out[name] = info
    return out


def online(info: dict[str, Any], now: float | None = None) -> bool:
    published = info.get("published_at")
    if not isinstance(published, (int, float)):
        return False
    return info.get("state") == "online" and (now or time.time()) - published < STALE


def rows(cfg: Config, settings: Settings, imap: IMAPClient | None) -> tuple[list[dict[str, Any]], str | None]:
    """`directory`'s rows on a remote home: every account with published presence, and this one. The second
    value says why others may be missing (no METADATA on the server), or None."""
    from ..format.address import is_valid_name

    note = None
    published: dict[str, dict[str, Any]] = {}
    if imap is None:
        note = "the server cannot be reached: only this account is shown"
    elif not supported(imap):
        note = "the server has no METADATA (RFC 5464): only this account is shown"
    else:
        import imaplib

        try:
            published = read_all(imap)
        except (imaplib.IMAP4.error, ValueError) as exc:  # imapclient's errors, its ProtocolError too
            # an answer we cannot read costs the list its other machines, not the command its exit 0
            note = f"the server's presence entries could not be read ({exc}): only this account is shown"
    mine = record(cfg, settings)
    published[settings.user] = {**published.get(settings.user, {}), **mine, "published_at": time.time()}
    out: list[dict[str, Any]] = []
    for name in sorted(published):
        if not is_valid_name(name):
            continue  # an entry someone wrote by hand: never shown as an account
        info = published[name]
        live = online(info)
        out.append({"name": name, "address": f"{name}@{settings.domain}", "kind": "human" if name == "human"
                    else "agent", "online": live, "last_seen": info.get("last_seen"), "cwd": info.get("cwd"),
                    "host": info.get("host"), "aliases": [], "state": info.get("session") if live else "offline",
                    "wakeable": bool(info.get("wakeable")) and live, "wake_note": None})
    return out, note
