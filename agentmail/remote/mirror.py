"""The local mirror of a remote account: the server's folders as the local Maildir the CLI, hooks and waiter read.

One pass over a folder (docs/scale-out.md, "The mirror"):
1. Local moves go to the server: a message this side filed into another folder (`clerk file`) is moved there with
   UID MOVE. A message deleted here is never fetched again (and stays on the server).
2. What the server has that the mirror has not is fetched: INBOX mail into new/ (unless already \\Seen elsewhere),
   other folders into cur/. In INBOX, receipts (MDNs) are first filed into Receipts and our own copies of what
   this home sent (submit.py sends the author an envelope copy) into Sent, on the server, so neither is announced.
   A message the server no longer has is removed here.
3. Flags: what changed on one side since the two last agreed (the state's flags) is applied to the other; \\Seen
   and $MDNSent set by `read` go to the server, \\Seen set by a person's mail client comes here. Files in new/ (not
   yet announced) keep their place until the server says \\Seen.
Every local change goes through the folder's change log (store/changelog.py), as agentmail's own changes do.
"""

from __future__ import annotations

import os

from ..format.card import read_headers
from ..store import registry
from ..store.changelog import Change, log_for, stamp
from ..store.maildir import INFO_SEP, crlf_size, fsync_dir, split_name, to_lf
from ..store.msgfile import read_head
from . import state as statefile
from .flagmap import from_letters, normalise, to_letters
from .state import FOLDERS, mirror_name, parse_mirror_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from imapclient import IMAPClient

    from ..config import Config
    from ..store.maildir import Maildir
    from .settings import Settings

CHUNK = 50  # messages per FETCH of whole bodies
HEADERS = b"BODY[HEADER.FIELDS (FROM TO CC MESSAGE-ID CONTENT-TYPE)]"
HEADERS_PEEK = "BODY.PEEK[HEADER.FIELDS (FROM TO CC MESSAGE-ID CONTENT-TYPE)]"
Listing = dict[str, tuple[str, str]]  # base name -> (subdir, file name)


def addresses(value: str) -> list[str]:
    from email.utils import getaddresses

    return [a.lower() for _, a in getaddresses([value]) if a]


def is_mdn(headers: dict[str, str]) -> bool:
    ctype = headers.get("content-type", "").lower()
    return ctype.startswith("multipart/report") and "disposition-notification" in ctype



def leave_selected(imap: IMAPClient) -> None:
    """Leave the selected mailbox before a STATUS: Dovecot answers STATUS for the mailbox a session has selected from
    that session's last look at it (RFC 3501 6.3.10 lets it), so a pass that left INBOX selected would see no new
    mail there until a full pass. UNSELECT (RFC 3691) where offered, else a NOOP, which brings the view up to date."""
    if getattr(imap._imap, "state", None) != "SELECTED":
        return
    if imap.has_capability("UNSELECT"):
        imap.unselect_folder()
        imap._imap.state = "AUTH"  # imapclient before 4.1 left imaplib's state at SELECTED: a second UNSELECT is BAD
    else:
        imap.noop()

class Mirror:
    def __init__(self, cfg: Config, settings: Settings, log: Callable[[str], None],
                 sent_ids: Callable[[], set[str]]) -> None:
        self.cfg = cfg
        self.settings = settings
        self.log = log
        self.sent_ids = sent_ids
        self.account = settings.user
        self.me = settings.address.lower()
        self.states = {f: statefile.load(cfg, f) for f in FOLDERS}
        self.stamps: dict[str, tuple[str, str]] = {}
        self.condstore = False

    # ------------------------------------------------------------------ the local side
    def box(self, folder: str) -> Maildir:
        box = registry.mailbox(self.cfg, self.account, folder)
        if not box.exists():
            box.create(folder_marker=folder != "INBOX")
        return box

    def local_stamp(self, folder: str) -> tuple[str, str]:
        box = registry.mailbox(self.cfg, self.account, folder)
        return stamp(os.path.join(box.path, "new")), stamp(os.path.join(box.path, "cur"))

    def local_changed(self) -> list[str]:
        """Folders whose new/ or cur/ changed since the last pass looked at them."""
        return [f for f in FOLDERS if self.stamps.get(f) != self.local_stamp(f)]

    def listing(self, folder: str) -> Listing:
        found: Listing = {}
        for sub, name in self.box(folder).entries():
            found[split_name(name)[0]] = (sub, name)
        return found

    # ------------------------------------------------------------------ a pass
    def sync(self, imap: IMAPClient, folders: Iterable[str] = FOLDERS, full: bool = False) -> int:
        """Bring `folders` in step with the server; returns how many changes were made on either side."""
        self.condstore = imap.has_capability("CONDSTORE")
        dirty = set(self.local_changed())
        for folder in FOLDERS:
            self.stamps[folder] = self.local_stamp(folder)  # before listing: a change during the pass shows next time
        listings = {f: self.listing(f) for f in FOLDERS}
        changes = 0
        for folder in FOLDERS:
            if folder in folders or folder in dirty:
                changes += self.sync_folder(imap, folder, listings, full, folder in dirty)
        return changes

    def sync_folder(self, imap: IMAPClient, folder: str, listings: dict[str, Listing], full: bool,
                    local_dirty: bool) -> int:
        st = self.states[folder]
        status = self.status(imap, folder)
        if status is None:
            return 0
        validity, uidnext, exists, modseq = status
        if st.uidvalidity != validity:
            if st.uidvalidity:
                self.log(f"{folder}: UIDVALIDITY {st.uidvalidity} -> {validity}: matching every message again")
            st.reset(validity)
            full = True
        if modseq and modseq < st.modseq:
            # mod-sequences only grow (RFC 7162 3.1.1): a smaller one is another server on the same tree (agentmail
            # serve counts from the clock, Dovecot from 1), whose CHANGEDSINCE would hide what changed
            full = True
        local = listings[folder]
        unchanged = (uidnext, exists, modseq) == (st.uidnext, st.exists, st.modseq)
        if unchanged and not full and not local_dirty:
            return 0
        selected = imap.select_folder(folder)
        # RFC 7162 3.1.2.2: a mailbox without permanent mod-sequences answers NOMODSEQ, not HIGHESTMODSEQ (Dovecot
        # with in-memory indexes), and refuses CHANGEDSINCE: its flags are compared whole, on full passes
        by_modseq = self.condstore and b"HIGHESTMODSEQ" in selected
        changes = self.push_moves(imap, folder, listings)
        server = set(imap.search("ALL"))
        st.gone &= server
        changes += self.vanished(folder, server, local)
        new = sorted(server - set(st.map) - st.gone)
        if new and folder == "INBOX":
            filed = self.file_inbox(imap, new)
            changes += len(filed)
            new = [uid for uid in new if uid not in filed]
        if new:
            changes += self.fetch_new(imap, folder, new, local)
        if full or (by_modseq and modseq != st.modseq):
            changes += self.pull_flags(imap, folder, local, st.modseq if by_modseq and not full else 0)
        changes += self.push_flags(imap, folder, local)
        if changes:
            st.uidnext, st.exists, st.modseq = 0, -1, 0  # our own changes moved them: look again next pass
        else:
            st.uidnext, st.exists, st.modseq = uidnext, exists, modseq
        st.dirty = True
        statefile.save(self.cfg, st)
        return changes

    def status(self, imap: IMAPClient, folder: str) -> tuple[int, int, int, int] | None:
        """(UIDVALIDITY, UIDNEXT, MESSAGES, HIGHESTMODSEQ or 0); a folder the server lacks is created."""
        import imaplib

        from imapclient.exceptions import IMAPClientError

        what = [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES", *([b"HIGHESTMODSEQ"] if self.condstore else [])]
        leave_selected(imap)
        for attempt in range(2):
            try:
                got = imap.folder_status(folder, what)
                return (int(got[b"UIDVALIDITY"]), int(got[b"UIDNEXT"]), int(got[b"MESSAGES"]),
                        int(got.get(b"HIGHESTMODSEQ", 0)))
            except imaplib.IMAP4.abort:
                raise  # the connection is gone: the sync process reconnects
            except IMAPClientError as exc:
                if attempt or folder == "INBOX":
                    self.log(f"{folder}: cannot look at it on the server: {exc}")
                    return None
                try:
                    imap.create_folder(folder)
                    imap.subscribe_folder(folder)
                except IMAPClientError:
                    pass
        return None

    # ------------------------------------------------------------------ 1. local moves
    def push_moves(self, imap: IMAPClient, folder: str, listings: dict[str, Listing]) -> int:
        st = self.states[folder]
        missing = [(uid, base) for uid, (base, _) in st.map.items() if base not in listings[folder]]
        if not missing:
            return 0
        relisted = False
        moves: dict[str, list[int]] = {}
        for uid, base in missing:
            dest = self.find_elsewhere(base, folder, listings)
            if dest is None and not relisted:  # listed mid-move? list every folder once more
                listings.update({f: self.listing(f) for f in FOLDERS})
                relisted = True
                if base in listings[folder]:
                    continue
                dest = self.find_elsewhere(base, folder, listings)
            if dest is None:
                self.log(f"{folder}: UID {uid} was deleted here; it stays on the server")
                st.gone.add(uid)
                st.drop(uid)
            else:
                moves.setdefault(dest, []).append(uid)
        for dest, uids in moves.items():
            self.log(f"{folder}: moving UIDs {uids} to {dest} on the server, as here")
            move_uids(imap, uids, dest)
            for uid in uids:
                st.drop(uid)  # the destination matches its new UID to the local file by Message-ID
        return len(missing)

    def find_elsewhere(self, base: str, folder: str, listings: dict[str, Listing]) -> str | None:
        for other in FOLDERS:
            if other != folder and base in listings[other] and base not in self.states[other].by_base():
                return other
        return None

    # ------------------------------------------------------------------ 2. the server's news
    def vanished(self, folder: str, server: set[int], local: Listing) -> int:
        """Messages the server no longer has (expunged by a person, moved by another client) go here too."""
        st = self.states[folder]
        gone = [uid for uid in st.map if uid not in server]
        if not gone:
            return 0
        box = self.box(folder)
        with Change(box, log_for(box)) as change:
            for uid in gone:
                base = st.map[uid][0]
                where = local.pop(base, None)
                if where is not None:
                    try:
                        os.unlink(box.file(*where))
                        change.remove(*where)
                    except FileNotFoundError:
                        pass
                st.drop(uid)
        self.log(f"{folder}: {len(gone)} message(s) gone from the server, removed here")
        return len(gone)

    def file_inbox(self, imap: IMAPClient, uids: list[int]) -> set[int]:
        """Receipts into Receipts, our own sent copies into Sent (on the server); the UIDs filed away."""
        data = imap.fetch(uids, [HEADERS_PEEK])
        sent = None
        to_receipts, to_sent, copy_sent = [], [], []
        for uid in uids:
            raw = (data.get(uid) or {}).get(HEADERS) or b""
            headers = read_headers(raw)
            if is_mdn(headers):
                to_receipts.append(uid)
                continue
            if self.me not in addresses(headers.get("from", "")):
                continue
            if sent is None:
                sent = self.sent_ids()
            mid = headers.get("message-id", "").strip()
            addressed = self.me in addresses(headers.get("to", "") + "," + headers.get("cc", ""))
            if not addressed:
                to_sent.append(uid)
            elif mid in sent:
                copy_sent.append(uid)  # a postcard to oneself: it is mail in INBOX too
        if to_receipts:
            move_uids(imap, to_receipts, "Receipts")
        if to_sent:
            imap.add_flags(to_sent, [b"\\Seen"], silent=True)
            move_uids(imap, to_sent, "Sent")
        if copy_sent:
            imap.copy(copy_sent, "Sent")
        if to_receipts or to_sent or copy_sent:
            self.log(f"INBOX: filed {len(to_receipts)} receipt(s) into Receipts and {len(to_sent) + len(copy_sent)} "
                     "copies of our own postcards into Sent")
        return set(to_receipts) | set(to_sent)

    def fetch_new(self, imap: IMAPClient, folder: str, uids: list[int], local: Listing) -> int:
        st = self.states[folder]
        mapped = st.by_base()
        loose = {base: where for base, where in local.items() if base not in mapped}
        by_name = {}
        for base in loose:
            parsed = parse_mirror_name(base)
            if parsed and parsed[0] == folder and parsed[1] == st.uidvalidity:
                by_name[parsed[2]] = base
        rest = []
        for uid in uids:
            if uid in by_name:  # written before a crash, the state not yet saved
                base = by_name.pop(uid)
                rest_flags = self.local_flags(folder, *loose.pop(base))
                st.put(uid, base, rest_flags)
            else:
                rest.append(uid)
        if rest and loose:
            rest = self.adopt_by_message_id(imap, folder, rest, loose)
        written = 0
        box = self.box(folder)
        for start in range(0, len(rest), CHUNK):
            chunk = rest[start:start + CHUNK]
            data = imap.fetch(chunk, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
            for uid in chunk:
                item = data.get(uid)
                if not item or b"BODY[]" not in item:
                    continue  # expunged meanwhile
                self.write(box, folder, uid, item)
                written += 1
            fsync_dir(os.path.join(box.path, "new"))
            fsync_dir(os.path.join(box.path, "cur"))
            statefile.save(self.cfg, st)
        if written:
            self.log(f"{folder}: {written} new message(s) from the server")
        return written + (len(uids) - len(rest))

    def adopt_by_message_id(self, imap: IMAPClient, folder: str, uids: list[int], loose: Listing) -> list[int]:
        """Pair server messages with local files the state does not know (a move made here, then on the server;
        a new UIDVALIDITY) by Message-ID; returns the UIDs left to fetch."""
        st = self.states[folder]
        box = self.box(folder)
        by_mid: dict[str, list[str]] = {}
        for base, (sub, name) in loose.items():
            try:
                headers = read_headers(read_head(box.file(sub, name), 16384, 1 << 30))
            except OSError:
                continue
            mid = headers.get("message-id", "").strip()
            if mid:
                by_mid.setdefault(mid, []).append(base)
        if not by_mid:
            return uids
        data = imap.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        left = []
        for uid in uids:
            item = data.get(uid) or {}
            raw = item.get(b"BODY[HEADER.FIELDS (MESSAGE-ID)]") or b""
            mid = read_headers(raw).get("message-id", "").strip()
            bases = by_mid.get(mid)
            if not bases:
                left.append(uid)
                continue
            base = bases.pop(0)
            st.put(uid, base, normalise(item.get(b"FLAGS") or ()))  # push_flags sends what differs here
            loose.pop(base, None)
        return left

    def write(self, box: Maildir, folder: str, uid: int, item: dict[bytes, Any]) -> None:
        st = self.states[folder]
        data = to_lf(bytes(item[b"BODY[]"]))
        flags = normalise(item.get(b"FLAGS") or ())
        when = item.get(b"INTERNALDATE")
        sec = int(when.timestamp()) if when is not None else 0
        base = mirror_name(sec, folder, st.uidvalidity, uid, len(data), crlf_size(data))
        unseen_inbox = folder == "INBOX" and "\\Seen" not in flags
        sub = "new" if unseen_inbox else "cur"
        name = base if sub == "new" else base + INFO_SEP + to_letters(box, flags)
        tmp = box.file("tmp", base)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        with Change(box, log_for(box)) as change:
            try:
                os.link(tmp, box.file(sub, name))
                change.add(sub, name)
            except FileExistsError:
                pass
        os.unlink(tmp)
        st.put(uid, base, flags if sub == "cur" else frozenset())  # what new/ stands for: no flags yet

    # ------------------------------------------------------------------ 3. flags
    def local_flags(self, folder: str, sub: str, name: str) -> frozenset[str]:
        return from_letters(self.box(folder), split_name(name)[1])

    def pull_flags(self, imap: IMAPClient, folder: str, local: Listing, since: int) -> int:
        """Apply flag changes made on the server (by a person's mail client) since the two sides last agreed."""
        st = self.states[folder]
        if not st.map:
            return 0
        data = fetch_all(imap, ["FLAGS"], [f"CHANGEDSINCE {since}"] if since else None)
        box = self.box(folder)
        changes = 0
        for uid, item in data.items():
            if uid not in st.map:
                continue
            base, agreed = st.map[uid]
            server = normalise(item.get(b"FLAGS") or ())
            if server == agreed:
                continue
            where = local.get(base)
            if where is None:
                continue
            sub, name = where
            if sub == "new" and "\\Seen" not in server:
                continue  # not yet announced here: its place is new/ until someone reads it
            mine = self.local_flags(folder, sub, name) if sub == "cur" else frozenset()
            wanted = (mine - (agreed - server)) | (server - agreed)
            letters = to_letters(box, wanted, keep=split_name(name)[1])
            new_name = base + INFO_SEP + letters
            if (sub, new_name) != ("cur", name):
                with Change(box, log_for(box)) as change:
                    os.rename(box.file(sub, name), box.file("cur", new_name))
                    change.remove(sub, name)
                    change.add("cur", new_name)
                local[base] = ("cur", new_name)
                changes += 1
            st.put(uid, base, server)  # push_flags sends what still differs here
        return changes

    def push_flags(self, imap: IMAPClient, folder: str, local: Listing) -> int:
        """Send flag changes made here (\\Seen by `read`, $MDNSent with a receipt) to the server."""
        st = self.states[folder]
        adds: dict[frozenset[str], list[int]] = {}
        removes: dict[frozenset[str], list[int]] = {}
        for uid, (base, agreed) in list(st.map.items()):
            where = local.get(base)
            if where is None or where[0] != "cur":
                continue
            mine = self.local_flags(folder, *where)
            if mine == agreed:
                continue
            if mine - agreed:
                adds.setdefault(mine - agreed, []).append(uid)
            if agreed - mine:
                removes.setdefault(agreed - mine, []).append(uid)
            st.put(uid, base, mine)
        for flags, uids in adds.items():
            imap.add_flags(uids, sorted(flags), silent=True)
        for flags, uids in removes.items():
            imap.remove_flags(uids, sorted(flags), silent=True)
        count = sum(len(u) for u in adds.values()) + sum(len(u) for u in removes.values())
        if count:
            self.log(f"{folder}: sent {count} flag change(s) to the server")
        return count


def fetch_all(imap: IMAPClient, data: list[str], modifiers: list[str] | None = None) -> dict[int, Any]:
    """UID FETCH 1:* (imapclient's fetch() wants every UID listed, which makes a long command for a big folder)."""
    from imapclient.imapclient import seq_to_parenstr_upper
    from imapclient.response_parser import parse_fetch_response

    args = ["UID", "FETCH", "1:*", seq_to_parenstr_upper(data)]
    if modifiers:
        args.append(seq_to_parenstr_upper(modifiers))
    tag = imap._imap._command(*args)
    typ, found = imap._imap._command_complete("FETCH", tag)
    imap._checkok("fetch", typ, found)
    typ, found = imap._imap._untagged_response(typ, found, "FETCH")
    return dict(parse_fetch_response(found, imap.normalise_times, True))


def move_uids(imap: IMAPClient, uids: list[int], dest: str) -> None:
    """UID MOVE (RFC 6851), else COPY, \\Deleted and UID EXPUNGE (RFC 4315) of exactly these messages."""
    if imap.has_capability("MOVE"):
        imap.move(uids, dest)
        return
    imap.copy(uids, dest)
    imap.add_flags(uids, [b"\\Deleted"], silent=True)
    imap.uid_expunge(uids)
