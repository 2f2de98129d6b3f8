"""The history index: an account's messages by key and by delivery time, so that `read ID`, `reply ID`,
`inbox --all` and `log` cost the same with 100,000 postcards as with 10.

`cache/<account>.index.sqlite` (SQLite, WAL) holds one row per message of each folder that was asked about
(base name, where it is now, its key, its delivery time) and, for the Receipts folder, what each receipt says.
Rows follow the folder through its change log (store/changelog.py): agentmail's own changes cost one row each, and
a change by another program lists the directory once and reads the headers of only the files that are new to the
index. The index is an optimisation: a damaged, locked or unwritable one raises IndexUnavailable and the caller
falls back to listing the folder (mailbox.py), and deleting it costs one rebuild.

Importing this module is cheap (sqlite3 is imported when an Index is opened): `message_key` is used on every path.
"""

from __future__ import annotations

import os
import time

from . import changelog
from .maildir import INFO_SEP, Maildir, name_time, split_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable

    from ..config import Config

SCHEMA = 2
HEAD_BYTES = 16384  # how much of a file is read for its headers (listings, keys)
CHECK_AFTER = 3600.0  # seconds: list a folder again now and then anyway (what a same-tick foreign change could hide)
BUSY_WAIT = 10.0  # seconds to wait for another process updating the index before doing without it
RECEIPTS = "Receipts"  # the folder whose rows also say what each receipt reports
NOT_A_MESSAGE = ""  # the key of a file that cannot be read as a message (skipped, as listings skip it)

# Each question names the index it needs (INDEXED BY): without statistics SQLite would rather scan a whole folder
# by its primary key, which costs O(n).
TABLES = """
CREATE TABLE folder(name TEXT PRIMARY KEY, cursor TEXT NOT NULL, new TEXT NOT NULL, cur TEXT NOT NULL,
                    checked REAL NOT NULL);
CREATE TABLE msg(folder TEXT NOT NULL, base BLOB NOT NULL, sub TEXT NOT NULL, info BLOB, key TEXT,
                 time REAL NOT NULL, PRIMARY KEY(folder, base)) WITHOUT ROWID;
CREATE INDEX msg_key ON msg(key);
CREATE INDEX msg_time ON msg(folder, time);
CREATE TABLE receipt(folder TEXT NOT NULL, base BLOB NOT NULL, orig TEXT NOT NULL, reader TEXT NOT NULL,
                     disposition TEXT NOT NULL, PRIMARY KEY(folder, base)) WITHOUT ROWID;
CREATE INDEX receipt_orig ON receipt(orig);
"""


class IndexUnavailable(Exception):
    """The index cannot be used just now (see the module docstring); the caller lists the folder instead."""


def message_key(headers: dict[str, str], base: str) -> str:
    """The key a message's short id is a prefix of: from its Message-ID, else from its file's base name."""
    mid = headers.get("message-id")
    if mid:
        from ..format.card import key_of

        return key_of(mid)
    import hashlib

    return hashlib.sha256(os.fsencode(base)).hexdigest()[:32]  # a non-UTF-8 name is bytes on disk


def busy_wait() -> float:
    """BUSY_WAIT, or AGENTMAIL_LOCK_WAIT (what a writer waits for a busy lock) when that is shorter."""
    try:
        return max(0.0, min(BUSY_WAIT, float(os.environ.get("AGENTMAIL_LOCK_WAIT", BUSY_WAIT))))
    except ValueError:
        return BUSY_WAIT


def db_path(cfg: Config, account: str) -> str:
    return cfg.path("cache", f"{account}.index.sqlite")


def _errors() -> tuple[type[Exception], ...]:
    """What makes the index unusable just now (a damaged or locked database, a log that stays locked)."""
    import sqlite3

    return (sqlite3.Error, changelog.LogBusy)


def _b(name: str) -> bytes:
    return os.fsencode(name)


def _split(name: str) -> tuple[bytes, bytes | None]:
    """A file name as (base, info): the info (flags) is None when the name has no `:2,` part."""
    base, sep, info = name.partition(INFO_SEP)
    return _b(base), (_b(info) if sep else None)


def _name(base: bytes, info: bytes | None) -> str:
    return _s(base) + ("" if info is None else INFO_SEP + _s(info))


def _s(blob: bytes) -> str:
    return os.fsdecode(blob)


class Index:
    """One account's index; every method raises IndexUnavailable for a problem with the index itself, and the
    store's own errors (a linked Maildir: StoreIOError) as they are."""

    def __init__(self, cfg: Config, account: str, cap: int) -> None:
        import sqlite3

        self.cfg = cfg
        self.account = account
        self.cap = cap
        path = db_path(cfg, account)
        for attempt in (1, 2):
            try:
                self.db = self._open(path)
                return
            except sqlite3.DatabaseError as exc:  # not a database, damaged, an old schema: start again
                if attempt == 2 or isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise IndexUnavailable(str(exc)) from None
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.unlink(path + suffix)
                    except FileNotFoundError:
                        pass
                    except OSError as err:
                        raise IndexUnavailable(str(err)) from None
            except OSError as exc:
                raise IndexUnavailable(str(exc)) from None
        raise IndexUnavailable(path)  # not reached

    def _open(self, path: str) -> sqlite3.Connection:
        import sqlite3

        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        db = sqlite3.connect(path, timeout=busy_wait(), isolation_level=None, check_same_thread=False)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA:
                if version != 0:
                    raise sqlite3.DatabaseError(f"index schema {version}")
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("BEGIN IMMEDIATE")
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:  # not made by another process meanwhile
                    for statement in TABLES.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version={SCHEMA}")
                db.execute("COMMIT")
            db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last changes in a power cut is fine
        except BaseException:
            db.close()
            raise
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
        return db

    def close(self) -> None:
        self.db.close()

    # --- keeping up with the folders ---------------------------------------------------------------------------
    def sync(self, folders: Iterable[str]) -> None:
        """Bring the rows of `folders` up to date (one transaction)."""
        from . import registry

        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for folder in folders:
                    self._sync(folder, registry.mailbox(self.cfg, self.account, folder))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except _errors() as exc:
            raise IndexUnavailable(str(exc)) from None

    def _sync(self, folder: str, box: Maildir) -> None:
        db = self.db
        row = db.execute("SELECT cursor, new, cur, checked FROM folder WHERE name=?", (folder,)).fetchone()
        now = time.time()
        exists = box.exists()
        if row is None or not exists:  # (again) from nothing
            db.execute("DELETE FROM msg WHERE folder=?", (folder,))
            db.execute("DELETE FROM receipt WHERE folder=?", (folder,))
            db.execute("DELETE FROM folder WHERE name=?", (folder,))
            if not exists:
                return  # no such folder: nothing in it, and no log to keep
            row = ("", changelog.MISSING, changelog.MISSING, 0.0)
        cursor, new, cur, checked = row
        relist = changelog.SUBS if now - checked > CHECK_AFTER else ()
        result = changelog.catch_up(box, changelog.log_path(self.cfg, self.account, folder), cursor,
                                    {"new": new, "cur": cur}, changelog.SUBS, relist)
        for line in result.lines:
            self._apply(folder, line)
        if result.listed:
            self._apply_listings(folder, result.listed)
            checked = now if set(result.listed) == set(changelog.SUBS) else checked
        db.execute("INSERT OR REPLACE INTO folder VALUES(?, ?, ?, ?, ?)",
                   (folder, result.cursor, result.stamps["new"], result.stamps["cur"], checked))
        self._fill_keys(folder, box)

    def _upsert(self, folder: str, sub: str, name: str) -> None:
        base, info = _split(name)
        self.db.execute("INSERT INTO msg(folder, base, sub, info, key, time) VALUES(?, ?, ?, ?, NULL, ?) "
                        "ON CONFLICT(folder, base) DO UPDATE SET sub=excluded.sub, info=excluded.info",
                        (folder, base, sub, info, name_time(split_name(name)[0])))

    def _delete(self, folder: str, sub: str, name: str) -> None:
        # only if the row still says so: a rename in the same step (new/ -> cur/, a flag change) updated it
        base, info = _split(name)
        self.db.execute("DELETE FROM msg WHERE folder=? AND base=? AND sub=? AND info IS ?", (folder, base, sub, info))

    def _apply(self, folder: str, ops: list[tuple[str, str, str]]) -> None:
        """One log line: additions first, then removals that the additions did not already turn into renames."""
        for op, sub, name in ops:
            if op == "+":
                self._upsert(folder, sub, name)
        for op, sub, name in ops:
            if op == "-":
                self._delete(folder, sub, name)

    def _apply_listings(self, folder: str, listed: dict[str, list[str]]) -> None:
        """Make the rows of the listed directories what their listing says (additions first: a file that moved
        from new/ to cur/ keeps its row and key)."""
        gone: list[tuple[str, str]] = []
        for sub, names in listed.items():
            known = {_s(base): _name(base, info) for base, info in
                     self.db.execute("SELECT base, info FROM msg WHERE folder=? AND sub=?", (folder, sub))}
            present = set()
            for name in names:
                base = split_name(name)[0]
                present.add(base)
                if known.get(base) != name:
                    self._upsert(folder, sub, name)
            gone += [(sub, name) for base, name in known.items() if base not in present]
        for sub, name in gone:
            self._delete(folder, sub, name)
        self.db.execute("DELETE FROM receipt WHERE folder=? AND NOT EXISTS "
                        "(SELECT 1 FROM msg WHERE msg.folder=receipt.folder AND msg.base=receipt.base)", (folder,))

    def _fill_keys(self, folder: str, box: Maildir) -> None:
        """Read the headers of the rows whose key is not known yet (files new to the index); in the Receipts
        folder, the whole receipt, for what it says (read once, here, so `log` never reads a receipt)."""
        from ..format.card import read_headers
        from .msgfile import NotAMessage, read_head, read_message

        todo = self.db.execute("SELECT base, sub, info FROM msg INDEXED BY msg_key WHERE key IS NULL AND folder=?",
                               (folder,)).fetchall()
        for base, sub, info in todo:
            path = box.file(sub, _name(base, info))
            try:
                if folder == RECEIPTS:
                    data = read_message(path, self.cap)
                    headers = read_headers(data)
                else:
                    headers = read_headers(read_head(path, HEAD_BYTES, self.cap))
            except NotAMessage:
                key = NOT_A_MESSAGE
            except OSError:
                continue  # renamed or removed meanwhile: the next catch-up says where it went
            else:
                key = message_key(headers, _s(base))
                if folder == RECEIPTS:
                    self._receipt(folder, base, data, headers)
            self.db.execute("UPDATE msg SET key=? WHERE folder=? AND base=?", (key, folder, base))

    def _receipt(self, folder: str, base: bytes, data: bytes, headers: dict[str, str]) -> None:
        from ..format.card import key_of
        from ..format.mdn import parse_mdn

        info = parse_mdn(data)
        if info is None or not info.original_message_id:
            return  # not a receipt agentmail can use
        reader = info.final_recipient or info.reporter or headers.get("from", "")
        self.db.execute("INSERT OR REPLACE INTO receipt VALUES(?, ?, ?, ?, ?)",
                        (folder, base, key_of(info.original_message_id), reader, info.disposition))

    # --- questions ----------------------------------------------------------------------------------------------
    def newest(self, folder: str, limit: int, offset: int = 0) -> list[tuple[str, str]]:
        """(subdir, file name) of the `limit` newest messages after the first `offset`, newest first."""
        try:
            rows = self.db.execute("SELECT sub, base, info FROM msg INDEXED BY msg_time WHERE folder=? "
                                   "ORDER BY time DESC, base DESC LIMIT ? OFFSET ?", (folder, limit, offset)).fetchall()
        except _errors() as exc:
            raise IndexUnavailable(str(exc)) from None
        return [(sub, _name(base, info)) for sub, base, info in rows]

    def rows(self, folder: str) -> list[tuple[str, str, str | None]]:
        """(subdir, file name, key) of every message of `folder` the index knows (for checks and tests)."""
        try:
            rows = self.db.execute("SELECT sub, base, info, key FROM msg WHERE folder=?", (folder,)).fetchall()
        except _errors() as exc:
            raise IndexUnavailable(str(exc)) from None
        return sorted((sub, _name(base, info), key) for sub, base, info, key in rows)

    def by_prefix(self, folders: Iterable[str], prefix: str) -> list[tuple[str, str, str, str]]:
        """(folder, subdir, file name, key) of the messages whose key starts with `prefix` (lowercase hex)."""
        wanted = list(folders)
        try:
            rows = self.db.execute(
                f"SELECT folder, sub, base, info, key FROM msg INDEXED BY msg_key WHERE key >= ? AND key < ? "
                f"AND folder IN ({','.join('?' * len(wanted))})", (prefix, prefix + "g", *wanted)).fetchall()
        except _errors() as exc:
            raise IndexUnavailable(str(exc)) from None
        return [(folder, sub, _name(base, info), key) for folder, sub, base, info, key in rows]

    def receipts_for(self, keys: Iterable[str], folder: str = "Receipts") -> list[tuple[str, str, str, str, str]]:
        """(original key, reader, disposition, subdir, file name) of the receipts in `folder` (kept up to date by
        `sync`) for the originals with these keys."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        try:
            rows = self.db.execute(
                "SELECT r.orig, r.reader, r.disposition, m.sub, m.base, m.info FROM receipt r INDEXED BY receipt_orig "
                "JOIN msg m ON m.folder=r.folder AND m.base=r.base "
                f"WHERE r.folder=? AND r.orig IN ({','.join('?' * len(wanted))})", (folder, *wanted)).fetchall()
        except _errors() as exc:
            raise IndexUnavailable(str(exc)) from None
        return [(orig, reader, disp, sub, _name(base, info)) for orig, reader, disp, sub, base, info in rows]


def open_index(cfg: Config, account: str, cap: int, folders: Iterable[str]) -> Index:
    """An account's index with `folders` brought up to date; IndexUnavailable when it cannot be used."""
    index = Index(cfg, account, cap)
    try:
        index.sync(folders)
    except BaseException:
        index.close()
        raise
    return index
