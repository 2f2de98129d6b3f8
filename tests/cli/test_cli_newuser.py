"""What a new user trips over (issue 8): unknown accounts, rebinding a shell, short ids, one JSON shape for people,
format=flowed mail from Thunderbird, broadcast summaries, and `init` at the project root."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from agentmail import config
from tests.support.cli import run_script, snapshot
from tests.support.messages import files, short_id
from tests.support.store import create_accounts

DOMAIN = "agents.localhost"
GOLDEN = Path(__file__).resolve().parents[1] / "format" / "golden"


def setup_accounts(home: Path, *names: str) -> config.Config:
    cfg = config.load(str(home))
    create_accounts(cfg, *names)
    return cfg


# ---------------------------------------------------------------- no such account
def test_no_such_account_through_the_installed_script(home: Path) -> None:
    setup_accounts(home, "alice", "ghosts")
    before = snapshot(home)
    hint = "(did you mean ghosts? else create it with `agentmail register ghost`)"
    for env in ({}, {"AGENTMAIL_NO_FAST_PATH": "1"}):  # the click-free fast path and the click app agree
        for args in (["--as", "ghost", "whoami"], ["--as", "ghost", "inbox"], ["--as", "ghost", "send", "alice", "t"],
                     ["--as", "ghost@agents.localhost", "whoami", "--json"], ["login-info", "ghost"]):
            res = run_script(home, *args, env=env).fails(67)
            assert res.err == f"agentmail: no such account: ghost {hint}\n", args
            assert res.out == ""
    res = run_script(home, "--as", "nobody", "whoami").fails(67)
    assert res.err == "agentmail: no such account: nobody (create it with `agentmail register nobody`)\n"
    res = run_script(home, "login-info", "nobody").fails(67)
    assert res.err == "agentmail: no such account: nobody (create it with `agentmail register nobody`)\n"
    res = run_script(home, "--as", "all", "whoami").fails(67)
    assert res.err == "agentmail: no such account: all (`all` is the broadcast list, not an account)\n"
    # an identity from the environment is configuration: exit 78, with the same hint
    res = run_script(home, "whoami", env={"AGENTMAIL_ADDRESS": "nobody"}).fails(78)
    assert res.err == ("agentmail: AGENTMAIL_ADDRESS names nobody, which is not an account "
                       "(create it with `agentmail register nobody`)\n")
    assert snapshot(home) == before  # nothing was created for the unknown names
    # the hint works as written
    run_script(home, "register", "ghost").ok()
    assert run_script(home, "--as", "ghost", "whoami").ok().out == f"ghost@{DOMAIN}\n"


def test_no_such_account_in_a_fresh_store(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    res = run_script(home, "--as", "frontend", "whoami").fails(67)
    assert res.err == "agentmail: no such account: frontend (create it with `agentmail register frontend`)\n"


# ---------------------------------------------------------------- register rebinds
def test_register_from_one_shell_rebinds_it_and_says_so(home: Path, tmp_path: Path) -> None:
    """`agentmail register` binds the nearest non-shell ancestor (here: this pytest process) to the account."""
    first = run_script(home, "register", "frontend", cwd=tmp_path).ok()
    assert first.out == f"you are frontend@{DOMAIN}\n" and first.err == ""
    second = run_script(home, "register", "backend", cwd=tmp_path).ok()
    assert second.out == f"you are backend@{DOMAIN}\n"
    assert second.err == ("this shell was frontend and is now backend; frontend is offline and keeps its mail "
                          "(act as it with --as frontend)\n")
    assert run_script(home, "whoami", cwd=tmp_path).ok().out == f"backend@{DOMAIN}\n"
    rows = {r["name"]: r for r in json.loads(run_script(home, "directory", "--json").ok().out)}
    assert rows["backend"]["online"] is True and rows["frontend"]["online"] is False
    text = run_script(home, "directory").ok().out
    assert f"backend (agent, online) {tmp_path}\n" in text and f"frontend (agent, offline) {tmp_path}\n" in text
    # frontend keeps its mail and is still reachable with --as
    run_script(home, "send", "frontend", "still there?", "x").ok()
    assert "backend: still there?" in run_script(home, "--as", "frontend", "inbox").ok().out
    # registering the same name again says nothing more; going back says so again
    assert run_script(home, "register", "backend").ok().err == ""
    back = run_script(home, "register", "frontend").ok()
    assert back.err.startswith("this shell was backend and is now frontend; backend is offline")
    rows = {r["name"]: r for r in json.loads(run_script(home, "directory", "--json").ok().out)}
    assert rows["frontend"]["online"] is True and rows["backend"]["online"] is False


def test_register_session_rebind_names_the_session(home: Path) -> None:
    sid = "rebind-0123"
    run_script(home, "register", "alpha", "--session-id", sid).ok()
    res = run_script(home, "register", "beta", "--session-id", sid).ok()
    assert res.err.startswith("this session was alpha and is now beta; alpha is offline")
    assert (home / "sessions" / sid).read_text() == "beta\n"


# ---------------------------------------------------------------- the full short id
def test_read_and_clerk_echo_the_full_short_id(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob")
    sid = short_id(am("--as", "alice", "send", "bob", "first", "1").ok().out)
    shown = json.loads(am("--as", "bob", "read", sid[:4], "--json").ok().out)
    assert shown["id"] == sid and shown["key"].startswith(sid)
    assert f"\nId: {sid}\n" in am("--as", "bob", "read", sid[:5].upper()).ok().out
    # a longer prefix than 8 is kept as typed (it may be what makes the id unambiguous)
    assert json.loads(am("--as", "bob", "read", shown["key"][:11], "--json").ok().out)["id"] == shown["key"][:11]
    other = short_id(am("--as", "alice", "send", "bob", "second", "2").ok().out)
    cards = json.loads(am("--as", "bob", "clerk", "pending", "--json").ok().out)
    assert [c["id"] for c in cards] == [other]
    assert am("--as", "bob", "clerk", "file", f"#{other[:4]}").ok().out == f"filed {other} to Todo\n"


# ---------------------------------------------------------------- one JSON shape for people
def test_every_json_output_gives_short_names_and_bare_addresses(am, home: Path) -> None:
    setup_accounts(home, "backend", "frontend")
    # as a mail client writes it: display names, a quoted comma, a Cc
    message = (
        "From: human <human@agents.localhost>\n"
        'To: "Back, End" <backend@agents.localhost>, frontend@agents.localhost\n'
        "Cc: =?utf-8?q?Fr=C3=B6nt?= <frontend@agents.localhost>\n"
        "Subject: Ship it?\n"
        "Message-ID: <tb-1@agents.localhost>\n"
        "Disposition-Notification-To: human <human@agents.localhost>\n"
        "\n"
        "Can we ship today?\n"
    )
    am("--as", "human", "sendmail", "-t", input=message).ok()
    people = {"from": "human", "from_address": f"human@{DOMAIN}", "to": ["backend", "frontend"],
              "to_addresses": [f"backend@{DOMAIN}", f"frontend@{DOMAIN}"]}
    (row,) = json.loads(am("--as", "backend", "inbox", "--json").ok().out)
    assert {k: row[k] for k in people} == people
    (card,) = json.loads(am("--as", "backend", "clerk", "pending", "--json").ok().out)
    assert {k: card[k] for k in people} == people
    assert card["cc"] == ["frontend"] and card["cc_addresses"] == [f"frontend@{DOMAIN}"]
    shown = json.loads(am("--as", "backend", "read", row["id"], "--json").ok().out)
    assert {k: shown[k] for k in people} == people
    text = am("--as", "frontend", "read", row["id"]).ok().out
    assert text.startswith(f"From: human@{DOMAIN}\nTo: backend@{DOMAIN}, frontend@{DOMAIN}\n"
                           f"Cc: frontend@{DOMAIN}\n")
    # the receipts that came back name the readers the same way
    readers = [("backend", f"backend@{DOMAIN}"), ("frontend", f"frontend@{DOMAIN}")]
    rows = json.loads(am("--as", "human", "receipts", "--json").ok().out)
    assert sorted((r["reader"], r["reader_address"]) for r in rows) == readers
    # and so does the sent log (the human's mail client keeps its own Sent folder; an agent's is the store's)
    sid = short_id(am("--as", "frontend", "send", "backend,human", "Shipped", "v2 is out").ok().out)
    am("--as", "backend", "read", sid).ok()
    (sent,) = json.loads(am("--as", "frontend", "log", "--json").ok().out)
    assert sent["to"] == ["backend", "human"] and sent["to_addresses"] == [f"backend@{DOMAIN}", f"human@{DOMAIN}"]
    assert [(r["reader"], r["reader_address"]) for r in sent["receipts"]] == [readers[0]]


# ---------------------------------------------------------------- format=flowed from Thunderbird
def test_thunderbird_flowed_message_reads_as_written(am, home: Path) -> None:
    setup_accounts(home, "backend")
    data = (GOLDEN / "thunderbird-flowed.eml").read_bytes()
    am("--as", "human", "sendmail", "-t", input=data).ok()
    (stored,) = files(home / "maildirs" / "backend")
    before = stored.read_bytes()
    (row,) = json.loads(am("--as", "backend", "inbox", "--json").ok().out)
    paragraph = ("The avatar column should be nullable text, and the API should return null when there is none "
                 "rather than an empty string, because the frontend treats an empty string as a broken image.")
    quote = ("> Should avatar_url be nullable? The old clients send an empty string when they have no picture and "
             "I do not want to break them.")
    (card,) = json.loads(am("--as", "backend", "clerk", "pending", "--json").ok().out)
    assert paragraph in card["body"].split("\n")
    text = am("--as", "backend", "read", row["id"]).ok().out
    lines = text.split("\n")
    assert paragraph in lines and quote in lines and "-- " in lines
    assert "return \nnull" not in text
    shown = json.loads(am("--as", "backend", "read", row["id"], "--json").ok().out)
    assert shown["body"].endswith(f"{quote}\n\nThanks,\n-- \nThe human at the keyboard\n")
    # the stored message keeps its soft line breaks: display only
    (stored,) = files(home / "maildirs" / "backend")
    assert stored.read_bytes().split(b"\n\n", 1)[1] == before.split(b"\n\n", 1)[1] == data.split(b"\n\n", 1)[1]


# ---------------------------------------------------------------- broadcast summaries
def test_broadcast_to_many_prints_a_count(am, home: Path) -> None:
    many = [f"agent-{i:02d}" for i in range(12)]
    setup_accounts(home, "alice", *many)
    res = am("--as", "alice", "broadcast", "Freeze", "main is frozen").ok()
    assert re.fullmatch(r"sent [0-9a-f]{8} to all: 12 agents\n", res.out)
    # `send all` (the fast path in the script run) says the same
    res = am("--as", "alice", "send", "all", "Thaw", "main is open").ok()
    assert re.fullmatch(r"sent [0-9a-f]{8} to all: 12 agents\n", res.out)
    res = am("--as", "alice", "send", "all,human", "Thaw", "for you too").ok()
    assert re.fullmatch(r"sent [0-9a-f]{8} to all: 13 accounts\n", res.out)
    for name in many:
        assert len(files(home / "maildirs" / name)) == 3
    # a reply to the broadcast goes to everyone in it: counted too
    sid = short_id(res.out.replace("to all:", "to"))
    assert re.fullmatch(r"sent [0-9a-f]{8} to 13 accounts\n", am("--as", "alice", "reply", sid, "again").ok().out)
    # a few names are still listed
    res = am("--as", "alice", "send", ",".join(many[:5]), "five", "x").ok()
    assert res.out.endswith(" to " + ", ".join(many[:5]) + "\n")


def test_broadcast_to_a_few_lists_them(am, home: Path) -> None:
    setup_accounts(home, "alice", "bob", "carol")
    assert re.fullmatch(r"sent [0-9a-f]{8} to all: bob, carol\n",
                        am("--as", "alice", "send", "all", "hi", "x").ok().out)


# ---------------------------------------------------------------- init at the project root
def test_init_root_without_git(am, tmp_path: Path) -> None:
    # a .agentmail file marks the project root
    marked = tmp_path / "marked"
    (marked / "src" / "deep").mkdir(parents=True)
    (marked / ".agentmail").write_text("frontend\n")
    out = am("init", cwd=marked / "src" / "deep").ok().out
    assert out == "".join(f"added: {marked / n}\n" for n in ("CLAUDE.md", "AGENTS.md", "GEMINI.md"))
    # else the nearest directory with a hint file (and its GEMINI.md gets the block too)
    hinted = tmp_path / "hinted"
    (hinted / "pkg").mkdir(parents=True)
    (hinted / "GEMINI.md").write_text("# Gemini\n")
    out = am("init", cwd=hinted / "pkg").ok().out
    assert out == "".join(f"added: {hinted / n}\n" for n in ("CLAUDE.md", "AGENTS.md", "GEMINI.md"))
    assert list((hinted / "pkg").iterdir()) == []
    # else the current directory
    bare = tmp_path / "bare"
    bare.mkdir()
    assert am("init", cwd=bare).ok().out == "".join(f"added: {bare / n}\n" for n in ("CLAUDE.md", "AGENTS.md",
                                                                                       "GEMINI.md"))


def test_init_keeps_text_above_and_below_the_block(am, tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / ".git").mkdir(parents=True)
    claude = project / "CLAUDE.md"
    claude.write_text("# Rules\n\nUse tabs.\n")
    am("init", cwd=project).ok()
    text = claude.read_text()
    assert text.startswith("# Rules\n\nUse tabs.\n\n<!-- agentmail:begin")
    claude.write_text(text.replace("agentmail whoami", "agentmail WHOAMI") + "\n## Later\nMore rules.\n")
    am("init", "--force", cwd=project).ok()
    text = claude.read_text()
    assert text.startswith("# Rules\n\nUse tabs.\n\n<!-- agentmail:begin")
    assert text.endswith("<!-- agentmail:end -->\n## Later\nMore rules.\n") and "WHOAMI" not in text
    assert text.count("agentmail:begin") == 1


def test_init_symlinked_and_importing_hint_files(am, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    (linked / ".git").mkdir(parents=True)
    (linked / "AGENTS.md").write_text("# Agents\n")
    (linked / "CLAUDE.md").symlink_to("AGENTS.md")
    out = am("init", cwd=linked).ok().out
    assert out == (f"added: {linked / 'CLAUDE.md'}\nsame file as {linked / 'CLAUDE.md'}: {linked / 'AGENTS.md'}\n"
                   f"added: {linked / 'GEMINI.md'}\n")
    assert (linked / "CLAUDE.md").is_symlink()
    assert (linked / "AGENTS.md").read_text().count("agentmail:begin") == 1
    importing = tmp_path / "importing"
    (importing / ".git").mkdir(parents=True)
    (importing / "CLAUDE.md").write_text("@AGENTS.md\n")
    out = am("init", cwd=importing).ok().out
    assert out == (f"skipped (it imports AGENTS.md): {importing / 'CLAUDE.md'}\n"
                   f"added: {importing / 'AGENTS.md'}\nadded: {importing / 'GEMINI.md'}\n")
    assert (importing / "CLAUDE.md").read_text() == "@AGENTS.md\n"
    dangling = tmp_path / "dangling"
    (dangling / ".git").mkdir(parents=True)
    (dangling / "AGENTS.md").symlink_to(tmp_path / "nowhere" / "AGENTS.md")
    res = am("init", cwd=dangling).fails(73)
    assert "symlink to a missing file" in res.err
    assert not (dangling / "CLAUDE.md").exists() and not (tmp_path / "nowhere").exists()


def test_init_bad_and_odd_files(am, tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / ".git").mkdir(parents=True)
    agents = project / "AGENTS.md"
    agents.write_bytes(b"# caf\xe9 (latin-1)\n")
    res = am("init", cwd=project).fails(65)
    assert res.err == f"agentmail: {agents} is not UTF-8 text; left as it is\n"
    assert agents.read_bytes() == b"# caf\xe9 (latin-1)\n"
    assert not (project / "CLAUDE.md").exists()  # nothing written when one file is bad
    # CRLF files get a CRLF block; permission bits survive the rewrite
    agents.write_bytes(b"# Agents\r\n")
    agents.chmod(0o640)
    am("init", cwd=project).ok()
    data = agents.read_bytes()
    assert data.startswith(b"# Agents\r\n\r\n<!-- agentmail:begin") and b"\n" not in data.replace(b"\r\n", b"")
    assert stat.S_IMODE(agents.stat().st_mode) == 0o640
    assert am("init", cwd=project).ok().out == (f"unchanged: {project / 'CLAUDE.md'}\n"
                                                 f"unchanged: {agents}\nunchanged: {project / 'GEMINI.md'}\n")
    assert not [p for p in os.listdir(project) if "agentmail" in p]  # no temp file left behind


def test_read_a_message_without_date_shows_no_date_line(home: Path) -> None:
    """Mail from other tools may lack Date (RFC 5322 requires it, not every sender obeys): `read` leaves the line out
    rather than printing `Date: None`, and --json gives null."""
    from agentmail.store.maildir import Maildir

    cfg = setup_accounts(home, "alice", "bob")
    raw = (b"From: alice@agents.localhost\nTo: bob@agents.localhost\nSubject: no date here\n"
           b"Message-ID: <nodate-1@agents.localhost>\n\nbody\n")
    Maildir(cfg.maildir_path("bob")).deliver(raw)
    rows = json.loads(run_script(home, "--as", "bob", "inbox", "--json").ok().out)
    shown = run_script(home, "--as", "bob", "read", rows[0]["id"]).ok().out
    assert "Title: no date here" in shown and "Date" not in shown, shown
    again = json.loads(run_script(home, "--as", "bob", "read", rows[0]["id"], "--json").ok().out)
    assert again["date"] is None
