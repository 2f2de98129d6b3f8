"""`agentmail doctor`: the store writable by this process, an identity, and what to change when not. The Codex
sandbox case, with the real `codex sandbox` and the writable_roots line, is in tests/harness/test_codex_sandbox.py;
here a store on a real read-only mount, a store that cannot be created, and Codex configs read as Codex reads them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agentmail.agent.doctor import codex_fix, codex_store_covered
from tests.support import disk
from tests.support.cli import run_script


def test_all_well(script, accounts, home: Path) -> None:  # type: ignore[no-untyped-def]
    accounts("alice")
    result = script("--as", "alice", "doctor").ok()
    assert result.out.splitlines() == ["harness   none seen (a plain shell)", f"store     {home}: writable",
                                       "identity  alice@agents.localhost"]
    data = json.loads(script("--as", "alice", "doctor", "--json").ok().out)
    assert data == {"harness": None, "ok": True,
                    "store": {"path": str(home), "exists": True, "writable": True, "error": None},
                    "identity": {"name": "alice", "address": "alice@agents.localhost"}}
    assert sorted(p.name for p in home.iterdir() if "probe" in p.name) == []  # the probe file is gone


def test_no_identity_is_78_with_the_way_to_get_one(script, home: Path) -> None:  # type: ignore[no-untyped-def]
    result = script("doctor").fails(78)
    assert result.err == "agentmail: doctor: this process has no agentmail identity\n"
    assert "identity  none: no agentmail identity for this process: run `agentmail register [NAME]`" in result.out
    assert f"store     {home}: writable (not created yet)" in result.out
    assert not home.exists()  # doctor creates nothing


def test_unknown_as_is_67(script, accounts) -> None:  # type: ignore[no-untyped-def]
    accounts("alice")
    result = script("--as", "alcie", "doctor").fails(67)
    assert "identity  none: no such account: alcie" in result.out


def test_a_store_that_cannot_be_created_is_73(tmp_path: Path) -> None:
    home = Path("/proc/1/agentmail-store")  # a directory where nothing can be created, whoever runs the test
    result = run_script(home, "--as", "alice", "doctor")
    assert result.code == 73, result
    assert result.err == f"agentmail: doctor: this process cannot write the store at {home}\n"
    assert f"store     {home}: cannot write here (" in result.out
    assert "make it writable for this process, or point AGENTMAIL_HOME at a store that is" in result.out


def test_a_store_on_a_read_only_mount_is_73_and_nothing_is_written(tmp_path: Path) -> None:
    with disk.tiny_tmpfs(tmp_path / "mnt", "1m") as mnt:
        home = mnt / "store"
        run_script(home, "register", "alice").ok()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        try:
            result = run_script(home, "--as", "alice", "doctor")
            assert result.code == 73, result
            assert f"store     {home}: cannot write here (Read-only file system)" in result.out
            assert "identity  alice@agents.localhost" in result.out  # reading still works
            send = run_script(home, "--as", "alice", "send", "alice", "hi", "x")
            assert send.code == 73 and "Read-only file system" in send.err
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)


# --- Codex's config, as Codex reads it ($CODEX_HOME/config.toml) -------------------------------------------------


def codex_env(tmp_path: Path, config: str | None) -> dict[str, str]:
    codex_home = tmp_path / "codex"
    codex_home.mkdir(exist_ok=True)
    if config is not None:
        (codex_home / "config.toml").write_text(config)
    return {"CODEX_HOME": str(codex_home)}


def test_the_fix_for_a_config_without_the_table(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = codex_env(tmp_path, 'model = "o3"\n')
    assert codex_store_covered(str(store), env) is False
    assert codex_fix(str(store), env) == {"config": f"{tmp_path}/codex/config.toml", "table": True,
                                          "line": f'writable_roots = ["{store}"]', "add_dir": f"--add-dir {store}"}


def test_the_fix_keeps_the_roots_already_there(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = codex_env(tmp_path, '[sandbox_workspace_write]\nwritable_roots = ["/srv/data", "/opt/a \\"b\\""]\n')
    fix = codex_fix(str(store), env)
    assert fix["table"] is False
    assert fix["line"] == f'writable_roots = ["/srv/data", "/opt/a \\"b\\"", "{store}"]'
    import tomllib

    assert tomllib.loads(fix["line"])["writable_roots"] == ["/srv/data", '/opt/a "b"', str(store)]


def test_a_symlinked_store_is_given_by_its_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real-store"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    env = codex_env(tmp_path, None)  # no config.toml at all
    assert codex_fix(str(link), env)["line"] == f'writable_roots = ["{real}"]'
    assert codex_store_covered(str(link), codex_env(tmp_path, f'[sandbox_workspace_write]\nwritable_roots = '
                                                               f'["{real}"]\n')) is True


@pytest.mark.parametrize(("config", "covered"), [
    ('sandbox_mode = "danger-full-access"\n', True),
    ('sandbox_mode = "workspace-write"\n', False),
    ("[sandbox_workspace_write]\nwritable_roots = [\"{parent}\"]\n", True),
    ("[sandbox_workspace_write]\nwritable_roots = [\"{store}-other\"]\n", False),  # a prefix is not a parent
    ("[sandbox_workspace_write]\nwritable_roots = \"{store}\"\n", False),  # not a list: Codex would refuse it
    ("not = [toml\n", None),
])
def test_whether_the_config_covers_the_store(tmp_path: Path, config: str, covered: bool | None) -> None:
    store = tmp_path / "store"
    env = codex_env(tmp_path, config.format(store=store, parent=tmp_path))
    assert codex_store_covered(str(store), env) is covered
