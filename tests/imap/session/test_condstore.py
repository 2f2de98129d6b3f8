"""CONDSTORE and QRESYNC (RFC 7162) in session transcripts: bytes in, bytes out, over the in-memory backend, whose
mod-sequences count up by one per change as Dovecot's do (so these transcripts read like Dovecot's own; the live
comparison with Dovecot is tests/imap/server/test_condstore_oracle.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.imap.conftest import MemoryBackend
from tests.imap.session.test_session import POSTCARD, Client


@pytest.fixture
def bob(memory_backend: MemoryBackend) -> Client:
    for n in range(3):  # modseqs 2, 3, 4
        memory_backend.deliver("bob", "INBOX", POSTCARD.replace(b"Build is green", b"card %d" % n))
    cl = Client(memory_backend)
    cl.login()
    return cl


def other(bob: Client) -> Client:
    cl = Client(bob.backend)
    cl.login()
    assert b"s OK" in cl.send(b"s SELECT INBOX\r\n")
    return cl


def test_select_always_tells_highestmodseq_and_fetch_modseq_enables_condstore(bob: Client) -> None:
    out = bob.send(b"s SELECT INBOX\r\n")
    assert b"* OK [HIGHESTMODSEQ 4] Highest\r\n* OK" not in out and b"* OK [HIGHESTMODSEQ 4] Highest\r\ns OK" in out
    # a solicited FETCH FLAGS carries no MODSEQ until asked; asking enables CONDSTORE: HIGHESTMODSEQ first (Dovecot)
    assert bob.send(b"f FETCH 1 (FLAGS)\r\n") == b"* 1 FETCH (FLAGS ())\r\nf OK FETCH completed\r\n"
    assert bob.send(b"m FETCH 1:2 (MODSEQ)\r\n") == (
        b"* OK [HIGHESTMODSEQ 4] Highest\r\n"
        b"* 1 FETCH (MODSEQ (2))\r\n* 2 FETCH (MODSEQ (3))\r\nm OK FETCH completed\r\n")
    assert bob.send(b"n FETCH 3 (UID MODSEQ)\r\n") == b"* 3 FETCH (UID 3 MODSEQ (4))\r\nn OK FETCH completed\r\n"


def test_store_reports_modseq_and_unchangedsince_refuses_what_changed(bob: Client) -> None:
    bob.send(b"e ENABLE CONDSTORE\r\ns SELECT INBOX (CONDSTORE)\r\n")
    assert bob.send(b"a STORE 1 +FLAGS (\\Flagged)\r\n") == (
        b"* 1 FETCH (MODSEQ (5) FLAGS (\\Flagged))\r\na OK STORE completed\r\n")
    # nothing changes: no FETCH and no new mod-sequence (as Dovecot)
    assert bob.send(b"b STORE 1 +FLAGS (\\Flagged)\r\n") == b"b OK STORE completed\r\n"
    # message 1 changed at 5, after 4: left alone and named in MODIFIED; the others changed, all at one modseq
    assert bob.send(b"c STORE 1:3 (UNCHANGEDSINCE 4) +FLAGS (\\Seen)\r\n") == (
        b"* 2 FETCH (MODSEQ (6) FLAGS (\\Seen))\r\n"
        b"* 3 FETCH (MODSEQ (6) FLAGS (\\Seen))\r\n"
        b"c OK [MODIFIED 1] Conditional store failed\r\n")
    assert bob.send(b"d UID STORE 1:3 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)\r\n") == (
        b"d OK [MODIFIED 1:3] Conditional store failed\r\n")
    # .SILENT still says the new MODSEQ; UID STORE says the UID
    assert bob.send(b"e UID STORE 2 (UNCHANGEDSINCE 6) -FLAGS.SILENT (\\Seen)\r\n") == (
        b"* 2 FETCH (UID 2 MODSEQ (7))\r\ne OK UID STORE completed\r\n")


def test_unchangedsince_enables_condstore_and_says_the_highest_first(bob: Client) -> None:
    bob.send(b"s SELECT INBOX\r\n")
    assert bob.send(b"a STORE 1 (UNCHANGEDSINCE 100) +FLAGS (\\Deleted)\r\n") == (
        b"* OK [HIGHESTMODSEQ 4] Highest\r\n"
        b"* 1 FETCH (MODSEQ (5) FLAGS (\\Deleted))\r\na OK STORE completed\r\n")


def test_changedsince_fetches_only_what_changed_with_its_modseq(bob: Client) -> None:
    bob.send(b"s SELECT INBOX (CONDSTORE)\r\n")
    bob.send(b"a STORE 2 +FLAGS.SILENT (\\Answered)\r\n")
    assert bob.send(b"b FETCH 1:* (FLAGS) (CHANGEDSINCE 3)\r\n") == (
        b"* 2 FETCH (FLAGS (\\Answered) MODSEQ (5))\r\n"
        b"* 3 FETCH (FLAGS () MODSEQ (4))\r\nb OK FETCH completed\r\n")
    assert bob.send(b"c UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)\r\n") == b"c OK UID FETCH completed\r\n"
    assert bob.send(b"d UID FETCH 2 (MODSEQ FLAGS) (CHANGEDSINCE 0)\r\n") == (
        b"* 2 FETCH (UID 2 MODSEQ (5) FLAGS (\\Answered))\r\nd OK UID FETCH completed\r\n")
    # VANISHED needs QRESYNC enabled
    assert bob.send(b"e UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n") == b"e BAD QRESYNC not enabled\r\n"


def test_search_and_sort_modseq(bob: Client) -> None:
    bob.send(b"s SELECT INBOX\r\n")
    bob.send(b"a STORE 2 +FLAGS (\\Seen)\r\n")  # modseq 5
    assert bob.send(b"b SEARCH MODSEQ 4\r\n") == (
        b"* OK [HIGHESTMODSEQ 5] Highest\r\n* SEARCH 2 3 (MODSEQ 5)\r\nb OK SEARCH completed\r\n")
    assert bob.send(b"c UID SEARCH MODSEQ \"/flags/\\\\Seen\" all 5\r\n") == (
        b"* SEARCH 2 (MODSEQ 5)\r\nc OK UID SEARCH completed\r\n")
    assert bob.send(b"d SEARCH MODSEQ 6\r\n") == b"* SEARCH\r\nd OK SEARCH completed\r\n"
    assert bob.send(b"e SEARCH RETURN (MIN MAX COUNT) MODSEQ 1\r\n") == (
        b'* ESEARCH (TAG "e") MIN 1 MAX 3 COUNT 3 MODSEQ 5\r\ne OK SEARCH completed\r\n')
    assert bob.send(b"f SEARCH RETURN (COUNT) MODSEQ 9\r\n") == (
        b'* ESEARCH (TAG "f") COUNT 0\r\nf OK SEARCH completed\r\n')
    assert bob.send(b"g SEARCH OR MODSEQ 5 UNSEEN\r\n") == b"* SEARCH 1 2 3 (MODSEQ 5)\r\ng OK SEARCH completed\r\n"
    # RFC 7162 3.1.5 applies to NOT too (Dovecot 2.3 answers NOT MODSEQ with nothing at all: a bug kept out)
    assert bob.send(b"h SEARCH NOT MODSEQ 5\r\n") == b"* SEARCH 1 3 (MODSEQ 4)\r\nh OK SEARCH completed\r\n"
    assert bob.send(b"i SEARCH SEEN\r\n") == b"* SEARCH 2\r\ni OK SEARCH completed\r\n"
    # (every INTERNALDATE here is the same: ties go in mailbox order, RFC 5256 3)
    assert bob.send(b"j SORT (REVERSE ARRIVAL) UTF-8 MODSEQ 3\r\n") == (
        b"* SORT 2 3 (MODSEQ 5)\r\nj OK SORT completed\r\n")


def test_status_highestmodseq_in_dovecots_order(bob: Client) -> None:
    assert bob.send(b"a STATUS INBOX (SIZE HIGHESTMODSEQ UNSEEN MESSAGES)\r\n").startswith(
        b"* STATUS INBOX (MESSAGES 3 UNSEEN 3 HIGHESTMODSEQ 4 SIZE ")
    assert bob.send(b"b STATUS Sent (HIGHESTMODSEQ)\r\n") == (
        b"* STATUS Sent (HIGHESTMODSEQ 1)\r\nb OK STATUS completed\r\n")


def test_changes_from_another_session_carry_modseq_and_uid_with_qresync(bob: Client) -> None:
    bob.send(b"e ENABLE CONDSTORE\r\ns SELECT INBOX\r\n")
    them = other(bob)
    them.send(b"a STORE 1 +FLAGS (\\Flagged)\r\n")
    assert bob.send(b"n NOOP\r\n") == b"* 1 FETCH (MODSEQ (5) FLAGS (\\Flagged))\r\nn OK NOOP completed\r\n"
    them.send(b"b STORE 1 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\n")
    assert bob.send(b"o NOOP\r\n") == b"* 1 EXPUNGE\r\no OK NOOP completed\r\n"  # CONDSTORE alone: EXPUNGE
    assert bob.send(b"q ENABLE QRESYNC\r\n") == b"* ENABLED QRESYNC\r\nq OK ENABLE completed\r\n"
    them.send(b"d STORE 1 +FLAGS (\\Answered)\r\n")
    assert bob.send(b"p NOOP\r\n") == (
        b"* 1 FETCH (UID 2 MODSEQ (8) FLAGS (\\Answered))\r\np OK NOOP completed\r\n")
    them.send(b"e STORE 1 +FLAGS (\\Deleted)\r\nf EXPUNGE\r\n")
    # QRESYNC: VANISHED instead of EXPUNGE, then the new HIGHESTMODSEQ in the tagged OK (it moved past what the
    # client saw in FETCH responses; Dovecot's imap-sync.c rule)
    assert bob.send(b"r NOOP\r\n") == b"* VANISHED 2\r\nr OK [HIGHESTMODSEQ 10] NOOP completed\r\n"
    bob.backend.deliver("bob", "INBOX", POSTCARD)
    assert bob.send(b"t NOOP\r\n") == b"* 2 EXISTS\r\nt OK [HIGHESTMODSEQ 11] NOOP completed\r\n"
    assert bob.send(b"u NOOP\r\n") == b"u OK NOOP completed\r\n"


def test_expunge_with_qresync_is_vanished_with_the_highest(bob: Client) -> None:
    bob.send(b"q ENABLE QRESYNC\r\ns SELECT INBOX\r\n")
    assert bob.send(b"a STORE 1,3 +FLAGS.SILENT (\\Deleted)\r\n") == (
        b"* 1 FETCH (UID 1 MODSEQ (5))\r\n* 3 FETCH (UID 3 MODSEQ (5))\r\na OK STORE completed\r\n")
    assert bob.send(b"b UID EXPUNGE 3\r\n") == b"* VANISHED 3\r\nb OK [HIGHESTMODSEQ 6] UID EXPUNGE completed\r\n"
    assert bob.send(b"c EXPUNGE\r\n") == b"* VANISHED 1\r\nc OK [HIGHESTMODSEQ 7] EXPUNGE completed\r\n"
    assert bob.send(b"d UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)\r\n") == (
        b"* VANISHED (EARLIER) 1,3\r\nd OK UID FETCH completed\r\n")
    assert bob.send(b"e UID FETCH 2:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n") == (
        b"* VANISHED (EARLIER) 3\r\n* 1 FETCH (UID 2 FLAGS () MODSEQ (3))\r\ne OK UID FETCH completed\r\n")


def test_qresync_select_sends_what_changed_since_the_clients_modseq(bob: Client) -> None:
    bob.send(b"q ENABLE QRESYNC\r\n")
    them = other(bob)
    them.send(b"a STORE 3 +FLAGS (\\Seen)\r\nb STORE 1 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\n")  # 3 at 5; 1 gone at 7
    bob.backend.deliver("bob", "INBOX", POSTCARD)  # UID 4 at 8
    out = bob.send(b"s SELECT INBOX (QRESYNC (1001 4 1:3))\r\n")
    assert out.endswith(
        b"* OK [HIGHESTMODSEQ 8] Highest\r\n"
        b"* VANISHED (EARLIER) 1\r\n"
        b"* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (5))\r\n"
        b"s OK [READ-WRITE] SELECT completed\r\n"), out
    assert b"* 3 EXISTS\r\n" in out
    # without known UIDs, every UID counts (the new message too: changed after 4); another UIDVALIDITY: plain select
    out = bob.send(b"t EXAMINE INBOX (QRESYNC (1001 4))\r\n")
    assert out.startswith(b"* OK [CLOSED] Previous mailbox closed.\r\n")
    assert out.endswith(b"* VANISHED (EARLIER) 1\r\n* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (5))\r\n"
                        b"* 3 FETCH (UID 4 FLAGS () MODSEQ (8))\r\nt OK [READ-ONLY] EXAMINE completed\r\n"), out
    out = bob.send(b"u SELECT INBOX (QRESYNC (77 1 1:10))\r\n")
    assert out.endswith(b"* OK [HIGHESTMODSEQ 8] Highest\r\nu OK [READ-WRITE] SELECT completed\r\n")
    # nothing since the client's modseq: nothing more
    out = bob.send(b"v SELECT INBOX (QRESYNC (1001 8 1:4))\r\n")
    assert out.endswith(b"* OK [HIGHESTMODSEQ 8] Highest\r\nv OK [READ-WRITE] SELECT completed\r\n")


def test_qresync_answers_conservatively_when_the_backend_cannot_tell(bob: Client) -> None:
    class Forgetful(MemoryBackend):
        def vanished(self, account: str, mailbox: str, modseq: int) -> list[int] | None:
            return None  # beyond what is remembered (RFC 7162 3.2.5.2): every known UID not here now

    backend: Any = Forgetful()
    for n in range(6):
        backend.deliver("bob", "INBOX", POSTCARD.replace(b"Build is green", b"card %d" % n))
    backend.expunge("bob", "INBOX", [2, 5])
    cl = Client(backend)
    cl.login()
    cl.send(b"q ENABLE QRESYNC\r\n")
    out = cl.send(b"s SELECT INBOX (QRESYNC (1001 3 1:4,6,9))\r\n")
    assert b"* VANISHED (EARLIER) 2,4:5\r\n" not in out and b"* VANISHED (EARLIER) 2\r\n" in out, out
    out = cl.send(b"t SELECT INBOX (QRESYNC (1001 3))\r\n")
    assert b"* VANISHED (EARLIER) 2,5\r\n" in out, out  # every UID below UIDNEXT not here (UIDs 2 and 5)
    # the client's sequence match data shows UID 3 still at its place 2 (UID 5 is not at 4 any more): nothing
    # below UID 3 went (RFC 7162 3.2.5.2)
    out = cl.send(b"u SELECT INBOX (QRESYNC (1001 3 1:6 (2,4 3,5)))\r\n")
    assert b"* VANISHED (EARLIER) 5\r\n" in out, out
    # UID 6 in its place 4 too: the client had 1, 3 and 4 below it, all still here: nothing vanished for it
    out = cl.send(b"v SELECT INBOX (QRESYNC (1001 3 1:6 (2,4 3,6)))\r\n")
    assert b"VANISHED" not in out, out


def test_qresync_needs_enabling_and_close_is_said(bob: Client) -> None:
    assert bob.send(b"s SELECT INBOX (QRESYNC (1001 1))\r\n") == b"s BAD QRESYNC not enabled\r\n"
    assert bob.session.state == "authenticated"
    bob.send(b"t SELECT INBOX\r\n")
    assert bob.send(b"u SELECT INBOX (QRESYNC (1001 1))\r\n") == (
        b"* OK [CLOSED] Previous mailbox closed.\r\nu BAD QRESYNC not enabled\r\n")
    assert bob.session.selected is None


def test_a_backend_without_modseqs_says_nomodseq_and_refuses_the_modifiers(memory_backend: MemoryBackend) -> None:
    class NoModseqs(MemoryBackend):
        def state(self, account: str, mailbox: str) -> Any:
            st = super().state(account, mailbox)
            return type(st)(st.uidvalidity, st.uidnext, st.messages, st.read_only)

    backend: Any = NoModseqs()
    backend.deliver("bob", "INBOX", POSTCARD)
    cl = Client(backend)
    cl.login()
    assert b"* OK [NOMODSEQ] No permanent modsequences\r\n" in cl.send(b"s SELECT INBOX (CONDSTORE)\r\n")
    assert cl.send(b"a FETCH 1 (MODSEQ)\r\n") == b"a BAD FETCH MODSEQ can't be used with non-permanent modseqs\r\n"
    assert cl.send(b"b FETCH 1 FLAGS (CHANGEDSINCE 1)\r\n") == (
        b"b BAD FETCH CHANGEDSINCE can't be used with non-permanent modseqs\r\n")
    assert cl.send(b"c STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)\r\n") == (
        b"c BAD STORE UNCHANGEDSINCE can't be used with non-permanent modseqs\r\n")


def test_idle_with_qresync_reports_like_dovecot_and_says_the_highest_untagged(bob: Client) -> None:
    bob.send(b"q ENABLE QRESYNC\r\ns SELECT INBOX\r\n")
    them = other(bob)
    assert bob.send(b"i IDLE\r\n") == b"+ idling\r\n"
    them.send(b"a STORE 1 +FLAGS (\\Deleted)\r\nb EXPUNGE\r\nc STORE 1 +FLAGS (\\Seen)\r\n")  # 5, 6 and 7
    bob.backend.deliver("bob", "INBOX", POSTCARD)  # 8
    # the FETCH first, numbered before the expunge, then VANISHED and EXISTS (Dovecot's order); the new mail's
    # mod-sequence is in no FETCH: HIGHESTMODSEQ untagged, there being no tagged reply to carry it (RFC 7162 3.2.10)
    assert b"".join(x.to_bytes() for x in bob.session.idle_poll()) == (
        b"* 2 FETCH (UID 2 MODSEQ (7) FLAGS (\\Seen))\r\n* VANISHED 1\r\n* 3 EXISTS\r\n"
        b"* OK [HIGHESTMODSEQ 8] Highest\r\n")
    assert bob.session.idle_poll() == []
    assert bob.send(b"DONE\r\n") == b"i OK IDLE terminated\r\n"
