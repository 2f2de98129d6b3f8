"""`agentmail sendmail` / `agentmail-sendmail`: the sendmail(8) interface scripts, cron, mutt and git expect.

The message is read from stdin and delivered straight into the store with `deliver(via="sendmail")`; no server is
needed. Flags (as msmtp and Postfix's sendmail take them):

    -t              recipients also from the To, Cc and Bcc headers (Bcc is then removed from the message)
    -i, -oi         a line with a single "." does not end the message (without it, it does, as in sendmail)
    -f ADDR, -r ADDR  the envelope sender       -F NAME  full name, used only if the message has no From
    --              the rest are recipients    -o*, -B*, -v, -oem, -n, -m, -U, -bm   accepted and ignored
    -N, -R, -V, -X, -C, -L take an argument and are ignored

Who sends (the account whose .Sent folder gets a copy): the -f address if it is a local account; else the
current agentmail identity (`agentmail whoami`); else nobody (sender=None) with the -f address, or
`<login>@<host>`, as the envelope sender only. Any local process may write to the store directly, so sendmail, unlike
SMTP, does not restrict the From header.

Exit codes (sysexits): 64 usage, 65 bad message, 66 empty input, 67 unknown or foreign recipient,
73 cannot create, 75 temporary failure (retry later).
"""

from __future__ import annotations

import os
import sys
import time
from email.utils import getaddresses
from typing import IO, TYPE_CHECKING

from ..delivery.deliver import deliver
from ..errors import (
    EX_NOUSER,
    AgentmailError,
    ConfigError,
    DataError,
    NoInputError,
    StoreIOError,
    TempFailError,
    UsageError,
)
from ..format.address import ForeignAddressError, parse_address
from ..format.submission import header_values, missing_fields
from ..store import registry

if TYPE_CHECKING:
    from ..config import Config
    from ..delivery.deliver import Delivery

IGNORED_FLAGS = ("-o", "-B", "-v", "-n", "-m", "-U", "-G", "-bm", "-bi")  # whole flags (with attached values)
FLAGS_WITH_ARG = ("-N", "-R", "-V", "-X", "-C", "-L", "-A")  # ignored, with an attached or a separate argument


class RelayDeniedError(AgentmailError):
    """A recipient in another domain: agentmail never relays (sendmail reports it as an unknown user, 67)."""

    exit_code = EX_NOUSER


class Options:
    __slots__ = ("recipients", "from_headers", "ignore_dots", "sender", "full_name")

    def __init__(self) -> None:
        self.recipients: list[str] = []
        self.from_headers = False  # -t
        self.ignore_dots = False  # -i / -oi
        self.sender: str | None = None  # -f / -r
        self.full_name: str | None = None  # -F


def parse_args(args: list[str]) -> Options:
    """sendmail's flags (see the module docstring); raises UsageError for anything unknown."""
    opts = Options()
    i = 0

    def value(flag: str) -> str:
        nonlocal i
        arg = args[i]
        if len(arg) > len(flag):
            return arg[len(flag):]
        if i + 1 >= len(args):
            raise UsageError(f"sendmail: {flag} needs a value")
        i += 1
        return args[i]

    while i < len(args):
        arg = args[i]
        if arg == "--":
            opts.recipients.extend(args[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            opts.recipients.append(arg)
        elif arg == "-t":
            opts.from_headers = True
        elif arg in ("-i", "-oi"):
            opts.ignore_dots = True
        elif arg.startswith(("-f", "-r")):
            opts.sender = value(arg[:2]).strip()
            if any(c in opts.sender for c in "\r\n\0\t "):  # it becomes the Return-Path field
                raise UsageError(f"sendmail: invalid sender address {opts.sender[:60]!r}")
        elif arg.startswith("-F"):
            opts.full_name = value("-F")
        elif arg.startswith(FLAGS_WITH_ARG):
            value(arg[:2])
        elif arg in ("-B",):
            value("-B")  # "-B 8BITMIME": the body type, ignored (8-bit is always fine)
        elif arg.startswith(IGNORED_FLAGS):
            pass
        else:
            raise UsageError(f"sendmail: unsupported option {arg!r} (see `agentmail sendmail --help`)")
        i += 1
    return opts


def read_message(stream: IO[bytes], ignore_dots: bool, limit: int) -> bytes:
    """The message on stdin: up to EOF, or with sendmail's default (no -i) up to a line holding only '.'."""
    if ignore_dots:
        data = stream.read(limit + 1)
    else:
        lines: list[bytes] = []
        size = 0
        for line in iter(stream.readline, b""):
            if line.rstrip(b"\r\n") == b".":
                break
            lines.append(line)
            size += len(line)
            if size > limit:
                break
        data = b"".join(lines)
    if len(data) > limit:
        raise DataError(f"the message is larger than the limit of {limit} bytes (max_message)")
    if not data.strip():
        raise NoInputError("no message on stdin")
    return data


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """(header block including its final newline, the rest). A first line that is not a header field means
    the input is all body (`echo hi | sendmail bob`)."""
    first = data.split(b"\n", 1)[0]
    name, colon, _ = first.partition(b":")
    if not colon or not name or name.strip() != name or any(c <= 32 or c >= 127 for c in name):
        return b"", data
    for sep in (b"\r\n\r\n", b"\n\n"):
        pos = data.find(sep)
        if pos >= 0:
            return data[: pos + len(sep) // 2], data[pos + len(sep) // 2:]
    return data if data.endswith(b"\n") else data + b"\n", b""


def _fields(head: bytes, names: tuple[str, ...]) -> list[str]:
    return header_values(head + b"\n", names)


def drop_header(head: bytes, name: str) -> bytes:
    """`head` without every `name:` field and its continuation lines (for -t and Bcc)."""
    out: list[bytes] = []
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = line.split(b":", 1)[0].strip().lower() == name.encode()
        if not skipping:
            out.append(line)
    return b"".join(out)


def identity(cfg: Config, given: str | None) -> tuple[str | None, str]:
    """(sending account or None, envelope sender) by the rule in the module docstring."""
    if given:
        try:
            name = registry.resolve(cfg, parse_address(given, cfg.domain))
        except UsageError:  # foreign or malformed: it is only an envelope sender then
            name = None
        if name:
            return name, cfg.address(name)
    try:
        from ..agent.identity import whoami

        me: str | None = whoami(cfg)
    except (ConfigError, AgentmailError):
        me = None
    if given is not None:
        return me, given.strip("<>")
    if me:
        return me, cfg.address(me)
    import getpass

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return None, f"{login}@{os.uname().nodename or 'localhost'}"


def complete_headers(cfg: Config, head: bytes, from_addr: str, full_name: str | None, recipients: list[str],
                     body: bytes = b"") -> bytes:
    """Add From, Date and Message-ID when missing, as sendmail does (RFC 6409 8.1-8.3); nothing else changes.
    Date and Message-ID are made as SMTP makes them (format/submission.py): a content-addressed `<key@domain>`."""
    extra: list[str] = []
    if not _fields(head, ("from",)):
        name = (full_name or "").replace('"', "").replace("\r", "").replace("\n", "")
        extra.append(f'From: "{name}" <{from_addr}>' if name else f"From: {from_addr}")
    extra += missing_fields(head + b"\n" + body, sender=from_addr, recipients=recipients, domain=cfg.domain,
                            now=time.time())
    if not extra:
        return head
    newline = b"\r\n" if head.endswith(b"\r\n") else b"\n"
    body_sep = b"" if head else newline
    return head + newline.join(e.encode("utf-8") for e in extra) + newline + body_sep


def sendmail(cfg: Config, args: list[str], stdin: IO[bytes] | None = None) -> Delivery:
    """Parse sendmail `args`, read the message and deliver it. Raises AgentmailError with the sysexits code."""
    opts = parse_args(args)
    data = read_message(stdin or sys.stdin.buffer, opts.ignore_dots, cfg.max_message)
    head, body = split_message(data)
    recipients = list(opts.recipients)
    if opts.from_headers:
        for value in _fields(head, ("to", "cc", "bcc")):
            recipients.extend(addr for _, addr in getaddresses([value]) if addr)
        if _fields(head, ("bcc",)):
            head = drop_header(head, "bcc")
    recipients = [r for r in recipients if r.strip()]
    if not recipients:
        raise UsageError("sendmail: no recipients (give addresses as arguments, or -t to read the headers)")
    registry.ensure_store(cfg)
    sender, envelope_from = identity(cfg, opts.sender)
    head = complete_headers(cfg, head, cfg.address(sender) if sender else envelope_from, opts.full_name,
                            recipients, body)
    try:
        return deliver(cfg, head + body, recipients, sender=sender, envelope_from=envelope_from, via="sendmail")
    except ForeignAddressError as err:
        raise RelayDeniedError(f"relay denied: {err}") from None
    except TempFailError:
        raise
    except StoreIOError as err:  # disk full, I/O error: a caller such as cron or git may retry later
        raise TempFailError(str(err)) from None
