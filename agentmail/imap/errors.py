"""Errors that carry their wire reply.

A handler raises ``ImapNo("Mailbox does not exist", "NONEXISTENT")``; whoever catches it calls
``err.response(tag)`` and writes that. Response codes are from RFC 5530 (NONEXISTENT,
ALREADYEXISTS, CANNOT, LIMIT, ...), RFC 3501 7.1 (TRYCREATE, READ-ONLY) and RFC 7888 (TOOBIG
is RFC 4469; we use LIMIT for oversized literals as Dovecot does).
"""

from __future__ import annotations

from .response import ResponseCode, StatusResponse


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
