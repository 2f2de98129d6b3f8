"""Session transcripts: bytes in through the parser, bytes out, against an in-memory backend."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from agentmail.imap.message.crlf import to_crlf
from agentmail.imap.protocol.parser import CommandParser
from agentmail.imap.session.backend import Backend
from agentmail.imap.session.session import Session

POSTCARD = to_crlf((Path(__file__).resolve().parents[1] / "corpus" / "postcard.eml").read_bytes())


class Client:
    def __init__(self, backend: Any) -> None:
        self.backend = backend
        be: Backend = backend
        self.session = Session(be)
        self.parser = CommandParser(max_literal=10_000)
        self.banner = b"".join(x.to_bytes() for x in self.session.greeting())

    def send(self, data: bytes) -> bytes:
        self.parser.receive_data(data)
        out = bytearray()
        while (ev := self.parser.next_event()) is not None:
            for resp in self.session.handle(ev):
                out += resp.to_bytes()
            if self.session.wants_line:
                self.parser.expect_line()
        return bytes(out)

    def login(self, user: str = "bob", pw: str = "pw") -> None:
        assert b"OK" in self.send(f"l LOGIN {user} {pw}\r\n".encode())


@pytest.fixture
def client(memory_backend: Any) -> Client:
    cl = Client(memory_backend)
    cl.backend.deliver("bob", "INBOX", POSTCARD)
    cl.backend.deliver("bob", "INBOX", POSTCARD.replace(b"Build is green", b"Second"), ["\\Seen"])
    return cl


def test_greeting_and_capability(client: Client) -> None:
    assert client.banner.startswith(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR")
    assert b"AUTH=PLAIN" in client.banner
    out = client.send(b"a CAPABILITY\r\n")
    assert out.startswith(b"* CAPABILITY IMAP4rev1 ") and out.endswith(b"a OK CAPABILITY completed\r\n")


def test_commands_need_authentication(client: Client) -> None:
    assert client.send(b"a SELECT INBOX\r\n") == (
        b"a BAD SELECT requires authentication first (LOGIN or AUTHENTICATE)\r\n"
    )
    assert client.send(b"b FETCH 1 FLAGS\r\n").startswith(b"b BAD FETCH requires authentication")


def test_login_failure_and_success(client: Client) -> None:
    assert client.send(b"a LOGIN bob wrong\r\n") == b"a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    assert client.session.failed_logins == 1
    assert client.send(b"b LOGIN bob@agents.localhost pw\r\n").startswith(b"b OK [CAPABILITY IMAP4rev1")
    assert client.send(b"c LOGIN bob pw\r\n") == b"c BAD LOGIN is not allowed after authentication\r\n"


def test_authenticate_plain_with_and_without_initial_response(client: Client) -> None:
    creds = base64.b64encode(b"\0bob\0pw")
    assert client.send(b"a AUTHENTICATE PLAIN " + creds + b"\r\n").startswith(b"a OK [CAPABILITY")
    other = Client(client.backend)
    assert other.send(b"a AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    assert other.send(creds + b"\r\n").startswith(b"a OK [CAPABILITY")
    third = Client(client.backend)
    assert third.send(b"a AUTHENTICATE PLAIN\r\n*\r\n") == b"+ \r\na BAD Authentication cancelled\r\n"
    assert third.send(b"b AUTHENTICATE CRAM-MD5\r\n").startswith(b"b NO [CANNOT]")


def test_select_transcript(client: Client) -> None:
    client.login()
    # Dovecot's order and words; HIGHESTMODSEQ at every SELECT (RFC 7162 3.1.2.1)
    assert client.send(b"s SELECT INBOX\r\n") == (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $MDNSent)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $MDNSent \\*)] Flags permitted.\r\n"
        b"* 2 EXISTS\r\n"
        b"* 0 RECENT\r\n"
        b"* OK [UNSEEN 1] First unseen.\r\n"
        b"* OK [UIDVALIDITY 1001] UIDs valid\r\n"
        b"* OK [UIDNEXT 3] Predicted next UID\r\n"
        b"* OK [HIGHESTMODSEQ 3] Highest\r\n"
        b"s OK [READ-WRITE] SELECT completed\r\n"
    )
    # another SELECT closes the mailbox first, and says so (RFC 7162 3.2.11), even when it fails
    out = client.send(b"e EXAMINE INBOX\r\n")
    assert out.startswith(b"* OK [CLOSED] Previous mailbox closed.\r\n* FLAGS")
    assert b"* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n" in out
    assert out.endswith(b"e OK [READ-ONLY] EXAMINE completed\r\n")
    assert client.send(b"x SELECT Nope\r\n") == (
        b"* OK [CLOSED] Previous mailbox closed.\r\nx NO [NONEXISTENT] Mailbox does not exist\r\n")
    assert client.session.state == "authenticated"


def test_fetch_and_seen(client: Client) -> None:
    client.login()
    client.send(b"s SELECT INBOX\r\n")
    assert client.send(b"f FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n") == (
        b"* 1 FETCH (UID 1 FLAGS () RFC822.SIZE %d)\r\n* 2 FETCH (UID 2 FLAGS (\\Seen) RFC822.SIZE %d)\r\n"
        b"f OK FETCH completed\r\n" % (len(POSTCARD), len(POSTCARD) - 8)
    )
    out = client.send(b"g UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])\r\n")
    assert out == (b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {27}\r\nSubject: Build is green\r\n\r\n)\r\n"
                   b"g OK UID FETCH completed\r\n")
    assert client.backend.boxes["bob"]["INBOX"].messages[1][1] == frozenset()
    out = client.send(b"h FETCH 1 BODY[TEXT]\r\n")
    assert out.startswith(b"* 1 FETCH (BODY[TEXT] {57}\r\nThe build passed")
    assert b"FLAGS (\\Seen))\r\n" in out
    assert client.backend.boxes["bob"]["INBOX"].messages[1][1] == frozenset({"\\Seen"})
    assert client.send(b"i FETCH 3 FLAGS\r\n") == b"i BAD Invalid message sequence number\r\n"


def test_store_and_expunge(client: Client) -> None:
    client.login()
    client.send(b"s SELECT INBOX\r\n")
    assert client.send(b"a STORE 1 +FLAGS (\\Flagged $MDNSent)\r\n") == (
        b"* 1 FETCH (FLAGS ($MDNSent \\Flagged))\r\na OK STORE completed\r\n"
    )
    assert client.send(b"b UID STORE 2 +FLAGS.SILENT (\\Deleted)\r\n") == b"b OK UID STORE completed\r\n"
    assert client.send(b"c STORE 1 FLAGS (\\Recent)\r\n") == b"c BAD \\Recent cannot be stored\r\n"
    assert client.send(b"d EXPUNGE\r\n") == b"* 2 EXPUNGE\r\nd OK EXPUNGE completed\r\n"
    assert client.send(b"e SEARCH ALL\r\n") == b"* SEARCH 1\r\ne OK SEARCH completed\r\n"


def test_search_copy_move(client: Client) -> None:
    client.login()
    client.send(b"s SELECT INBOX\r\n")
    assert client.send(b"a UID SEARCH SUBJECT green\r\n") == b"* SEARCH 1\r\na OK UID SEARCH completed\r\n"
    assert client.send(b"b SEARCH CHARSET KOI8-R ALL\r\n") == (
        b"b NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R\r\n"
    )
    assert client.send(b"c COPY 1:2 Sent\r\n") == b"c OK [COPYUID 1002 1:2 1:2] COPY completed\r\n"
    assert client.send(b"d COPY 1 Nowhere\r\n") == b"d NO [TRYCREATE] Mailbox does not exist\r\n"
    assert client.send(b"e UID MOVE 2 Archive\r\n") == (
        b"* OK [COPYUID 1003 2 1] Moved\r\n* 2 EXPUNGE\r\ne OK UID MOVE completed\r\n"
    )


def test_noop_reports_new_mail_and_flag_changes(client: Client) -> None:
    client.login()
    client.send(b"s SELECT INBOX\r\n")
    client.backend.deliver("bob", "INBOX", POSTCARD)
    client.backend.set_flags("bob", "INBOX", 1, frozenset({"\\Answered"}))
    client.backend.expunge("bob", "INBOX", [2])
    assert client.send(b"n NOOP\r\n") == (
        b"* 2 EXPUNGE\r\n* 1 FETCH (UID 1 FLAGS (\\Answered))\r\n* 2 EXISTS\r\nn OK NOOP completed\r\n"
    )


def test_idle(client: Client) -> None:
    client.login()
    client.send(b"s SELECT INBOX\r\n")
    assert client.send(b"i IDLE\r\n") == b"+ idling\r\n"
    client.backend.deliver("bob", "INBOX", POSTCARD)
    assert b"".join(x.to_bytes() for x in client.session.poll()) == b"* 3 EXISTS\r\n"
    assert client.send(b"DONE\r\n") == b"i OK IDLE terminated\r\n"
    assert client.send(b"j IDLE\r\nnope\r\n") == b"+ idling\r\nj BAD Expected DONE to end IDLE\r\n"


def test_list_status_namespace(client: Client) -> None:
    client.login()
    assert client.send(b'a LIST "" ""\r\n') == b'* LIST (\\Noselect) "/" ""\r\na OK LIST completed\r\n'
    assert client.send(b'b LIST "" *\r\n') == (
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
        b'* LIST (\\HasNoChildren \\Archive) "/" Archive\r\n'
        b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
        b"b OK LIST completed\r\n"
    )
    assert client.send(b'c LIST (SPECIAL-USE) "" *\r\n').count(b"* LIST") == 2
    assert client.send(b'd LIST "" "*" RETURN (SUBSCRIBED)\r\n').count(b"\\Subscribed") == 3
    assert client.send(b"e STATUS Sent (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)\r\n") == (
        b"* STATUS Sent (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 1002 UNSEEN 0)\r\ne OK STATUS completed\r\n"
    )
    assert client.send(b"f NAMESPACE\r\n") == b'* NAMESPACE (("" "/")) NIL NIL\r\nf OK NAMESPACE completed\r\n'
    assert client.send(b'g LSUB "" %\r\n').count(b"* LSUB") == 3


def test_human_sees_agents_read_only(client: Client) -> None:
    client.login("human", "hpw")
    assert client.send(b'a LIST "" *\r\n') == (
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
        b'* LIST (\\Noselect \\HasChildren) "/" Agents\r\n'
        b'* LIST (\\Noselect \\HasChildren) "/" Agents/bob\r\n'
        b'* LIST (\\HasNoChildren) "/" Agents/bob/INBOX\r\n'
        b"a OK LIST completed\r\n"
    )
    assert client.send(b"b SELECT Agents/bob/INBOX\r\n").endswith(b"b OK [READ-ONLY] SELECT completed\r\n")
    assert client.send(b"c STORE 1 +FLAGS (\\Seen)\r\n") == b"c NO [READ-ONLY] Mailbox is read-only\r\n"
    assert client.send(b"d EXPUNGE\r\n") == b"d NO [READ-ONLY] Mailbox is read-only\r\n"
    assert client.send(b"e FETCH 1 BODY[]\r\n").count(b"FLAGS") == 0  # no \Seen in a read-only view
    assert client.backend.boxes["bob"]["INBOX"].messages[1][1] == frozenset()


def test_append_create_rename_delete(client: Client) -> None:
    client.login()
    msg = b"Subject: hi\r\n\r\nbody\r\n"
    assert client.send(b"a APPEND Sent (\\Seen) {%d}\r\n" % len(msg) + msg + b"\r\n") == (
        b"+ Ready\r\na OK [APPENDUID 1002 1] APPEND completed\r\n"
    )
    assert client.send(b"b APPEND Nope {1+}\r\nx\r\n") == b"b NO [TRYCREATE] Mailbox does not exist\r\n"
    assert client.send(b"c CREATE Todo\r\n") == b"c OK CREATE completed\r\n"
    assert client.send(b"d CREATE Todo\r\n") == b"d NO [ALREADYEXISTS] Mailbox already exists\r\n"
    assert client.send(b"e RENAME Todo &ZeVnLIqe-\r\n") == b"e OK RENAME completed\r\n"
    assert "日本語" in client.backend.boxes["bob"]
    assert client.send(b'f LIST "" &ZeVnLIqe-\r\n') == (
        b'* LIST (\\HasNoChildren) "/" &ZeVnLIqe-\r\nf OK LIST completed\r\n'
    )
    assert client.send(b"g DELETE INBOX\r\n") == b"g NO [CANNOT] INBOX cannot be deleted\r\n"
    assert client.send(b"h DELETE &Jjo\r\n").startswith(b"h NO [CANNOT] Invalid mailbox name")
    assert client.send(b"i DELETE &ZeVnLIqe-\r\n") == b"i OK DELETE completed\r\n"


def test_close_unselect_logout(client: Client) -> None:
    client.login()
    client.send(b"s SELECT INBOX\r\na STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
    assert client.send(b"c CLOSE\r\n") == b"c OK CLOSE completed\r\n"
    assert list(client.backend.boxes["bob"]["INBOX"].messages) == [2]
    assert client.send(b"d FETCH 1 FLAGS\r\n").startswith(b"d BAD FETCH requires a selected mailbox")
    client.send(b"s SELECT INBOX\r\n")
    assert client.send(b"u UNSELECT\r\n") == b"u OK UNSELECT completed\r\n"
    assert client.send(b"x LOGOUT\r\n") == b"* BYE Logging out\r\nx OK LOGOUT completed\r\n"
    assert client.session.closed


def test_misc_any_state(client: Client) -> None:
    assert client.send(b'a ID ("name" "mutt")\r\n') == (
        b'* ID ("name" "agentmail" "vendor" "agentmail")\r\na OK ID completed\r\n'
    )
    assert client.send(b"b STARTTLS\r\n") == b"b BAD STARTTLS is not available on this loopback server\r\n"
    assert client.send(b"c NOOP\r\n") == b"c OK NOOP completed\r\n"
    client.login()
    # RFC 5161: only what is known here is named, and no ENABLED line at all when that is nothing (as Dovecot)
    assert client.send(b"d ENABLE UTF8=ACCEPT\r\n") == b"d OK ENABLE completed\r\n"
    assert client.send(b"d ENABLE X QRESYNC condstore\r\n") == (
        b"* ENABLED QRESYNC CONDSTORE\r\nd OK ENABLE completed\r\n")
    assert client.send(b"e BLAH\r\n") == b"e BAD Unknown command BLAH\r\n"


def test_oversized_literal_plus_closes(client: Client) -> None:
    out = client.send(b"a APPEND Sent {2000000000+}\r\n")
    assert out.startswith(b"* BYE [LIMIT]") and client.session.closed
