"""A real full disk for the tests: a tiny tmpfs (root only), filled up to a chosen number of free bytes.

A monkeypatched ENOSPC tests what the test author imagined; a real one also fails the writes nobody thought of (the
uidlist, the lock file, the log).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.tools import missing, need

PAGE = 4096


@contextmanager
def tiny_tmpfs(mnt: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `mnt` (created) for the duration; needs root (skip, or fail in CI)."""
    if os.geteuid() != 0:
        missing("mounting a tmpfs needs root")
    tools = need("mount", "umount")
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run([tools["mount"], "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run([tools["umount"], str(mnt)], check=True)


def free_bytes(mnt: Path) -> int:
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


def fill(mnt: Path, leave: int = 0) -> Path:
    """Fill the file system with `mnt/filler` until at most `leave` bytes (a multiple of 4096) are free; the filler's
    path (unlink it to give the space back)."""
    filler = mnt / "filler"
    with open(filler, "ab") as fh:
        while free_bytes(mnt) > leave:
            try:
                fh.write(b"\0" * PAGE)
                fh.flush()
            except OSError:
                break
    assert free_bytes(mnt) <= leave, f"{free_bytes(mnt)} bytes still free on {mnt}"
    return filler


def tree(home: Path, skip: tuple[str, ...] = ("run", "cache")) -> dict[str, str]:
    """Every path under `home` (but the top-level `skip` directories) with a hash of its content; directories too."""
    out: dict[str, str] = {}
    for root, dirs, files in os.walk(home):
        rel_root = os.path.relpath(root, home)
        if rel_root == ".":
            dirs[:] = [d for d in dirs if d not in skip]
        for d in dirs:
            out[os.path.normpath(os.path.join(rel_root, d)) + "/"] = "dir"
        for f in files:
            out[os.path.normpath(os.path.join(rel_root, f))] = hashlib.sha256(Path(root, f).read_bytes()).hexdigest()
    return out


def no_partial_files(home: Path) -> None:
    """Nothing left in any tmp/, and every message file in new/ or cur/ has the size its name records (,S=)."""
    for root, _dirs, names in os.walk(home):
        if os.path.basename(root) in ("new", "cur", "tmp"):
            for name in names:
                path = Path(root, name)
                assert os.path.basename(root) != "tmp", f"left in tmp/: {path}"
                assert f",S={path.stat().st_size}," in name, f"partial file {path}"
