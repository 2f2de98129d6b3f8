"""Read receipts: MDNs (RFC 8098) sent once when an agent reads or files a postcard, and the views over them.

A receipt goes to the Disposition-Notification-To address when it is one of ours, is sent at most once per
message (the original gets the `$MDNSent` keyword, as Thunderbird and Dovecot do), is never sent for a receipt or
an auto-submitted message (RFC 8098 3.1; RFC 3834), and lands in the sender's .Receipts folder through deliver().
"""

from __future__ import annotations

import os

from .. import __version__
from ..delivery.deliver import deliver
from ..errors import AgentmailError
from ..format.address import ForeignAddressError, parse_address
from ..format.card import key_of
from ..store import keywords, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config
    from .mailbox import Item

MDN_SENT = "$MDNSent"


def has_keyword(item: Item, keyword: str) -> bool:
    letters = [c for c in item.flags if "a" <= c <= "z"]
    if not letters:
        return False
    table = keywords.read(item.box)
    return any((keywords.keyword_of(table, c) or "").lower() == keyword.lower() for c in letters)


def wants_receipt(cfg: Config, item: Item, reader: str) -> str | None:
    """The local account a receipt for `item` should go to, or None."""
    target = item.headers.get("disposition-notification-to")
    if not target or item.folder in ("Sent", "Receipts") or not item.headers.get("message-id"):
        return None  # an MDN names the original by its Message-ID (RFC 8098 3.2.5): none, no receipt
    if item.headers.get("auto-submitted", "no").strip().lower() != "no":
        return None
    try:
        name = parse_address(target, cfg.domain)
    except ForeignAddressError:
        return None  # agentmail never sends mail outside its domain
    except AgentmailError:
        return None
    from ..remote.alive import is_remote

    real = name if is_remote(cfg.home) else registry.resolve(cfg, name)  # remote: the server knows the accounts
    if real is None or real == reader or has_keyword(item, MDN_SENT):
        return None
    return real


def send_receipt(cfg: Config, item: Item, reader: str, disposition: str = "displayed") -> str | None:
    """Send the MDN for `item` if one is due; returns its Message-ID. Marks the original `$MDNSent`."""
    target = wants_receipt(cfg, item, reader)
    if target is None:
        return None
    from ..format.mdn import build_mdn

    built = build_mdn(reader=cfg.address(reader), original_message_id=item.headers.get("message-id", ""),
                      original_sender=cfg.address(target), original_title=item.title,
                      disposition=disposition, domain=cfg.domain,
                      reporting_ua=f"{os.uname().nodename}; agentmail {__version__}")  # RFC 8098 3.2.1
    # RFC 8098 2.1 / RFC 3798: an MDN has an empty envelope sender, so it can never cause another MDN or bounce
    from ..remote.alive import is_remote

    if is_remote(cfg.home):  # over SMTP, queued while the server is away; $MDNSent goes back with the mirror
        from ..remote.client import submit_receipt

        submit_receipt(cfg, built.data, reader, target, built.message_id)
    else:
        deliver(cfg, built.data, [target], sender=reader, envelope_from="", save_sent=False)
    from .mailbox import set_flags

    set_flags(item, add=keywords.ensure(item.box, MDN_SENT))
    return built.message_id


class Receipt:
    __slots__ = ("reader", "disposition", "original_key", "at", "item")

    def __init__(self, reader: str, disposition: str, original_key: str, at: float, item: Item | None) -> None:
        self.reader = reader
        self.disposition = disposition
        self.original_key = original_key
        self.at = at
        self.item = item  # None when it came from the history index (its headers were not read)


def receipts(cfg: Config, account: str, limit: int | None = None) -> list[Receipt]:
    """Receipts in the account's .Receipts folder, newest first."""
    from ..format.mdn import parse_mdn
    from .mailbox import listing

    out = []
    for item in listing(cfg, account, "Receipts", limit=limit or 10**9):
        try:
            data = item.read_bytes()
        except AgentmailError:
            continue  # gone, or no longer a message file, since it was listed
        info = parse_mdn(data)
        if info is None or not info.original_message_id:
            continue
        reader = info.final_recipient or info.reporter or item.sender
        out.append(Receipt(reader, info.disposition, key_of(info.original_message_id), item.delivered_at, item))
    return out


def receipts_for(cfg: Config, account: str, keys: list[str]) -> dict[str, list[Receipt]]:
    """The receipts that came back for the originals with these keys, by original key: from the history index
    (each receipt is read once, when it is new to the index), else from every receipt in the folder."""
    from ..store.index import IndexUnavailable
    from ..store.maildir import name_time
    from .mailbox import folder_box, history_index

    found: dict[str, list[Receipt]] = {}
    box = folder_box(cfg, account, "Receipts")  # no such folder: the error `receipts` gives
    index = history_index(cfg, account, ("Receipts",))
    if index is not None:
        try:
            rows = index.receipts_for(keys)
        except IndexUnavailable:
            pass
        else:
            for orig, reader, disposition, sub, name in rows:
                at = name_time(name) or _mtime(box.file(sub, name))
                found.setdefault(orig, []).append(Receipt(reader, disposition, orig, at, None))
            return found
        finally:
            index.close()
    wanted = set(keys)
    for r in receipts(cfg, account):
        if r.original_key in wanted:
            found.setdefault(r.original_key, []).append(r)
    return found


def _mtime(path: str) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0
