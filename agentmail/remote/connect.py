"""Connections to the servers of a remote home, with the TLS rules of docs/scale-out.md, "Security":

- `imaps://` and `smtps://` start with TLS; `imap://` and `smtp://` use STARTTLS whenever the server offers it.
- A certificate is checked against the host name and the system's authorities (plus the `ca` of the settings); a
  mismatch is refused (UnavailableError, 69), never downgraded to plain text.
- Without TLS the password goes only to a loopback address, unless the settings allow plain text explicitly.
- A wrong password is a PermissionDeniedError (77); a server that cannot be reached (refused, timed out, no such
  host, connection lost) an Unreachable (TempFailError, 75): sends are queued, reads use the mirror.
"""

from __future__ import annotations

import socket
import ssl

from ..errors import PermissionDeniedError, TempFailError, UnavailableError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import smtplib

    from imapclient import IMAPClient

    from .settings import Endpoint, Settings

TIMEOUT = 30.0


class Unreachable(TempFailError):
    """The server cannot be reached now (exit 75): try again later."""


class AuthRefused(PermissionDeniedError):
    """The server refused the user and password (exit 77)."""


class TlsRefused(UnavailableError):
    """TLS could not be set up safely: a certificate that does not match, no STARTTLS where it is needed (69)."""


def tls_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if settings.ca:
        ctx.load_verify_locations(cadata=settings.ca)
    return ctx


def unreachable(where: Endpoint, exc: BaseException) -> Unreachable:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, socket.gaierror):
        reason = f"no such host ({exc.strerror})"
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        reason = "timed out"
    return Unreachable(f"cannot reach {where.url}: {' '.join(str(reason).split())}")


def tls_refused(where: Endpoint, exc: BaseException) -> TlsRefused:
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or str(exc)
        return TlsRefused(f"refused {where.url}: its TLS certificate does not verify ({why}); check the host name, "
                          "or trust its authority with `agentmail remote set ... --ca-file FILE`")
    return TlsRefused(f"refused {where.url}: TLS failed ({' '.join(str(exc).split())})")


def plain_refused(where: Endpoint) -> TlsRefused:
    return TlsRefused(f"refused {where.url}: it offers no STARTTLS, and the password goes in plain text only to a "
                      f"loopback address; use {where.kind}s://, or pass --allow-plain to `agentmail remote set`")


def may_go_plain(settings: Settings, where: Endpoint) -> bool:
    return where.loopback or settings.allow_plain


def open_imap(settings: Settings, timeout: float = TIMEOUT) -> IMAPClient:
    """A logged-in IMAP connection (imapclient)."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError, LoginError

    where = settings.imap
    try:
        client = IMAPClient(where.host, where.port, ssl=where.implicit_tls,
                            ssl_context=tls_context(settings) if where.implicit_tls else None, timeout=timeout)
    except ssl.SSLError as exc:
        raise tls_refused(where, exc) from None
    except (OSError, IMAPClientError) as exc:
        raise unreachable(where, exc) from None
    try:
        if not where.implicit_tls:
            if client.has_capability("STARTTLS"):
                client.starttls(tls_context(settings))
            elif not may_go_plain(settings, where):
                raise plain_refused(where)
        client.login(settings.user, settings.password)
    except LoginError as exc:
        _close(client)
        raise AuthRefused(f"{where.url} refused the password for {settings.user} ({_text(exc)}); set the right "
                          "one with `agentmail remote set ... --password-file FILE`") from None
    except ssl.SSLError as exc:
        _close(client)
        raise tls_refused(where, exc) from None
    except (OSError, IMAPClientError) as exc:
        _close(client)
        raise unreachable(where, exc) from None
    except BaseException:
        _close(client)
        raise
    return client


def _text(exc: BaseException) -> str:
    """One line of the server's words. imaplib raises with the server's bytes and imapclient's LoginError keeps
    their str(), `b'[AUTHENTICATIONFAILED] ...'`: shown without the Python quoting."""
    text = " ".join(str(exc).split())
    if len(text) >= 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        text = text[2:-1]
    return text[:200]


def _close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - the connection is dropped either way
        pass


def close_imap(client: IMAPClient | None) -> None:
    """Log out politely; a broken connection is simply dropped."""
    if client is None:
        return
    try:
        client.logout()
    except Exception:  # noqa: BLE001
        _close(client)


def open_smtp(settings: Settings, timeout: float = TIMEOUT) -> smtplib.SMTP:
    """An SMTP submission connection after EHLO, STARTTLS (when offered or needed) and AUTH."""
    import smtplib

    where = settings.smtp
    helo = socket.gethostname() or "localhost"
    try:
        if where.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(where.host, where.port, local_hostname=helo, timeout=timeout,
                                                  context=tls_context(settings))
        else:
            smtp = smtplib.SMTP(where.host, where.port, local_hostname=helo, timeout=timeout)
    except ssl.SSLError as exc:
        raise tls_refused(where, exc) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise unreachable(where, exc) from None
    try:
        smtp.ehlo()
        if not where.implicit_tls:
            if smtp.has_extn("starttls"):
                smtp.starttls(context=tls_context(settings))
                smtp.ehlo()
            elif not may_go_plain(settings, where):
                raise plain_refused(where)
        if not smtp.has_extn("auth"):
            raise TlsRefused(f"{where.url} offers no AUTH: agentmail submits mail only with a login "
                             "(is this the submission port?)")
        smtp.login(settings.user, settings.password)
    except smtplib.SMTPAuthenticationError as exc:
        _quit(smtp)
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc)
        raise AuthRefused(f"{where.url} refused the password for {settings.user} ({exc.smtp_code} "
                          f"{' '.join(reply.split())[:200]}); set the right one with `agentmail remote set ... "
                          "--password-file FILE`") from None
    except ssl.SSLError as exc:
        _quit(smtp)
        raise tls_refused(where, exc) from None
    except (OSError, smtplib.SMTPException) as exc:
        _quit(smtp)
        raise unreachable(where, exc) from None
    except BaseException:
        _quit(smtp)
        raise
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except Exception:  # noqa: BLE001
        pass


def close_smtp(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except Exception:  # noqa: BLE001
        _quit(smtp)


def check(settings: Settings) -> None:
    """Log in to both servers and out again (`remote set`): the first failure is raised."""
    close_imap(open_imap(settings))
    close_smtp(open_smtp(settings))
