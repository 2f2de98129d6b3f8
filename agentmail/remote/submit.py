"""SMTP submission from a remote home, exactly once (docs/scale-out.md, "Offline and exactly once").

The rule, with the Message-ID as the key:
- Every message is first queued durably (outbox.py), then submitted: MAIL FROM, RCPT TO for each recipient, DATA.
- A transaction known to have failed (no connection, the connection lost before the final ".", a 4xx reply at
  any step) leaves the message queued: it was not taken, so sending it again cannot make a second copy.
- A 5xx reply refuses it for good: an unknown recipient at RCPT (exit 67, the postcard is not sent to anyone, as
  on one machine) or a refused message. A command says so; the sync process moves it to failed/ and puts a notice
  in the sender's INBOX.
- When the "." went out and no reply came (the connection broke, the server died), the outcome is unknown: the
  entry moves to cur/ ("in doubt"). Postcards are sent with their author as one more envelope recipient (a Bcc
  that is not in any header), so the server keeps a copy in the author's own mailbox, which the mirror files into
  Sent: before an entry in doubt is submitted again, the server's INBOX and Sent are searched for its Message-ID.
  Found: it was taken, and it is not sent again. Not found: it is sent again only once `uncertain_grace` has
  passed (an MTA such as Postfix may take a while to deliver what it accepted), so a postcard may arrive twice
  only when the server accepted it, lost the reply and then failed to deliver it for that long. Receipts (MDNs)
  have no such copy; in doubt they are sent again after the grace period (at least once).
"""

from __future__ import annotations

import time

from ..errors import AgentmailError, DataError, UnavailableError, UnknownRecipientError
from . import outbox
from .connect import AuthRefused, TlsRefused, Unreachable, close_smtp, open_smtp

TYPE_CHECKING = False
if TYPE_CHECKING:
    import smtplib
    from collections.abc import Callable

    from imapclient import IMAPClient

    from ..config import Config
    from .settings import Settings

OK, TEMPORARY, REFUSED, UNKNOWN_RCPT, IN_DOUBT = "ok", "temporary", "refused", "unknown-recipient", "in-doubt"


class Outcome:
    __slots__ = ("kind", "reply", "names")

    def __init__(self, kind: str, reply: str = "", names: list[str] | None = None) -> None:
        self.kind = kind
        self.reply = reply
        self.names = names or []

    def __repr__(self) -> str:
        return f"Outcome({self.kind}, {self.reply!r})"


def wire_lines(data: bytes) -> bytes:
    """The message as DATA sends it: CRLF line ends, lines starting with "." doubled (RFC 5321 4.5.2), and the
    final ".". Stored messages end lines with LF alone."""
    text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return out + b"\r\n.\r\n"


def _reply(code: int, text: bytes | str) -> str:
    msg = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(msg.split())}"[:300]


def transact(smtp: smtplib.SMTP, sender: str, rcpts: list[str], data: bytes,
             before_dot: Callable[[], None]) -> Outcome:
    """One SMTP transaction on a logged-in connection. `before_dot` runs just before the message's end goes out
    (the entry moves to "in doubt"); whatever happens before it is a transaction known to have failed."""
    import smtplib

    try:
        options = ["BODY=8BITMIME"] if smtp.has_extn("8bitmime") else []
        code, text = smtp.mail(sender, options)
        if code >= 400:
            return Outcome(TEMPORARY if code < 500 else REFUSED, _reply(code, text))
        refused: list[str] = []
        for rcpt in rcpts:
            code, text = smtp.rcpt(rcpt)
            if code >= 500:
                refused.append(rcpt)
                reply = _reply(code, text)
            elif code >= 400:
                smtp.rset()
                return Outcome(TEMPORARY, _reply(code, text))
        if refused:
            smtp.rset()
            # 550 5.1.1 (RFC 3463: bad destination mailbox) and 553: the recipient does not exist
            kind = UNKNOWN_RCPT if reply[:3] in ("550", "551", "553") and " 5.7." not in reply else REFUSED
            return Outcome(kind, reply, refused)
        code, text = smtp.docmd("DATA")
        if code != 354:
            return Outcome(TEMPORARY if code < 500 else REFUSED, _reply(code, text))
        payload = wire_lines(data)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(TEMPORARY, f"the connection failed: {exc}")
    before_dot()
    try:
        smtp.send(payload)
    except (OSError, smtplib.SMTPException) as exc:
        # RFC 5321 4.1.1.4: a message is taken only when its "." has arrived; this one's did not all go out
        return Outcome(TEMPORARY, f"the connection failed while sending: {exc}")
    try:
        code, text = smtp.getreply()
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(IN_DOUBT, f"no reply after the message was sent: {exc}")
    if code == 250:
        return Outcome(OK, _reply(code, text))
    return Outcome(TEMPORARY if code < 500 else REFUSED, _reply(code, text))


def envelope_rcpts(entry: outbox.Entry) -> list[str]:
    rcpts = entry.rcpt
    if entry.envelope.get("self_copy") and entry.sender and entry.sender not in rcpts:
        rcpts = [*rcpts, entry.sender]  # our own copy, filed into Sent by the mirror
    return rcpts


def attempt(smtp: smtplib.SMTP, entry: outbox.Entry) -> Outcome:
    """Submit one locked entry and move it where its outcome says (new/ stays new/ on a temporary failure)."""
    outcome = transact(smtp, entry.sender, envelope_rcpts(entry), entry.message(), lambda: entry.move("cur"))
    if outcome.kind == OK:
        outbox.mark_sent(entry)
    elif outcome.kind == IN_DOUBT:
        pass  # stays in cur/: checked against the server before any new attempt
    elif entry.state == "cur":
        entry.move("new")  # known not taken after all
    return outcome


def names_of(addresses: list[str]) -> list[str]:
    return [a.split("@")[0] for a in addresses]


def raise_for(outcome: Outcome, settings: Settings) -> None:
    """The error a command shows for a refused message."""
    if outcome.kind == UNKNOWN_RCPT:
        err = UnknownRecipientError(names_of(outcome.names))
        err.message += f" (the server {settings.smtp.url} says: {outcome.reply})"
        raise err
    if outcome.kind == REFUSED:
        code = outcome.reply[:3]
        cls = DataError if code in ("552", "554") else UnavailableError
        raise cls(f"the server refused the message: {outcome.reply}")


def submit_now(cfg: Config, settings: Settings, entry: outbox.Entry) -> Outcome:
    """A command's own attempt at a fresh entry: connect, submit, disconnect. Connection problems come back as
    a TEMPORARY outcome; a refused login or TLS is raised (exit 77 or 69: queueing would not help)."""
    try:
        smtp = open_smtp(settings)
    except Unreachable as exc:
        return Outcome(TEMPORARY, exc.message)
    try:
        return attempt(smtp, entry)
    finally:
        close_smtp(smtp)


def on_server(imap: IMAPClient, message_id: str, folders: tuple[str, ...] = ("INBOX", "Sent")) -> bool:
    """Is a message with this Message-ID in one of our folders on the server? (Our own copy of a postcard.)"""
    if not message_id:
        return False
    for folder in folders:
        try:
            imap.select_folder(folder, readonly=True)
        except Exception:  # noqa: BLE001 - no such folder: nothing there
            continue
        if imap.search(["HEADER", "Message-ID", message_id]):
            return True
    return False


class Flusher:
    """The sync process's side: submit what is queued, over one connection per round."""

    def __init__(self, cfg: Config, settings: Settings, log: Callable[[str], None],
                 bounce: Callable[[outbox.Entry, Outcome], None], broken: Callable[[], None]) -> None:
        self.cfg = cfg
        self.settings = settings
        self.log = log
        self.bounce = bounce
        self.broken = broken  # the IMAP connection failed: the caller drops it
        self.retry_at = 0.0
        self.backoff = 5.0

    def due(self, now: float) -> bool:
        return now >= self.retry_at and any(outbox.names(self.cfg, s) for s in ("new", "cur"))

    def flush(self, imap: Callable[[], IMAPClient | None], force: bool = False) -> str | None:
        """Submit every queued entry that can go now; the error that stopped the round, or None."""
        now = time.time()
        if not force and now < self.retry_at:
            return None
        smtp: smtplib.SMTP | None = None
        problem: str | None = None
        later = False
        try:
            for entry in outbox.pending(self.cfg):
                try:
                    if entry.state == "cur" and not self._resolve_doubt(entry, imap, now):
                        later = True
                        continue
                    if smtp is None:
                        smtp = open_smtp(self.settings)
                    outcome = attempt(smtp, entry)
                    self.log(f"outbox: {entry.message_id or entry.name} -> {outcome.kind} {outcome.reply}")
                    if outcome.kind in (REFUSED, UNKNOWN_RCPT):
                        self.bounce(entry, outcome)
                        entry.move("failed")
                    elif outcome.kind != OK:
                        later = True
                        close_smtp(smtp)  # a 4xx or a broken connection: start afresh next round
                        smtp = None
                        problem = outcome.reply
                        break
                finally:
                    entry.release()
        except (Unreachable, AuthRefused, TlsRefused) as exc:
            problem, later = exc.message, True
        except (AgentmailError, OSError) as exc:
            problem, later = str(exc), True
        finally:
            close_smtp(smtp)
        if later:
            self.retry_at = time.time() + self.backoff
            self.backoff = min(self.backoff * 2, 300.0)
        else:
            self.retry_at, self.backoff = 0.0, 5.0
        return problem

    def _resolve_doubt(self, entry: outbox.Entry, imap: Callable[[], IMAPClient | None], now: float) -> bool:
        """For an entry in doubt: True to submit it again, False to leave it (for now, or because it arrived)."""
        if entry.envelope.get("self_copy"):
            conn = imap()
            if conn is None:
                return False  # cannot look: try later
            try:
                found = on_server(conn, entry.message_id)
            except Exception as exc:  # noqa: BLE001 - imaplib's errors are not OSErrors: cannot look, try later
                self.log(f"outbox: cannot look for {entry.message_id} on the server: {exc}")
                self.broken()
                return False
            if found:
                self.log(f"outbox: {entry.message_id} is on the server: it was taken, not sending it again")
                outbox.mark_sent(entry)
                return False
        if now - entry.doubt_since() < self.settings.uncertain_grace:
            return False
        entry.move("new")
        return True
