"""End to end, as three Claude Code sessions would live it: register, ask, get told, reply, read, see the receipt."""

from __future__ import annotations

import json
import re

from tests.hooks.hookkit import Store


def test_three_sessions_ask_answer_and_see_the_receipt(store: Store) -> None:
    frontend = store.claude(stable="frontend")
    backend = store.claude(stable="backend")
    database = store.claude(stable="database")
    for session in (frontend, backend, database):
        assert session.hook("session-start").rc == 0
    # the last one to start sees the other two
    intro = database.hook("session-start", source="resume").context("SessionStart")
    assert intro.startswith("agentmail: you are database@agents.localhost.") and "Peers: backend, frontend." in intro

    # frontend asks, through its Bash tool (claude -> sh -> agentmail): identity from the process chain
    sent = frontend.agentmail("send", "backend", "Which port does the API listen on?", "-",
                              input="I need it for the dev proxy.\nThanks!\n")
    assert sent.rc == 0, sent
    match = re.fullmatch(r"sent ([0-9a-f]{8}) to backend\n", sent.stdout.decode())
    assert match, sent.stdout
    qid = match.group(1)

    # nothing for the others; the backend's next prompt announces the question, once
    assert frontend.hook("prompt").stdout == b"" and database.hook("prompt").stdout == b""
    lines = backend.hook("prompt").context("UserPromptSubmit").split("\n")
    assert lines == ["agentmail: 1 new postcard (agentmail read ID):",
                     f"{qid} frontend: Which port does the API listen on?"]
    assert backend.hook("prompt").stdout == b""

    # backend reads it (a receipt goes back) and replies in the thread
    shown = backend.agentmail("read", qid)
    assert shown.rc == 0 and b"I need it for the dev proxy." in shown.stdout
    replied = backend.agentmail("reply", qid, "-", input="8080, and 8443 for TLS.\n")
    assert replied.rc == 0 and replied.stdout.decode().endswith(" to frontend\n"), replied
    rid = replied.stdout.decode().split()[1]

    # the receipt is filed in frontend's .Receipts, not announced; the reply is announced
    assert len(store.maildir("frontend", ".Receipts/new") + store.maildir("frontend", ".Receipts/cur")) == 1
    context = frontend.hook("prompt").context("UserPromptSubmit")
    assert context.split("\n")[1:] == [f"{rid} backend: Re: Which port does the API listen on?"]

    # frontend's log shows the question, read by backend (the thread's reply lives in backend's log)
    log = frontend.agentmail("log")
    assert log.rc == 0
    (row,) = [line for line in log.stdout.decode().splitlines() if line.startswith(qid)]
    assert "to backend: Which port does the API listen on?" in row and "read by backend" in row
    data = json.loads(frontend.agentmail("log", "--json").stdout)
    (entry,) = [e for e in data if e["id"] == qid]
    assert [r["reader"] for r in entry["receipts"]] == ["backend"]
    back = json.loads(backend.agentmail("log", "--json").stdout)
    (answer,) = [e for e in back if e["id"] == rid]
    assert answer["in_reply_to_id"] == qid

    # everyone leaves; the mail stays
    for session in (frontend, backend, database):
        assert session.hook("session-end").stdout == b""
    assert all(store.presence(n)["online"] is False for n in ("frontend", "backend", "database"))
    assert store.maildir("frontend", "cur") and store.maildir("backend", "cur")
