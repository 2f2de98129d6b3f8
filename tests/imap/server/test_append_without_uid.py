"""A message stored whose UID cannot be recorded (the uidlist cannot be written after the file is linked) is still
stored exactly once, and APPEND/COPY answer OK without APPENDUID/COPYUID (RFC 4315 allows it): a NO would make the
client send it again, a duplicate. The next scan that can write the uidlist gives it a UID."""

from __future__ import annotations

from pathlib import Path

from agentmail.imap.maildir.backend import MaildirBackend
from agentmail.store import uidlist
from tests.support.store import Store


def stored(box: Path, needle: bytes) -> list[Path]:
    return [p for sub in ("new", "cur") for p in (box / sub).iterdir() if needle in p.read_bytes()]


def test_append_and_copy_stored_without_uid_answer_without_uids(store: Store) -> None:
    store.send("bob", "alice", "to be copied")
    backend = MaildirBackend(store.cfg)
    state = backend.state("alice", "INBOX")
    (store.box("alice") / ".Todo").mkdir(exist_ok=True)
    backend.state("alice", "Todo")
    box, todo = store.box("alice"), store.box("alice") / ".Todo"
    for folder in (box, todo):  # a directory in the uidlist's place can be neither appended to nor replaced
        path = folder / uidlist.FILENAME
        if path.exists():
            path.unlink()
        path.mkdir()
    uid = backend.append("alice", "INBOX", b"Subject: appended once\r\n\r\nbody\r\n", frozenset({"\\Seen"}), None)
    assert uid is None
    assert len(stored(box, b"appended once")) == 1
    new = backend.copy("alice", "INBOX", [state.messages[-1].uid], "Todo")
    assert new == []
    assert len(stored(todo, b"to be copied")) == 1
    assert not (box / "dovecot-uidlist.lock").exists() and list((box / "tmp").iterdir()) == []
    # the uidlist back in order: the next scan numbers both
    for folder in (box, todo):
        (folder / uidlist.FILENAME).rmdir()
    assert len(backend.state("alice", "INBOX").messages) == 2 and len(backend.state("alice", "Todo").messages) == 1
