"""The store the IMAP fuzzer works on, and the consistency checks it runs on it.

`World` is a real agentmail store in a directory: accounts alice, bob, carol and human (tests.support.store), bob's
INBOX filled with `size` messages written the way a delivery writes them (varied postcards plus the IMAP test
corpus: multipart, MDN, non-ASCII, odd headers), UIDs given by `uidlist.sync`; alice holds messages carrying
`SECRET`, which no session of bob's may ever see.

Checks (each returns problems as (kind, detail) pairs, empty when the store is sound):
- `check_folder`: dovecot-uidlist parses, its UIDs ascend strictly, no base name twice, every file in new/ and cur/
  has a UID, no lock file or tmp/ leftover, file names are `<base>:2,<flags>` with flags sorted and unique;
- `Snapshot` / `lost`: where every message file is ((folder, base) -> inode, flags), to tell what a command
  removed and whether it was allowed to.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from agentmail import config
from agentmail.store import uidlist
from agentmail.store.maildir import Maildir
from tests.fuzz.imapgen import messages
from tests.support.store import Store, make_store

SECRET = b"ALICE-PRIVATE-7f3a9c"
OWNER = "bob"
WORDS = ("schema migration deploy review branch tests green failing flaky cache index parser session mailbox "
         "fixture rollback release notes ticket owner latency budget timeout retry queue worker lock").split()

Location = tuple[str, str]  # (folder directory relative to the account, base name)
Problem = tuple[str, str]


def postcard(rng: random.Random, n: int, when: int, rcpt: str, domain: str) -> bytes:
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))).capitalize()
    if n % 10 == 3:
        title = "=?utf-8?q?Gr=C3=BC=C3=9Fe_" + title.replace(" ", "_") + "?="
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(rng.randint(1, 12)))
    head = [f"Return-Path: <alice@{domain}>", f"Delivered-To: {rcpt}@{domain}", f"From: alice@{domain}",
            f"To: {rcpt}@{domain}", f"Date: {stamp}", f"Subject: {title}",
            f"Message-ID: <{rng.getrandbits(128):032x}@{domain}>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8"]
    if n % 7 == 0:
        head += ["Importance: high", "X-Priority: 1"]
    return ("\n".join(head) + "\n\n" + body + "\n").encode()


def write_messages(box: str, datas: list[bytes], start: int, tag: str, flags_of: list[str]) -> None:
    """Files in cur/ named as a delivery names them, then UIDs for them (as mail from another tool gets them)."""
    for i, data in enumerate(datas):
        when = start + i
        vsize = len(data) + data.count(b"\n") - data.count(b"\r\n")
        path = os.path.join(box, "cur", f"{when}.M{i}P1Q{i}.{tag},S={len(data)},W={vsize}:2,{flags_of[i]}")
        with open(path, "wb") as fh:
            fh.write(data)
        os.utime(path, (when, when))
    uidlist.sync(Maildir(box))


@dataclass
class World:
    home: Path
    size: int
    seed: int = 0

    def __post_init__(self) -> None:
        self.store: Store = make_store(self.home)
        self.root = str(self.home / "maildirs")
        self.cfg = config.load(str(self.home))
        self.passwords = self.store.passwords
        self.refills = 0
        rng = random.Random(self.seed)
        corpus = [m.replace(b"\r\n", b"\n") for m in messages()]
        start = int(time.time()) - 86400 * 30
        datas = [corpus[i % len(corpus)] if i % 9 == 4 else postcard(rng, i, start + i, OWNER, self.cfg.domain)
                 for i in range(self.size)]
        flags = ["S" if i % 5 else ("FS" if i % 10 == 0 else "") for i in range(self.size)]
        write_messages(self.box(OWNER), datas, start, "fuzz", flags)
        secret = [b"From: bob@agents.localhost\nSubject: " + SECRET + b"\n\n" + SECRET + b" body\n"] * 3
        write_messages(self.box("alice"), secret, start, "secret", ["", "S", "T"])
        past = time.time() - 3600  # not "just changed": the backend's caches behave as on a quiet store
        for sub in ("cur", "new"):
            os.utime(os.path.join(self.box(OWNER), sub), (past, past))

    def box(self, account: str) -> str:
        return os.path.join(self.root, account)

    # ------------------------------------------------------------------ looking
    def folders(self, account: str) -> list[str]:
        """Folder directories of `account` relative to its maildir ("" is INBOX)."""
        root = self.box(account)
        out = [""]
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            return []
        out += [n for n in names if n.startswith(".") and os.path.isdir(os.path.join(root, n, "cur"))]
        return out

    def snapshot(self, account: str, only: str | None = None) -> dict[Location, tuple[int, str]]:
        """(folder, base) -> (inode, flags) of every message file of `account` (of its folder `only`)."""
        root = self.box(account)
        out: dict[Location, tuple[int, str]] = {}
        for folder in self.folders(account) if only is None else [only]:
            for sub in ("new", "cur"):
                try:
                    entries = os.scandir(os.path.join(root, folder, sub))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                with entries:
                    for e in entries:
                        base, _, flags = e.name.partition(":2,")
                        out[(folder, base)] = (e.inode(), flags)
        return out

    def count(self, account: str, folder: str = "") -> int:
        root = os.path.join(self.box(account), folder)
        return sum(len(os.listdir(os.path.join(root, sub))) for sub in ("new", "cur")
                   if os.path.isdir(os.path.join(root, sub)))

    def outside(self, account: str, metadata: bool) -> dict[str, int]:
        """path -> size of every file under the home except `account`'s maildir (what a session of `account`
        must not touch); without `metadata`, UID/keyword/subscription/mod-sequence files are left out (a read-only
        view may give UIDs and mod-sequences). The change logs of `account`'s own folders (`cache/<account>.<folder>
        .log`, store/changelog.py) are its to write: its flag changes and new/ -> cur/ moves are logged there."""
        skip = ("dovecot-uidlist", "dovecot-keywords", "subscriptions", "dovecot-uidlist.lock", "agentmail-modseq")
        own = os.path.join(self.box(account), "")
        logs = os.path.join(self.home, "cache")
        out: dict[str, int] = {}
        for root, dirs, files in os.walk(self.home):
            if (root + os.sep).startswith(own):
                dirs[:] = []
                continue
            for f in files:
                if f.startswith("serve-") or (not metadata and f in skip):
                    continue
                if root == logs and f.startswith(f"{account}.") and f.endswith(".log"):
                    continue
                p = os.path.join(root, f)
                out[p] = os.lstat(p).st_size
            out.update({os.path.join(root, d) + "/": 0 for d in dirs})
        return out

    # ------------------------------------------------------------------ checks
    def check_folder(self, account: str, folder: str) -> list[Problem]:
        path = os.path.join(self.box(account), folder)
        problems: list[Problem] = []
        where = f"{account}/{folder or 'INBOX'}"
        if os.path.exists(os.path.join(path, "dovecot-uidlist.lock")):
            problems.append(("store:lock-left", where))
        leftovers = os.listdir(os.path.join(path, "tmp")) if os.path.isdir(os.path.join(path, "tmp")) else []
        if leftovers:
            problems.append(("store:tmp-left", f"{where}: {leftovers[:3]}"))
        bases: dict[str, str] = {}
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(path, sub)) if os.path.isdir(os.path.join(path, sub)) else []:
                base, sep, flags = name.partition(":2,")
                if base in bases:
                    problems.append(("store:base-twice", f"{where}: {base}"))
                bases[base] = name
                if sub == "cur" and (not sep or list(flags) != sorted(set(flags))):
                    problems.append(("store:bad-name", f"{where}: {name}"))
        try:
            with open(os.path.join(path, uidlist.FILENAME), encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read()
        except FileNotFoundError:
            if bases:
                problems.append(("store:no-uidlist", f"{where}: {len(bases)} files"))
            return problems
        try:
            uidlist.parse(text)
        except uidlist.UidListError as err:
            return [*problems, ("store:uidlist-unparsable", f"{where}: {err}")]
        last, seen = 0, set()
        for line in text.split("\n")[1:]:
            if not line:
                continue
            rec = uidlist.parse_record(line)
            if rec is None:
                problems.append(("store:uidlist-bad-line", f"{where}: {line[:80]!r}"))
                continue
            if rec[0] <= last:
                problems.append(("store:uid-not-ascending", f"{where}: {rec[0]} after {last}"))
            if rec[2] in seen:
                problems.append(("store:base-two-uids", f"{where}: {rec[2]}"))
            last = max(last, rec[0])
            seen.add(rec[2])
        without = [b for b in bases if b not in seen]
        if without:
            problems.append(("store:file-without-uid", f"{where}: {len(without)} files, e.g. {without[0]}"))
        return problems

    def check_account(self, account: str) -> list[Problem]:
        return [p for folder in self.folders(account) for p in self.check_folder(account, folder)]

    def check_sizes(self, account: str, locations: list[Location]) -> list[Problem]:
        """New files: the S= in the name is the file's size (no half-written copy or append)."""
        problems = []
        root = self.box(account)
        for folder, base in locations:
            size = next((f[2:] for f in base.split(",")[1:] if f.startswith("S=")), None)
            for sub in ("cur", "new"):
                d = os.path.join(root, folder, sub)
                names = [n for n in os.listdir(d) if n.partition(":2,")[0] == base] if os.path.isdir(d) else []
                for n in names:
                    actual = os.path.getsize(os.path.join(d, n))
                    if size is not None and size.isdigit() and int(size) != actual:
                        problems.append(("store:size-mismatch", f"{folder}/{sub}/{n}: {actual} bytes"))
        return problems

    # ------------------------------------------------------------------ keeping the mailbox big
    def maintain(self, account: str) -> None:
        """Top bob's INBOX up to `size` after the fuzzer expunged or moved much of it; drop folders the fuzzer
        filled with copies (they would make every later command slower than the mailbox under test)."""
        root = self.box(account)
        for folder in self.folders(account)[1:]:
            if self.count(account, folder) > self.size // 2 + 200 or len(self.folders(account)) > 80:
                shutil.rmtree(os.path.join(root, folder))
        missing = self.size - self.count(account)
        if missing > max(5, self.size // 10):
            self.refills += 1
            rng = random.Random(self.seed * 1000 + self.refills)
            start = int(time.time()) - 86400
            datas = [postcard(rng, i, start + i, account, self.cfg.domain) for i in range(missing)]
            write_messages(root, datas, start, f"refill{self.refills}", ["S"] * missing)
