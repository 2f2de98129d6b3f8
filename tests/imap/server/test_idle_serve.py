"""The real `agentmail serve`: IMAP port in run/serve.json, IDLE pushes a postcard sent with the CLI,
and the UID our server gives is the one delivery recorded in dovecot-uidlist."""

from __future__ import annotations

import subprocess

from imapclient import IMAPClient

from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.support import wait
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
    # Pushed without a command from the client; how soon is bench material, not a test's (a loaded machine)
    seen: list[tuple[int, bytes]] = []

    def pushed() -> bool:
        seen.extend(c.idle_check(timeout=1))
        return (1, b"EXISTS") in seen

    wait.until(pushed, "IDLE pushing * 1 EXISTS")
    c.idle_done()
    recorded = uidlist.read(Maildir(str(store.box("bob"))))
    assert recorded is not None
    uid = recorded.records[-1][0]
    assert c.search() == [uid]  # imapclient uses UIDs
    assert c.fetch([uid], ["ENVELOPE"])[uid][b"ENVELOPE"].subject == b"Ping from the CLI"
    # while selected read-write, the postcard was moved out of new/ (as Dovecot does)
    assert store.names("bob", sub="new") == []
    c.logout()
