"""IMAP flags <-> Maildir info letters, with the folder's ``dovecot-keywords`` table for keywords.

System flags are Dovecot's letters (D F R S T); a keyword is the lowercase letter its index in
``dovecot-keywords`` names ('a' + index). Letters with no IMAP meaning (P "passed") are kept on renames. Flag sets
are interned per info string: the same few ``frozenset`` objects serve every message, which keeps memory flat and
lets the snapshots find the first unseen message by identity (snapshot.py).
"""

from __future__ import annotations

import os

from ...errors import AgentmailError
from ...store import keywords
from ...store.maildir import Maildir
from ..protocol.errors import ImapNo
from .uidtail import file_key

LETTER_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
FLAG_LETTERS = {v: k for k, v in LETTER_FLAGS.items()}


class FlagMap:
    def __init__(self, maildir: Maildir) -> None:
        self.maildir = maildir
        self.path = os.path.join(maildir.path, keywords.FILENAME)
        self.table: dict[int, str] = {}
        self._key: tuple[int, int, int] | None = None
        self._sets: dict[str, frozenset[str]] = {}

    def changed(self) -> bool:
        return file_key(self.path) != self._key

    def reload(self) -> bool:
        """Read the keywords table again; True when it says something new."""
        self._key = file_key(self.path)  # before reading: a change while we read is seen next time
        table = keywords.read(self.maildir)
        if table == self.table:
            return False
        self.table = table
        self._sets.clear()
        return True

    def flagset(self, info: str) -> frozenset[str]:
        found = self._sets.get(info)
        if found is None:
            table = self.table
            flags = {LETTER_FLAGS[ch] for ch in info if ch in LETTER_FLAGS}
            flags |= {table[ord(ch) - 97] for ch in info if "a" <= ch <= "z" and ord(ch) - 97 in table}
            found = self._sets[info] = frozenset(flags)
        return found

    def letters(self, flags: frozenset[str], keep_from: str) -> tuple[str, bool]:
        """(Maildir info for IMAP ``flags``, whether the keywords table grew); letters with no IMAP meaning (P)
        survive from ``keep_from``."""
        out = {ch for ch in keep_from if ch.isupper() and ch not in LETTER_FLAGS}
        grown = False
        for flag in flags:
            if flag in FLAG_LETTERS:
                out.add(FLAG_LETTERS[flag])
            elif not flag.startswith("\\"):
                try:
                    letter = keywords.ensure(self.maildir, flag)
                except AgentmailError as exc:
                    raise ImapNo(str(exc), "LIMIT") from None
                grown = grown or ord(letter) - 97 not in self.table
                out.add(letter)
        return "".join(sorted(out)), grown
