"""One `deliver()` for every path into the store: the CLI, SMTP, sendmail and IMAP APPEND.

Two phases, so a failure leaves nothing half-done:
1. stage: every copy (each recipient's, the sender's .Sent copy, the journal's) is written to its tmp/ and fsynced.
   If any of them fails (disk full, permissions), every staged file is removed and nobody has the message.
2. publish: each copy is linked into place (an atomic rename-like step that practically cannot fail once
   staging worked). Should one still fail, the error names who got the message and who did not.
Once a copy is published the message is delivered, and nothing after that reports failure: a UID that could not
be recorded (the next uidlist sync gives it), a directory fsync, the journal or the sender's .Sent copy failing
become warnings (logged, and kept in `Delivery.warnings`). A lock that stays busy fails with exit 75 (try again).

Receipts (MDNs, RFC 8098) are filed into the recipient's .Receipts folder instead of the inbox, whichever path
they come by, so they cost an agent no attention.
"""

from __future__ import annotations

import _thread
import os
import time

from ..errors import EX_TEMPFAIL, AgentmailError, StoreIOError, TempFailError, UnknownRecipientError
from ..format.address import parse_address
from ..format.encoding import format_date
from ..store import registry, uidlist
from ..store.changelog import Change, log_for
from ..store.dotlock import DotLock
from ..store.maildir import Maildir, Staged, fsync_dir, os_error, split_name, to_lf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..config import Config

    # (account, or None for the .Sent copy and the journal; maildir; staged file; subdir; flags)
    PlanItem = tuple[str | None, Maildir, Staged, str, str]

VIA = {"cli": "local", "sendmail": "local", "smtp": "ESMTP", "imap": "IMAP"}


class Delivery:
    """What happened: the message's key, and for each account the folder and file name it got."""

    __slots__ = ("key", "message_id", "delivered", "sent_copy", "is_receipt", "warnings")

    def __init__(self, key: str, message_id: str | None, is_receipt: bool) -> None:
        self.key = key
        self.message_id = message_id
        self.is_receipt = is_receipt
        self.delivered: dict[str, tuple[str, str]] = {}  # account -> (folder, file name)
        self.sent_copy: tuple[str, str] | None = None
        self.warnings: list[str] = []  # bookkeeping that failed after the message was delivered


def warn(warnings: list[str], message: str) -> None:
    """Record and log a problem that does not undo a delivery."""
    import logging  # only when there is something to say: logging costs start-up time

    warnings.append(message)
    logging.getLogger("agentmail.delivery").warning("agentmail: warning: %s", message)


class PartialDeliveryError(StoreIOError):
    """Some or all copies could not be published. When nobody got the message the exit code is its cause's
    (73 cannot create, 75 a busy lock: try again); when some did, 75 for a temporary cause, else 74."""

    def __init__(self, reason: str, delivered: list[str], missed: list[str],
                 cause: AgentmailError | None = None) -> None:
        got = ", ".join(delivered) or "nobody"
        super().__init__(f"{reason}; delivered to {got}; NOT delivered to {', '.join(missed)}")
        self.delivered = delivered
        self.missed = missed
        if cause is not None and not delivered:
            self.exit_code = cause.exit_code
        elif isinstance(cause, TempFailError):
            self.exit_code = EX_TEMPFAIL


def resolve_recipients(cfg: Config, recipients: Iterable[str], sender: str | None = None) -> list[str]:
    """Account names for `recipients` (names or addresses), `all` expanded, duplicates dropped.

    Raises UsageError for a malformed name, ForeignAddressError for another domain, and UnknownRecipientError
    (exit 67, with the closest names) before anything is written.
    """
    out: list[str] = []
    unknown: list[str] = []
    for text in recipients:
        name = parse_address(text, cfg.domain)
        if name == registry.BROADCAST:
            out.extend(n for n in registry.agent_names(cfg) if n != sender)
            continue
        real = registry.resolve(cfg, name)
        if real is None:
            unknown.append(name)
        else:
            out.append(real)
    if unknown:
        from ..format.address import suggest

        known = registry.names(cfg, include_aliases=True)
        raise UnknownRecipientError(unknown, {n: suggest(n, known) for n in unknown})
    if not out:
        err = UnknownRecipientError([registry.BROADCAST])
        err.message = "no recipients: there is no other agent account to deliver to"
        raise err
    return list(dict.fromkeys(out))


def _header_block(data: bytes) -> bytes:
    end = data.find(b"\n\n")
    return data if end < 0 else data[:end]


def is_receipt(data: bytes) -> bool:
    """Is this an MDN (multipart/report; report-type=disposition-notification)?"""
    head = _header_block(data).lower()
    if b"disposition-notification" not in head:
        return False
    from ..format.card import read_headers
    from ..format.mdn import is_mdn

    return is_mdn(read_headers(data))


def message_key(data: bytes) -> tuple[str, str | None]:
    from ..format.card import key_of, read_headers

    mid = read_headers(data).get("message-id")
    if mid:
        return key_of(mid), mid
    import hashlib

    return hashlib.sha256(data).hexdigest()[:32], None


def trace_headers(cfg: Config, *, via: str, rcpt: str | None, envelope_from: str, key: str,
                  peer: str | None = None, proto: str | None = None, now: float | None = None) -> bytes:
    """Return-Path, Delivered-To and Received (RFC 5321 4.4), naming the path the message came by."""
    host = os.uname().nodename
    stamp = format_date(time.time() if now is None else now)
    frm = f"from {peer} " if peer else ""
    target = f"\n\tfor <{rcpt}>" if rcpt else ""
    lines = [f"Return-Path: <{envelope_from}>"]
    if rcpt:
        lines.append(f"Delivered-To: {rcpt}")
    lines.append(f"Received: {frm}by {host} (agentmail) via {via}\n\twith {proto or VIA.get(via, via)} "
                 f"id {key[:16]}{target}; {stamp}")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


_box_locks: dict[str, _thread.LockType] = {}
_box_locks_guard = _thread.allocate_lock()


def box_lock(path: str) -> _thread.LockType:
    """A per-process mutex per Maildir: threads of one process (agentmail serve's delivery workers) queue on it
    and wake as soon as it is free, instead of sleep-polling the dotlock with back-off."""
    lock = _box_locks.get(path)
    if lock is None:
        with _box_locks_guard:
            lock = _box_locks.setdefault(path, _thread.allocate_lock())
    return lock


class _DirSync:
    """Group commit for directory fsyncs: one fsync that starts after a thread's link() makes that link durable,
    so threads that link into the same directory at about the same time share one fsync instead of queueing."""

    __slots__ = ("mutex", "counter", "requested", "synced")

    def __init__(self) -> None:
        self.mutex = _thread.allocate_lock()  # one fsync of this directory at a time
        self.counter = _thread.allocate_lock()
        self.requested = 0  # tickets handed out, each taken after its link()
        self.synced = 0  # every ticket up to this one is durable

    def sync(self, path: str) -> None:
        with self.counter:
            self.requested += 1
            ticket = self.requested
        with self.mutex:
            if self.synced >= ticket:
                return  # an fsync that started after our link finished while we waited
            with self.counter:
                target = self.requested
            fsync_dir(path)
            self.synced = target


_dir_syncs: dict[str, _DirSync] = {}


def sync_dir(path: str) -> None:
    """fsync directory `path` (shared with concurrent callers); StoreIOError on failure."""
    syncer = _dir_syncs.get(path)
    if syncer is None:
        with _box_locks_guard:
            syncer = _dir_syncs.setdefault(path, _DirSync())
    try:
        syncer.sync(path)
    except OSError as exc:
        raise os_error(exc, path) from exc


def _publish(staged: Staged, maildir: Maildir, subdir: str, flags: str, warnings: list[str]) -> str:
    """Link a staged file into place and give it its UID while holding the uidlist lock.

    Holding the lock means Dovecot (or our IMAP server) cannot see the file before its UID is recorded, so
    the message can never get two UIDs. The directory is fsynced after the lock is released (before returning,
    so the message is still durable when deliver() returns): concurrent deliveries then share fsyncs instead of
    queueing behind each other's. Raises only before the file is linked; later problems become `warnings`.
    """
    with box_lock(maildir.path):
        lock = DotLock(os.path.join(maildir.path, uidlist.FILENAME))
        lock.acquire()
        try:
            with Change(maildir, log_for(maildir)) as change:  # caches over the folder follow it (changelog.py)
                name = staged.commit(subdir, flags, sync=False)
                change.add(subdir, name)
            try:
                uidlist.append(maildir, [split_name(name)[0]], lock=lock)
            except AgentmailError as exc:
                warn(warnings, f"{maildir.path}/{subdir}/{name} is delivered but got no IMAP UID yet ({exc}); "
                               "the next IMAP sync gives it one")
        finally:
            lock.release()
    try:
        sync_dir(os.path.join(maildir.path, subdir))
    except AgentmailError as exc:
        warn(warnings, f"{exc}: {name} is delivered but may not survive a crash")
    return name


class Staging:
    """Phase 1 done for one message: every copy written to a tmp/ (see `stage`), not yet visible."""

    __slots__ = ("result", "names", "folder", "plan")

    def __init__(self, result: Delivery, names: list[str], folder: str, plan: list[PlanItem]) -> None:
        self.result = result
        self.names = names
        self.folder = folder
        self.plan = plan

    def abort(self) -> None:
        for _, _, staged, _, _ in self.plan:
            staged.abort()


def stage(cfg: Config, data: bytes, recipients: Sequence[str], *, sender: str | None,
          envelope_from: str | None = None, via: str = "cli", peer: str | None = None,
          proto: str | None = None, save_sent: bool = True, now: float | None = None,
          sync: bool = True) -> Staging:
    """Phase 1 of `deliver`: resolve recipients and write every copy into its tmp/ (fsynced unless `sync=False`,
    in which case the caller must make the files durable before committing them)."""
    registry.ensure_store(cfg)
    names = resolve_recipients(cfg, recipients, sender)
    body = to_lf(data)
    key, mid = message_key(body)
    receipt = is_receipt(body)
    result = Delivery(key, mid, receipt)
    if envelope_from is None:
        envelope_from = cfg.address(sender) if sender else ""
    folder = "Receipts" if receipt else "INBOX"

    plan: list[PlanItem] = []
    try:
        for name in names:
            box = registry.mailbox(cfg, name, folder)
            if not box.exists():
                box.create(folder_marker=folder != "INBOX")
            head = trace_headers(cfg, via=via, rcpt=cfg.address(name), envelope_from=envelope_from, key=key,
                                 peer=peer, proto=proto, now=now)
            plan.append((name, box, box.stage(head + body, sync), "new", ""))
        if sender and save_sent and not receipt and registry.resolve(cfg, sender) == sender:
            box = registry.mailbox(cfg, sender, "Sent")
            if not box.exists():
                box.create(folder_marker=True)
            head = trace_headers(cfg, via=via, rcpt=None, envelope_from=envelope_from, key=key, peer=peer,
                                 proto=proto, now=now)
            plan.append((None, box, box.stage(head + body, sync), "cur", "S"))
        journal = Maildir(cfg.journal_path)
        envelope = ", ".join(cfg.address(n) for n in names)
        head = trace_headers(cfg, via=via, rcpt=None, envelope_from=envelope_from, key=key, peer=peer,
                             proto=proto, now=now) + f"X-Agentmail-Envelope-To: {envelope}\n".encode()
        plan.insert(0, (None, journal, journal.stage(head + body, sync), "new", ""))  # see deliver()
    except AgentmailError as exc:
        for *_, staged, _, _ in plan:
            staged.abort()
        exc.message += " (nothing was delivered)"
        raise
    return Staging(result, names, folder, plan)


def deliver(cfg: Config, data: bytes, recipients: Sequence[str], *, sender: str | None,
            envelope_from: str | None = None, via: str = "cli", peer: str | None = None,
            proto: str | None = None, save_sent: bool = True, now: float | None = None) -> Delivery:
    """Deliver `data` (an RFC 5322 message) to local `recipients`. See the module docstring."""
    staging = stage(cfg, data, recipients, sender=sender, envelope_from=envelope_from, via=via, peer=peer,
                    proto=proto, save_sent=save_sent, now=now)
    result, plan, names = staging.result, staging.plan, staging.names
    done: list[str] = []
    journal, copies = plan[0], plan[1:]
    journaled = False
    for i, (account, box, staged, subdir, flags) in enumerate(copies):
        try:
            filename = _publish(staged, box, subdir, flags, result.warnings)
        except AgentmailError as exc:
            if account is None and done:  # the sender's .Sent copy: the message itself is delivered
                staged.abort()
                warn(result.warnings, f"delivered, but no copy was kept in Sent: {exc}")
                continue
            for _, _, rest, _, _ in (copies[i:] if journaled else plan):
                rest.abort()
            raise PartialDeliveryError(str(exc), done, [n for n in names if n not in done], exc) from exc
        if account:
            result.delivered[account] = (staging.folder, filename)
            done.append(account)
        else:
            result.sent_copy = ("Sent", filename)
        if not journaled:
            # The journal copy follows the first published copy: a message nobody got is not journaled,
            # and one that fails half-way still leaves its audit copy.
            journaled = True
            try:
                journal[2].commit(journal[3], journal[4], sync=False)
                sync_dir(os.path.join(journal[1].path, journal[3]))
            except AgentmailError as exc:
                journal[2].abort()
                warn(result.warnings, f"delivered, but the journal copy failed: {exc}")
    return result
