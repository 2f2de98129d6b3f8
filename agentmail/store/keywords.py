"""`dovecot-keywords`: IMAP keywords such as `$MDNSent` as the letters a-z after `:2,` in Maildir names.

Each line is "<index> <keyword>"; index 0 is letter `a`, up to 25 (`z`). Dovecot updates the file under its own
dot-lock and never renumbers an existing keyword, so neither do we.
"""

from __future__ import annotations

import os

from ..errors import DataError
from .dotlock import DotLock
from .maildir import Maildir, os_error

FILENAME = "dovecot-keywords"
MAX_KEYWORDS = 26


def read(maildir: Maildir) -> dict[int, str]:
    try:
        with open(os.path.join(maildir.path, FILENAME), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}
    table: dict[int, str] = {}
    for line in text.splitlines():
        index, _, name = line.partition(" ")
        if index.isdigit() and name and int(index) < MAX_KEYWORDS:
            table[int(index)] = name.strip()
    return table


def letter_of(table: dict[int, str], keyword: str) -> str | None:
    # IMAP keywords are case-insensitive (RFC 3501 2.3.2)
    for index, name in table.items():
        if name.lower() == keyword.lower():
            return chr(ord("a") + index)
    return None


def keyword_of(table: dict[int, str], letter: str) -> str | None:
    return table.get(ord(letter) - ord("a"))


def ensure(maildir: Maildir, keyword: str) -> str:
    """The letter for `keyword`, adding it to the file if needed."""
    table = read(maildir)
    letter = letter_of(table, keyword)
    if letter:
        return letter
    path = os.path.join(maildir.path, FILENAME)
    with DotLock(path) as lock:
        table = read(maildir)
        letter = letter_of(table, keyword)
        if letter:
            return letter
        free = next((i for i in range(MAX_KEYWORDS) if i not in table), None)
        if free is None:
            raise DataError(f"{maildir.path}: all {MAX_KEYWORDS} keyword letters are in use")
        table[free] = keyword
        data = "".join(f"{i} {name}\n" for i, name in sorted(table.items()))
        try:
            lock.replace(data.encode("utf-8"))
        except OSError as exc:
            raise os_error(exc, path) from exc
        return chr(ord("a") + free)
