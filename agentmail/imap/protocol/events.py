"""Events the command parser yields besides Command objects."""

from __future__ import annotations

from dataclasses import dataclass

from . import commands as c
from .response import StatusResponse


@dataclass(frozen=True)
class NeedContinuation:
    """A synchronizing literal was announced: send ``+ Ready`` and feed the literal."""

    tag: str | None
    size: int


@dataclass(frozen=True)
class ParseError:
    """Send ``response``; when ``fatal``, close the connection after it (it is then a BYE)."""

    response: StatusResponse
    fatal: bool = False


@dataclass(frozen=True)
class RawLine:
    """A line read in raw mode (see ``expect_line``), without its line ending."""

    line: bytes


Event = c.Command | NeedContinuation | ParseError | RawLine
