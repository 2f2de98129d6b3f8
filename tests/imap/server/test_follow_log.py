"""The Maildir cache follows the folder's change log (agentmail/imap/maildir/follow.py): an agent's hook moving a
postcard new/ -> cur/ under the human's selected Agents/<name>/INBOX costs the logged names, not a listing of cur/;
a log that lies or is incomplete (another program changed cur/ too, a torn or damaged line, a new generation, a
line naming a file that is still there) sends the cache back to the listing, with the right answer.

A live server in this process (its backend's counters can be read), real Maildirs, mail delivered and announced
with the library functions the CLI and the hooks call; every answer checked through the IMAP replies, against a
cache built from nothing over the same files.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from imapclient import IMAPClient

from agentmail.agent.mailbox import announce, set_flags, unread
from agentmail.imap.maildir.mailcache import MailboxCache
from agentmail.imap.protocol.errors import ImapNo
from agentmail.store import changelog
from agentmail.store.maildir import Maildir
from tests.imap.server.conftest import Live
from tests.imap.server.test_incremental import BIG, backend_of, fill, listings

VIEW = "Agents/bob/INBOX"


def truth(box: Path) -> dict[int, frozenset[str]]:
    """UID -> flags of the Maildir as a cache built from nothing sees it."""
    state = MailboxCache(str(box), 1 << 30).refresh()
    return dict(state.messages.uid_flags())  # type: ignore[attr-defined]


def seen_by(c: IMAPClient) -> dict[int, frozenset[str]]:
    got = c.fetch(c.search(), ["FLAGS"])
    return {uid: frozenset(f.decode() for f in v[b"FLAGS"]) - {"\\Recent"} for uid, v in got.items()}


def watch(live: Live) -> IMAPClient:
    """bob's INBOX with BIG old postcards, the human watching it (settled: nothing dirty)."""
    fill(live.store.box("bob"), BIG)
    c = live.client("human")
    assert c.select_folder(VIEW, readonly=True)[b"EXISTS"] == BIG
    return c


def hook(live: Live) -> None:
    """What an agent's prompt hook does: announce bob's unread mail (new/ -> cur/, logged)."""
    announce(unread(live.store.cfg, "bob"))


def follows(live: Live) -> int:
    return backend_of(live).follows("human", VIEW)


def log(live: Live) -> Path:
    return Path(changelog.log_path(live.store.cfg, "bob", "INBOX"))


def test_the_hooks_move_is_followed_through_the_log(live: Live) -> None:
    c = watch(live)
    box = live.store.box("bob")
    hook(live)  # the first look of the unread cache lists cur/ once and logs its marker: followed too
    assert c.noop()[1] == []
    before = listings(live, "human", VIEW)
    for n in range(1, 4):
        live.store.send("alice", "bob", f"fresh {n}")
        got = c.noop()[1]
        assert (BIG + n, b"EXISTS") in got, got
        hook(live)
        got = c.noop()[1]
        assert not any(item[1] == b"EXPUNGE" for item in got), got
        assert seen_by(c) == truth(box)
        assert sorted(os.listdir(box / "new")) == []
    live.store.send("alice", "bob", "read me")
    hook(live)
    set_flags(unread(live.store.cfg, "bob")[0], add="S")  # `agentmail read`: the Seen flag, logged too
    c.noop()
    assert seen_by(c) == truth(box)
    after = listings(live, "human", VIEW)
    assert after["cur"] == before["cur"] and after["full"] == before["full"] == 1, (before, after)
    assert follows(live) >= 5
    assert c.search(["UNSEEN"]) == sorted(u for u, f in truth(box).items() if "\\Seen" not in f)


def test_the_agents_own_session_follows_too(live: Live) -> None:
    fill(live.store.box("bob"), BIG)
    c = live.client("bob")
    c.select_folder("INBOX", readonly=True)
    hook(live)
    live.store.send("alice", "bob", "fresh")
    hook(live)
    got = c.noop()[1]
    assert (BIG + 1, b"EXISTS") in got
    assert seen_by(c) == truth(live.store.box("bob"))
    assert listings(live, "bob")["cur"] == 0 and backend_of(live).follows("bob", "INBOX") >= 1


def cur_listed(live: Live, before: dict[str, int]) -> bool:
    return listings(live, "human", VIEW)["cur"] > before["cur"]


def primed(live: Live) -> tuple[IMAPClient, dict[str, int]]:
    """The human watching, one announcement already followed (the log and the cache in step)."""
    c = watch(live)
    hook(live)
    c.noop()
    live.store.send("alice", "bob", "one")
    c.noop()
    return c, listings(live, "human", VIEW)


def foreign_rename(box: Path) -> None:
    """A flag change by another program (mutt, Dovecot): not logged."""
    cur = box / "cur"
    name = next(n for n in sorted(os.listdir(cur)) if n.endswith(":2,"))
    os.rename(cur / name, cur / (name + "F"))


def test_another_programs_rename_before_the_hook_is_listed(live: Live) -> None:
    c, before = primed(live)
    box = live.store.box("bob")
    foreign_rename(box)
    hook(live)
    c.noop()
    assert seen_by(c) == truth(box) and cur_listed(live, before)


def test_another_programs_rename_after_the_hook_is_listed(live: Live) -> None:
    c, before = primed(live)
    box = live.store.box("bob")
    hook(live)
    foreign_rename(box)
    c.noop()
    assert seen_by(c) == truth(box) and cur_listed(live, before)


def test_a_damaged_line_is_listed(live: Live) -> None:
    c, before = primed(live)
    box = live.store.box("bob")
    with open(log(live), "a") as fh:
        fh.write("not a line of the log\n")
    hook(live)
    c.noop()
    assert seen_by(c) == truth(box) and cur_listed(live, before)


def test_a_torn_line_is_listed(live: Live) -> None:
    """A writer killed mid-line: the next writer's line is glued to it (one damaged line, its stamps wrong)."""
    c, before = primed(live)
    box = live.store.box("bob")
    st_new, st_cur = (changelog.stamp(str(box / sub)) for sub in ("new", "cur"))
    with open(log(live), "a") as fh:
        fh.write(f"{st_new} {st_new} {st_cur} 1:")
    hook(live)
    c.noop()
    assert seen_by(c) == truth(box) and cur_listed(live, before)


def test_a_new_generation_is_listed(live: Live) -> None:
    """The log removed (a cleanup, another store's copy): the next writer starts a new generation, our place in
    the old one means nothing."""
    c, before = primed(live)
    box = live.store.box("bob")
    log(live).unlink()
    foreign_rename(box)  # hidden from the new log's first line, which starts from the stamps it finds
    hook(live)
    c.noop()
    assert seen_by(c) == truth(box) and cur_listed(live, before)


def test_a_line_naming_a_file_that_is_still_there_is_listed(live: Live) -> None:
    """A log that lies with the right stamps (a marker set, a removal logged) while the file stays: the names are
    checked against the directory, and cur/ is listed."""
    c, before = primed(live)
    box = live.store.box("bob")
    cur = box / "cur"
    victim = sorted(os.listdir(cur))[0]
    st_new = changelog.stamp(str(box / "new"))
    old = os.lstat(cur)
    marker = changelog.mark(str(cur), old)
    with open(log(live), "a") as fh:
        fh.write(changelog.format_line({"new": st_new, "cur": changelog.stamp_of(old)},
                                       {"new": st_new, "cur": marker}, [("-", "cur", victim)]))
    c.noop()
    assert seen_by(c) == truth(box) and cur_listed(live, before)
    assert len(seen_by(c)) == BIG + 1


def test_a_line_without_a_marker_is_no_change(live: Live) -> None:
    """Names logged for a directory whose stamp the line says did not move: no agentmail change does that."""
    c, before = primed(live)
    box = live.store.box("bob")
    cur = box / "cur"
    name = next(n for n in sorted(os.listdir(cur)) if n.endswith(":2,"))
    st_new, st_cur = (changelog.stamp(str(box / sub)) for sub in ("new", "cur"))
    os.rename(cur / name, cur / (name + "S"))
    now = changelog.stamp(str(cur))
    with open(log(live), "a") as fh:
        fh.write(changelog.format_line({"new": st_new, "cur": st_cur}, {"new": st_new, "cur": st_cur},
                                       [("-", "cur", name), ("+", "cur", name + "S")]))
        fh.write(changelog.format_line({"new": st_new, "cur": st_cur}, {"new": st_new, "cur": now}, []))
    c.noop()
    assert seen_by(c) == truth(box) and cur_listed(live, before)


def test_a_read_write_select_is_logged_for_the_cli(live: Live) -> None:
    """Moving new/ to cur/ at a read-write SELECT is one logged change: `agentmail inbox` follows it (its unread
    cache lists nothing: no marker-only line after ours) and still shows the postcard, now in cur/."""
    box = live.store.box("bob")
    fill(box, BIG)
    unread(live.store.cfg, "bob")  # the unread cache's first look (lists cur/ once)
    names = [live.store.send("alice", "bob", f"fresh {n}") for n in range(3)]
    before = {(i.subdir, i.filename) for i in unread(live.store.cfg, "bob")}
    assert {("new", n) for n in names} <= before
    c = live.client("bob")
    c.select_folder("INBOX")
    assert os.listdir(box / "new") == []
    last = log(live).read_text().splitlines()[-1]
    parsed = changelog.parse_line(last)
    assert parsed is not None
    assert sorted(parsed[2]) == sorted([("+", "cur", n + ":2,") for n in names] + [("-", "new", n) for n in names])
    after = {(i.subdir, i.filename) for i in unread(live.store.cfg, "bob")}
    assert after == before - {("new", n) for n in names} | {("cur", n + ":2,") for n in names}
    assert log(live).read_text().splitlines()[-1] == last  # followed: no listing of cur/, so no marker logged
    assert seen_by(c) == truth(box)


def test_a_line_naming_a_path_through_a_link_is_listed_and_nothing_outside_is_served(live: Live,
                                                                                      tmp_path: Path) -> None:
    """A logged name with a `/` (here: a known message's base, then a link in cur/ to a directory elsewhere) is a
    damaged line: the cache lists cur/ and serves the message from its own file, never the file behind the link."""
    c, before = primed(live)
    box = live.store.box("bob")
    cur = box / "cur"
    victim = next(n for n in sorted(os.listdir(cur)) if n.endswith(":2,"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("Subject: not bob's\n\nsomebody else's mail\n")
    base = victim.split(":2,", 1)[0]
    maildir = Maildir(str(box))
    with changelog.Change(maildir, changelog.log_for(maildir)) as change:
        os.symlink(outside, cur / f"{base}:2,S")
        change.add("cur", f"{base}:2,S/secret")
    c.noop()
    assert cur_listed(live, before)
    assert seen_by(c) == truth(box)
    bodies = c.fetch(c.search(), ["BODY.PEEK[]"])
    assert not any(b"somebody else's mail" in v[b"BODY[]"] for v in bodies.values())
    (line,) = [text for text in log(live).read_text().splitlines() if "/secret" in text]
    assert changelog.parse_line(line + "\n") is None


def test_a_store_is_logged_for_the_cli(live: Live) -> None:
    """A flag changed over IMAP (STORE, or a FETCH of BODY[] setting \\Seen) is a logged rename: `agentmail inbox`
    follows it without listing cur/ (no marker-only line after ours) and no longer shows the postcard unread."""
    box = live.store.box("bob")
    fill(box, BIG)
    names = [live.store.send("alice", "bob", f"fresh {n}") for n in range(3)]
    c = live.client("bob")
    c.select_folder("INBOX")  # new/ -> cur/, logged
    before = {(i.subdir, i.filename) for i in unread(live.store.cfg, "bob")}  # the unread cache caught up
    assert {("cur", n + ":2,") for n in names} <= before
    uids = c.search(["UNSEEN"])[-3:]
    assert uids == [BIG + 1, BIG + 2, BIG + 3]
    c.add_flags(uids[:1], [b"\\Seen"])
    c.fetch(uids[1:2], ["BODY[]"])  # sets \Seen too (RFC 3501 6.4.5)
    lines = log(live).read_text().splitlines()[-2:]
    for line, name in zip(lines, names[:2], strict=True):
        parsed = changelog.parse_line(line)
        assert parsed is not None
        assert sorted(parsed[2]) == [("+", "cur", name + ":2,S"), ("-", "cur", name + ":2,")]
    after = {(i.subdir, i.filename) for i in unread(live.store.cfg, "bob")}
    assert after == before - {("cur", n + ":2,") for n in names[:2]}
    assert log(live).read_text().splitlines()[-2:] == lines  # followed: no listing of cur/, so no marker logged
    assert seen_by(c) == truth(box)


def test_a_bulk_store_is_one_line_per_batch(live: Live) -> None:
    """STORE changes 64 messages per backend call (selected.BATCH): 200 renames are 4 logged lines, followed by the
    unread cache without a listing."""
    box = live.store.box("bob")
    fill(box, BIG)
    c = live.client("bob")
    c.select_folder("INBOX")
    unread(live.store.cfg, "bob")
    lines = len(log(live).read_text().splitlines())
    c.add_flags(list(range(1, 201)), [b"\\Flagged"], silent=True)
    new = log(live).read_text().splitlines()[lines:]
    assert len(new) == 4
    renamed = [op for line in new for op in (changelog.parse_line(line) or ({}, {}, []))[2]]
    assert len(renamed) == 2 * 200
    assert all("F" in name.rpartition(":2,")[2] for sign, _, name in renamed if sign == "+")
    unread(live.store.cfg, "bob")
    assert len(log(live).read_text().splitlines()) == lines + 4  # followed: no marker-only line
    assert seen_by(c) == truth(box)


def test_a_fetch_of_unseen_bodies_is_one_line_per_batch(live: Live) -> None:
    box = live.store.box("bob")
    names = [live.store.send("alice", "bob", f"fresh {n}") for n in range(3)]
    c = live.client("bob")
    c.select_folder("INBOX")
    lines = len(log(live).read_text().splitlines())
    got = c.fetch([1, 2, 3], ["BODY[]"])  # sets \Seen on all three (RFC 3501 6.4.5)
    assert all(b"\\Seen" in v[b"FLAGS"] for v in got.values())
    new = log(live).read_text().splitlines()[lines:]
    assert len(new) == 1
    parsed = changelog.parse_line(new[0])
    assert parsed is not None
    assert sorted(parsed[2]) == sorted([("+", "cur", n + ":2,S") for n in names] + [("-", "cur", n + ":2,")
                                                                                    for n in names])
    assert seen_by(c) == truth(box)


def test_a_store_while_the_log_is_locked_goes_ahead_unlogged(live: Live) -> None:
    """Another process holding the folder's log (a relisting `agentmail inbox`): the STORE does not wait for it
    (backend.LOG_WAIT), its change is unlogged, and the CLI's cache finds it by listing."""
    box = live.store.box("bob")
    fill(box, 20)
    c = live.client("bob")
    c.select_folder("INBOX")
    before = {(i.subdir, i.filename) for i in unread(live.store.cfg, "bob")}
    lines = log(live).read_text().splitlines()
    fd = os.open(log(live), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        uid = c.search(["UNSEEN"])[0]
        c.add_flags([uid], [b"\\Seen"])
    finally:
        os.close(fd)
    assert log(live).read_text().splitlines()[:len(lines)] == lines
    assert not any((changelog.parse_line(line) or ({}, {}, []))[2]
                   for line in log(live).read_text().splitlines()[len(lines):])  # no names: at most a marker
    after = {(i.subdir, i.filename) for i in unread(live.store.cfg, "bob")}
    assert len(after) == len(before) - 1
    assert seen_by(c) == truth(box)


def test_a_store_into_a_folder_gone_meanwhile_fails(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename fails and the fresh look finds the folder gone (or turned odd) rather than the message: the STORE
    fails with that error, instead of leaving the message out as if it were expunged."""
    from agentmail.errors import AgentmailError
    from agentmail.imap.maildir.backend import MaildirBackend

    fill(live.store.box("bob"), 3)
    backend = backend_of(live)
    backend.state("bob", "INBOX")
    entry = MaildirBackend._entry

    def gone(self: MaildirBackend, cache: MailboxCache, uid: int, fresh: bool = False) -> object:
        if fresh:
            raise ImapNo("Mailbox doesn't exist", "NONEXISTENT")
        return entry(self, cache, uid, fresh)

    def renamed_away(*_: object) -> str:
        raise AgentmailError("no such message file")

    monkeypatch.setattr(MaildirBackend, "_entry", gone)
    monkeypatch.setattr(Maildir, "set_flags", renamed_away)
    with pytest.raises(ImapNo) as err:
        backend.store_flags("bob", "INBOX", [(1, frozenset({"\\Flagged"}))])
    assert err.value.code is not None and err.value.code.name == "NONEXISTENT"
