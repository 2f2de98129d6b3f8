"""`subscriptions`: the IMAP subscription list (RFC 3501 6.3.6-6.3.9), in Dovecot's own file.

Dovecot 2.3 keeps it as `subscriptions` in the root of a Maildir++ (lib-storage/list/subscription-file.c):
a version-2 file starts with the header "V<TAB>2" and an empty line, then one mailbox per line with its
hierarchy levels separated by TAB, each level as stored on disk (modified UTF-7) and tab-escaped
(\\x01 -> \\x01 "1", TAB -> \\x01 "t", CR -> \\x01 "r", LF -> \\x01 "n"). A file without the header is
version 1: whole names with the hierarchy separator, "." for Maildir++. Changes are written under the
dot-lock `subscriptions.lock` and renamed into place, as Dovecot does, so both may share it.

Names here are lists of levels (e.g. ``["INBOX"]``, ``["Sent"]``, ``["A", "B&AOk-"]``).
"""

from __future__ import annotations

import os

from .dotlock import DotLock
from .maildir import STANDARD_FOLDERS, Maildir

FILENAME = "subscriptions"
HEADER = "V\t2\n\n"
V1_SEPARATOR = "."
# what an account is subscribed to until it says otherwise: mail clients that show subscribed folders
# only (Thunderbird's default) then show the standard folders at once
DEFAULT: tuple[tuple[str, ...], ...] = (("INBOX",), *((f,) for f in STANDARD_FOLDERS))

_ESCAPES = {"\x01": "\x011", "\t": "\x01t", "\r": "\x01r", "\n": "\x01n"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}


def escape(level: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in level)


def unescape(text: str) -> str:
    out, chars = [], iter(text)
    for ch in chars:
        if ch == "\x01":
            nxt = next(chars, "")
            out.append(_UNESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def parse(text: str) -> list[tuple[str, ...]]:
    if text.startswith(HEADER):
        lines = text[len(HEADER):].split("\n")
        names = [tuple(unescape(level) for level in line.split("\t")) for line in lines if line]
    else:
        names = [tuple(line.split(V1_SEPARATOR)) for line in text.split("\n") if line]
    out: list[tuple[str, ...]] = []
    for name in names:  # INBOX is case-insensitive (RFC 3501 5.1); keep the first of duplicates
        if name[0].upper() == "INBOX" and len(name) == 1:
            name = ("INBOX",)
        if name not in out:
            out.append(name)
    return out


def format_subscriptions(names: list[tuple[str, ...]]) -> str:
    return HEADER + "".join("\t".join(escape(level) for level in name) + "\n" for name in names)


def path_of(root: Maildir) -> str:
    return os.path.join(root.path, FILENAME)


def read(root: Maildir) -> list[tuple[str, ...]] | None:
    """The subscribed names, in file order; None when the account has no file yet."""
    try:
        with open(path_of(root), encoding="utf-8", errors="surrogateescape") as fh:
            return parse(fh.read())
    except FileNotFoundError:
        return None


def write_default(root: Maildir) -> None:
    """An account's first subscription list: the standard folders, unless a file is there already."""
    with DotLock(path_of(root)) as lock:
        if not os.path.exists(path_of(root)):
            lock.replace(format_subscriptions(list(DEFAULT)).encode())


def set_subscribed(root: Maildir, name: tuple[str, ...], on: bool) -> bool:
    """Add or remove one name under the dot-lock; a missing file starts from ``DEFAULT``. Returns
    whether the file changed."""
    with DotLock(path_of(root)) as lock:
        current = read(root)
        names = list(DEFAULT) if current is None else current
        if (name in names) == on and current is not None:
            return False
        if on and name not in names:
            names.append(name)
        elif not on:
            names = [n for n in names if n != name]
        lock.replace(format_subscriptions(names).encode("utf-8", "surrogateescape"))
        return True
