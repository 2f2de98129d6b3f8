"""The Maildir cache answers an unchanged mailbox from memory and takes in changes in O(what changed).

A live server (in this process, so its backend's listing counters can be read) over real Maildirs: SELECT, EXAMINE,
STATUS and NOOP on an unchanged folder list no directory; new mail lists new/ only; our own changes (new/ -> cur/,
STORE, EXPUNGE, APPEND, COPY) list nothing; another program's rename, unlink or uidlist rewrite is seen; a change
hidden behind our own in the same mtime tick is found by the one deferred listing; COPY learns its destination's
UIDVALIDITY without listing it. Every check that a change was seen goes through the IMAP replies a client gets.
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

from imapclient import IMAPClient

from agentmail.imap.maildir.backend import MaildirBackend
from agentmail.imap.maildir.dirs import DIRTY_NS
from agentmail.store import uidlist
from agentmail.store.dotlock import DotLock
from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live
from tests.support.store import Store
from tests.support.wait import until

BIG = 2000  # messages in the test folders: a full listing of them would show in the counters, not in the time


def fill(box: Path, count: int, seed: int = 1, sub: str = "cur") -> None:
    """``count`` small postcards written as files (every fifth unseen), numbered by uidlist.sync, the directories
    dated an hour back (so nothing is "dirty")."""
    rng = random.Random(seed)
    start = int(time.time()) - 86400
    for i in range(count):
        data = (f"From: a{i % 7}@agents.localhost\nTo: bob@agents.localhost\nSubject: card {i}\n"
                f"Message-ID: <{rng.getrandbits(64):x}@agents.localhost>\n\nbody {i}\n").encode()
        vsize = len(data) + data.count(b"\n")
        name = f"{start + i}.M{i}P1Q{i}.test,S={len(data)},W={vsize}"
        flags = "" if i % 5 == 0 else "S"
        path = box / sub / (name + (f":2,{flags}" if sub == "cur" else ""))
        path.write_bytes(data)
    uidlist.sync(Maildir(str(box)))
    settle(box)


def settle(box: Path, ago: float = 3600) -> None:
    past = time.time() - ago
    for sub in ("new", "cur"):
        os.utime(box / sub, (past, past))


def backend_of(live: Live) -> MaildirBackend:
    return live.server.server.backend


def listings(live: Live, account: str, mailbox: str = "INBOX") -> dict[str, int]:
    return backend_of(live).listings(account, mailbox)


def test_unchanged_mailbox_lists_nothing(live: Live) -> None:
    fill(live.store.box("bob"), BIG)
    c = live.client("bob")
    first = c.select_folder("INBOX")
    assert first[b"EXISTS"] == BIG and first[b"UNSEEN"] == [b"1"]
    before = listings(live, "bob")
    assert before == {"full": 1, "new": 0, "cur": 0}
    state = backend_of(live).state("bob", "INBOX")
    for _ in range(5):
        c.unselect_folder()
        assert c.select_folder("INBOX")[b"EXISTS"] == BIG
        c.unselect_folder()
        assert c.select_folder("INBOX", readonly=True)[b"UIDNEXT"] == BIG + 1
        c.unselect_folder()
        status = c.folder_status("INBOX", ["MESSAGES", "UNSEEN", "UIDNEXT", "SIZE"])
        assert status[b"MESSAGES"] == BIG and status[b"UNSEEN"] == BIG // 5
        c.select_folder("INBOX")
        assert c.noop()[1] == []
    assert listings(live, "bob") == before
    assert backend_of(live).state("bob", "INBOX") is state  # the very same state: sessions have nothing to diff


def test_new_mail_lists_new_only(live: Live) -> None:
    fill(live.store.box("bob"), BIG)
    c = live.client("bob")
    c.select_folder("INBOX")
    before = listings(live, "bob")
    for n in range(1, 4):
        live.store.send("alice", "bob", f"fresh {n}")
        got = c.noop()[1]
        assert (BIG + n, b"EXISTS") in got and (n, b"RECENT") in got, got
        after = listings(live, "bob")
        assert after["full"] == before["full"] and after["cur"] == before["cur"], after  # cur/ untouched
        assert after["new"] > before["new"]
        before = after
    assert sorted(os.listdir(live.store.box("bob") / "new")) == []  # moved to cur/ as Dovecot does
    assert c.search(["UNSEEN"])[-3:] == [BIG + 1, BIG + 2, BIG + 3]


def test_our_own_changes_list_nothing(live: Live) -> None:
    fill(live.store.box("bob"), BIG)
    fill(live.store.box("bob", "Archive"), BIG, seed=2)
    c = live.client("bob")  # UIDs here (imapclient's default)
    c.select_folder("INBOX")
    archive = c.folder_status("Archive", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    before = listings(live, "bob")
    c.add_flags([1, 2], [b"\\Flagged", b"$Label1"])
    c.remove_flags([3], [b"\\Seen"])
    c.delete_messages([4])
    c.expunge()
    appended = c.append("INBOX", b"Subject: appended\r\n\r\nhi\r\n", flags=[b"\\Seen"])
    raw = live.imap("bob")
    raw.select("INBOX")
    assert raw.uid("COPY", "5:6", "Archive")[0] == "OK"
    assert raw.response("COPYUID")[1] == [f"{archive} 5:6 {BIG + 1}:{BIG + 2}".encode()]
    assert listings(live, "bob") == before  # renames, unlinks and links were recorded as they were made
    assert listings(live, "bob", "Archive")["full"] == 1  # the STATUS above; COPY listed nothing more
    assert re.search(rb"APPENDUID \d+ (\d+)", appended).group(1) == str(BIG + 1).encode()  # type: ignore[union-attr]
    fetched = {uid: set(v[b"FLAGS"]) for uid, v in c.fetch([1, 2, 3, 4, BIG + 1], ["FLAGS"]).items()}
    assert fetched == {1: {b"\\Flagged", b"$Label1"}, 2: {b"\\Flagged", b"$Label1", b"\\Seen"}, 3: set(),
                       BIG + 1: {b"\\Seen", b"\\Recent"}}
    other = live.client("bob")  # a second session sees the same, from memory
    other.select_folder("INBOX", readonly=True)
    again = {uid: set(v[b"FLAGS"]) for uid, v in other.fetch([1, 2, 3, BIG + 1], ["FLAGS"]).items()}
    assert again == fetched | {BIG + 1: {b"\\Seen"}} and len(other.search()) == BIG
    assert other.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == BIG + 2
    assert listings(live, "bob") == before


def test_another_programs_changes_are_seen(live: Live) -> None:
    box = live.store.box("bob")
    fill(box, BIG)
    c = live.client("bob")
    c.select_folder("INBOX")
    cur = box / "cur"
    names = sorted(os.listdir(cur))
    first = next(n for n in names if n.endswith(":2,"))  # an unseen one
    os.rename(cur / first, cur / (first + "RS"))  # a flag change by another program (Dovecot, mutt)
    os.unlink(cur / names[-1])  # an expunge by another program
    got = c.noop()[1]
    assert any(item[1] == b"FETCH" and set(dict(zip(item[2][::2], item[2][1::2], strict=True))[b"FLAGS"])
               == {b"\\Seen", b"\\Answered"} for item in got if len(item) > 2), got
    assert any(item[1] == b"EXPUNGE" for item in got), got
    counts = listings(live, "bob")
    assert counts["full"] == 1 and counts["cur"] >= 1


def test_many_changes_by_another_program(live: Live) -> None:
    """mutt marking every unseen message read and deleting a hundred others: one listing of cur/, every
    change reported."""
    box = live.store.box("bob")
    fill(box, BIG)
    c = live.client("bob")
    c.select_folder("INBOX")
    cur = box / "cur"
    names = sorted(os.listdir(cur))
    unseen = [n for n in names if n.endswith(":2,")]
    for name in unseen:
        os.rename(cur / name, cur / (name + "S"))
    doomed = [n for n in names if n.endswith(":2,S")][:100]
    for name in doomed:
        os.unlink(cur / name)
    got = c.noop()[1]
    assert sum(1 for item in got if item[1] == b"EXPUNGE") == 100
    assert sum(1 for item in got if item[1] == b"FETCH") == len(unseen)
    assert c.search(["UNSEEN"]) == [] and len(c.search()) == BIG - 100
    assert listings(live, "bob")["full"] == 1


def test_a_change_hidden_in_the_same_tick_is_found_by_the_deferred_listing(live: Live) -> None:
    """Our STORE and another program's rename in cur/ within one mtime tick leave one mtime: the cache takes it as
    our own change, so the other is found only by the listing done once cur/ has been quiet for DIRTY_NS."""
    box = live.store.box("bob")
    fill(box, 50)
    c = live.client("bob")
    c.select_folder("INBOX")
    c.add_flags([1], [b"\\Flagged"])
    cur = box / "cur"
    ours = os.stat(cur).st_mtime_ns
    victim = next(n for n in sorted(os.listdir(cur)) if n.endswith(":2,S"))
    os.rename(cur / victim, cur / (victim[:-1] + "FS"))
    os.utime(cur, ns=(ours, ours))  # as if in the same tick as our STORE
    uid = int(re.search(r"Q(\d+)\.", victim).group(1)) + 1  # type: ignore[union-attr]  # numbered in order
    flagged = c.search(["FLAGGED"])
    assert flagged == [1]  # not seen yet: from memory, as the mtime says nothing changed
    started = time.monotonic()
    until(lambda: c.search(["FLAGGED"]) == [1, uid], "the hidden rename reported", timeout=DIRTY_NS / 1e9 + 10)
    assert time.monotonic() - started > 0.5  # it was the deferred listing, not an earlier one
    assert listings(live, "bob")["cur"] >= 1


def test_a_rewritten_uidlist_is_seen_without_a_directory_change(live: Live) -> None:
    box = live.store.box("bob")
    fill(box, 20)
    c = live.client("bob")
    old = c.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    path = os.path.join(box, uidlist.FILENAME)
    current = uidlist.read(Maildir(str(box)))
    assert current is not None
    fresh = uidlist.UidList(old + 7, 1, current.guid, records=[(i + 1, "", r[2]) for i, r in
                                                                 enumerate(current.records)])
    with DotLock(path) as lock:
        lock.replace(uidlist.format_uidlist(fresh).encode())
    settle(box)  # new/ and cur/ as they were: only the uidlist says something changed
    assert c.folder_status("INBOX", ["UIDVALIDITY", "MESSAGES"]) == {b"UIDVALIDITY": old + 7, b"MESSAGES": 20}


Model = list[tuple[int, frozenset[bytes]]]


def view(c: IMAPClient, first: int = 1) -> Model:
    """(UID, flags) of messages ``first``... by sequence number (the client must have use_uid off)."""
    count = len(c.search())
    got = c.fetch(list(range(first, count + 1)), ["UID", "FLAGS"]) if count >= first else {}
    return [(v[b"UID"], frozenset(v[b"FLAGS"]) - {b"\\Recent"}) for _, v in sorted(got.items())]


def follow(c: IMAPClient, model: Model, untagged: list[tuple[object, ...]] | None = None) -> None:
    """Apply untagged replies (a NOOP's by default) to ``model`` as a client does (EXPUNGE, FETCH FLAGS, EXISTS)."""
    for item in c.noop()[1] if untagged is None else untagged:
        if item[1] == b"EXPUNGE":  # highest first, as sent
            del model[item[0] - 1]
        elif item[1] == b"FETCH":
            data = dict(zip(item[2][::2], item[2][1::2], strict=True))
            assert model[item[0] - 1][0] == data[b"UID"], item
            model[item[0] - 1] = (data[b"UID"], frozenset(data[b"FLAGS"]) - {b"\\Recent"})
        elif item[1] == b"EXISTS" and item[0] > len(model):
            model += view(c, len(model) + 1)
            assert len(model) == item[0]


def truth(live: Live, store: Store) -> Model:
    fresh = IMAPClient("127.0.0.1", live.port, ssl=False, timeout=30, use_uid=False)
    fresh.login("bob", store.passwords["bob"])
    info = fresh.select_folder("INBOX", readonly=True)
    seen = view(fresh) if info[b"EXISTS"] else []
    fresh.logout()
    return seen


def test_a_session_view_stays_true_through_random_changes(live: Live, store: Store) -> None:
    """Deliveries, our STORE/EXPUNGE/APPEND and another program's renames and unlinks, in random order: after each
    NOOP, the client's model built only from the untagged replies (EXISTS, EXPUNGE, FETCH FLAGS) matches what a
    fresh session sees. The diffs come from the cache's change log; a wrong one shows here."""
    box = store.box("bob")
    fill(box, 300, seed=3)
    rng = random.Random(7)
    c = live.client("bob")
    c.use_uid = False  # sequence numbers, as the untagged replies use them
    c.select_folder("INBOX")
    other = live.client("bob")
    model = view(c)
    waited = 0
    for step in range(60):
        action = rng.choice(["deliver", "store", "expunge", "append", "rename", "unlink"])
        cur = box / "cur"
        if action == "deliver":
            store.send("alice", "bob", f"step {step}")
        elif action == "store" and model:
            seq, flag = rng.randint(1, len(model)), rng.choice([b"\\Flagged", b"\\Answered", b"$Label2"])
            c.add_flags([seq], [flag], silent=True)
            model[seq - 1] = (model[seq - 1][0], model[seq - 1][1] | {flag})  # what the client knows it did
        elif action == "expunge" and model:
            c.add_flags([rng.randint(1, len(model))], [b"\\Deleted"], silent=True)
            follow(c, model, c.expunge()[1])  # the EXPUNGE replies come with it
        elif action == "append":  # by another client: this one hears of it at its NOOP
            other.append("INBOX", f"Subject: step {step}\r\n\r\nx\r\n".encode())
        elif action in ("rename", "unlink"):
            names = [n for n in os.listdir(cur) if not n.startswith(".")]
            name = rng.choice(names)
            if action == "unlink":
                os.unlink(cur / name)
            else:
                base, _, flags = name.partition(":2,")
                os.rename(cur / name, cur / (base + ":2," + "".join(sorted(set(flags) ^ {"D"}))))
        if rng.random() < 0.3:
            time.sleep(0.01)  # sometimes a new mtime tick, sometimes not
        follow(c, model)
        seen = truth(live, store)
        if seen != model:  # another program's change in the same tick as ours: found by the deferred listing
            waited += 1
            time.sleep(DIRTY_NS / 1e9 + 0.2)
            follow(c, model)
            seen = truth(live, store)
        assert seen == model, (step, action)
    assert waited < 20  # most steps need no waiting
    time.sleep(DIRTY_NS / 1e9 + 0.2)
    follow(c, model)
    assert [(uid, {f for f in flags if f.startswith(b"\\")}) for uid, flags in model] == on_disk(box)


def on_disk(box: Path) -> list[tuple[int, set[bytes]]]:
    """(UID, system flags) of every message file, from the uidlist and the names: what the model must end as."""
    letters = {"D": b"\\Draft", "F": b"\\Flagged", "R": b"\\Answered", "S": b"\\Seen", "T": b"\\Deleted"}
    recorded = uidlist.read(Maildir(str(box)))
    assert recorded is not None
    uids = recorded.by_base()
    out = []
    for sub in ("new", "cur"):
        for name in os.listdir(box / sub):
            base, _, info = name.partition(":2,")
            out.append((uids[base], {letters[ch] for ch in info if ch in letters}))
    return sorted(out, key=lambda item: item[0])
