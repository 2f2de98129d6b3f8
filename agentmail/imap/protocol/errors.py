"""Errors that carry their wire reply.

A handler raises ``ImapNo("Mailbox does not exist", "NONEXISTENT")``; whoever catches it calls
``err.response(tag)`` and writes that. Response codes are from RFC 5530 (NONEXISTENT,
ALREADYEXISTS, CANNOT, LIMIT, ...), RFC 3501 7.1 (TRYCREATE, READ-ONLY) and RFC 7888 (TOOBIG
is RFC 4469; we use LIMIT for oversized literals as Dovecot does).
"""

from __future__ import annotations

import datetime as dt
import logging

from .response import ResponseCode, StatusResponse

log = logging.getLogger("agentmail.imap")


class ImapError(Exception):
    status = "BAD"

    def __init__(self, text: str, code: str | None = None, code_args: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = ResponseCode(code, code_args) if code else None

    def response(self, tag: str | None) -> StatusResponse:
        return StatusResponse(self.status, self.text, self.code, tag)


class ImapBad(ImapError):
    """Protocol error: tagged BAD (or untagged when there is no usable tag)."""

    status = "BAD"


class ImapNo(ImapError):
    """Operational failure: tagged NO."""

    status = "NO"


class ImapBye(ImapError):
    """The connection must be closed after sending an untagged BYE."""

    status = "BYE"

    def response(self, tag: str | None = None) -> StatusResponse:
        return StatusResponse("BYE", self.text, self.code, None)


def internal_error(tag: str | None, what: str) -> StatusResponse:
    """Log the exception being handled, with its traceback, and return the client's reply to it: a bug is
    ours, not a protocol error of the client's, so it is ``NO [SERVERBUG]`` (RFC 5530 3), never a BAD
    (which tells a client to stop sending what it sent). Call it from an ``except`` block."""
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    log.exception("IMAP internal error in %s [%s]", what, stamp)
    return StatusResponse("NO", f"Internal error occurred. Refer to server log for more information. [{stamp}]",
                          ResponseCode("SERVERBUG"), tag)
