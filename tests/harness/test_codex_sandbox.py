"""agentmail inside Codex's real `workspace-write` sandbox (`codex sandbox`, the bubblewrap Codex runs its model's
shell commands in, offline): the store outside the writable roots is read-only, `agentmail send` exits 73 with one
line, and `agentmail doctor` says so and prints the writable_roots line; with exactly that line added to
config.toml, doctor is content and the same `agentmail send` delivers. (The MCP server needs none of this: Codex
starts it outside the sandbox; tests/harness/test_codex_session.py.)

pytest's temporary directories are under /tmp, which Codex's workspace-write lets commands write by default; the
config excludes it (`exclude_slash_tmp`, `exclude_tmpdir_env_var`), as for a store in a home directory.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import checkout, offline
from tests.support.store import AGENTMAIL, BIN_DIR, Store, make_store
from tests.support.tools import missing, need

TABLE = "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    need("codex")
    if offline.prefix() is None:
        missing("a network namespace (unshare -n)")
    return make_store(tmp_path / "store")


def sandboxed(tmp_path: Path, store: Store, *args: str, body: str | None = None,
              config: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`agentmail ARGS` as a command Codex's model runs under workspace-write (and the `-c` settings `config`), its
    workspace tmp_path/work."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (tmp_path / "home").mkdir(exist_ok=True)
    env = {"HOME": str(tmp_path / "home"), "CODEX_HOME": str(tmp_path / "codex"), "PATH": f"{BIN_DIR}:/usr/bin:/bin",
           "LANG": "C.UTF-8", "AGENTMAIL_HOME": str(store.home), "PYTHONPATH": checkout.pythonpath(None)}
    settings = [a for setting in ('sandbox_mode="workspace-write"', *config) for a in ("-c", setting)]
    argv = ["codex", "sandbox", *settings, "--", AGENTMAIL, *args]
    return subprocess.run([*offline.command(tmp_path / "requests.jsonl", argv)], env=env, cwd=work, input=body,
                          capture_output=True, text=True, timeout=120)


def test_doctor_prints_the_line_that_makes_the_store_writable(tmp_path: Path, store: Store) -> None:
    (tmp_path / "codex").mkdir()
    config = tmp_path / "codex" / "config.toml"
    config.write_text('check_for_update_on_startup = false\n\n' + TABLE)

    send = sandboxed(tmp_path, store, "--as", "alice", "send", "bob", "from the sandbox", "-", body="hello")
    assert send.returncode == 73, send
    assert send.stdout == "" and "agentmail: cannot write " in send.stderr and "Read-only file system" in send.stderr
    assert store.files("bob") == []

    doctor = sandboxed(tmp_path, store, "--as", "alice", "doctor")
    assert doctor.returncode == 73, doctor
    out = doctor.stdout.splitlines()
    assert out[0] == "harness   Codex"
    assert out[1] == f"store     {store.home}: cannot write here (Read-only file system): send, read and inbox " \
                     "cannot record anything"
    assert out[2] == f"          Codex's sandbox keeps it read-only. Add to {config}:"
    line = out[3].strip()  # the table is there already: only the line
    assert line == f'writable_roots = ["{store.home}"]', out
    assert f"start Codex with --add-dir {store.home}" in out[4]
    assert "identity  alice@agents.localhost" in out
    assert doctor.stderr.endswith(f"agentmail: doctor: this process cannot write the store at {store.home}\n")

    config.write_text(config.read_text() + line + "\n")  # what the user does with it
    again = sandboxed(tmp_path, store, "--as", "alice", "doctor")
    assert again.returncode == 0, again
    assert f"store     {store.home}: writable" in again.stdout
    send = sandboxed(tmp_path, store, "--as", "alice", "send", "bob", "from the sandbox", "-", body="hello")
    assert send.returncode == 0, send
    assert re.fullmatch(r"sent [0-9a-f]{8} to bob\n", send.stdout)
    assert len(store.find("bob", "from the sandbox")) == 1


def test_doctor_without_the_table_prints_it_too(tmp_path: Path, store: Store) -> None:
    """No config.toml at all (and /tmp excluded on the command line): the table header comes with the line."""
    (tmp_path / "codex").mkdir()
    (tmp_path / "codex" / "config.toml").write_text(TABLE.replace("[sandbox_workspace_write]\n", "")
                                                    .replace("exclude", "# exclude"))
    doctor = sandboxed(tmp_path, store, "--as", "alice", "doctor", config=(
        "sandbox_workspace_write.exclude_slash_tmp=true", "sandbox_workspace_write.exclude_tmpdir_env_var=true"))
    assert doctor.returncode == 73, doctor
    out = [line.strip() for line in doctor.stdout.splitlines()]
    assert out[3:5] == ["[sandbox_workspace_write]", f'writable_roots = ["{store.home}"]'], out
