"""Sending postcards: send, reply and broadcast, the library functions behind the CLI commands."""

from __future__ import annotations

from ..delivery.deliver import Delivery, deliver, resolve_recipients, warn
from ..errors import AgentmailError, UsageError
from ..format.postcard import Attachment, Draft, Limits, build, reply_title
from ..store import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..config import Config
    from .mailbox import Item


def is_all(text: str) -> bool:
    """Does a recipient (a name or an address) name the broadcast list?"""
    return text.split("@")[0].strip().lower() == registry.BROADCAST


def send(cfg: Config, sender: str, to: Sequence[str], title: str, body: str, *, cc: Sequence[str] = (),
         urgent: bool = False, receipt: bool = True, attachments: Sequence[Attachment] = (),
         in_reply_to: str | None = None, references: Sequence[str] = (), date: float | None = None,
         wake: bool = True, done: bool = False, sync: bool = False) -> Delivery:
    """Build a postcard from `sender` and deliver it. Recipients are checked before anything is built.

    `wake=False` marks it as never waking an idle recipient; `done=True` closes its thread (agent/wake.py).
    On a remote home (docs/scale-out.md) it is submitted over SMTP instead, queued while the server is away;
    `sync=True` makes that an error (75) instead."""
    if not to:
        raise UsageError("no recipient given: TO names at least one account (or `all`)")
    from ..remote.alive import is_remote

    remote = is_remote(cfg.home)
    resolve = _remote_names if remote else resolve_recipients
    broadcast = any(is_all(t) for t in [*to, *cc])
    to_names = resolve(cfg, to, sender)
    cc_names = resolve(cfg, cc, sender) if cc else []

    def header_addresses(texts: Sequence[str], names: list[str]) -> list[str]:
        # the header names the list (all@...) rather than every member, and whoever else was named with it
        if any(is_all(t) for t in texts):
            others = [t for t in texts if not is_all(t)]
            named = resolve(cfg, others, sender) if others else []
            return [cfg.address(n) for n in dict.fromkeys([registry.BROADCAST, *named])]
        return [cfg.address(n) for n in names]

    draft = Draft(
        sender=cfg.address(sender), to=header_addresses(to, to_names), title=title, body=body,
        cc=header_addresses(cc, cc_names) if cc else [], date=date, urgent=urgent,
        receipt=receipt and not broadcast,  # DESIGN.md: broadcasts do not ask for receipts
        in_reply_to=in_reply_to, references=list(references), attachments=list(attachments), wake=wake, done=done,
    )
    built = build(draft, Limits.from_config(cfg), cfg.domain)
    if remote:
        from ..remote.client import submit_postcard

        result: Delivery = submit_postcard(cfg, built, sender, list(dict.fromkeys(to_names + cc_names)), sync=sync)
    else:
        result = deliver(cfg, built.data, list(dict.fromkeys(to_names + cc_names)), sender=sender, now=date)
    if done:
        from .wake import close_thread

        root = (list(references) or [in_reply_to or built.message_id])[0]
        try:  # on a remote home the recipients' own machines close it when the postcard arrives
            close_thread(cfg, [sender] if remote else [sender, *result.delivered], built.message_id, root)
        except AgentmailError as exc:  # the postcard is delivered: a failed note must not make anyone send it again
            warn(result.warnings, f"the thread is not marked closed: {exc}")
    return result


def _remote_names(cfg: Config, texts: Sequence[str], sender: str | None = None) -> list[str]:
    """Recipients on a remote home: checked, not looked up (the server knows the accounts and expands `all`)."""
    from ..remote.client import recipient_names

    return recipient_names(cfg, texts)


def broadcast(cfg: Config, sender: str, title: str, body: str, urgent: bool = False, sync: bool = False) -> Delivery:
    return send(cfg, sender, [registry.BROADCAST], title, body, urgent=urgent, receipt=False, sync=sync)


def reply(cfg: Config, sender: str, original: Item, body: str, *, urgent: bool = False,
          receipt: bool = True, date: float | None = None, wake: bool = True, done: bool = False,
          sync: bool = False) -> Delivery:
    """Reply to `original`: to its author (or, for one's own sent postcard, to its recipients), threaded."""
    from ..format.card import msgids, parse

    card = parse(original.read_bytes())
    author = card.sender
    if author and author.split("@")[0].lower() != sender:
        to = [author]
    else:
        to = [a for a in card.to if a.split("@")[0].lower() != sender] or [author]
    mid = card.message_id or None
    refs = msgids(original.headers.get("references", ""))
    if mid:
        refs.append(mid)
    return send(cfg, sender, to, reply_title(card.title or "(no title)", cfg.max_title), body, urgent=urgent,
                receipt=receipt, in_reply_to=mid, references=refs[-20:], date=date, wake=wake, done=done, sync=sync)
