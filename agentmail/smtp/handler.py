"""aiosmtpd's handle_* hooks for agentmail: each one a thin check over the library (RFC 5321 replies, listener.py
has the whole picture): MAIL (the login's own address or `<>`), RCPT (local names only, never a relay), DATA (the
From/Sender author check of format/submission.py, Date and Message-ID added, then the group commit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiosmtpd.smtp import SMTP, Envelope, Session

from ..delivery.deliver import PartialDeliveryError, resolve_recipients
from ..errors import AgentmailError, DataError, DiskFullError, TempFailError, UnknownRecipientError, UsageError
from ..format.address import ForeignAddressError, parse_address
from ..format.submission import add_fields, header_problem, header_values, is_plain, mailboxes, missing_fields
from ..store import registry

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..config import Config
    from ..delivery.group_commit import Committer

log = logging.getLogger("agentmail.smtp")

NULL_SENDER = "<>"  # aiosmtpd keeps the null reverse-path (RFC 5321 4.5.5) as the literal "<>"
MAX_RECIPIENTS = 100  # RFC 5321 4.5.3.1.8: at least 100 must be accepted
MAX_AUTHOR_FIELD = 998  # characters in a From/Sender value: RFC 5322 2.1.1's line; one mailbox fits with room
INLINE_BYTES = 64 * 1024  # messages up to this size are checked on the event loop when their From is plain
NEEDS_PARSER = "needs the parser"  # check_from(parse=False): the full check must run in a worker

def _user(session: Session) -> str:
    """The account the session authenticated as (aiosmtpd checks AUTH before MAIL, RCPT and DATA)."""
    return str(session.auth_data)


def peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def _bad_address(address: str) -> str | None:
    """Why an envelope address can never be right, before any lookup: bytes that are not UTF-8 (aiosmtpd
    hands them on as surrogate escapes), or a control character (a CR would end up in Return-Path)."""
    if any("\udc80" <= c <= "\udcff" for c in address):
        return "the address is not valid UTF-8 (RFC 6531 3.3)"
    if any(c < " " or c == "\x7f" for c in address):
        return "the address contains a control character"
    return None


def wire_text(text: str) -> str:
    """`text` as one line of printable ASCII for a reply: anything else (a client's non-UTF-8 bytes, a NUL, a
    CR, UTF-8 for a client that did not ask for SMTPUTF8) is shown escaped, never sent raw."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff"
                   else ascii(c)[1:-1] for c in text)


class Handler:
    """aiosmtpd handle_* hooks. `session.auth_data` is the authenticated account name."""

    def __init__(self, cfg: Config, committer: Committer, executor: Executor) -> None:
        self.cfg = cfg
        self.committer = committer
        self.executor = executor
        self.delivered = 0  # messages acknowledged with 250 (logged at shutdown)

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp: internal error: %r", error)
        return "451 4.3.0 internal error, try again later"

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        user = _user(session)
        bad = _bad_address(address)
        if bad:  # RFC 3463 5.1.7: bad sender's mailbox address syntax
            return f"553 5.1.7 <{address}>: {bad}"
        if address != NULL_SENDER:
            try:
                name = registry.resolve(self.cfg, parse_address(address, self.cfg.domain))
            except UsageError:
                name = None
            if name != user:
                log.warning("smtp %s %s: refused MAIL FROM <%s>", peer(session), user, address)
                # RFC 5321 4.2.2 / RFC 3463 5.7.1: not authorised to use this sender
                return f"553 5.7.1 <{address}>: sender address not owned by {user}; use {self.cfg.address(user)}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 too many recipients (at most {MAX_RECIPIENTS} per message)"
        bad = _bad_address(address)
        if bad:  # RFC 3463 5.1.3: bad destination mailbox address syntax
            return f"553 5.1.3 <{address}>: {bad}"
        try:
            resolve_recipients(self.cfg, [address], _user(session))
        except ForeignAddressError:
            log.warning("smtp %s %s: relay denied for <%s>", peer(session), _user(session), address)
            return (f"550 5.7.1 <{address}>: relay access denied: agentmail delivers only to "
                    f"@{self.cfg.domain}")
        except UnknownRecipientError as err:
            return f"550 5.1.1 <{address}>: {_one_line(err.message)}"
        except UsageError as err:
            return f"553 5.1.3 <{address}>: {_one_line(err.message)}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def check_from(self, user: str, data: bytes, parse: bool = True) -> str | None:
        """Why the header From/Sender may not be sent by `user`, or None when they are fine: each field once
        (RFC 5322 3.6), naming exactly one mailbox, the login's own (or one of its aliases). With parse=False,
        NEEDS_PARSER when a field is not in the plain form the fast path reads."""
        problem = header_problem(data)
        if problem:
            return f"554 5.6.0 {problem}"
        own = self.cfg.address(user)
        fields = {"From": header_values(data, ("from",)), "Sender": header_values(data, ("sender",))}
        if not fields["From"]:
            return "554 5.6.0 message has no From: header (RFC 5322 3.6.2)"
        for field, values in fields.items():
            if len(values) > 1:
                return f"554 5.6.0 message has {len(values)} {field}: fields; RFC 5322 3.6 allows one"
            for value in values:
                if is_plain(value, own):
                    continue  # `own@domain` or `Plain Name <own@domain>`: the common case, without the parser
                if not parse:
                    return NEEDS_PARSER
                if len(value) > MAX_AUTHOR_FIELD:  # the parser is quadratic on some inputs: bound its work
                    return (f"554 5.6.0 {field}: is {len(value)} characters long; one mailbox needs at most "
                            f"{MAX_AUTHOR_FIELD}")
                try:
                    addrs = mailboxes(value)
                except DataError as err:
                    return f"554 5.6.0 {field}: '{_one_line(value, 80)}' refused: {err}"
                for addr in addrs:
                    try:
                        name = registry.resolve(self.cfg, parse_address(addr, self.cfg.domain))
                    except UsageError:
                        name = None
                    if name != user:
                        return (f"550 5.7.1 {field}: <{_one_line(addr, 80)}> is not {own}, the account you "
                                f"logged in as")
                if len(addrs) != 1:
                    return f"554 5.6.0 {field}: names {len(addrs)} mailboxes; it must name exactly one, {own}"
        return None

    def prepare(self, user: str, data: bytes, rcpts: list[str], now: float,
                parse: bool = True) -> tuple[str | None, bytes]:
        """(the refusal or None, the message to deliver): the From/Sender check, then Date and Message-ID added
        (RFC 6409 8.2, 8.3) before deliver() makes the copies, so every copy (each inbox of `all`, the journal)
        has the same id. With parse=False, (NEEDS_PARSER, data) when the full check is needed."""
        refusal = self.check_from(user, data, parse)
        if refusal:
            return refusal, data
        own = self.cfg.address(user)
        return None, add_fields(data, missing_fields(data, sender=own, recipients=rcpts, domain=self.cfg.domain,
                                                     now=now))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        user = _user(session)
        data = envelope.original_content or b""
        mail_from = "" if envelope.mail_from == NULL_SENDER else (envelope.mail_from or "")
        rcpts, now = list(envelope.rcpt_tos), time.time()
        refusal: str | None = NEEDS_PARSER
        if len(data) <= INLINE_BYTES:  # the common small, plain message: no hop to a worker thread
            refusal, data = self.prepare(user, data, rcpts, now, parse=False)
        if refusal is NEEDS_PARSER:
            # the RFC 5322 parser (tens of ms on a hostile field) and big headers run off the event loop, so one
            # client cannot stall the others
            loop = asyncio.get_running_loop()
            refusal, data = await loop.run_in_executor(self.executor, self.prepare, user, data, rcpts, now)
        if refusal:
            log.warning("smtp %s %s: %s", peer(session), user, refusal)
            return refusal
        # RFC 3848 / RFC 6531 3.7.4: the WITH protocol name says authenticated, TLS, UTF-8
        proto = ("UTF8SMTP" if envelope.smtp_utf8 else "ESMTP") + ("S" if session.ssl else "") + "A"
        # the EHLO name goes into the Received field: printable ASCII only, so it can never break the header
        helo = "".join(c for c in str(session.host_name or "") if "!" <= c <= "~")[:64] or "unknown"
        ip = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        try:
            # deliver() in batches (group_commit.py): the reply waits until the message is on disk
            result = await self.committer.deliver(
                data=data, recipients=list(envelope.rcpt_tos), sender=user, envelope_from=mail_from, via="smtp",
                peer=f"{helo} ([{ip}])", proto=proto, save_sent=False)
        except UnknownRecipientError as err:  # removed between RCPT and DATA
            return f"550 5.1.1 {_one_line(err.message)}"
        except DataError as err:
            return f"554 5.6.0 {_one_line(err.message)}"
        except UsageError as err:
            return f"553 5.1.3 {_one_line(err.message)}"
        except (AgentmailError, OSError) as err:  # disk full, lock timeout: the client should retry (4xx)
            log.error("smtp %s %s: delivery failed: %s", peer(session), user, err)
            cause = err.__cause__ if isinstance(err, PartialDeliveryError) else err
            if isinstance(cause, DiskFullError):
                # RFC 5321 4.2.2 452 insufficient system storage, RFC 3463 4.3.1 mail system full
                return f"452 4.3.1 {_one_line(str(err))}; try again later"
            code = "4.4.5" if isinstance(cause, TempFailError) else "4.3.0"
            return f"451 {code} {_one_line(str(err))}; try again later"
        self.delivered += 1
        names = ", ".join(result.delivered)
        folder = "Receipts" if result.is_receipt else "INBOX"
        log.info("smtp %s %s: <%s> -> %s (%s) %d bytes, id %s", peer(session), user, mail_from, names, folder,
                 len(data), result.key[:8])
        return f"250 2.0.0 OK delivered as {result.key[:8]} to {names}"
