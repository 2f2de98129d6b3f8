"""Every command of issue 2, through click's runner and through the installed console script (the `am` fixture)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from agentmail import config
from agentmail.store import passwd
from tests.support.cli import maildir_files, run_script
from tests.support.messages import assert_complete, body_of, files, flags_of, keyword_names, parse, short_id
from tests.support.store import create_accounts

DOMAIN = "agents.localhost"


def setup_accounts(home: Path, *names: str) -> config.Config:
    cfg = config.load(str(home))
    create_accounts(cfg, *names)
    return cfg


def inbox_of(home: Path, name: str, folder: str = "") -> Path:
    root = home / "maildirs" / name
    return root / f".{folder}" if folder else root


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


# ---------------------------------------------------------------- identity
def test_register_whoami_directory(am, home: Path) -> None:
    assert am("register", "Alice").ok().out.strip() == f"you are alice@{DOMAIN}"  # uppercase is normalised
    am("register", "bob").ok()
    assert am("--as", "alice", "whoami").ok().out.strip() == f"alice@{DOMAIN}"
    assert am("--as", "ALICE", "whoami", "--json").ok().out.strip() == json.dumps(
        {"name": "alice", "address": f"alice@{DOMAIN}"})
    # AGENTMAIL_ADDRESS is the second source of identity
    assert am("whoami", env={"AGENTMAIL_ADDRESS": f"bob@{DOMAIN}"}).ok().out.strip() == f"bob@{DOMAIN}"
    for sub in ("cur", "new", "tmp", ".Sent/cur", ".Receipts/cur", ".Todo/cur", ".Archive/cur"):
        assert (home / "maildirs" / "alice" / sub).is_dir(), sub
    assert (home / "maildirs" / "alice" / ".Sent" / "maildirfolder").is_file()
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    assert oct((home / "passwd").stat().st_mode & 0o777) == "0o600"
    text = am("directory").ok().out
    assert re.search(r"^alice \(agent, (online|offline)\)", text, re.M)
    assert re.search(r"^human \(human, offline\)$", text, re.M)
    rows = json.loads(am("directory", "--json").ok().out)
    assert [r["name"] for r in rows] == ["alice", "bob", "human"]
    for row in rows:
        assert set(row) == {"name", "address", "kind", "online", "last_seen", "cwd", "aliases", "state", "wakeable",
                            "wake_note"}


def test_register_again_keeps_the_mailbox(am, home: Path) -> None:
    am("register", "alice").ok()
    am("register", "bob").ok()
    am("--as", "bob", "send", "alice", "kept", "x").ok()
    am("register", "alice").ok()  # a restarted session gets its mailbox back
    assert len(maildir_files(inbox_of(home, "alice"))) == 1


def test_register_without_name_gets_three_words(am, home: Path) -> None:
    out = am("register").ok().out.strip()
    match = re.fullmatch(rf"you are ([a-z]+-[a-z]+-[a-z]+)@{re.escape(DOMAIN)}", out)
    assert match, out
    assert (home / "maildirs" / match.group(1) / "cur").is_dir()


def test_rename_old_name_still_receives(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    out = am("--as", "alice", "rename", "alice2").ok().out
    assert "alice2" in out
    assert not (home / "maildirs" / "alice").exists()
    assert am("--as", "alice", "whoami").ok().out.strip() == f"alice2@{DOMAIN}"
    sid = short_id(am("--as", "bob", "send", "alice", "to the old name", "hello").ok().out)
    got = only(maildir_files(inbox_of(home, "alice2")))
    assert parse(got)["Subject"] == "to the old name"
    assert sid in am("--as", "alice2", "inbox").ok().out
    # the new name logs in; the old one no longer has a password line
    cfg = config.load(str(home))
    assert passwd.verify(cfg, "alice2", passwd.password_for(cfg, "alice2"))
    assert not passwd.verify(cfg, "alice", passwd.password_for(cfg, "alice"))
    # the old name is not free again: registering it gets the renamed mailbox back
    assert am("register", "alice").ok().out.strip() == f"you are alice2@{DOMAIN}"
    assert not (home / "maildirs" / "alice").exists()


# ---------------------------------------------------------------- sending
def test_send_stores_a_postcard_everywhere(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    res = am("--as", "alice", "send", "bob", "Build is green", "All 312 tests pass.").ok()
    assert re.fullmatch(r"sent [0-9a-f]{8} to bob\n", res.out)
    assert res.err == ""
    path = only(files(inbox_of(home, "bob"), "new"))
    msg = assert_complete(path)
    assert msg["From"] == f"alice@{DOMAIN}"
    assert msg["To"] == f"bob@{DOMAIN}"
    assert msg["Subject"] == "Build is green"
    assert msg["Disposition-Notification-To"] == f"alice@{DOMAIN}"
    assert msg["Return-Path"] == f"<alice@{DOMAIN}>"
    assert msg["Delivered-To"] == f"bob@{DOMAIN}"
    assert "via cli" in msg["Received"]
    assert msg["Message-ID"].startswith("<" + short_id(res.out))
    assert msg["Importance"] is None and msg["X-Priority"] is None
    assert body_of(msg).rstrip("\n") == "All 312 tests pass."
    sent = only(files(inbox_of(home, "alice", "Sent")))
    assert flags_of(sent) == "S"
    assert parse(sent)["Message-ID"] == msg["Message-ID"]
    journal = only(files(home / "journal"))
    assert parse(journal)["Message-ID"] == msg["Message-ID"]
    assert b"\r\n" not in path.read_bytes()  # LF line endings on disk


def test_send_cc_urgent_no_receipt(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob", "carol", "dave")
    am("--as", "alice", "send", "bob,carol", "Deploy now", "go", "--cc", "dave", "--urgent", "--no-receipt").ok()
    for name in ("bob", "carol", "dave"):
        msg = parse(only(files(inbox_of(home, name))))
        assert msg["To"] == f"bob@{DOMAIN}, carol@{DOMAIN}"
        assert msg["Cc"] == f"dave@{DOMAIN}"
        assert msg["Importance"] == "high"
        assert msg["X-Priority"].startswith("1")
        assert msg["Disposition-Notification-To"] is None
    assert len(files(inbox_of(home, "alice", "Sent"))) == 1
    assert files(inbox_of(home, "alice")) == []
    assert "[URGENT]" in am("--as", "bob", "inbox").ok().out


def test_send_with_attachment(am, home: Path, tmp_path: Path) -> None:
    setup_accounts(home, "alice", "bob")
    att = tmp_path / "report.csv"
    att.write_bytes(b"a,b\n1,2\n" + bytes(range(256)))
    am("--as", "alice", "send", "bob", "Numbers", "see attached", "--attach", str(att)).ok()
    msg = parse(only(files(inbox_of(home, "bob"))))
    parts = list(msg.iter_attachments())
    assert [p.get_filename() for p in parts] == ["report.csv"]
    assert parts[0].get_content() == att.read_bytes() or parts[0].get_payload(decode=True) == att.read_bytes()
    assert body_of(msg).rstrip("\n") == "see attached"


def test_body_from_stdin_is_preserved(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    body = ("He said \"don't\" & left; `rm -rf $HOME` stays text\n\tindented line — ünïcødé 🚀\n\n"
            "  trailing spaces  \nlast line")
    am("--as", "alice", "send", "bob", "Quotes «and» newlines", "-", input=body.encode()).ok()
    msg = parse(only(files(inbox_of(home, "bob"))))
    assert msg["Subject"] == "Quotes «and» newlines"
    assert body_of(msg).rstrip("\n") == body
    shown = json.loads(am("--as", "bob", "read", msg["Message-ID"][1:9], "--json").ok().out)
    assert shown["body"].rstrip("\n") == body


def test_reply_threads(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    first = short_id(am("--as", "alice", "send", "bob", "Schema question", "users.avatar_url?").ok().out)
    res = am("--as", "bob", "reply", first, "-", input="yes, nullable text").ok()
    assert re.fullmatch(r"sent [0-9a-f]{8} to alice\n", res.out)
    original = parse(only(files(inbox_of(home, "bob"))))
    answer = parse(only(files(inbox_of(home, "alice"))))
    assert answer["Subject"] == "Re: Schema question"
    assert answer["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in answer["References"]
    assert body_of(answer).rstrip("\n") == "yes, nullable text"
    # replying to the reply keeps the whole chain and does not stack "Re: Re:"
    second = short_id(res.out)
    am("--as", "alice", "reply", second, "thanks").ok()
    third = [parse(p) for p in files(inbox_of(home, "bob"))]
    last = next(m for m in third if m["In-Reply-To"] == answer["Message-ID"])
    assert last["Subject"] == "Re: Schema question"
    assert last["References"].split() == [original["Message-ID"], answer["Message-ID"]]
    # --urgent on a reply
    am("--as", "bob", "reply", second[:6], "urgent follow-up", "--urgent").ok()
    assert any(parse(p)["Importance"] == "high" for p in files(inbox_of(home, "alice")))


def test_broadcast_one_copy_per_agent_but_sender(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob", "carol", "dave")
    res = am("--as", "alice", "broadcast", "Freeze", "-", input="main is frozen until 5pm").ok()
    assert re.fullmatch(r"sent [0-9a-f]{8} to all: bob, carol, dave\n", res.out)
    for name in ("bob", "carol", "dave"):
        msg = parse(only(files(inbox_of(home, name))))
        assert msg["To"] == f"all@{DOMAIN}"
        assert msg["Disposition-Notification-To"] is None
    assert files(inbox_of(home, "alice")) == []
    assert files(inbox_of(home, "human")) == []  # the person is not an agent
    assert len(files(inbox_of(home, "alice", "Sent"))) == 1
    assert len(files(home / "journal")) == 1
    # reading a broadcast sends no receipt
    bob_msg = parse(only(files(inbox_of(home, "bob"))))
    am("--as", "bob", "read", bob_msg["Message-ID"][1:9]).ok()
    assert files(inbox_of(home, "alice", "Receipts")) == []


# ---------------------------------------------------------------- reading
def test_inbox_lines_announce_all_folder_limit_json(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    ids = [short_id(am("--as", "alice", "send", "bob", f"Title {i}", f"body {i}").ok().out) for i in range(3)]
    urgent = short_id(am("--as", "alice", "send", "bob", "Blocked", "help", "--urgent").ok().out)
    lines = am("--as", "bob", "inbox").ok().out.strip().split("\n")
    assert len(lines) == 4
    for line, sid, title in zip(lines, [*ids, urgent], ["Title 0", "Title 1", "Title 2", "Blocked"], strict=True):
        assert re.fullmatch(rf"{sid} \d+[smhd] alice: {title}( \[URGENT\])?", line), line
    assert lines[-1].endswith(" [URGENT]") and not lines[0].endswith("]")
    box = inbox_of(home, "bob")
    assert files(box, "new") == [] and len(files(box, "cur")) == 4
    assert all(flags_of(p) == "" for p in files(box, "cur"))  # announced, not read
    # unread but announced: still listed by inbox (they are unread), and nothing moves back to new/
    assert len(am("--as", "bob", "inbox").ok().out.strip().split("\n")) == 4
    am("--as", "bob", "read", ids[0]).ok()
    assert len(am("--as", "bob", "inbox").ok().out.strip().split("\n")) == 3
    assert len(am("--as", "bob", "inbox", "--all").ok().out.strip().split("\n")) == 4
    assert len(am("--as", "bob", "inbox", "--all", "--limit", "2").ok().out.strip().split("\n")) == 2
    assert len(am("--as", "bob", "inbox", "--limit", "1").ok().out.strip().split("\n")) == 1
    sent = am("--as", "alice", "inbox", "--folder", "sent", "--all").ok().out.strip().split("\n")
    assert len(sent) == 4 and all("alice:" in line for line in sent)
    assert am("--as", "alice", "inbox").ok().out.strip() == "no unread postcards"
    rows = json.loads(am("--as", "bob", "inbox", "--all", "--json").ok().out)
    assert len(rows) == 4
    keys = ["id", "key", "message_id", "folder", "from", "from_address", "to", "to_addresses", "title", "urgent",
            "date", "delivered_at", "seen", "flagged", "new"]
    for row in rows:
        assert list(row) == keys
        assert row["from"] == "alice" and row["from_address"] == f"alice@{DOMAIN}" and row["folder"] == "INBOX"
        assert row["to"] == ["bob"] and row["to_addresses"] == [f"bob@{DOMAIN}"]
    assert [r["title"] for r in rows][0] == "Blocked"  # --all is newest first
    assert sum(r["seen"] for r in rows) == 1
    assert json.loads(am("--as", "alice", "inbox", "--json").ok().out) == []


def test_read_marks_seen_and_sends_exactly_one_receipt(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    sid = short_id(am("--as", "alice", "send", "bob", "Please ack", "ack this").ok().out)
    out = am("--as", "bob", "read", sid).ok().out
    assert "Title: Please ack" in out and "ack this" in out and f"From: alice@{DOMAIN}" in out
    path = only(files(inbox_of(home, "bob")))
    assert path.parent.name == "cur"
    assert "S" in flags_of(path)
    assert keyword_names(path) == {"$MDNSent"}
    assert (inbox_of(home, "bob") / "dovecot-keywords").read_text() == "0 $MDNSent\n"
    mdn_path = only(files(inbox_of(home, "alice", "Receipts")))
    assert files(inbox_of(home, "alice")) == []  # not in the inbox
    mdn = parse(mdn_path)
    assert mdn.get_content_type() == "multipart/report"
    assert mdn.get_param("report-type") == "disposition-notification"
    assert mdn["Auto-Submitted"] == "auto-replied"
    assert mdn["Disposition-Notification-To"] is None
    assert mdn["Return-Path"] == "<>"
    report = next(p for p in mdn.walk() if p.get_content_type() == "message/disposition-notification")
    text = report.as_bytes().decode()
    assert f"Final-Recipient: rfc822;bob@{DOMAIN}" in text.replace("rfc822; ", "rfc822;")
    assert "displayed" in text and "MDN-sent-automatically" in text
    assert parse(path)["Message-ID"] in text
    # a second read: still seen, no second receipt
    again = json.loads(am("--as", "bob", "read", sid, "--json").ok().out)
    assert again["receipt_sent"] is False and "S" in again["flags"]
    assert len(files(inbox_of(home, "alice", "Receipts"))) == 1
    assert files(inbox_of(home, "bob", "Sent")) == []  # MDNs are not kept in .Sent
    # the reader reading the receipt itself answers nothing
    mdn_id = parse(mdn_path)["Message-ID"]
    assert mdn_id


def test_log_since_limit_json_and_receipt_status(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob", "carol")
    a = short_id(am("--as", "alice", "send", "bob", "First", "1").ok().out)
    b = short_id(am("--as", "alice", "send", "carol", "Second", "2", "--no-receipt").ok().out)
    c = short_id(am("--as", "alice", "send", "bob", "Third", "3").ok().out)
    d = short_id(am("--as", "alice", "send", "carol", "Fourth", "4").ok().out)
    am("--as", "bob", "read", a).ok()
    am("--as", "carol", "clerk", "file", d).ok()
    lines = am("--as", "alice", "log").ok().out.strip().split("\n")
    assert len(lines) == 4
    by_id = {line.split()[0]: line for line in lines}
    assert by_id[a].endswith("First - read by bob")
    assert by_id[b].endswith("Second - no receipt asked")
    assert by_id[c].endswith("Third - not read yet")
    assert by_id[d].endswith("Fourth - filed by carol")
    assert len(am("--as", "alice", "log", "--limit", "2").ok().out.strip().split("\n")) == 2
    rows = json.loads(am("--as", "alice", "log", "--json").ok().out)[1:]
    assert [r["id"] for r in rows] == [c, b, a]
    for row in rows:
        assert list(row) == ["id", "key", "title", "sent_at", "to", "to_addresses", "urgent", "receipt_requested",
                             "in_reply_to_id", "receipts"]
    assert rows[2]["to"] == ["bob"] and rows[2]["to_addresses"] == [f"bob@{DOMAIN}"]
    assert rows[2]["receipts"][0] == {"reader": "bob", "reader_address": f"bob@{DOMAIN}",
                                      "disposition": "displayed", "at": rows[2]["receipts"][0]["at"]}
    assert json.loads(am("--as", "alice", "log", "--since", "1h", "--json").ok().out) != []
    # a postcard sent two hours ago falls outside --since 1h
    sent_box = inbox_of(home, "alice", "Sent")
    for path in files(sent_box):
        # name_time() reads the delivery time from the unique name: age every Sent file by two hours
        sec, rest = path.name.split(".", 1)
        path.rename(path.with_name(f"{int(sec) - 7200}.{rest}"))
    assert json.loads(am("--as", "alice", "log", "--since", "1h", "--json").ok().out) == []
    assert len(json.loads(am("--as", "alice", "log", "--since", "3h", "--json").ok().out)) == 4
    assert am("--as", "bob", "log").ok().out.strip() == "nothing sent yet"


def test_receipts_command(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    assert am("--as", "alice", "receipts").ok().out.strip() == "no receipts"
    sid = short_id(am("--as", "alice", "send", "bob", "Ack?", "x").ok().out)
    am("--as", "bob", "read", sid).ok()
    assert re.fullmatch(rf"{sid} displayed by bob \d+[smhd] ago\n", am("--as", "alice", "receipts").ok().out)
    rows = json.loads(am("--as", "alice", "receipts", "--json").ok().out)
    assert len(rows) == 1
    assert list(rows[0]) == ["reader", "reader_address", "disposition", "original_id", "original_key", "at"]
    assert rows[0]["original_id"] == sid and rows[0]["reader"] == "bob"
    assert rows[0]["reader_address"] == f"bob@{DOMAIN}"


def test_clerk_pending_file_surface(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    routine = short_id(am("--as", "alice", "send", "bob", "FYI: lint fixed", "nothing to do").ok().out)
    question = short_id(am("--as", "alice", "send", "bob", "Which port?", "8080 or 9090?").ok().out)
    out = am("--as", "bob", "clerk", "pending").ok().out
    assert out.startswith("2 pending.") and "FYI: lint fixed" in out and "8080 or 9090?" in out
    assert files(inbox_of(home, "bob"), "new") == []
    cards = json.loads(am("--as", "bob", "clerk", "pending", "--json").ok().out)
    assert {c["title"] for c in cards} == {"FYI: lint fixed", "Which port?"}

    # a short prefix is answered with the whole short id
    assert am("--as", "bob", "clerk", "file", routine[:4]).ok().out == f"filed {routine} to Todo\n"
    filed = only(files(inbox_of(home, "bob", "Todo")))
    assert flags_of(filed).startswith("S") and keyword_names(filed) == {"$MDNSent"}
    assert (inbox_of(home, "bob", "Todo") / "dovecot-keywords").is_file()
    receipts = [parse(p) for p in files(inbox_of(home, "alice", "Receipts"))]
    assert len(receipts) == 1 and b"processed" in receipts[0].as_bytes()

    out = am("--as", "bob", "clerk", "surface", question[:5]).ok().out
    assert out.startswith("SURFACED") and "8080 or 9090?" in out and f"\nId: {question}\n" in out
    surfaced = only(files(inbox_of(home, "bob")))
    assert flags_of(surfaced)[:2] == "FS" and keyword_names(surfaced) == {"$MDNSent"}
    receipts = [parse(p).as_bytes() for p in files(inbox_of(home, "alice", "Receipts"))]
    assert len(receipts) == 2 and sum(b"displayed" in r for r in receipts) == 1
    assert am("--as", "bob", "clerk", "pending").ok().out.strip() == "nothing pending"
    # filing twice: the message is no longer in the inbox
    am("--as", "bob", "clerk", "file", routine).fails(66)


def test_login_info(am, home: Path) -> None:
    setup_accounts(home, "alice")
    data = json.loads(am("login-info", "--json").ok().out)
    assert data["user"] == "human"
    assert isinstance(data["imap"]["host"], str) and isinstance(data["imap"]["port"], int)
    assert isinstance(data["smtp"]["host"], str) and isinstance(data["smtp"]["port"], int)
    cfg = config.load(str(home))
    assert passwd.verify(cfg, "human", data["password"])
    assert not passwd.verify(cfg, "human", data["password"] + "x")
    alice = json.loads(am("login-info", "alice", "--json").ok().out)
    assert alice["user"] == "alice" and passwd.verify(cfg, "alice", alice["password"])
    assert alice["password"] != data["password"]
    line = (home / "passwd").read_text().splitlines()
    assert any(entry.startswith("alice:{SSHA512}") for entry in line)
    assert alice["password"] not in (home / "passwd").read_text()
    text = am("login-info", "alice").ok().out
    assert f"password  {alice['password']}" in text and "user      alice" in text
    err = am("login-info", "nobody-here").fails(67).err
    assert err == "agentmail: no such account: nobody-here (create it with `agentmail register nobody-here`)\n"


def test_init_marked_block(am, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    (project / "sub").mkdir()
    res = am("init", cwd=project / "sub").ok()  # finds the project root through .git
    claude, agents, gemini = project / "CLAUDE.md", project / "AGENTS.md", project / "GEMINI.md"
    assert res.out.split("\n") == [f"added: {claude}", f"added: {agents}", f"added: {gemini}", ""]
    assert sorted(p.name for p in project.iterdir()) == [".git", "AGENTS.md", "CLAUDE.md", "GEMINI.md", "sub"]
    assert list((project / "sub").iterdir()) == []
    text = agents.read_text()
    assert claude.read_text() == gemini.read_text() == text
    assert text.count("<!-- agentmail:begin") == 1 and text.count("<!-- agentmail:end -->") == 1
    assert am("init", cwd=project).ok().out == f"unchanged: {claude}\nunchanged: {agents}\nunchanged: {gemini}\n"
    assert agents.read_text() == text
    # a user edit inside the block is kept without --force and replaced with it; text outside survives
    agents.write_text("# My project\n\n" + text.replace("Coordinating", "Coordinating (edited)") + "\nafter\n")
    assert am("init", cwd=project).ok().out == (f"unchanged: {claude}\n"
                                                 f"kept (differs; --force rewrites it): {agents}\n"
                                                 f"unchanged: {gemini}\n")
    assert "(edited)" in agents.read_text()
    assert am("init", "--force", cwd=project).ok().out == f"unchanged: {claude}\nrewrote: {agents}\n" \
        f"unchanged: {gemini}\n"
    forced = agents.read_text()
    assert "(edited)" not in forced and forced.startswith("# My project\n") and forced.rstrip().endswith("after")
    assert forced.count("<!-- agentmail:begin") == 1
    # existing CLAUDE.md and GEMINI.md get the block after their text; AGENTS.md is created next to them
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    (other / "CLAUDE.md").write_text("# Claude\n")
    (other / "GEMINI.md").write_text("")
    out = am("init", cwd=other).ok().out.strip().split("\n")
    assert out == [f"added: {other / name}" for name in ("CLAUDE.md", "AGENTS.md", "GEMINI.md")]
    assert (other / "CLAUDE.md").read_text().startswith("# Claude\n\n<!-- agentmail:begin")
    assert (other / "GEMINI.md").read_text() == (other / "AGENTS.md").read_text() == text
    # --path writes exactly that file
    target = tmp_path / "notes" / "HINT.md"
    target.parent.mkdir()
    assert am("init", "--path", str(target), cwd=other).ok().out.strip() == f"added: {target}"
    assert "agentmail:begin" in target.read_text()
    assert not (tmp_path / "notes" / "CLAUDE.md").exists()


def test_cleanup_never_touches_mail(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    am("--as", "alice", "send", "bob", "keep me", "x").ok()
    am("--as", "alice", "send", "bob", "keep me too", "y").ok()
    am("--as", "bob", "inbox").ok()
    am("--as", "alice", "send", "bob", "still new", "z").ok()
    box = inbox_of(home, "bob")
    old = time.time() - 10 * 86400
    mail = files(box, "new") + files(box, "cur")
    for path in mail:
        os.utime(path, (old, old))  # old mail is still mail
    stuck = box / "tmp" / "1000000000.M1P1Q1.host,S=5,W=5"
    stuck.write_bytes(b"half")
    os.utime(stuck, (old, old))
    fresh = box / "tmp" / "9999999999.M1P2Q1.host"
    fresh.write_bytes(b"being written")
    stale_lock = box / "dovecot-uidlist.lock"
    stale_lock.write_text("999999999:" + os.uname().nodename)
    # a writer killed between writing its lock temp file and linking it (dotlock.py) leaves this behind
    lock_temp = box / "dovecot-uidlist.lock.999999999.140001.tmp"
    lock_temp.write_text("999999999:" + os.uname().nodename)
    live_temp = box / f"dovecot-uidlist.lock.{os.getpid()}.140002.tmp"  # its owner is alive: keep it
    live_temp.write_text(f"{os.getpid()}:" + os.uname().nodename)
    dry = am("cleanup", "--dry-run").ok().out
    assert f"would remove stuck tmp file {stuck}" in dry and f"would remove stale lock {stale_lock}" in dry
    assert f"would remove stale lock temp file {lock_temp}" in dry
    assert stuck.exists() and stale_lock.exists() and lock_temp.exists()
    out = am("cleanup").ok().out
    assert f"remove stuck tmp file {stuck}" in out
    assert not stuck.exists() and not stale_lock.exists() and not lock_temp.exists()
    assert live_temp.exists()
    assert fresh.exists()  # a delivery in progress is left alone
    assert files(box, "new") + files(box, "cur") == mail
    assert am("cleanup").ok().out.strip() == "nothing to clean up"


def test_demo(am, tmp_path: Path) -> None:
    into = tmp_path / "demo"
    out = am("demo", "--into", str(into)).ok().out
    assert "frontend -> backend" in out and str(into) in out
    boxes = into / "maildirs"
    assert {p.name for p in boxes.iterdir()} == {"frontend", "backend", "database", "human"}
    count = 0
    for path in boxes.rglob("*"):
        if path.is_file() and path.parent.name in ("new", "cur"):
            assert_complete(path)
            count += 1
    assert count >= 10
    assert len(files(boxes / "backend" / ".Receipts")) == 2
    am("demo", "--into", str(into)).fails(73)  # never overwrites a store


def test_usage_errors_are_one_line(am, home: Path) -> None:
    setup_accounts(home, "alice")
    am("no-such-command").fails(64)
    am("--as", "alice", "send").fails(64)
    am("--as", "alice", "inbox", "--limit", "0").fails(64)
    am("--as", "alice", "send", "alice", "t", "b", "--bogus").fails(64)
    assert "Usage" in am("--help").ok().out


def test_hook_also_works_through_click(home: Path) -> None:
    """With the fast path off, `agentmail hook` still speaks the hook protocol (and --help lists it)."""
    setup_accounts(home, "alice")
    payload = json.dumps({"session_id": "s-click", "cwd": str(home), "hook_event_name": "SessionStart"})
    res = run_script(home, "--as", "alice", "hook", "session-start", input=payload,
                     env={"AGENTMAIL_NO_FAST_PATH": "1"}).ok()
    out = json.loads(res.out)
    assert out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "alice@agents.localhost" in out["hookSpecificOutput"]["additionalContext"]
    idle = run_script(home, "--as", "alice", "hook", "prompt", input=payload,
                      env={"AGENTMAIL_NO_FAST_PATH": "1"}).ok()
    assert idle.out == "" and idle.err == ""
    assert "hook" in run_script(home, "--help").ok().out
