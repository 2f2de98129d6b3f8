"""The IMAP namespace of an account over the Maildir++ store.

An account sees its own Maildir++: ``INBOX`` is ``maildirs/<name>/`` and a folder ``A/B`` is
``maildirs/<name>/.A.B`` (Maildir++ keeps the hierarchy flat with "." between levels and stores
names in modified UTF-7, as Dovecot does; the IMAP delimiter is "/"). Nothing else is visible,
except for the ``human`` account, which additionally sees every other account's folders read-only
under ``Agents/<name>/INBOX``, ``Agents/<name>/Sent``, ... (the list follows the registry live), and the
journal (one copy of every accepted postcard) as ``Agents/All``, read-only too, with the SPECIAL-USE
attribute ``\\All`` (RFC 6154 2): the whole conversation between all agents in one folder. An account name
is lower case, so no agent can be called "All".
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ...config import Config
from ...errors import AgentmailError
from ...store import registry, subscriptions
from ...store.maildir import STANDARD_FOLDERS, Maildir
from ..protocol import utf7
from ..protocol.errors import ImapNo
from ..session.backend import DELIMITER, MailboxInfo

AGENTS = "Agents"
ALL = f"{AGENTS}/All"  # the journal, for human only
SPECIAL_USE = {"Sent": ("\\Sent",), "Archive": ("\\Archive",)}  # RFC 6154
NONEXISTENT = "NONEXISTENT"  # RFC 5530


@dataclass(frozen=True)
class Place:
    """Where an IMAP mailbox name lives on disk, and whether this login may change it."""

    owner: str  # the account whose Maildir++ holds it ("" for the journal)
    folder: str  # Unicode, "/"-separated, "INBOX" for the root
    path: str  # the Maildir directory
    read_only: bool


def disk_name(folder: str) -> str:
    """``A/B`` -> ``.A.B`` (modified UTF-7, Maildir++ separators)."""
    return "." + utf7.encode(folder).replace(DELIMITER, ".")


def imap_name(entry: str) -> str | None:
    """``A.B`` (a Maildir++ directory without its leading dot) -> ``A/B``; None if not valid UTF-7."""
    try:
        return utf7.decode(entry).replace(".", DELIMITER)
    except utf7.Utf7Error:
        return None


def check_folder_name(folder: str) -> None:
    """Refuse names the Maildir++ layout cannot hold (or that would escape it)."""
    parts = folder.split(DELIMITER)
    if any(not p or p.startswith(".") or "." in p or "\0" in p for p in parts) or len(folder) > 200:
        raise ImapNo(f"Invalid mailbox name {folder!r}: no empty levels, no '.' (Maildir++ uses it)", "CANNOT")


class Namespace:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def root(self, account: str) -> Maildir:
        return Maildir(self.cfg.maildir_path(account))

    # ------------------------------------------------------------------ name -> place
    def place(self, account: str, name: str) -> Place:
        """The place of an existing or would-be mailbox; raises ImapNo for names outside the view."""
        if name.upper() == "INBOX":
            return Place(account, "INBOX", self.root(account).path, False)
        parts = name.split(DELIMITER)
        if account == registry.HUMAN and parts[0] == AGENTS:
            if name == ALL:
                return Place("", "INBOX", self.cfg.journal_path, True)
            if len(parts) < 3 or parts[1] == registry.HUMAN or not _valid_account(parts[1]):
                raise ImapNo("Mailbox does not exist", NONEXISTENT)
            owner, folder = parts[1], DELIMITER.join(parts[2:])
            if folder == "INBOX":
                return Place(owner, "INBOX", self.root(owner).path, True)
            check_folder_name(folder)
            return Place(owner, folder, os.path.join(self.root(owner).path, disk_name(folder)), True)
        check_folder_name(name)
        return Place(account, name, os.path.join(self.root(account).path, disk_name(name)), False)

    def existing(self, account: str, name: str) -> Place:
        place = self.place(account, name)
        if not os.path.isdir(os.path.join(place.path, "cur")):
            raise ImapNo("Mailbox does not exist", NONEXISTENT)
        return place

    def writable(self, account: str, name: str) -> Place:
        place = self.existing(account, name)
        if place.read_only:
            raise ImapNo("Mailbox is read-only: agents' mailboxes are only watched from here", "READ-ONLY")
        return place

    # ------------------------------------------------------------------ LIST
    def folders_of(self, owner: str) -> list[str]:
        names = []
        for entry in self.root(owner).folders():
            name = imap_name(entry)
            if name is not None:
                names.append(name)
        return names

    def mailboxes(self, account: str) -> Sequence[MailboxInfo]:
        out = [MailboxInfo("INBOX")]
        out += [MailboxInfo(n, SPECIAL_USE.get(n, ())) for n in self.folders_of(account) if n.split("/")[0] != AGENTS
                or account != registry.HUMAN]
        if account == registry.HUMAN:
            if os.path.isdir(os.path.join(self.cfg.journal_path, "cur")):
                out.append(MailboxInfo(ALL, ("\\All",), read_only=True))
            for owner in registry.names(self.cfg):  # the registry, read live at every LIST
                if owner == registry.HUMAN or not _valid_account(owner):
                    continue
                prefix = f"{AGENTS}/{owner}/"
                out.append(MailboxInfo(prefix + "INBOX", read_only=True))
                out += [MailboxInfo(prefix + n, read_only=True) for n in self.folders_of(owner)]
        return out

    # ------------------------------------------------------------------ SUBSCRIBE / LSUB
    def subscriptions(self, account: str) -> list[str]:
        """Subscribed names (RFC 3501 6.3.6): the account's ``subscriptions`` file (Dovecot's), written
        with INBOX and the standard folders the first time it is missing; for ``human`` also every
        ``Agents/...`` folder (they follow the registry, so a new agent shows up in clients that list
        subscribed folders only)."""
        stored = subscriptions.read(self.root(account))
        if stored is None:  # first asked: write the default, so Dovecot on the same tree agrees
            try:
                subscriptions.write_default(self.root(account))
            except (AgentmailError, OSError):
                pass  # a read-only store: the default still holds
        names = [_from_levels(levels) for levels in (subscriptions.DEFAULT if stored is None else stored)]
        out = [n for n in names if n is not None]
        if account == registry.HUMAN:
            out += [b.name for b in self.mailboxes(account) if b.read_only]
        return out

    def subscribe(self, account: str, name: str, on: bool) -> None:
        """SUBSCRIBE needs an existing mailbox, as Dovecot does; UNSUBSCRIBE works on any name."""
        place = self.existing(account, name) if on else self.place(account, name)
        if place.read_only:
            if not on:
                raise ImapNo(f"{AGENTS}/ folders follow the registry and stay subscribed", "CANNOT")
            return
        levels = ("INBOX",) if place.folder == "INBOX" else tuple(utf7.encode(p) for p in place.folder.split(DELIMITER))
        try:
            subscriptions.set_subscribed(self.root(account), levels, on)
        except AgentmailError as exc:
            raise ImapNo(f"Cannot update subscriptions: {exc}", "SERVERBUG") from None

    # ------------------------------------------------------------------ CREATE / DELETE / RENAME
    def _own(self, account: str, name: str) -> Place:
        place = self.place(account, name)
        if place.read_only or (account == registry.HUMAN and name.split(DELIMITER)[0] == AGENTS):
            raise ImapNo(f"{AGENTS}/ holds the agents' mailboxes, read-only", "CANNOT")
        return place

    def create(self, account: str, name: str) -> None:
        place = self._own(account, name)
        if os.path.isdir(place.path):
            raise ImapNo("Mailbox already exists", "ALREADYEXISTS")
        try:
            Maildir(place.path).create(folder_marker=True)
        except AgentmailError as exc:
            raise ImapNo(f"Cannot create mailbox: {exc}", "SERVERBUG") from None

    def delete(self, account: str, name: str) -> None:
        """RFC 3501 6.3.4: the mailbox and its messages go; children (``name/x``) stay."""
        place = self._own(account, name)
        if place.folder in STANDARD_FOLDERS:
            raise ImapNo(f"{place.folder} is one of agentmail's standard folders and cannot be deleted", "CANNOT")
        if not os.path.isdir(os.path.join(place.path, "cur")):
            raise ImapNo("Mailbox does not exist", NONEXISTENT)
        # rename first (atomic: the mailbox is gone for everyone at once), then remove, as Dovecot does
        trash = os.path.join(os.path.dirname(place.path), f"..deleted.{os.getpid()}.{time.monotonic_ns()}")
        try:
            os.rename(place.path, trash)
        except OSError as exc:
            raise ImapNo(f"Cannot delete mailbox: {exc.strerror}", "SERVERBUG") from None
        shutil.rmtree(trash, ignore_errors=True)

    def rename(self, account: str, old: str, new: str) -> None:
        src = self._own(account, old)
        dst = self._own(account, new)
        if src.folder == "INBOX":
            raise ImapNo("Renaming INBOX is not supported", "CANNOT")
        if src.folder in STANDARD_FOLDERS:
            raise ImapNo(f"{src.folder} is one of agentmail's standard folders and cannot be renamed", "CANNOT")
        if dst.folder == "INBOX" or os.path.isdir(dst.path):
            raise ImapNo("Mailbox already exists", "ALREADYEXISTS")
        if not os.path.isdir(os.path.join(src.path, "cur")):
            raise ImapNo("Mailbox does not exist", NONEXISTENT)
        # the mailbox and its children (RFC 3501 6.3.5): ".Old" and ".Old.*"
        root = self.root(account).path
        old_disk, new_disk = disk_name(src.folder), disk_name(dst.folder)
        moves = [(e, new_disk + e[len(old_disk):]) for e in sorted(os.listdir(root))
                 if e == old_disk or e.startswith(old_disk + ".")]
        # all or nothing: a child's new name taken (Bar/Sub when renaming Foo with Foo/Sub to Bar) refuses the whole
        # RENAME before anything moves, and a failure half-way moves back what had moved
        if any(os.path.lexists(os.path.join(root, b)) for _, b in moves):
            raise ImapNo("A mailbox with one of the new names already exists", "ALREADYEXISTS")
        done: list[tuple[str, str]] = []
        try:
            for a, b in moves:
                os.rename(os.path.join(root, a), os.path.join(root, b))
                done.append((a, b))
        except OSError as exc:
            for a, b in reversed(done):
                try:
                    os.rename(os.path.join(root, b), os.path.join(root, a))
                except OSError:
                    pass
            raise ImapNo(f"Cannot rename mailbox: {exc.strerror}", "SERVERBUG") from None


def _from_levels(levels: tuple[str, ...]) -> str | None:
    """A stored name (modified UTF-7 levels) as an IMAP name; None if it is not valid UTF-7."""
    try:
        return DELIMITER.join(utf7.decode(level) for level in levels)
    except utf7.Utf7Error:
        return None


def _valid_account(name: str) -> bool:
    return bool(name) and all(ch.islower() or ch.isdigit() or ch == "-" for ch in name) and name.isascii()
