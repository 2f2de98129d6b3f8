"""The SMTP listener: aiosmtpd in `agentmail serve`'s own event loop, thin hooks over `deliver()`.

- AUTH PLAIN / LOGIN (RFC 4954) against the passwd file is required before MAIL on every connection; a wrong
  password gets 535 after a short delay, the third on one connection also 421 and the connection is closed (as
  IMAP does). The authenticated account is the only envelope sender (MAIL FROM) and the only mailbox the header
  From / Sender may name (format/submission.py reads them); the null reverse-path `<>` is allowed (MDNs,
  RFC 3461 / RFC 8098). Envelope addresses with bytes that are not UTF-8 or control characters get 553.
- RCPT is checked at once (RFC 5321 3.3): an unknown local name gets 550 with suggestions, another domain
  550 relay denied. SIZE (RFC 1870) is the store's `max_message`, 552 beyond it. 8BITMIME (RFC 6152) and SMTPUTF8
  (RFC 6531) are accepted.
- A submission without Date or Message-ID gets them (RFC 6409 8.2, 8.3) before the copies are made.
- Every reply is printable ASCII: whatever of the client's bytes it echoes is shown escaped.
- DATA goes to delivery.py's two phases (via="smtp", save_sent=False), batched by group_commit.py in a worker
  thread: the 250 is sent only once every copy is on disk, so an acknowledged message survives a crash.
  No .Sent copy: mail clients keep their own by IMAP APPEND.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from typing import TYPE_CHECKING, Any, AnyStr

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .delivery import PartialDeliveryError, resolve_recipients
from .errors import AgentmailError, DataError, DiskFullError, TempFailError, UnknownRecipientError, UsageError
from .format.address import ForeignAddressError, parse_address
from .format.submission import add_fields, header_problem, header_values, is_plain, mailboxes, missing_fields
from .group_commit import Committer
from .store import passwd, registry

if TYPE_CHECKING:
    import ssl
    from concurrent.futures import Executor

    from .config import Config

log = logging.getLogger("agentmail.smtp")

NULL_SENDER = "<>"  # aiosmtpd keeps the null reverse-path (RFC 5321 4.5.5) as the literal "<>"
MAX_RECIPIENTS = 100  # RFC 5321 4.5.3.1.8: at least 100 must be accepted
AUTH_FAIL_DELAY = 1.0
MAX_AUTH_FAILURES = 3  # failed AUTH per connection before 421 and close, as IMAP's max_failures
MAX_AUTHOR_FIELD = 998  # characters in a From/Sender value: RFC 5322 2.1.1's line; one mailbox fits with room
INLINE_BYTES = 64 * 1024  # messages up to this size are checked on the event loop when their From is plain
NEEDS_PARSER = "needs the parser"  # check_from(parse=False): the full check must run in a worker
_SPECIALS = frozenset(' \t"\\()<>[]:;,')  # anything needing the full parser (quoting, source routes, lists)

# aiosmtpd warns on every connection that AUTH without TLS is risky: on loopback that is the design.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


class _QuietAiosmtpd(logging.Filter):
    NOISE = ("auth_required == True but auth_require_tls == False", "Available AUTH mechanisms",
             "Session.login_data is deprecated")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


logging.getLogger("mail.log").addFilter(_QuietAiosmtpd())


class SmtpService:
    """What every connection shares: the store, the worker threads, TLS, and the live sessions (for shutdown)."""

    def __init__(self, cfg: Config, executor: Executor, *, hostname: str = "localhost",
                 tls_context: ssl.SSLContext | None = None, require_tls: bool = False,
                 auth_delay: float = AUTH_FAIL_DELAY) -> None:
        self.cfg = cfg
        self.executor = executor
        self.hostname = hostname
        self.tls_context = tls_context
        self.require_tls = require_tls
        self.auth_delay = auth_delay
        self.committer = Committer(cfg, executor)
        self.handler = Handler(self)
        self.sessions: set[AgentSMTP] = set()
        self.closing = False
        self.delivered = 0

    def protocol(self) -> AgentSMTP:
        """A protocol factory for `loop.create_server`."""
        return AgentSMTP(self)

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        """aiosmtpd authenticator: LoginPassword -> AuthResult whose auth_data is the account name."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        try:
            login = auth_data.login.decode("utf-8")
            password = auth_data.password.decode("utf-8")
            name = parse_address(login, self.cfg.domain)  # `bob` or `bob@agents.localhost`
        except (UnicodeDecodeError, UsageError):
            name, password = "", ""
        if name and passwd.verify(self.cfg, name, password):
            log.info("smtp %s: AUTH %s as %s", _peer(session), mechanism, name)
            return AuthResult(success=True, auth_data=name)
        # the login is shown (it is not secret, and helps), the password never
        log.warning("smtp %s: AUTH %s failed for %r", _peer(session), mechanism,
                    auth_data.login.decode("utf-8", "replace")[:64])
        return AuthResult(success=False, handled=False)

    async def shutdown(self, grace: float) -> None:
        """Let transactions in DATA finish (up to `grace` seconds), then 421 and close every connection."""
        self.closing = True
        for sess in list(self.sessions):
            if not sess.in_data:  # idle between commands: RFC 5321 3.8, 421 and close
                sess.close_for_shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.sessions and loop.time() < deadline:  # the rest close as their DATA ends (smtp_DATA)
            await asyncio.sleep(0.01)
        for sess in list(self.sessions):
            sess.close_for_shutdown()
        await asyncio.sleep(0)
        log.info("smtp: %d messages delivered in %d batches", self.delivered, self.committer.batches)


class AgentSMTP(SMTP):
    """aiosmtpd's SMTP with: a delay before 535, 421 and close after MAX_AUTH_FAILURES, the usual AUTH LOGIN
    challenges, replies that are always printable ASCII, and tracking of live sessions for a clean shutdown."""

    # RFC 5321 4.5.3.1.6 sets 1000 octets as the line length every server must accept; longer lines are stored
    # as they are rather than refused, so a message is never changed or lost for its line lengths.
    line_length_limit = 256 * 1024
    # draft-murchison-sasl-login 2.1: "Username:" / "Password:" (334 VXNlcm5hbWU6 / UGFzc3dvcmQ6). aiosmtpd's
    # "User Name\0" is refused by Thunderbird, which then never offers to enter a new password.
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, service: SmtpService) -> None:
        super().__init__(
            service.handler, data_size_limit=service.cfg.max_message, enable_SMTPUTF8=True, decode_data=False,
            hostname=service.hostname, ident="agentmail ESMTP", tls_context=service.tls_context,
            require_starttls=service.require_tls, auth_required=True, auth_require_tls=service.require_tls,
            authenticator=service.authenticate, timeout=300)
        self.service = service
        self.in_data = False
        self.auth_failures = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self.service.sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.service.sessions.discard(self)
        super().connection_lost(error)

    def close_for_shutdown(self) -> None:
        self.service.sessions.discard(self)
        if isinstance(self.transport, asyncio.WriteTransport) and not self.transport.is_closing():
            self.transport.write(b"421 4.3.2 agentmail is shutting down, try again later\r\n")
            self.transport.close()

    async def smtp_DATA(self, arg: str) -> None:
        self.in_data = True
        try:
            await super().smtp_DATA(arg)  # the reply (250 only once fsynced) is written before this returns
        finally:
            self.in_data = False
            if self.service.closing:
                self.close_for_shutdown()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # Fast path for the plain `<local@domain> [params]` every client sends (RFC 5321 4.1.2 Path without
        # source route or quoting); anything else goes through aiosmtpd's full RFC 5322 parser.
        text = arg.lstrip()
        end = text.find(">")
        if text.startswith("<") and end > 0:
            addr = text[1:end]
            if addr == "" or (addr.count("@") == 1 and not any(c in _SPECIALS for c in addr)):
                return (addr or "<>"), text[end + 1:]
        try:
            return super()._getaddr(arg)
        except Exception:  # the stdlib parser raises IndexError on "<bob@": a malformed address (553)
            return None, None

    async def push(self, status: AnyStr) -> None:
        # a reply may echo what the client sent (an address, a header): never as raw bytes on the wire
        if isinstance(status, str):
            await super().push(wire_text(status))
        else:
            await super().push(status)  # the base64 AUTH challenges

    async def smtp_AUTH(self, arg: str) -> None:
        await super().smtp_AUTH(arg)
        if self.auth_failures >= MAX_AUTH_FAILURES and isinstance(self.transport, asyncio.WriteTransport) \
                and not self.transport.is_closing():
            # the same rule as IMAP (imap/server.py max_failures): the 535 above, then 421 and close (RFC 5321 3.8)
            log.warning("smtp %s: %d failed AUTH attempts, closing", self.session and _peer(self.session),
                        self.auth_failures)
            await self.push(f"421 4.7.0 too many failed authentication attempts ({MAX_AUTH_FAILURES}); "
                            "closing connection")
            self.transport.close()

    async def _delay_failure(self, result: AuthResult) -> AuthResult:
        if not result.success and not result.handled:  # the credentials were checked and are wrong
            self.auth_failures += 1
            await asyncio.sleep(self.service.auth_delay)  # RFC 4954 4: slow down password guessing
        return result

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._delay_failure(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._delay_failure(await super().auth_LOGIN(_, args))


def _user(session: Session) -> str:
    """The account the session authenticated as (aiosmtpd checks AUTH before MAIL, RCPT and DATA)."""
    return str(session.auth_data)


def _peer(session: Session) -> str:
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

    def __init__(self, service: SmtpService) -> None:
        self.service = service
        self.cfg = service.cfg

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
                log.warning("smtp %s %s: refused MAIL FROM <%s>", _peer(session), user, address)
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
            log.warning("smtp %s %s: relay denied for <%s>", _peer(session), _user(session), address)
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
            refusal, data = await loop.run_in_executor(self.service.executor, self.prepare, user, data, rcpts, now)
        if refusal:
            log.warning("smtp %s %s: %s", _peer(session), user, refusal)
            return refusal
        # RFC 3848 / RFC 6531 3.7.4: the WITH protocol name says authenticated, TLS, UTF-8
        proto = ("UTF8SMTP" if envelope.smtp_utf8 else "ESMTP") + ("S" if session.ssl else "") + "A"
        # the EHLO name goes into the Received field: printable ASCII only, so it can never break the header
        helo = "".join(c for c in str(session.host_name or "") if "!" <= c <= "~")[:64] or "unknown"
        ip = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        try:
            # deliver() in batches (group_commit.py): the reply waits until the message is on disk
            result = await self.service.committer.deliver(
                data=data, recipients=list(envelope.rcpt_tos), sender=user, envelope_from=mail_from, via="smtp",
                peer=f"{helo} ([{ip}])", proto=proto, save_sent=False)
        except UnknownRecipientError as err:  # removed between RCPT and DATA
            return f"550 5.1.1 {_one_line(err.message)}"
        except DataError as err:
            return f"554 5.6.0 {_one_line(err.message)}"
        except UsageError as err:
            return f"553 5.1.3 {_one_line(err.message)}"
        except (AgentmailError, OSError) as err:  # disk full, lock timeout: the client should retry (4xx)
            log.error("smtp %s %s: delivery failed: %s", _peer(session), user, err)
            cause = err.__cause__ if isinstance(err, PartialDeliveryError) else err
            if isinstance(cause, DiskFullError):
                # RFC 5321 4.2.2 452 insufficient system storage, RFC 3463 4.3.1 mail system full
                return f"452 4.3.1 {_one_line(str(err))}; try again later"
            code = "4.4.5" if isinstance(cause, TempFailError) else "4.3.0"
            return f"451 {code} {_one_line(str(err))}; try again later"
        self.service.delivered += 1
        names = ", ".join(result.delivered)
        folder = "Receipts" if result.is_receipt else "INBOX"
        log.info("smtp %s %s: <%s> -> %s (%s) %d bytes, id %s", _peer(session), user, mail_from, names, folder,
                 len(data), result.key[:8])
        return f"250 2.0.0 OK delivered as {result.key[:8]} to {names}"
