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
- DATA goes to delivery/deliver.py's two phases (via="smtp", save_sent=False), batched by group_commit.py in a worker
  thread: the 250 is sent only once every copy is on disk, so an acknowledged message survives a crash.
  No .Sent copy: mail clients keep their own by IMAP APPEND.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import TYPE_CHECKING, Any, AnyStr, cast

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ..delivery.group_commit import Committer
from ..errors import UsageError
from ..format.address import parse_address
from ..store import passwd
from .handler import Handler, peer, wire_text

if TYPE_CHECKING:
    import ssl
    from concurrent.futures import Executor

    from ..config import Config

log = logging.getLogger("agentmail.smtp")

AUTH_FAIL_DELAY = 1.0
MAX_AUTH_FAILURES = 3  # failed AUTH per connection before 421 and close, as IMAP's max_failures
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
        self.handler = Handler(cfg, self.committer, executor)
        self.sessions: set[AgentSMTP] = set()
        self.closing = False

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
            log.info("smtp %s: AUTH %s as %s", peer(session), mechanism, name)
            return AuthResult(success=True, auth_data=name)
        # the login is shown (it is not secret, and helps), the password never
        log.warning("smtp %s: AUTH %s failed for %r", peer(session), mechanism,
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
        log.info("smtp: %d messages delivered in %d batches", self.handler.delivered, self.committer.batches)


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

    def _open_transport(self) -> asyncio.WriteTransport | None:
        """The transport, while it is open. (Not an isinstance test: uvloop's transports are no asyncio classes.)"""
        transport = cast("asyncio.WriteTransport | None", self.transport)
        return transport if transport is not None and not transport.is_closing() else None

    def close_for_shutdown(self) -> None:
        self.service.sessions.discard(self)
        transport = self._open_transport()
        if transport is not None:
            transport.write(b"421 4.3.2 agentmail is shutting down, try again later\r\n")
            transport.close()

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
        transport = self._open_transport()
        if self.auth_failures >= MAX_AUTH_FAILURES and transport is not None:
            # the same rule as IMAP (imap/server.py max_failures): the 535 above, then 421 and close (RFC 5321 3.8)
            log.warning("smtp %s: %d failed AUTH attempts, closing", self.session and peer(self.session),
                        self.auth_failures)
            await self.push(f"421 4.7.0 too many failed authentication attempts ({MAX_AUTH_FAILURES}); "
                            "closing connection")
            transport.close()

    async def _delay_failure(self, result: AuthResult) -> AuthResult:
        if not result.success and not result.handled:  # the credentials were checked and are wrong
            self.auth_failures += 1
            await asyncio.sleep(self.service.auth_delay)  # RFC 4954 4: slow down password guessing
        return result

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._delay_failure(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._delay_failure(await super().auth_LOGIN(_, args))
