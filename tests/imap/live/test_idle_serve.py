"""The real `agentmail serve`: IMAP port in run/serve.json, IDLE pushes a postcard sent with the CLI,
and the UID our server gives is the one delivery recorded in dovecot-uidlist."""

from __future__ import annotations

import subprocess
import time

from imapclient import IMAPClient

from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.support.servers import Serve
from tests.support.store import AGENTMAIL, Store, env_for


def test_idle_receives_a_postcard_sent_with_the_cli(store: Store, serve: Serve) -> None:
    port = serve.info["imap_port"]
    assert isinstance(port, int) and port > 0
    c = IMAPClient("127.0.0.1", port, ssl=False, timeout=30)
    c.login("bob@agents.localhost", store.passwords["bob"])
    c.select_folder("INBOX")
    c.idle()
    subprocess.run([AGENTMAIL, "--as", "alice", "send", "bob", "Ping from the CLI", "are you there?"],
                   env=env_for(store.home), check=True, capture_output=True)
    sent = time.monotonic()
    responses = c.idle_check(timeout=3)
    elapsed = time.monotonic() - sent
    c.idle_done()
    assert (1, b"EXISTS") in responses, responses
    assert elapsed < 1.0, elapsed
    recorded = uidlist.read(Maildir(str(store.box("bob"))))
    assert recorded is not None
    uid = recorded.records[-1][0]
    assert c.search() == [uid]  # imapclient uses UIDs
    assert c.fetch([uid], ["ENVELOPE"])[uid][b"ENVELOPE"].subject == b"Ping from the CLI"
    # while selected read-write, the postcard was moved out of new/ (as Dovecot does)
    assert store.names("bob", sub="new") == []
    c.logout()
