"""Every command of the issue through imaplib against the real server and a real store."""

from __future__ import annotations

import base64
import os
import re

from agentmail.store import keywords, uidlist
from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live

MSG = (b"From: Human <human@agents.localhost>\r\nTo: bob@agents.localhost\r\nSubject: draft\r\n\r\n"
       b"line one\r\nline two\r\n")


def ok(result: tuple[str, list[object]]) -> list[object]:
    assert result[0] == "OK", result
    return result[1]


def raw(conn, line: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Send a command by hand; returns the untagged lines and the tagged one."""
    tag = conn._new_tag().decode()
    conn.send(f"{tag} {line}\r\n".encode())
    out = []
    while True:
        resp = conn.readline()
        out.append(resp)
        if resp.startswith(tag.encode()):
            return out


def test_login_capability_id_enable_namespace(live: Live) -> None:
    conn = live.imap()
    assert "AUTH=PLAIN" in conn.capabilities and "IDLE" in conn.capabilities
    assert conn.login("bob@agents.localhost", live.store.passwords["bob"])[0] == "OK"
    caps = ok(conn.capability())[0]
    assert isinstance(caps, bytes) and b"UIDPLUS" in caps and b"AUTH=PLAIN" not in caps
    lines = raw(conn, 'ID ("name" "imaplib")')
    assert lines[0].startswith(b'* ID ("name" "agentmail"')
    assert b"OK" in raw(conn, "ENABLE UTF8=ACCEPT")[-1]
    assert ok(conn.namespace()) == [b'(("" "/")) NIL NIL']
    conn.logout()


def test_authenticate_plain_sasl_ir_and_continuation(live: Live) -> None:
    token = base64.b64encode(b"\0carol\0" + live.store.passwords["carol"].encode()).decode()
    conn = live.imap()
    assert raw(conn, f"AUTHENTICATE PLAIN {token}")[-1].split()[1] == b"OK"  # SASL-IR (RFC 4959)
    conn2 = live.imap()
    assert conn2.authenticate("PLAIN", lambda _: b"\0carol\0" + live.store.passwords["carol"].encode())[0] == "OK"
    conn3 = live.imap()
    bad = base64.b64encode(b"\0carol\0wrong").decode()
    assert b"[AUTHENTICATIONFAILED]" in raw(conn3, f"AUTHENTICATE PLAIN {bad}")[-1]


def test_list_lsub_special_use_status(live: Live) -> None:
    conn = live.imap("bob")
    lines = ok(conn.list())
    assert b'(\\HasNoChildren \\Sent) "/" Sent' in lines
    assert b'(\\HasNoChildren \\Archive) "/" Archive' in lines
    assert {re.split(rb" ", x)[-1] for x in lines if isinstance(x, bytes)} == {
        b"INBOX", b"Sent", b"Receipts", b"Todo", b"Archive"}
    special = raw(conn, 'LIST (SPECIAL-USE) "" "*"')
    assert [x.split()[-1] for x in special[:-1]] == [b"Archive", b"Sent"]
    ret = raw(conn, 'LIST "" "*" RETURN (SPECIAL-USE)')
    assert len(ret) == 6 and b"\\Sent" in ret[3]
    assert len(ok(conn.lsub())) == 5
    assert raw(conn, 'LIST "" ""')[0] == b'* LIST (\\Noselect) "/" ""\r\n'
    live.store.send("alice", "bob", "one")
    live.store.send("alice", "bob", "two")
    status = ok(conn.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"))[0]
    uidl = uidlist.read(Maildir(str(live.store.box("bob"))))
    assert uidl is not None
    assert status == f"INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY {uidl.uidvalidity} UNSEEN 2)".encode()
    assert len(live.store.names("bob", sub="new")) == 2  # STATUS does not claim new mail (both still \Recent)


def test_create_delete_rename(live: Live) -> None:
    conn = live.imap("bob")
    ok(conn.create("Projects/&AMQ-lpha"))
    assert (live.store.box("bob") / ".Projects.&AMQ-lpha" / "maildirfolder").exists()  # Dovecot's on-disk name
    lines = ok(conn.list('""', "Projects*"))
    assert b'(\\Noselect \\HasChildren) "/" Projects' in lines
    assert b'(\\HasNoChildren) "/" Projects/&AMQ-lpha' in lines
    assert b"ALREADYEXISTS" in conn.create("Projects/&AMQ-lpha")[1][0]
    ok(conn.rename("Projects/&AMQ-lpha", "Done"))
    assert (live.store.box("bob") / ".Done").is_dir()
    assert conn.rename("Sent", "Elsewhere")[0] == "NO"
    ok(conn.delete("Done"))
    assert not (live.store.box("bob") / ".Done").exists()
    assert b"NONEXISTENT" in conn.delete("Done")[1][0]
    assert conn.delete("INBOX")[0] == "NO"
    assert conn.create("a.b")[0] == "NO"  # '.' is the Maildir++ separator


def test_select_examine_fetch_every_item(live: Live) -> None:
    name = live.store.send("alice", "bob", "Hello Bob", "Body of the postcard")
    conn = live.imap("bob")
    typ, data = conn.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"1"]
    assert conn.untagged_responses.get("READ-ONLY") is not None
    assert live.store.names("bob", sub="new") == [name]  # EXAMINE leaves new/ alone
    typ, data = conn.select("INBOX")
    assert conn.untagged_responses.get("READ-WRITE") is not None
    uidl = uidlist.read(Maildir(str(live.store.box("bob"))))
    assert uidl is not None
    assert conn.untagged_responses["UIDVALIDITY"] == [str(uidl.uidvalidity).encode()]
    assert conn.untagged_responses["UIDNEXT"] == [b"2"]
    assert conn.untagged_responses["UNSEEN"] == [b"1"]
    assert b"\\*" in conn.untagged_responses["PERMANENTFLAGS"][0]
    assert live.store.names("bob", sub="new") == [] and live.store.names("bob", sub="cur") == [name + ":2,"]
    file_data = (live.store.box("bob") / "cur" / (name + ":2,")).read_bytes()
    crlf = file_data.replace(b"\n", b"\r\n")
    items = ("UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY RFC822.HEADER BODY.PEEK[HEADER] "
             "BODY.PEEK[HEADER.FIELDS (Subject From)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)] BODY.PEEK[TEXT] "
             "BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[]<0.10>")
    typ, data = conn.fetch("1", f"({items})")
    assert typ == "OK"
    joined = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
    assert f"RFC822.SIZE {len(crlf)}".encode() in joined
    assert b"INTERNALDATE \"" in joined and b"ENVELOPE (" in joined and b"BODYSTRUCTURE (\"text\"" in joined
    assert b"Subject: Hello Bob\r\n" in joined and b"Body of the postcard" in joined
    assert b"BODY[]<0> {10}" in joined and crlf[:10] in joined
    assert live.store.names("bob", sub="cur") == [name + ":2,"]  # PEEK: still unseen
    for macro in ("ALL", "FAST", "FULL"):
        assert conn.fetch("1", macro)[0] == "OK"
    typ, data = conn.fetch("1", "(RFC822.TEXT)")
    assert typ == "OK"
    assert live.store.names("bob", sub="cur") == [name + ":2,S"]  # RFC822.TEXT sets \Seen
    ok(conn.store("1", "-FLAGS", "(\\Seen)"))
    typ, data = conn.fetch("1", "(BODY[])")
    assert data[0][1] == crlf  # type: ignore[index]
    assert live.store.names("bob", sub="cur") == [name + ":2,S"]  # BODY[] sets \Seen in the file name
    typ, data = conn.uid("FETCH", "1", "(RFC822)")
    assert typ == "OK" and data[0][1] == crlf  # type: ignore[index]
    ok(conn.check())
    ok(conn.noop())
    ok(conn.unselect())


def test_store_flags_and_keywords(live: Live) -> None:
    name = live.store.send("alice", "bob", "flag me")
    conn = live.imap("bob")
    conn.select("INBOX")
    typ, data = conn.store("1", "+FLAGS", "(\\Flagged \\Answered $MDNSent)")
    assert typ == "OK" and b"$MDNSent" in data[0]  # type: ignore[operator]
    box = Maildir(str(live.store.box("bob")))
    letter = keywords.letter_of(keywords.read(box), "$MDNSent")
    assert letter == "a"
    assert live.store.names("bob", sub="cur") == [name + ":2,FRa"]
    ok(conn.uid("STORE", "1", "-FLAGS.SILENT", "(\\Answered)"))
    assert live.store.names("bob", sub="cur") == [name + ":2,Fa"]
    ok(conn.store("1", "FLAGS", "(\\Seen \\Draft Custom1)"))
    assert live.store.names("bob", sub="cur") == [name + ":2,DSb"]
    conn.logout()
    conn = live.imap("bob")  # flags come back from the file names, keywords through dovecot-keywords
    conn.select("INBOX")
    flags = ok(conn.fetch("1", "(FLAGS)"))[0]
    assert isinstance(flags, bytes)
    assert b"\\Seen" in flags and b"\\Draft" in flags and b"Custom1" in flags and b"$MDNSent" not in flags
    assert b"Custom1" in conn.untagged_responses["FLAGS"][0]


def test_search(live: Live) -> None:
    for i in range(3):
        live.store.send("alice" if i < 2 else "carol", "bob", f"title {i}", f"body number {i}")
    conn = live.imap("bob")
    conn.select("INBOX")
    assert ok(conn.search(None, "ALL")) == [b"1 2 3"]
    assert ok(conn.search(None, "FROM", "carol")) == [b"3"]
    assert ok(conn.search(None, "BODY", '"number 1"')) == [b"2"]
    assert ok(conn.search(None, "SUBJECT", "title", "NOT", "2:3")) == [b"1"]
    assert ok(conn.search("UTF-8", "TEXT", "body")) == [b"1 2 3"]
    assert ok(conn.search(None, "OR", "1", "3", "LARGER", "10", "SINCE", "1-Jan-2020")) == [b"1 3"]
    conn.store("2", "+FLAGS", "(\\Flagged)")
    assert ok(conn.uid("SEARCH", "FLAGGED")) == [b"2"]
    assert ok(conn.search(None, "UNSEEN", "UID", "1:2")) == [b"1 2"]
    assert conn.search("KOI8-R", "ALL")[0] == "NO"


def test_copy_move_expunge_uidplus(live: Live) -> None:
    for i in range(4):
        live.store.send("alice", "bob", f"msg {i}")
    conn = live.imap("bob")
    conn.select("INBOX")
    typ, data = conn.copy("1:2", "Archive")
    assert typ == "OK" and b"[COPYUID " in data[0] and data[0].endswith(b" 1:2 1:2] COPY completed")  # type: ignore
    assert b"[COPYUID " in raw(conn, "UID COPY 3 Todo")[-1]
    assert len(live.store.names("bob", "Archive")) == 2 and len(live.store.names("bob", "Todo")) == 1
    assert conn.copy("1", "Nowhere")[1][0].startswith(b"[TRYCREATE]")  # type: ignore[union-attr]
    lines = raw(conn, "MOVE 4 Archive")
    assert lines[0].startswith(b"* OK [COPYUID ") and b" 4 3]" in lines[0]
    assert lines[1] == b"* 4 EXPUNGE\r\n"
    lines = raw(conn, "UID MOVE 3 Todo")
    assert b"COPYUID" in lines[0] and lines[1] == b"* 3 EXPUNGE\r\n"
    assert len(live.store.names("bob")) == 2 and len(live.store.names("bob", "Archive")) == 3
    conn.store("1:2", "+FLAGS", "(\\Deleted)")
    lines = raw(conn, "UID EXPUNGE 2")
    assert lines[0] == b"* 2 EXPUNGE\r\n"
    assert len(live.store.names("bob")) == 1
    typ, data = conn.expunge()
    assert typ == "OK" and data == [b"1"]
    assert live.store.names("bob") == []
    ok(conn.select("Archive"))
    conn.store("1", "+FLAGS", "(\\Deleted)")
    ok(conn.close())  # CLOSE expunges silently (RFC 3501 6.4.2)
    assert len(live.store.names("bob", "Archive")) == 2


def test_append_appenduid_literal_plus(live: Live) -> None:
    conn = live.imap("bob")
    typ, data = conn.append("Sent", "(\\Seen $Label1)", '"01-Feb-2024 10:20:30 +0000"', MSG)
    assert typ == "OK"
    uidl = uidlist.read(Maildir(str(live.store.box("bob", "Sent"))))
    assert uidl is not None
    assert data[0] == f"[APPENDUID {uidl.uidvalidity} 1] APPEND completed".encode()
    (name,) = live.store.names("bob", "Sent")
    assert name.endswith(":2,Sa")
    path = live.store.box("bob", "Sent") / "cur" / name
    assert path.read_bytes() == MSG.replace(b"\r\n", b"\n")  # stored as given, LF on disk
    assert int(os.stat(path).st_mtime) == 1706782830  # INTERNALDATE
    assert uidl.records[-1][2] == name.split(":")[0]
    # LITERAL+ (RFC 7888): no continuation round trip
    tag = conn._new_tag().decode()
    conn.send(f"{tag} APPEND Todo {{{len(MSG)}+}}\r\n".encode() + MSG + b"\r\n")
    reply = conn.readline()
    assert reply.startswith(f"{tag} OK [APPENDUID ".encode()) and b" 1]" in reply
    conn.select("Sent")
    data = ok(conn.fetch("1", "(INTERNALDATE FLAGS BODY.PEEK[])"))
    assert b'"01-Feb-2024 10:20:30 +0000"' in data[0][0]  # type: ignore[index]
    assert data[0][1] == MSG  # type: ignore[index]
    assert conn.append("Nowhere", None, None, MSG)[1][0].startswith(b"[TRYCREATE]")  # type: ignore[union-attr]


def test_unauthenticated_commands_refused(live: Live) -> None:
    conn = live.imap()
    for line in ("SELECT INBOX", "LIST \"\" *", "STATUS INBOX (MESSAGES)", "FETCH 1 BODY[]", "APPEND INBOX {1+}\r\nx"):
        reply = raw(conn, line)[-1]
        assert b" BAD " in reply and b"authentication" in reply.lower(), reply
    assert b"NO [AUTHENTICATIONFAILED]" in raw(conn, "LOGIN bob wrong")[-1]
    assert b"NO [AUTHENTICATIONFAILED]" in raw(conn, "LOGIN nosuch@agents.localhost x")[-1]
    assert b"NO [AUTHENTICATIONFAILED]" in raw(conn, f"LOGIN bob@other.example {live.store.passwords['bob']}")[-1]
