"""The CLI under test, run two ways, and the fixtures of the tests that drive it (tests/cli, tests/store,
tests/delivery, whose conftest.py files import them): a temp store, accounts, store snapshots.

`am` runs a command line either in-process through click's CliRunner (isolation + `agentmail.cli.app.run`, which
is where errors become exit codes) or through the installed console script `.venv/bin/agentmail` as a
subprocess (which also exercises the click-free fast path of `agentmail.cli.main`). Tests that take `am` run
both ways.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentmail import config
from tests.support import disk
from tests.support.store import AGENTMAIL, IDENTITY_VARS, create_accounts, env_for


@dataclass
class Result:
    code: int
    out: str
    err: str

    def ok(self) -> Result:
        assert self.code == 0, f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"
        return self

    def fails(self, code: int) -> Result:
        assert self.code == code, f"expected exit {code}, got {self.code}\nstdout: {self.out}\nstderr: {self.err}"
        lines = self.err.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("agentmail: "), f"error is not one line: {self.err!r}"
        return self


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    return env_for(home, **{"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", **extra})


def run_script(home: Path, *args: str, input: bytes | str | None = None, cwd: Path | None = None,
               env: dict[str, str] | None = None, timeout: float = 60, prefix: list[str] | None = None) -> Result:
    """The installed console script, as a subprocess with AGENTMAIL_HOME=home."""
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run([*(prefix or []), AGENTMAIL, *args], input=data, capture_output=True,
                          env=clean_env(home, **(env or {})), cwd=cwd or home.parent, timeout=timeout)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def run_runner(home: Path, *args: str, input: bytes | str | None = None, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> Result:
    """click's CliRunner isolation around `agentmail.cli.app.run` (the click application and its error handling)."""
    from agentmail.cli.app import run

    overrides: dict[str, str | None] = {k: None for k in IDENTITY_VARS}
    overrides.update(AGENTMAIL_HOME=str(home))
    overrides.update(env or {})
    old_cwd = os.getcwd()
    os.chdir(cwd or home.parent)
    try:
        with CliRunner().isolation(input=input, env=overrides) as (out, err, _):
            code = run(list(args))
    finally:
        os.chdir(old_cwd)
    return Result(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty AGENTMAIL_HOME (not yet created: the first command creates it)."""
    for var in IDENTITY_VARS:
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "store"
    monkeypatch.setenv("AGENTMAIL_HOME", str(path))
    return path


@pytest.fixture
def cfg(home: Path) -> config.Config:
    return config.load(str(home))


@pytest.fixture
def accounts(cfg: config.Config):
    def make(*names: str) -> config.Config:
        create_accounts(cfg, *names)
        return cfg
    return make


class Runner:
    """`am("--as", "alice", "send", ...)` through one of the two front ends."""

    def __init__(self, kind: str, home: Path) -> None:
        self.kind = kind
        self.home = home

    def __call__(self, *args: str, input: bytes | str | None = None, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> Result:
        if self.kind == "script":
            return run_script(self.home, *args, input=input, cwd=cwd, env=env)
        return run_runner(self.home, *args, input=input, cwd=cwd, env=env)


@pytest.fixture(params=["runner", "script"])
def am(request: pytest.FixtureRequest, home: Path) -> Runner:
    return Runner(request.param, home)


@pytest.fixture
def script(home: Path) -> Runner:
    return Runner("script", home)


# ---------------------------------------------------------------- looking at the store
def maildir_files(box: Path, subdirs: tuple[str, ...] = ("new", "cur")) -> list[Path]:
    return sorted(p for sub in subdirs for p in (box / sub).glob("*") if p.is_file())


def snapshot(home: Path) -> dict[str, str]:
    """Every path under the store with a hash of its content (directories too), minus cache/ and presence noise."""
    out: dict[str, str] = {}
    if not home.exists():
        return out
    for root, dirs, files in os.walk(home):
        rel_root = os.path.relpath(root, home)
        if rel_root == "cache" or rel_root.startswith("cache" + os.sep):
            continue
        for d in dirs:
            out[os.path.normpath(os.path.join(rel_root, d)) + "/"] = "dir"
        for f in files:
            rel = os.path.normpath(os.path.join(rel_root, f))
            data = Path(root, f).read_bytes()
            if rel.startswith("directory" + os.sep) and rel.endswith(".json"):
                info = json.loads(data)
                info.pop("last_seen", None)
                data = json.dumps(info, sort_keys=True).encode()
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only; see tests/support/disk.py)."""
    with disk.tiny_tmpfs(tmp_path / "tiny") as mnt:
        yield mnt
