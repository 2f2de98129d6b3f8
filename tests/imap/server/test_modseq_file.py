"""``agentmail-modseq`` (imap/maildir/modseq.py) on a real store: mod-sequences kept across restarts (a new
MaildirBackend reads the file), changes made while nobody watched found on the next start, and a file that is torn,
damaged, of another UIDVALIDITY or a symbolic link never makes a mod-sequence go back, nor is anything followed."""

from __future__ import annotations

import os
from pathlib import Path

from agentmail.imap.maildir.backend import MaildirBackend
from agentmail.imap.maildir.modseq import FILENAME, WINDOW
from tests.support.store import Store, make_store


def stocked(tmp_path: Path, count: int = 5) -> Store:
    store = make_store(tmp_path / "home")
    for n in range(count):
        store.send("alice", "bob", f"card {n}")
    return store


def modseqs(backend: MaildirBackend) -> tuple[int, dict[int, int]]:
    st = backend.state("bob", "INBOX")
    return st.highestmodseq, {m.uid: m.modseq for m in st.messages}


def rename_flags(store: Store, title: str, letters: str) -> None:
    """Another program (mutt, Dovecot) changes a message's flags: its file renamed, nothing else."""
    [path] = store.find("bob", f"Subject: {title}\n")
    base = path.name.split(":2,")[0]
    os.rename(path, store.box("bob") / "cur" / f"{base}:2,{letters}")


def test_modseqs_survive_a_restart_and_changes_meanwhile_get_new_ones(tmp_path: Path) -> None:
    store = stocked(tmp_path)
    first = MaildirBackend(store.cfg)
    highest, before = modseqs(first)
    assert highest and set(before.values()) == {highest}
    changed = first.set_flags("bob", "INBOX", 2, frozenset({"\\Seen"}))
    assert changed is not None and changed > highest
    highest, before = modseqs(first)
    assert highest == changed == before[2]
    assert (store.box("bob") / FILENAME).is_file()
    store.send("alice", "bob", "card 5")  # delivered while the server runs: logged past the checkpoint's end
    highest, before = modseqs(first)
    assert before[6] == highest > changed

    again = MaildirBackend(store.cfg)  # a restart
    assert modseqs(again) == (highest, before)
    assert again.vanished("bob", "INBOX", highest) == []
    assert again.vanished("bob", "INBOX", 0) is None  # before the file began: the client is told to ask for all

    # while stopped: one message's flags changed, one removed, one delivered
    rename_flags(store, "card 0", "F")  # UID 1 (card n is UID n + 1)
    store.find("bob", "Subject: card 3\n")[0].unlink()
    store.send("alice", "bob", "card late")
    third = MaildirBackend(store.cfg)
    now, after = modseqs(third)
    assert now > highest
    assert sorted(after) == [1, 2, 3, 5, 6, 7]
    assert after[1] > highest and after[7] > highest  # changed, new
    assert all(after[u] == before[u] for u in (2, 3, 5, 6))  # unchanged
    assert third.vanished("bob", "INBOX", highest) == [4]
    assert third.vanished("bob", "INBOX", now) == []


def test_a_torn_or_damaged_file_never_makes_a_modseq_go_back(tmp_path: Path) -> None:
    store = stocked(tmp_path)
    backend = MaildirBackend(store.cfg)
    modseqs(backend)
    backend.set_flags("bob", "INBOX", 1, frozenset({"\\Flagged"}))
    highest, before = modseqs(backend)
    path = store.box("bob") / FILENAME
    with open(path, "ab") as f:  # a record cut short by a crash
        f.write(b"+5 99999999")
    assert modseqs(MaildirBackend(store.cfg)) == (highest, before)

    data = bytearray(path.read_bytes())
    data[data.index(b"\n") + 3] ^= 0xFF  # the checkpoint damaged: its CRC no longer matches
    path.write_bytes(bytes(data))
    fresh = MaildirBackend(store.cfg)
    now, after = modseqs(fresh)
    assert now > highest and all(m > highest for m in after.values())  # every message changed, as far as told
    assert fresh.vanished("bob", "INBOX", highest) is None  # beyond what is remembered: the client asks for all

    path.write_bytes(path.read_bytes().replace(b" V", b" V1", 1))  # another UIDVALIDITY's file
    later, _ = modseqs(MaildirBackend(store.cfg))
    assert later > now


def test_the_file_is_never_followed_as_a_link(tmp_path: Path) -> None:
    store = stocked(tmp_path)
    outside = tmp_path / "outside"
    outside.write_bytes(b"not ours\n")
    path = store.box("bob") / FILENAME
    path.symlink_to(outside)
    backend = MaildirBackend(store.cfg)
    highest, _ = modseqs(backend)
    backend.set_flags("bob", "INBOX", 1, frozenset({"\\Seen"}))
    modseqs(backend)
    assert outside.read_bytes() == b"not ours\n"
    assert not path.is_symlink() and path.is_file()  # replaced by a file of its own
    assert modseqs(MaildirBackend(store.cfg))[0] > highest


def test_the_log_is_compacted_and_expunges_are_remembered_within_the_window(tmp_path: Path) -> None:
    store = stocked(tmp_path, 3)
    backend = MaildirBackend(store.cfg)
    start, _ = modseqs(backend)
    path = store.box("bob") / FILENAME
    sizes = []
    for n in range(12_000):  # a flag toggled over and over: the log grows, then the file is rewritten whole
        backend.set_flags("bob", "INBOX", 1 + n % 3, frozenset({"\\Seen"} if n % 2 else set()))
        modseqs(backend)
        sizes.append(path.stat().st_size)
    assert max(sizes) < 400 * 1024 and sizes[-1] < max(sizes)
    highest, values = modseqs(backend)
    assert modseqs(MaildirBackend(store.cfg)) == (highest, values)
    assert backend.vanished("bob", "INBOX", start) == []
    backend.expunge("bob", "INBOX", [2])
    assert MaildirBackend(store.cfg).vanished("bob", "INBOX", highest) == [2]
    assert WINDOW >= 65_536  # RFC 7162 3.2.5.2: beyond it the client gets every UID it may have missed
