"""Date and Message-ID added on submission (RFC 6409 8.2, 8.3) by SMTP and by sendmail, before the copies are made:
every copy of one message (each inbox of `all`, the .Sent copy, the journal) has the same content-addressed id,
`agentmail read` shows the date and `agentmail reply` threads to it."""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

from agentmail.format.submission import add_fields, missing_fields
from tests.smtp.conftest import DOMAIN, Server, lf, marker
from tests.support.store import AGENTMAIL, SENDMAIL, Store, env_for

MID = re.compile(rb"^Message-ID: <([0-9a-f]{32})@agents\.localhost>$", re.M)


def bare(tag: str, frm: str = f"bob@{DOMAIN}", extra: str = "") -> bytes:
    """A message as a script writes it: no Date, no Message-ID."""
    return (f"From: {frm}\r\nTo: all@{DOMAIN}\r\nSubject: {tag}\r\n{extra}\r\nhello {tag}\r\n").encode()


def journal_copies(store: Store, tag: str) -> list[bytes]:
    return [p.read_bytes() for sub in ("new", "cur") for p in (store.home / "journal" / sub).iterdir()
            if tag.encode() in p.read_bytes()]


def field(stored: bytes, name: bytes) -> list[bytes]:
    head = stored.split(b"\n\n", 1)[0]
    return [line.split(b":", 1)[1].strip() for line in head.split(b"\n") if line.lower().startswith(name + b":")]


def cli(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTMAIL, *args], env=env_for(store.home), capture_output=True, text=True, timeout=30)


def test_smtp_to_all_every_copy_has_the_same_id_and_a_date(server: Server) -> None:
    tag = marker()
    data = bare(tag)
    with smtplib.SMTP(server.host, server.port, timeout=15) as client:
        client.login("bob", server.store.passwords["bob"])
        client.mail(f"bob@{DOMAIN}")
        assert client.rcpt(f"all@{DOMAIN}")[0] == 250
        code, reply = client.data(data)
        assert code == 250
    copies = [server.store.only("alice", tag), server.store.only("carol", tag), *journal_copies(server.store, tag)]
    assert len(copies) == 3
    keys = {MID.findall(c)[0] for c in copies}
    assert len(keys) == 1, keys
    key = keys.pop()
    assert f"delivered as {key[:8].decode()}".encode() in reply
    for copy in copies:
        (date,) = field(copy, b"date")
        assert abs(parsedate_to_datetime(date.decode()).timestamp() - time.time()) < 600
        # the fields are added at the end of the header; nothing else changes
        body_at = copy.index(b"\nhello")
        assert copy[:body_at].endswith(b"\nDate: " + date + b"\nMessage-ID: <" + key + b"@agents.localhost>\n")
        assert lf(data).replace(b"\n\nhello", b"\n" + b"Date: " + date + b"\nMessage-ID: <" + key
                                + b"@agents.localhost>\n\nhello") in copy


def test_smtp_keeps_what_is_there(server: Server) -> None:
    tag = marker()
    with_date = bare(tag + "-d", extra="Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n")
    with_id = bare(tag + "-i", extra=f"Message-ID: <{tag}@client.example>\r\n")
    with smtplib.SMTP(server.host, server.port, timeout=15) as client:
        client.login("bob", server.store.passwords["bob"])
        client.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], with_date)
        client.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], with_id)
    stored = server.store.only("alice", tag + "-d")
    assert field(stored, b"date") == [b"Thu, 01 Jan 2026 00:00:00 +0000"] and len(MID.findall(stored)) == 1
    stored = server.store.only("alice", tag + "-i")
    assert field(stored, b"message-id") == [f"<{tag}@client.example>".encode()] and len(field(stored, b"date")) == 1


def test_different_submissions_get_different_ids(server: Server) -> None:
    tag = marker()
    with smtplib.SMTP(server.host, server.port, timeout=15) as client:
        client.login("bob", server.store.passwords["bob"])
        for n in range(3):
            client.sendmail(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], bare(f"{tag}-{n}"))
    ids = {MID.findall(server.store.only("alice", f"{tag}-{n}"))[0] for n in range(3)}
    assert len(ids) == 3


def test_read_shows_the_date_and_reply_threads(server: Server) -> None:
    tag = marker()
    with smtplib.SMTP(server.host, server.port, timeout=15) as client:
        client.login("bob", server.store.passwords["bob"])
        client.sendmail(f"bob@{DOMAIN}", [f"carol@{DOMAIN}"], bare(tag))
    key = MID.findall(server.store.only("carol", tag))[0].decode()
    shown = cli(server.store, "--as", "carol", "read", key[:8], "--json")
    assert shown.returncode == 0, shown.stderr
    card = json.loads(shown.stdout)
    assert card["date"] and card["date"] != "None" and card["message_id"] == f"<{key}@{DOMAIN}>"
    replied = cli(server.store, "--as", "carol", "reply", key[:8], f"thanks {tag}")
    assert replied.returncode == 0, replied.stderr
    answer = server.store.only("bob", f"thanks {tag}")
    assert field(answer, b"in-reply-to") == [f"<{key}@{DOMAIN}>".encode()]


def sendmail(store: Store, args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SENDMAIL, *args], input=data, env=env_for(store.home), capture_output=True, timeout=30)


def test_sendmail_adds_the_same_fields(fresh_store: Store) -> None:
    tag = marker()
    data = f"From: bob@{DOMAIN}\nTo: alice@{DOMAIN}, carol@{DOMAIN}\nSubject: {tag}\n\nhello {tag}\n".encode()
    proc = sendmail(fresh_store, ["-i", "-f", f"bob@{DOMAIN}", "alice", "carol"], data)
    assert proc.returncode == 0, proc.stderr
    copies = [fresh_store.only("alice", tag), fresh_store.only("carol", tag), fresh_store.only("bob", tag, "Sent"),
              *journal_copies(fresh_store, tag)]
    assert len(copies) == 4 and len({MID.findall(c)[0] for c in copies}) == 1
    assert len({tuple(field(c, b"date")) for c in copies}) == 1 and field(copies[0], b"date") != []
    key = MID.findall(copies[0])[0].decode()
    replied = cli(fresh_store, "--as", "alice", "reply", key[:8], f"got it {tag}")
    assert replied.returncode == 0, replied.stderr
    assert field(fresh_store.only("bob", f"got it {tag}"), b"in-reply-to") == [f"<{key}@{DOMAIN}>".encode()]


def test_sendmail_message_without_headers(fresh_store: Store) -> None:
    tag = marker()
    proc = sendmail(fresh_store, ["-i", "-f", f"bob@{DOMAIN}", "alice"], f"just a body {tag}\n".encode())
    assert proc.returncode == 0, proc.stderr
    stored = fresh_store.only("alice", tag)
    assert len(MID.findall(stored)) == 1 and len(field(stored, b"date")) == 1 and len(field(stored, b"from")) == 1
    assert stored.endswith(f"\n\njust a body {tag}\n".encode())


def test_fields_are_added_in_the_message_line_ending(tmp_path: Path) -> None:
    now = 1767225600.0  # 2026-01-01
    for nl in (b"\r\n", b"\n"):
        data = b"From: a@x" + nl + b"Subject: s" + nl + nl + b"body" + nl + nl + b"Date: not a header" + nl
        fields = missing_fields(data, sender="a@x", recipients=["b@x"], domain="x", now=now)
        assert [f.split(":")[0] for f in fields] == ["Date", "Message-ID"]
        out = add_fields(data, fields)
        head, body = out.split(nl + nl, 1)
        assert head.split(nl)[-2:] == [f.encode() for f in fields] and body == data.split(nl + nl, 1)[1]
    assert missing_fields(b"\nDate: in the body\n", sender="a", recipients=[], domain="x", now=now)[0][:5] == "Date:"
    one = missing_fields(b"From: a\n\nx\n", sender="a", recipients=["b"], domain="x", now=now)
    assert one == missing_fields(b"From: a\n\nx\n", sender="a", recipients=["b"], domain="x", now=now)
    assert one != missing_fields(b"From: a\n\nx\n", sender="a", recipients=["c"], domain="x", now=now)
