"""Errors that carry their exit code (sysexits.h), so every front end reports them the same way.

Kept import-free: the CLI fast path and the hooks import it on every run.
"""

from __future__ import annotations

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_IOERR = 74
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78


class AgentmailError(Exception):
    """Base error: `str(err)` is the one line shown to the user, `exit_code` the sysexits code."""

    exit_code = EX_SOFTWARE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(AgentmailError):
    """Bad syntax in an argument: an invalid name, a bad flag value."""

    exit_code = EX_USAGE


class DataError(AgentmailError):
    """The message itself is bad: title too long, CR/LF in a header, invalid UTF-8."""

    exit_code = EX_DATAERR


class NoInputError(AgentmailError):
    """Something asked for does not exist: an unknown message id, a missing attachment file."""

    exit_code = EX_NOINPUT


class UnknownRecipientError(AgentmailError):
    """A recipient name that has no account; carries the closest known names."""

    exit_code = EX_NOUSER

    def __init__(self, names: list[str], suggestions: dict[str, list[str]] | None = None) -> None:
        self.names = names
        self.suggestions = suggestions or {}
        parts = []
        for name in names:
            close = self.suggestions.get(name) or []
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            parts.append(f"{name}{hint}")
        super().__init__("unknown recipient: " + "; ".join(parts))


class NoSuchAccountError(AgentmailError):
    """An account named as a user (`--as`, `login-info NAME`) does not exist: EX_NOUSER, "user unknown"."""

    exit_code = EX_NOUSER

    def __init__(self, name: str, suggestions: list[str] | None = None, how: str = "") -> None:
        self.name = name
        self.suggestions = suggestions or []
        hints = [f"did you mean {', '.join(self.suggestions)}?"] if self.suggestions else []
        if how:
            hints.append(f"else {how}" if hints else how)
        super().__init__(f"no such account: {name}" + (f" ({' '.join(hints)})" if hints else ""))


class UnavailableError(AgentmailError):
    """A service is not available (a server already running, a socket that cannot be bound)."""

    exit_code = EX_UNAVAILABLE


class CantCreateError(AgentmailError):
    """A file or directory could not be created (unwritable store)."""

    exit_code = EX_CANTCREAT


class StoreIOError(AgentmailError):
    """Reading or writing the store failed (disk full, I/O error)."""

    exit_code = EX_IOERR


class DiskFullError(StoreIOError):
    """The store's file system is full (ENOSPC, EDQUOT): SMTP answers 452 4.3.1 (RFC 5321 4.2.2, RFC 3463)."""


class TempFailError(AgentmailError):
    """A temporary failure: retrying later may work (a lock held too long)."""

    exit_code = EX_TEMPFAIL


class PermissionDeniedError(AgentmailError):
    """Not allowed: another account's mail, a read-only mailbox, a spoofed sender."""

    exit_code = EX_NOPERM


class ConfigError(AgentmailError):
    """The configuration or the identity cannot be worked out."""

    exit_code = EX_CONFIG


def os_failure(exc: OSError) -> AgentmailError:
    """An OSError no library function turned into a user-facing error (a store this user may not read, say): the
    one line every front end reports, 77 for permissions, else 74."""
    import errno

    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDeniedError(f"permission denied{where}")
    return StoreIOError(f"{exc.strerror or exc}{where}")
