"""Odd entries in a Maildir (agentmail/store/msgfile.py): what a reader must skip, and a secret it must never serve.

`plant` puts, in new/ and cur/, things named like messages that are not messages: a symbolic link to a file outside
the store (the secret), a link to /dev/zero, a FIFO, a socket, a directory and 2 GB sparse regular files (one whose
name carries no sizes, one whose `,S=` lies). The secret is a well-formed message, so a reader that followed the link
would show it like any other postcard: tests assert SECRET never appears in any output.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SECRET = "SECRET-OUTSIDE-THE-STORE"
SPARSE = 2 << 30  # 2 GB, no blocks on disk


def secret_message(path: Path, title: str = SECRET) -> Path:
    """A message file outside the store whose title and body are the secret."""
    path.write_bytes(
        f"From: mallory@agents.localhost\nTo: alice@agents.localhost\nSubject: {title}\n"
        f"Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <{title.lower()}@agents.localhost>\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{SECRET} body\n".encode())
    return path


def name(n: int, sub: str, sizes: str = ",S=300,W=310") -> str:
    """A file name as a delivery would make it (`sizes` '' for none)."""
    return f"{1_700_000_000 + n}.M{n}P{n}Q1.oddhost{sizes}" + (":2," if sub == "cur" else "")


def sparse(path: Path, size: int = SPARSE) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def plant(box: Path, secret: Path, subs: tuple[str, ...] = ("new", "cur")) -> dict[str, Path]:
    """The odd entries in `box`'s `subs`; returns {kind-sub: path}."""
    made: dict[str, Path] = {}
    for i, sub in enumerate(subs):
        d = box / sub
        base = 100 * (i + 1)
        made[f"link-{sub}"] = d / name(base + 1, sub)
        made[f"link-{sub}"].symlink_to(secret)
        made[f"zero-{sub}"] = d / name(base + 2, sub)
        made[f"zero-{sub}"].symlink_to("/dev/zero")
        made[f"fifo-{sub}"] = d / name(base + 3, sub)
        os.mkfifo(made[f"fifo-{sub}"])
        made[f"socket-{sub}"] = d / name(base + 4, sub)
        os.mknod(made[f"socket-{sub}"], stat.S_IFSOCK | 0o600)  # a socket file without the 108-byte bind() limit
        made[f"dir-{sub}"] = d / name(base + 5, sub)
        made[f"dir-{sub}"].mkdir()
        (made[f"dir-{sub}"] / "inner").write_text(SECRET)
        made[f"sparse-{sub}"] = sparse(d / name(base + 6, sub, sizes=""))
        made[f"lying-{sub}"] = sparse(d / name(base + 7, sub))  # its name says 300 bytes
    return made


def non_utf8_name(box: Path, data: bytes, sub: str = "cur", n: int = 9) -> bytes:
    """A real message stored under a file name that is not UTF-8; returns the name as bytes."""
    raw = f"{1_700_000_900 + n}.M{n}P{n}Q1.odd\xffhost".encode("latin-1") + (b":2," if sub == "cur" else b"")
    with open(os.path.join(os.fsencode(box / sub), raw), "wb") as fh:
        fh.write(data)
    return raw
