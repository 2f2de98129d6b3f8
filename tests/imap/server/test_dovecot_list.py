"""LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and SPECIAL-USE (RFC 6154) answered as Dovecot 2.3 answers on
the same tree (Sent and Archive configured as \\Sent and \\Archive there, "/" as separator): the same LIST and
STATUS lines, attribute by attribute, for every selection and return option. Dovecot lists mailboxes in its own
order, so each answer is compared as a set of entries (a LIST line with the STATUS line after it)."""

from __future__ import annotations

import pytest

from tests.imap.server.conftest import Live
from tests.imap.server.test_sort_thread import Raw
from tests.support.dovecot import Dovecot, need_dovecot

NAMESPACE = """namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
"""

QUERIES = [
    'LIST "" "*"', 'LIST "" "%"', 'LIST "" "Projects/%"', 'LIST "A/" "%"', 'LIST "" "*" RETURN ()',
    'LIST "" "*" RETURN (CHILDREN)', 'LIST "" "*" RETURN (SPECIAL-USE)', 'LIST "" "*" RETURN (SUBSCRIBED)',
    'LIST "" "*" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE)', 'LIST (SPECIAL-USE) "" "*"',
    'LIST (SPECIAL-USE) "" "*" RETURN (CHILDREN)', 'LIST (SUBSCRIBED) "" "*"',
    'LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN)', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
    'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*" RETURN (CHILDREN)', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "A"',
    'LIST "" ("INBOX" "Sent" "A/*")', 'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))',
    'LIST "" "*" RETURN (STATUS (SIZE UIDNEXT MESSAGES UIDVALIDITY RECENT UNSEEN))',
    'LIST "" "%" RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES))', 'LIST (SUBSCRIBED) "" "*" RETURN (STATUS (UNSEEN))',
    'LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES))', 'LIST "" "nosuch" RETURN (STATUS (MESSAGES))',
    'LSUB "" "*"', 'LSUB "" "%"', 'STATUS INBOX (UNSEEN MESSAGES MESSAGES SIZE)',
]


def entries(reply: bytes) -> set[bytes]:
    """The untagged lines, each STATUS line joined to the LIST line before it."""
    out: list[bytes] = []
    for line in reply.split(b"\r\n")[:-2]:
        if line.startswith(b"* STATUS") and out and out[-1].startswith(b"* LIST"):
            out[-1] += b" + " + line
        else:
            out.append(line)
    return set(out)


@pytest.mark.parametrize("user", ["bob"])
def test_list_like_dovecot(live: Live, user: str) -> None:
    need_dovecot()
    store = live.store
    store.send("alice", user, "one")
    store.send("carol", user, "two")
    ours = Raw(live.port)
    ours.cmd("a", f"LOGIN {user} {store.passwords[user]}")
    for n, command in enumerate(["CREATE Projects/Caf&AOk-", "CREATE Projects/Old", "CREATE A", "CREATE A/B",
                                 "SUBSCRIBE Projects/Caf&AOk-", "SUBSCRIBE Projects/Old", "SUBSCRIBE A/B",
                                 "DELETE Projects/Old", "LSUB \"\" \"*\"", "STATUS Sent (MESSAGES)"]):
        assert b" OK " in ours.cmd(f"s{n}", command), command
    for n, query in enumerate(QUERIES):  # every folder numbered before Dovecot gets the tree
        ours.cmd(f"w{n}", query)
    dove = Dovecot(store.home)
    dove.conf.write_text(dove.conf.read_text().replace("mail_location", NAMESPACE + "mail_location", 1))
    dove.start()
    try:
        theirs = Raw(dove.port)
        theirs.cmd("a", f"LOGIN {user} {store.passwords[user]}")
        differ = []
        for n, query in enumerate(QUERIES):
            mine, dovecots = entries(ours.cmd(f"q{n}", query)), entries(theirs.cmd(f"q{n}", query))
            if mine != dovecots:
                differ.append(f"{query}\n  only Dovecot: {sorted(dovecots - mine)}\n"
                              f"  only ours: {sorted(mine - dovecots)}")
        assert not differ, "\n".join(differ)
    finally:
        dove.stop()
