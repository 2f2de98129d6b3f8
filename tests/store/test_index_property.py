"""The unread cache and the history index against a full listing, after every step of random interleavings of
deliveries, announcements, reads (flag changes and receipts), agentmail's own flag changes and moves, and other
programs' renames, deliveries and deletions behind agentmail's back (and caches deleted or damaged now and then)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agentmail import config
from agentmail.agent import compose
from agentmail.agent.mailbox import (
    Item,
    announce,
    find,
    listing,
    load_item,
    move,
    scan_find,
    scan_listing,
    set_flags,
    unread,
    unread_cur,
)
from agentmail.agent.reading import read_message
from agentmail.agent.receipts import receipts, receipts_for
from agentmail.errors import AgentmailError
from agentmail.store import registry
from agentmail.store.maildir import split_name
from tests.support.store import create_accounts

FOLDERS = ("INBOX", "Todo")


class Mailboxes(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="agentmail-index-")
        self.cfg = config.load(os.path.join(self.tmp, "home"))
        create_accounts(self.cfg, "alice", "bob")
        self.n = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- looking at the store directly --------------------------------------------------------------------------
    def box(self, folder: str = "INBOX") -> str:
        root = self.cfg.maildir_path("bob")
        return root if folder == "INBOX" else os.path.join(root, "." + folder)

    def files(self, folder: str = "INBOX") -> list[tuple[str, str]]:
        out = []
        for sub in ("new", "cur"):
            path = os.path.join(self.box(folder), sub)
            if os.path.isdir(path):
                out += [(sub, name) for name in sorted(os.listdir(path))]
        return out

    def pick(self, data: st.DataObject, folder: str = "INBOX", sub: str | None = None) -> tuple[str, str] | None:
        files = [f for f in self.files(folder) if sub is None or f[0] == sub]
        return data.draw(st.sampled_from(files)) if files else None

    def item(self, folder: str, sub: str, name: str) -> Item:
        loaded = load_item("bob", folder, registry.mailbox(self.cfg, "bob", folder), sub, name, 10**7)
        assert loaded is not None
        return loaded

    # --- agentmail's own changes ---------------------------------------------------------------------------------
    @rule(urgent=st.booleans(), receipt=st.booleans())
    def send(self, urgent: bool, receipt: bool) -> None:
        self.n += 1
        compose.send(self.cfg, "alice", ["bob"], f"postcard {self.n}", "body", urgent=urgent, receipt=receipt)

    @rule()
    def inbox(self) -> None:
        announce(unread(self.cfg, "bob"))

    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        picked = self.pick(data)
        if picked:
            key = self.item("INBOX", *picked).key
            try:
                read_message(self.cfg, "bob", key[:12])
            except AgentmailError:
                pass  # the same key twice (a foreign copy): ambiguous, as the listing would say too

    @rule(data=st.data(), add=st.sampled_from(["S", "F", "FS", ""]), remove=st.sampled_from(["S", "F", ""]))
    def flags(self, data: st.DataObject, add: str, remove: str) -> None:
        folder = data.draw(st.sampled_from(FOLDERS))
        picked = self.pick(data, folder)
        if picked:
            set_flags(self.item(folder, *picked), add=add, remove=remove)

    @rule(data=st.data())
    def file_away(self, data: st.DataObject) -> None:
        src, dest = data.draw(st.sampled_from([FOLDERS, FOLDERS[::-1]]))
        picked = self.pick(data, src)
        if picked:
            move(self.cfg, self.item(src, *picked), dest)

    # --- other programs -----------------------------------------------------------------------------------------
    @rule(data=st.data(), flags=st.sampled_from(["", "S", "FS", "RS", "T"]))
    def foreign_rename(self, data: st.DataObject, flags: str) -> None:
        folder = data.draw(st.sampled_from(FOLDERS))
        picked = self.pick(data, folder)
        if picked:
            sub, name = picked
            os.rename(os.path.join(self.box(folder), sub, name),
                      os.path.join(self.box(folder), "cur", f"{split_name(name)[0]}:2,{flags}"))

    @rule(data=st.data())
    def foreign_delete(self, data: st.DataObject) -> None:
        folder = data.draw(st.sampled_from(FOLDERS))
        picked = self.pick(data, folder)
        if picked:
            os.unlink(os.path.join(self.box(folder), *picked))

    @rule(sub=st.sampled_from(["new", "cur"]), seen=st.booleans(), with_id=st.booleans())
    def foreign_delivery(self, sub: str, seen: bool, with_id: bool) -> None:
        self.n += 1
        mid = f"Message-ID: <foreign-{self.n}@example.org>\n" if with_id else ""
        data = f"From: carol@example.org\nSubject: foreign {self.n}\n{mid}\nhello\n".encode()
        name = f"{int(time.time())}.M{self.n}P99Q{self.n}.mutt,S={len(data)}"
        if sub == "cur":
            name += ":2,S" if seen else ":2,"
        with open(os.path.join(self.box(), sub, name), "wb") as fh:
            fh.write(data)

    @rule(which=st.sampled_from(["bob.INBOX.unread", "bob.index.sqlite", "bob.INBOX.log", "alice.index.sqlite"]),
          damage=st.booleans())
    def lose_cache(self, which: str, damage: bool) -> None:
        path = self.cfg.path("cache", which)
        if damage:
            with open(path, "wb") as fh:
                fh.write(b"garbage\x00" * 100)
        else:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.unlink(path + suffix)

    # --- what the caches say, against a listing ------------------------------------------------------------------
    @invariant()
    def unread_is_the_listing(self) -> None:
        want = sorted((sub, name) for sub, name in self.files() if sub == "new" or "S" not in split_name(name)[1])
        cached = unread_cur(self.cfg, "bob", registry.mailbox(self.cfg, "bob"), "INBOX")
        assert sorted(("cur", name) for name in cached) == [f for f in want if f[0] == "cur"]
        assert sorted((i.subdir, i.filename) for i in unread(self.cfg, "bob")) == want

    @invariant()
    def index_rows_are_the_listing(self) -> None:
        from agentmail.store.index import IndexUnavailable, open_index

        try:
            index = open_index(self.cfg, "bob", 10**7, FOLDERS)
        except IndexUnavailable:
            return  # damaged just now (lose_cache): rebuilt by the next use, which the other invariants make
        try:
            for folder in FOLDERS:
                want = [(sub, name, self.item(folder, sub, name).key) for sub, name in self.files(folder)]
                assert sorted(index.rows(folder)) == sorted(want), folder
        finally:
            index.close()

    @invariant()
    def newest_first_is_the_listing(self) -> None:
        for account, folder in (("bob", "INBOX"), ("bob", "Todo"), ("alice", "Sent"), ("alice", "Receipts")):
            if not os.path.isdir(os.path.join(self.cfg.maildir_path(account), *(["." + folder] if folder != "INBOX"
                                                                                 else []), "cur")):
                continue
            for limit in (1, 3, 1000):
                got = [(i.subdir, i.filename) for i in listing(self.cfg, account, folder, limit)]
                want = [(i.subdir, i.filename) for i in scan_listing(self.cfg, account, folder, limit)]
                assert got == want, (account, folder, limit)

    @precondition(lambda self: self.n > 0)
    @invariant()
    def every_message_is_found(self) -> None:
        for folder in FOLDERS:
            for sub, name in self.files(folder):
                prefix = self.item(folder, sub, name).key[:8]
                assert outcome(find, self.cfg, prefix) == outcome(scan_find, self.cfg, prefix), (folder, sub, name)

    @invariant()
    def receipts_are_found_for_their_originals(self) -> None:
        keys = [i.key for i in scan_listing(self.cfg, "alice", "Sent", 1000)] if os.path.isdir(
            os.path.join(self.cfg.maildir_path("alice"), ".Sent", "cur")) else []
        if not os.path.isdir(os.path.join(self.cfg.maildir_path("alice"), ".Receipts", "cur")):
            return
        got = {k: sorted((r.reader, r.disposition, round(r.at, 3)) for r in v)
               for k, v in receipts_for(self.cfg, "alice", keys).items()}
        want: dict[str, list[tuple[str, str, float]]] = {}
        for r in receipts(self.cfg, "alice"):
            if r.original_key in keys:
                want.setdefault(r.original_key, []).append((r.reader, r.disposition, round(r.at, 3)))
        assert got == {k: sorted(v) for k, v in want.items()}


def outcome(finder: Callable[[config.Config, str, str], Item], cfg: config.Config, prefix: str) -> object:
    try:
        item = finder(cfg, "bob", prefix)
    except AgentmailError as exc:
        return type(exc).__name__, str(exc)
    return item.folder, item.subdir, item.filename


Mailboxes.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
TestIndexAgainstListing = Mailboxes.TestCase
