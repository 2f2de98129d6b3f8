"""The Maildir backend's header-only reads, ENVELOPE cache, lazy INTERNALDATE and on-loop cheap commands."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from agentmail.imap.connection import cheap
from agentmail.imap.maildir.backend import MaildirBackend
from agentmail.imap.maildir.headcache import FIRST_READ, read_header
from agentmail.imap.message.address import parse_address_list
from agentmail.imap.message.crlf import to_crlf
from agentmail.imap.message.envelope import envelope, envelope_bytes
from agentmail.imap.message.mime import parse_message
from agentmail.imap.protocol import commands as c
from agentmail.imap.protocol.errors import ImapNo
from agentmail.imap.protocol.response import Human, encode_value
from agentmail.imap.protocol.seqset import SequenceSet
from agentmail.imap.session.flagtext import internaldate
from tests.imap.server.conftest import Live
from tests.support.store import Store

CORPUS = Path(__file__).parent.parent / "corpus"


def general(data: bytes) -> bytes:
    return encode_value(envelope(parse_message(to_crlf(data))))


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.eml")))
def test_header_read_and_envelope_match_the_full_parse(name: str, tmp_path: Path) -> None:
    data = (CORPUS / name).read_bytes()
    path = tmp_path / "m"
    path.write_bytes(data)
    served = to_crlf(data)
    assert read_header(str(path)) == parse_message(served).header
    assert envelope_bytes(read_header(str(path))) == general(data)


@pytest.mark.parametrize("data", [
    b"Subject: long\n" + b"X-Pad: " + b"x" * (3 * FIRST_READ) + b"\nFrom: a@b\n\nbody\n",  # past the first read
    b"From: a@b\nSubject: no body, no blank line",
    b"Subject: crlf\r\nFrom: a@b\r\n\r\nbody\r\n",
    b"Subject: lone\rFrom: x@y\n\nbody\n",  # a lone CR ends a line for the header parser
    b"\n\nbody only\n",
    b"",
])
def test_header_read_edges(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "m"
    path.write_bytes(data)
    assert read_header(str(path)) == parse_message(to_crlf(data)).header
    assert envelope_bytes(read_header(str(path))) == general(data)


def test_simple_addresses_take_the_fast_path_with_the_same_bytes() -> None:
    rng = random.Random(5)
    pieces = ["a", "b.c", "x_y", "@", ".", " ", "\t", "<", ">", '"q"', "(c)", ",", ":", ";", "\u00e9", "!#$%", "\n "]
    for _ in range(3000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))).encode()
        want = [[None if a.name is None else Human(a.name), a.route, a.mailbox, a.host]
                for a in parse_address_list(value.replace(b"\n", b"\r\n"))]
        got = envelope_bytes(b"To: " + value.replace(b"\n", b"\r\n") + b"\r\n\r\n")
        expect = b"NIL" if not want else b"(" + b"".join(encode_value(w) for w in want) + b")"
        assert got.split(b" ", 5)[5].startswith(expect + b" "), value


def _uids(backend: MaildirBackend, account: str = "alice") -> list[int]:
    return [m.uid for m in backend.state(account, "INBOX").messages]


def test_envelope_cache_follows_flags_expunge_and_new_mail(store: Store) -> None:
    for i in range(3):
        store.send("bob", "alice", f"hello {i}")
    backend = MaildirBackend(store.cfg)
    uids = _uids(backend)
    env = backend.envelopes("alice", "INBOX")
    first = {u: env(u) for u in uids}
    for u in uids:
        assert first[u] == general(backend.message("alice", "INBOX", u).replace(b"\r\n", b"\n"))
    cache = backend._cache(str(store.box("alice")))
    assert all(cache.by_uid[u].env == first[u] for u in uids)
    # our own flag change: the entry is renamed and keeps its envelope
    backend.set_flags("alice", "INBOX", uids[0], frozenset({"\\Seen", "$Label"}))
    assert _uids(backend) == uids and cache.by_uid[uids[0]].env == first[uids[0]]
    # someone else (Dovecot, a hook) renames a file and sets a flag: same message, same envelope
    cur = store.box("alice") / "cur"
    new = store.box("alice") / "new"
    for d in (new, cur):
        for name in os.listdir(d):
            if "hello 1" in (d / name).read_text():
                os.rename(d / name, cur / (name.split(":")[0] + ":2,F"))
    assert env(uids[1]) == first[uids[1]]
    assert {m.uid: m.flags for m in backend.state("alice", "INBOX").messages}[uids[1]] == {"\\Flagged"}
    # expunge: gone from the cache with its envelope
    backend.expunge("alice", "INBOX", [uids[2]])
    assert uids[2] not in cache.by_uid
    with pytest.raises(ImapNo):
        env(uids[2])
    # new mail: computed when first asked for
    store.send("carol", "alice", "late arrival")
    late = _uids(backend)[-1]
    assert late > uids[-1] and b'"Late arrival"' in env(late) or b'"late arrival"' in env(late)
    assert env(late) == general(backend.message("alice", "INBOX", late).replace(b"\r\n", b"\n"))


def test_envelope_cache_is_bounded(store: Store) -> None:
    for i in range(6):
        store.send("bob", "alice", f"n{i}")
        store.send("alice", "bob", f"m{i}")
    backend = MaildirBackend(store.cfg)
    backend.budget.limit = 1000  # a few envelopes
    answers = {}
    for account in ("alice", "bob"):
        env = backend.envelopes(account, "INBOX")
        for u in _uids(backend, account):
            answers[account, u] = env(u)
            assert backend.budget.used <= backend.budget.limit + 600
    for account in ("alice", "bob"):
        env = backend.envelopes(account, "INBOX")
        for u in _uids(backend, account):
            assert env(u) == answers[account, u]
    cached = sum(len(e.env or b"") for c_ in backend._caches.values() for e in c_.by_uid.values())
    assert cached <= backend.budget.limit


def test_internaldate_is_stated_lazily_and_survives_renames(store: Store) -> None:
    store.send("bob", "alice", "dated")
    backend = MaildirBackend(store.cfg)
    [info] = backend.state("alice", "INBOX").messages
    cache = backend._cache(str(store.box("alice")))
    assert cache.by_uid[info.uid].mtime is None  # SELECT did not stat the file
    [path] = [p for d in ("new", "cur") for p in (store.box("alice") / d).iterdir()]
    os.utime(path, (1_600_000_000, 1_600_000_000))
    os.rename(path, store.box("alice") / "cur" / (path.name.split(":")[0] + ":2,S"))  # renamed before the stat
    assert info.internal_date.timestamp() == 1_600_000_000


def test_fetch_after_changes_by_another_server(live: Live) -> None:
    store = live.store
    for i in range(4):
        store.send("bob", "alice", f"postcard {i}")
    conn = live.imap("alice")
    conn.select("INBOX")
    typ, first = conn.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE ENVELOPE INTERNALDATE)")
    assert typ == "OK"
    cur = store.box("alice") / "cur"
    names = sorted(os.listdir(cur))
    os.rename(cur / names[0], cur / (names[0].split(":")[0] + ":2,S"))  # as Dovecot does on STORE
    os.unlink(cur / names[1])  # as Dovecot does on EXPUNGE
    store.send("carol", "alice", "postcard late")
    conn.noop()
    typ, again = conn.uid("FETCH", "1:*", "(UID ENVELOPE INTERNALDATE)")
    assert typ == "OK"
    fresh = MaildirBackend(store.cfg)
    want = {}
    for m in fresh.state("alice", "INBOX").messages:
        data = fresh.message("alice", "INBOX", m.uid).replace(b"\r\n", b"\n")
        want[m.uid] = (general(data), internaldate(m.internal_date).encode())
    got = [x for x in again if isinstance(x, bytes) and b"ENVELOPE" in x]
    assert len(got) == len(want) == 4
    for line in got:
        uid = int(line.split(b"UID ", 1)[1].split()[0])
        assert b"ENVELOPE " + want[uid][0] in line and b'INTERNALDATE "' + want[uid][1] + b'"' in line
    conn.logout()


def test_cheap_commands() -> None:
    assert cheap(c.Noop("a"))
    assert cheap(c.Fetch("a", SequenceSet(((7, 7),)), (), True))
    assert not cheap(c.Fetch("a", SequenceSet(((1, None),)), (), True))
    assert not cheap(c.Fetch("a", SequenceSet(((1, 100),)), (), True))
    assert cheap(c.Select("a", "INBOX"))  # by its kind; on the loop only while that mailbox is current (below)
    assert not cheap(c.Login("a", "x", "y"))
    # RFC 7162: what changed since a mod-sequence is a walk over every message: on the worker, whatever the set
    assert not cheap(c.Select("a", "INBOX", qresync=c.Qresync(1, 5)))
    assert not cheap(c.Fetch("a", SequenceSet(((7, 7),)), (), True, changedsince=5))
    assert cheap(c.Select("a", "INBOX", condstore=True))


def test_a_changed_folder_is_never_current(store: Store) -> None:
    """Cheap commands run on the event loop only while `is_current`: a folder that changed must report False, so
    its rescan happens on the worker thread and never stalls the other connections."""
    store.send("bob", "alice", "settled")
    box = store.box("alice")
    old = 1_700_000_000
    for sub in ("new", "cur"):
        os.utime(box / sub, (old, old))  # settled long ago: a clean scan may be trusted
    backend = MaildirBackend(store.cfg)
    assert not backend.is_current("alice", "INBOX")  # never scanned
    backend.state("alice", "INBOX")
    assert backend.is_current("alice", "INBOX")
    store.send("carol", "alice", "just arrived")  # new/ changes
    assert not backend.is_current("alice", "INBOX")
    backend.state("alice", "INBOX")
    assert not backend.is_current("alice", "INBOX")  # changed within the last tick window: rescan again
    assert not backend.is_current("alice", "Nope")
