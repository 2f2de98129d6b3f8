"""Fixtures for the IMAP tests: a small in-memory Backend for session transcripts (with RFC 7162 mod-sequences:
every change takes the next number, as Dovecot's do)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from agentmail.imap.protocol.errors import ImapNo
from agentmail.imap.session.backend import MailboxInfo, MailboxState, MessageInfo

T0 = dt.datetime(2024, 6, 3, 10, 0, tzinfo=dt.timezone.utc)


@dataclass
class Box:
    uidvalidity: int
    special_use: tuple[str, ...] = ()
    read_only: bool = False
    uidnext: int = 1
    messages: dict[int, tuple[bytes, frozenset[str], dt.datetime]] = field(default_factory=dict)
    highest: int = 1
    modseqs: dict[int, int] = field(default_factory=dict)
    expunged: list[tuple[int, int]] = field(default_factory=list)  # (modseq, uid)
    pending: int = 0  # the mod-sequence of the changes made since the last look (one STORE: one value, as Dovecot)

    def bump(self, uid: int) -> int:
        self.modseqs[uid] = mod = self.batch()
        return mod

    def batch(self) -> int:
        if not self.pending:
            self.pending = self.highest + 1
        return self.pending

    def commit(self) -> None:
        if self.pending:
            self.highest, self.pending = self.pending, 0


class MemoryBackend:
    def __init__(self) -> None:
        self.users = {"bob": "pw", "human": "hpw"}
        self.boxes: dict[str, dict[str, Box]] = {
            "bob": {
                "INBOX": Box(1001),
                "Sent": Box(1002, ("\\Sent",)),
                "Archive": Box(1003, ("\\Archive",)),
            },
            "human": {"INBOX": Box(2001), "Agents/bob/INBOX": Box(1001, read_only=True)},
        }
        self.boxes["human"]["Agents/bob/INBOX"] = self.boxes["bob"]["INBOX"]

    # helpers for tests
    def deliver(self, account: str, mailbox: str, data: bytes, flags: Sequence[str] = ()) -> int:
        box = self.boxes[account][mailbox]
        uid = box.uidnext
        box.uidnext += 1
        box.messages[uid] = (data, frozenset(flags), T0)
        box.commit()
        box.bump(uid)
        box.commit()  # each delivery a change of its own
        return uid

    def _box(self, account: str, mailbox: str) -> Box:
        box = self.boxes[account].get(mailbox)
        if box is None:
            raise ImapNo("Mailbox does not exist", "NONEXISTENT")
        return box

    # Backend protocol
    def login(self, user: str, password: str) -> str | None:
        name = user.split("@")[0]
        return name if self.users.get(name) == password else None

    def mailboxes(self, account: str) -> Sequence[MailboxInfo]:
        return [MailboxInfo(n, b.special_use, True, b.read_only) for n, b in self.boxes[account].items()]

    def state(self, account: str, mailbox: str) -> MailboxState:
        box = self._box(account, mailbox)
        box.commit()
        msgs = [MessageInfo(uid, f, len(d), when, box.modseqs[uid])
                for uid, (d, f, when) in sorted(box.messages.items())]
        read_only = box.read_only or (account == "human" and mailbox.startswith("Agents/"))
        return MailboxState(box.uidvalidity, box.uidnext, msgs, read_only, box.highest)

    def vanished(self, account: str, mailbox: str, modseq: int) -> list[int] | None:
        box = self._box(account, mailbox)
        box.commit()
        return sorted(uid for m, uid in box.expunged if m > modseq)

    def message(self, account: str, mailbox: str, uid: int) -> bytes:
        return self._box(account, mailbox).messages[uid][0]

    def set_flags(self, account: str, mailbox: str, uid: int, flags: frozenset[str]) -> int:
        box = self._box(account, mailbox)
        data, _, when = box.messages[uid]
        box.messages[uid] = (data, flags, when)
        return box.bump(uid)

    def store_flags(self, account: str, mailbox: str,
                    changes: Sequence[tuple[int, frozenset[str]]]) -> dict[int, int | None]:
        messages = self._box(account, mailbox).messages
        return {uid: self.set_flags(account, mailbox, uid, flags) for uid, flags in changes if uid in messages}

    def append(self, account: str, mailbox: str, message: bytes, flags: frozenset[str],
               date: dt.datetime | None) -> int:
        uid = self.deliver(account, mailbox, message, sorted(flags))
        if date is not None:
            box = self._box(account, mailbox)
            box.messages[uid] = (message, flags, date)
        return uid

    def copy(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        src = self._box(account, mailbox)
        self._box(account, dest)
        return [self.deliver(account, dest, src.messages[u][0], sorted(src.messages[u][1])) for u in uids]

    def move(self, account: str, mailbox: str, uids: Sequence[int], dest: str) -> list[int]:
        new = self.copy(account, mailbox, uids, dest)
        self.expunge(account, mailbox, uids)
        return new

    def expunge(self, account: str, mailbox: str, uids: Sequence[int]) -> None:
        box = self._box(account, mailbox)
        box.commit()
        for u in uids:
            if box.messages.pop(u, None) is not None:
                box.expunged.append((box.batch(), u))
                del box.modseqs[u]
        box.commit()

    def create(self, account: str, mailbox: str) -> None:
        if mailbox in self.boxes[account]:
            raise ImapNo("Mailbox already exists", "ALREADYEXISTS")
        self.boxes[account][mailbox] = Box(3000 + len(self.boxes[account]))

    def delete(self, account: str, mailbox: str) -> None:
        self._box(account, mailbox)
        del self.boxes[account][mailbox]

    def rename(self, account: str, old: str, new: str) -> None:
        box = self._box(account, old)
        if new in self.boxes[account]:
            raise ImapNo("Mailbox already exists", "ALREADYEXISTS")
        self.boxes[account][new] = box
        del self.boxes[account][old]


@pytest.fixture
def memory_backend() -> MemoryBackend:
    return MemoryBackend()
