"""The words a selected mailbox's replies are made of: the system flags and their spelling (RFC 3501 2.3.2), SELECT's
FLAGS and PERMANENTFLAGS lines, INTERNALDATE, and COPYUID's uid-sets (RFC 4315 3)."""

from __future__ import annotations

import datetime as dt

from ..protocol import response as r
from ..protocol.lexer import MONTHS
from ..protocol.seqset import SequenceSet

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
RECENT = "\\Recent"
RECENT_SET = frozenset({RECENT})


def internaldate(when: dt.datetime) -> str:
    """RFC 3501 date-time, e.g. "03-Jun-2024 10:00:00 +0000" (English month, whatever the locale)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return f"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year:04d} {when:%H:%M:%S %z}"


_FLAG_LINES: dict[tuple[tuple[str, ...], bool], r.Encoded] = {}


def flag_lines(keywords: tuple[str, ...], readonly: bool) -> r.Encoded:
    """SELECT's FLAGS and PERMANENTFLAGS lines for a mailbox with these keywords, serialised once per set (a bounded
    cache: a mailbox's keywords rarely change)."""
    key = (keywords, readonly)
    got = _FLAG_LINES.get(key)
    if got is None:
        flags = (*SYSTEM_FLAGS, *keywords)
        perm = r.ok(None, "Read-only mailbox.", r.code_permanentflags(())) if readonly else \
            r.ok(None, "Flags permitted.", r.code_permanentflags((*flags, "\\*")))
        got = r.Encoded(r.FlagsResponse(flags).to_bytes() + perm.to_bytes())
        if len(_FLAG_LINES) >= 256:
            _FLAG_LINES.clear()
        _FLAG_LINES[key] = got
    return got


def copyuid(uidvalidity: int, uids: list[int], new: list[int]) -> r.ResponseCode | None:
    """COPYUID (RFC 4315 3), or None when some copies are stored without a UID yet (maildir_backend._publish)."""
    if len(new) != len(uids):
        return None
    return r.ResponseCode("COPYUID", f"{uidvalidity} {uid_set(uids)} {uid_set(new)}")


def canonical(flag: str) -> str:
    """System flags are case-insensitive (RFC 3501 2.3.2); keep their canonical spelling."""
    for sys_flag in SYSTEM_FLAGS:
        if flag.lower() == sys_flag.lower():
            return sys_flag
    return flag


def uid_set(uids: list[int]) -> str:
    """A uid-set for COPYUID (RFC 4315 3): compressed when ascending, else listed in order."""
    if uids == sorted(uids):
        return str(SequenceSet.of(uids))
    return ",".join(str(u) for u in uids)
