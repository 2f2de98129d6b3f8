"""Small readers of the store used by several test modules (stdlib `email`, not agentmail's own parser)."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

from agentmail.store import keywords
from agentmail.store.maildir import Maildir, name_sizes, split_name


def parse(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None, "no text/plain part"
    return str(part.get_content())


def files(box: Path, *subdirs: str) -> list[Path]:
    subdirs = subdirs or ("new", "cur")
    return sorted(p for sub in subdirs for p in (box / sub).iterdir() if p.is_file()) if box.exists() else []


def flags_of(path: Path) -> str:
    return split_name(path.name)[1]


def keyword_names(path: Path) -> set[str]:
    """The IMAP keywords of a message file, through the folder's dovecot-keywords."""
    box = Maildir(str(path.parent.parent))
    table = keywords.read(box)
    return {table[ord(c) - ord("a")] for c in flags_of(path) if "a" <= c <= "z"}


def assert_complete(path: Path) -> EmailMessage:
    """A visible message file is whole: its size is its S= value and it parses with a body."""
    size, vsize = name_sizes(path.name)
    data = path.read_bytes()
    assert size == len(data), f"{path.name}: S={size} but the file has {len(data)} bytes"
    assert vsize == len(data) + data.count(b"\n") - data.count(b"\r\n")
    msg = parse(path)
    assert msg["Message-ID"], path
    return msg


def short_id(out: str) -> str:
    match = re.search(r"\bsent ([0-9a-f]{8}) to ", out)
    assert match, out
    return match.group(1)
