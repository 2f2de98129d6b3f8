"""Odd files in a Maildir (issue 8.3): links, FIFOs, sockets, directories, huge files and non-UTF-8 names in new/ and
cur/, and linked Maildir directories. Every command finishes (run as a subprocess with a deadline), exits as it
would without them, never shows what lies outside the store, and leaves them where they are."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent.cleanup import odd_files
from agentmail.agent.mailbox import find, unread
from agentmail.errors import StoreIOError
from agentmail.format.card import key_of
from agentmail.store.maildir import Maildir
from agentmail.store.msgfile import NotAMessage, read_cap, read_head, read_message
from tests.support import oddfiles
from tests.support.cli import Result, run_script
from tests.support.oddfiles import SECRET, plant, secret_message
from tests.support.store import Store, make_store

DEADLINE = 20  # seconds: a FIFO or /dev/zero would hang or fill memory long before


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "home")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    return secret_message(tmp_path / "secret.eml")


def cli(store: Store, *args: str) -> Result:
    result = run_script(store.home, *args, timeout=DEADLINE)
    assert SECRET not in result.out and SECRET not in result.err, result
    return result


def listing_state(store: Store, name: str) -> dict[str, str]:
    """Every entry of new/ and cur/ with what it is, to show nothing odd was moved or removed."""
    out = {}
    for sub in ("new", "cur"):
        for entry in os.scandir(store.box(name) / sub):
            out[entry.path] = "link" if entry.is_symlink() else "dir" if entry.is_dir() else "file"
    return out


# --- the helper every reader goes through ------------------------------------------------------------------------


def test_read_message_refuses_everything_but_a_regular_file(store: Store, secret: Path) -> None:
    made = plant(store.box("alice"), secret)
    cap = read_cap(config.load(str(store.home)).max_message)
    whys = {}
    for kind, path in made.items():
        with pytest.raises(NotAMessage) as info:
            read_message(str(path), cap)
        whys[kind.split("-")[0]] = info.value.why
        with pytest.raises(NotAMessage):
            read_head(str(path), 100, cap)
    assert whys["link"] == whys["zero"] == "a symbolic link"
    assert whys["fifo"] == "a FIFO" and whys["dir"] == "a directory" and whys["socket"] == "a socket or device"
    assert whys["sparse"] == whys["lying"] == f"{oddfiles.SPARSE} bytes, over the {cap}-byte read limit"


def test_read_message_reads_a_file_up_to_the_cap_and_no_further(tmp_path: Path) -> None:
    path = tmp_path / "m"
    path.write_bytes(b"x" * 1000)
    assert read_message(str(path), 1000) == b"x" * 1000
    assert read_head(str(path), 10, 1000) == b"x" * 10
    with pytest.raises(NotAMessage) as info:
        read_message(str(path), 999)
    assert info.value.oversize
    path.write_bytes(b"")
    assert read_message(str(path), 0) == b""
    with pytest.raises(FileNotFoundError):
        read_message(str(tmp_path / "gone"), 1000)  # renamed meanwhile: callers look again, so it passes through


def test_listing_skips_what_is_not_a_regular_file(store: Store, secret: Path) -> None:
    name = store.send("bob", "alice", "real one")
    made = plant(store.box("alice"), secret)
    box = Maildir(str(store.box("alice")))
    listed = {n for _, n in box.entries()}
    assert name in listed
    # the sparse files are regular files: listed, and refused when opened (their size is only known from a stat)
    assert listed - {name} == {made[k].name for k in made if k.startswith(("sparse", "lying"))}


# --- the CLI -----------------------------------------------------------------------------------------------------


def test_inbox_read_and_json_with_odd_files_in_new_and_cur(store: Store, secret: Path) -> None:
    store.send("bob", "alice", "first real postcard", "hello alice")
    plant(store.box("alice"), secret)
    before = listing_state(store, "alice")
    result = cli(store, "--as", "alice", "inbox").ok()
    assert "first real postcard" in result.out and result.err == ""
    assert len(result.out.strip().splitlines()) == 1  # nothing else looks like a postcard
    for args in (("inbox", "--all"), ("inbox", "--all", "--json"), ("log",), ("receipts",)):
        out = cli(store, "--as", "alice", *args).ok()
        assert out.err == "", args
    rows = json.loads(cli(store, "--as", "alice", "inbox", "--all", "--json").ok().out)
    assert [r["title"] for r in rows] == ["first real postcard"]
    shown = cli(store, "--as", "alice", "read", rows[0]["id"]).ok()
    assert "hello alice" in shown.out
    after = listing_state(store, "alice")  # the odd entries are all still there, as they were
    assert {p: k for p, k in after.items() if "oddhost" in p} == {p: k for p, k in before.items() if "oddhost" in p}
    assert secret.read_text().count(SECRET) == 2


def test_read_refuses_an_id_that_only_a_linked_file_would_match(store: Store, secret: Path) -> None:
    plant(store.box("alice"), secret)
    key = key_of(f"<{SECRET.lower()}@agents.localhost>")
    cli(store, "--as", "alice", "read", key[:8]).fails(66)


def test_non_utf8_file_names_are_listed_and_read(store: Store) -> None:
    name = store.send("bob", "alice", "named oddly", "latin-1 name")
    data = (store.box("alice") / "new" / name).read_bytes()
    (store.box("alice") / "new" / name).unlink()
    raw = oddfiles.non_utf8_name(store.box("alice"), data)
    no_id = oddfiles.non_utf8_name(store.box("alice"), b"Subject: no message-id\n\nbody\n", "new", 8)
    out = cli(store, "--as", "alice", "inbox").ok()
    assert "named oddly" in out.out and "no message-id" in out.out and out.err == ""
    rows = json.loads(cli(store, "--as", "alice", "inbox", "--all", "--json").ok().out)
    assert sorted(r["title"] for r in rows) == ["named oddly", "no message-id"]
    for row in rows:
        cli(store, "--as", "alice", "read", row["id"]).ok()
    names = os.listdir(os.fsencode(store.box("alice") / "cur"))
    # read: flagged Seen (and $MDNSent, letter a, for the one that asked for a receipt), the name's bytes kept
    assert sorted(names) == sorted([no_id + b":2,S", raw + b"Sa"])
    folder = os.path.join(os.fsencode(store.box("alice")), b".Odd\xffname")
    Maildir(os.fsdecode(folder)).create(folder_marker=True).deliver(b"Subject: in an odd folder\n\nx\n")
    assert cli(store, "cleanup").ok().out.strip() == "nothing to clean up"  # an odd name alone is no odd file
    assert "named oddly" in cli(store, "--as", "alice", "inbox", "--all").ok().out


@pytest.mark.parametrize("where", ["new", "cur", "folder", "account"])
def test_linked_maildir_directories_are_not_read_through(store: Store, tmp_path: Path, where: str) -> None:
    outside = Maildir(str(tmp_path / "outside")).create()
    outside.deliver(secret_message(tmp_path / "m.eml").read_bytes(), "new")
    outside.deliver(secret_message(tmp_path / "m2.eml", SECRET + "-CUR").read_bytes(), "cur")
    store.send("bob", "alice", "inside postcard")
    alice = store.box("alice")
    if where in ("new", "cur"):
        shutil.rmtree(alice / where)
        (alice / where).symlink_to(Path(outside.path) / where)
    elif where == "folder":
        shutil.rmtree(alice / ".Todo")
        (alice / ".Todo").symlink_to(outside.path)
    else:
        shutil.move(str(alice), str(tmp_path / "alice-real"))
        alice.symlink_to(outside.path)
    linked = str(alice / {"folder": ".Todo", "account": ""}.get(where, where)).rstrip("/")
    broken = {"new": {"inbox", "inbox-all", "read"}, "cur": {"inbox", "inbox-all", "read"},
              "folder": {"todo", "read"}, "account": {"inbox", "inbox-all", "read"}}[where]
    for what, args in (("inbox", ("inbox",)), ("inbox-all", ("inbox", "--all", "--json")),
                       ("todo", ("inbox", "--folder", "Todo", "--all")), ("log", ("log",)), ("read", ("read", "abcd"))):
        result = cli(store, "--as", "alice", *args)
        if what in broken:  # a broken Maildir is an error that says where, never an empty or a foreign one
            result.fails(74)
            assert f"cannot read {linked}: it is a symbolic link, not a directory" in result.err
        else:
            assert result.code in (0, 66), result  # 66: `read abcd` finds no such message
    lines = odd_files(store.cfg)
    assert any(str(alice) in line and "a symbolic link" in line for line in lines), lines
    assert sorted(os.listdir(Path(outside.path) / "new")) and Path(outside.path).is_dir()  # nothing moved out there


# --- library callers ---------------------------------------------------------------------------------------------


def test_unread_and_find_leave_out_odd_files(store: Store, secret: Path) -> None:
    store.send("bob", "alice", "keep me")
    plant(store.box("alice"), secret)
    cfg = store.cfg
    items = unread(cfg, "alice")
    assert [i.title for i in items] == ["keep me"]
    assert find(cfg, "alice", items[0].key[:8]).title == "keep me"


def test_a_message_that_turns_into_a_link_after_listing_is_refused_with_74(store: Store, secret: Path) -> None:
    store.send("bob", "alice", "swapped")
    item = unread(store.cfg, "alice")[0]
    os.unlink(item.path)
    os.symlink(secret, item.path)
    with pytest.raises(StoreIOError) as info:
        item.read_bytes()
    assert info.value.exit_code == 74 and "no longer a message file (a symbolic link)" in str(info.value)


# --- cleanup -----------------------------------------------------------------------------------------------------


def test_cleanup_lists_each_odd_file_once_and_leaves_it(store: Store, secret: Path) -> None:
    store.send("bob", "alice", "real")
    made = plant(store.box("alice"), secret)
    made.update({f"sent-{k}": v for k, v in plant(store.box("bob", "Sent"), secret, ("cur",)).items()})
    raw = oddfiles.non_utf8_name(store.box("carol"), b"Subject: x\n\ny\n")  # a fine message: not listed
    before = listing_state(store, "alice")
    for args in (("cleanup", "--dry-run"), ("cleanup",)):
        result = cli(store, *args).ok()
        lines = [line for line in result.out.splitlines() if "odd file" in line]
        assert len(lines) == len(made), result.out
        for path in made.values():
            assert sum(f" {path} alone (" in line for line in lines) == 1, path
        assert all(line.startswith("would " if args[-1] == "--dry-run" else "leave") for line in lines)
    assert listing_state(store, "alice") == before  # cleanup never touches new/ or cur/
    assert raw in os.listdir(os.fsencode(store.box("carol") / "cur"))


def test_cleanup_does_not_clean_tmp_through_a_linked_maildir(store: Store, tmp_path: Path) -> None:
    outside = Maildir(str(tmp_path / "outside")).create()
    old = Path(outside.path) / "tmp" / "precious"
    old.write_text("not ours")
    os.utime(old, (1_000_000, 1_000_000))  # far older than the 36 hours after which a tmp file is stuck
    alice = store.box("alice")
    shutil.move(str(alice), str(tmp_path / "alice-real"))
    alice.symlink_to(outside.path)
    result = cli(store, "cleanup").ok()
    assert old.exists() and "remove stuck tmp file" not in result.out
    assert f"leave odd file {alice} alone (a symbolic link)" in result.out


@pytest.mark.parametrize("where", ["account", "tmp", "new", "folder"])
def test_nothing_is_delivered_through_a_linked_maildir(store: Store, tmp_path: Path, where: str) -> None:
    """A linked Maildir, tmp/, new/ or `.Sent` could lead out of the store: sending refuses it (74) and writes nothing
    there; the other recipients' copies are not published either (staging fails before anything is visible)."""
    outside = Maildir(str(tmp_path / "outside")).create()
    before = {sub: sorted(os.listdir(Path(outside.path) / sub)) for sub in ("tmp", "new", "cur")}
    box = store.box("alice") if where != "folder" else store.box("bob") / ".Sent"
    if where in ("tmp", "new"):
        shutil.rmtree(box / where)
        (box / where).symlink_to(Path(outside.path) / where)
    else:
        shutil.move(str(box), str(tmp_path / "real"))
        box.symlink_to(outside.path)
    result = cli(store, "--as", "bob", "send", "alice,carol", "through a link", "body")
    result.fails(74)
    assert "it is a symbolic link, not a directory" in result.err and "nothing was delivered" in result.err, result
    assert {sub: sorted(os.listdir(Path(outside.path) / sub)) for sub in ("tmp", "new", "cur")} == before
    assert store.find("carol", "through a link") == []
