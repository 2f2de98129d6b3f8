"""Selected-state commands (RFC 3501 6.4): FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE.

``SelectedMailbox`` keeps the client's view: the UID list that defines sequence numbers and the
flags last reported. ``sync`` diffs a fresh backend state against it and produces EXPUNGE /
EXISTS / FETCH FLAGS updates. Expunges are only reported where RFC 3501 7.4.1 allows (not
during FETCH, STORE or SEARCH; UID versions may, RFC 3501 6.4.8 - we stay conservative).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import commands as c
from . import response as r
from .backend import MailboxState, MessageInfo
from .errors import ImapBad, ImapError, ImapNo
from .fetch import message_item
from .fetchatt import FetchAtt
from .lexer import MONTHS
from .mime import parse_message
from .search import SearchMessage, search
from .seqset import SequenceSet

if TYPE_CHECKING:
    from .session import Session

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


def internaldate(when: dt.datetime) -> str:
    """RFC 3501 date-time, e.g. "03-Jun-2024 10:00:00 +0000" (English month, whatever the locale)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return f"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year:04d} {when:%H:%M:%S %z}"


class SelectedMailbox:
    def __init__(self, name: str, readonly: bool, state: MailboxState) -> None:
        self.name = name
        self.readonly = readonly
        self.uidvalidity = state.uidvalidity
        self.uids: list[int] = []
        self.flags: dict[int, frozenset[str]] = {}
        flagsets: set[frozenset[str]] = set()
        for m in state.messages:  # one pass: a backend may build MessageInfo on demand
            self.uids.append(m.uid)
            self.flags[m.uid] = m.flags
            flagsets.add(m.flags)
        self.keywords: set[str] = {f for fs in flagsets for f in fs if not f.startswith("\\")}
        self.state = state
        # the state last diffed, and whether expunges were applied: a backend that returns the very
        # same object while nothing changed (the Maildir cache) makes an idle poll O(1)
        self._synced: MailboxState | None = state
        self._synced_expunges = True

    # ------------------------------------------------------------------ views and updates
    def select_responses(self) -> list[r.Response]:
        st = self.state
        self.keywords.add("$MDNSent")
        flags = (*SYSTEM_FLAGS, *sorted(self.keywords))
        unseen = next((i + 1 for i, m in enumerate(st.messages) if "\\Seen" not in m.flags), None)
        out: list[r.Response] = [r.FlagsResponse(flags), r.exists(len(self.uids)), r.recent(0)]
        if unseen is not None:
            out.append(r.ok(None, f"First unseen: {unseen}", r.ResponseCode("UNSEEN", str(unseen))))
        out.append(r.ok(None, "UIDs valid", r.ResponseCode("UIDVALIDITY", str(st.uidvalidity))))
        out.append(r.ok(None, "Predicted next UID", r.ResponseCode("UIDNEXT", str(st.uidnext))))
        permanent = () if self.readonly else (*flags, "\\*")
        out.append(r.ok(None, "Flags permitted", r.code_permanentflags(permanent)))
        return out

    def seq_of(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def sync(self, state: MailboxState, expunges: bool) -> list[r.Response]:
        self.state = state
        if state is self._synced and (self._synced_expunges or not expunges):
            return []
        self._synced, self._synced_expunges = state, expunges
        current = {m.uid: m for m in state.messages}
        out: list[r.Response] = []
        if expunges:
            for seq in range(len(self.uids), 0, -1):  # highest first: lower numbers stay valid
                uid = self.uids[seq - 1]
                if uid not in current:
                    out.append(r.expunge(seq))
                    del self.uids[seq - 1]
                    self.flags.pop(uid, None)
        for uid in list(self.uids):
            info = current.get(uid)
            if info is not None and info.flags != self.flags[uid]:
                self.flags[uid] = info.flags
                found = self.seq_of(uid)
                assert found is not None
                out.append(r.FetchResponse(found, [("UID", uid), ("FLAGS", r.flag_list(sorted(info.flags)))]))
        last = self.uids[-1] if self.uids else 0
        new = [m for m in state.messages if m.uid > last]
        if new:
            for m in new:
                self.uids.append(m.uid)
                self.flags[m.uid] = m.flags
            out.append(r.exists(len(self.uids)))
        return out

    def _targets(self, seqset: SequenceSet, uid: bool) -> list[tuple[int, int]]:
        """(seq, uid) pairs a sequence set names in the client's view."""
        if uid:  # self.uids is sorted: bisect each range instead of testing every UID
            uids = self.uids
            top = uids[-1] if uids else 0
            picked: set[int] = set()
            for lo, hi in seqset.ranges:
                a, b = (top if lo is None else lo), (top if hi is None else hi)
                if a > b:
                    a, b = b, a
                picked.update(range(bisect_left(uids, a), bisect_right(uids, b)))
            return [(i + 1, uids[i]) for i in sorted(picked)]
        top = len(self.uids)
        for lo_hi in seqset.ranges:
            for bound in lo_hi:
                if bound is not None and bound > top:
                    raise ImapBad("Invalid message sequence number" if top else "No messages in the mailbox")
        return [(s, self.uids[s - 1]) for s in seqset.resolve(top)]

    # ------------------------------------------------------------------ dispatch
    def handle(self, cmd: c.Command, session: Session) -> list[r.Response]:
        try:
            if isinstance(cmd, c.Fetch):
                return self._fetch(cmd, session)
            if isinstance(cmd, c.Store):
                return self._store(cmd, session)
            if isinstance(cmd, c.Search):
                return self._search(cmd, session)
            if isinstance(cmd, c.Copy):
                return self._copy(cmd, session)
            if isinstance(cmd, c.Expunge):
                return self._expunge(cmd, session)
        except ImapError as err:
            return [err.response(cmd.tag)]
        return [r.bad(cmd.tag, f"{cmd.name} is not supported")]

    def _info(self, session: Session) -> Mapping[int, MessageInfo]:
        state = session.backend.state(_account(session), self.name)
        self.state = state
        # a backend's lazy uid lookup (the Maildir cache) spares building every MessageInfo
        lookup: Callable[[], Mapping[int, MessageInfo]] | None = getattr(state.messages, "lookup_map", None)
        return lookup() if lookup is not None else {m.uid: m for m in state.messages}

    def _fetch(self, cmd: c.Fetch, session: Session) -> list[r.Response]:
        account = _account(session)
        targets = self._targets(cmd.sequence, cmd.uid)
        infos = self._info(session)
        atts = list(cmd.attributes)
        if cmd.uid and not any(a.name == "UID" and a.section is None for a in atts):
            atts.insert(0, FetchAtt("UID"))  # RFC 3501 6.4.8: UID FETCH always returns UID
        needs_body = any(a.name not in ("UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE") or a.section for a in atts)
        set_seen = not self.readonly and any(a.sets_seen for a in atts)
        out: list[r.Response] = []
        for seq, uid in targets:
            info = infos.get(uid)
            if info is None:
                continue  # expunged by someone else; reported at the next NOOP
            flags = info.flags
            if set_seen and "\\Seen" not in flags:
                flags = flags | {"\\Seen"}
                session.backend.set_flags(account, self.name, uid, flags)
            root = parse_message(session.backend.message(account, self.name, uid)) if needs_body else None
            items: list[tuple[str, r.Value]] = []
            for att in atts:
                if att.name == "UID" and att.section is None:
                    items.append(("UID", uid))
                elif att.name == "FLAGS" and att.section is None:
                    items.append(("FLAGS", r.flag_list(sorted(flags))))
                elif att.name == "INTERNALDATE":
                    items.append(("INTERNALDATE", internaldate(info.internal_date)))
                elif att.name == "RFC822.SIZE" and root is None:
                    items.append(("RFC822.SIZE", info.size))
                else:
                    assert root is not None
                    items.append((att.response_name, message_item(att, root)))
            if flags != info.flags and not any(a.name == "FLAGS" for a in atts):
                items.append(("FLAGS", r.flag_list(sorted(flags))))  # RFC 3501 6.4.5: report \Seen
            self.flags[uid] = flags
            out.append(r.FetchResponse(seq, items))
        return [*out, *self.sync(session.backend.state(account, self.name), expunges=False),
                r.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}FETCH completed")]

    def _store(self, cmd: c.Store, session: Session) -> list[r.Response]:
        if self.readonly:
            raise ImapNo("Mailbox is read-only", "READ-ONLY")
        if any(f.lower() == "\\recent" for f in cmd.flags):
            raise ImapBad("\\Recent cannot be stored")
        account = _account(session)
        infos = self._info(session)
        given = frozenset(_canonical(f) for f in cmd.flags)
        out: list[r.Response] = []
        for seq, uid in self._targets(cmd.sequence, cmd.uid):
            info = infos.get(uid)
            if info is None:
                continue
            if cmd.mode == "+":
                flags = info.flags | given
            elif cmd.mode == "-":
                flags = info.flags - given
            else:
                flags = given
            if flags != info.flags:
                session.backend.set_flags(account, self.name, uid, flags)
            self.flags[uid] = flags
            self.keywords.update(f for f in flags if not f.startswith("\\"))
            if not cmd.silent:
                items: list[tuple[str, r.Value]] = [("FLAGS", r.flag_list(sorted(flags)))]
                if cmd.uid:
                    items.insert(0, ("UID", uid))
                out.append(r.FetchResponse(seq, items))
        return [*out, r.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}STORE completed")]

    def _search(self, cmd: c.Search, session: Session) -> list[r.Response]:
        if cmd.charset is not None and cmd.charset.upper() not in ("UTF-8", "US-ASCII"):
            raise ImapNo(f"Unsupported charset {cmd.charset}", "BADCHARSET", "(US-ASCII UTF-8)")
        assert cmd.key is not None
        account = _account(session)
        infos = self._info(session)
        msgs = []
        for seq, uid in enumerate(self.uids, 1):
            info = infos.get(uid)
            if info is None:
                continue

            def loader(uid: int = uid) -> bytes:
                return session.backend.message(account, self.name, uid)

            msgs.append(SearchMessage(seq, uid, info.flags, info.internal_date, info.size, loader))
        hits = search(cmd.key, msgs, uid=cmd.uid)
        return [r.SearchResponse(tuple(hits)), r.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}SEARCH completed")]

    def _copy(self, cmd: c.Copy, session: Session) -> list[r.Response]:
        from .session import decode_mailbox

        account = _account(session)
        move = isinstance(cmd, c.Move)
        if move and self.readonly:
            raise ImapNo("Mailbox is read-only", "READ-ONLY")
        dest = decode_mailbox(cmd.mailbox)
        try:
            dest_state = session.backend.state(account, dest)
        except ImapNo as err:
            raise ImapNo(err.text, "TRYCREATE") from None
        if dest_state.read_only:
            raise ImapNo("Destination mailbox is read-only", "READ-ONLY")
        targets = self._targets(cmd.sequence, cmd.uid)
        uids = [u for _, u in targets]
        verb = "MOVE" if move else "COPY"
        prefix = "UID " if cmd.uid else ""
        if not uids:
            return [r.ok(cmd.tag, f"{prefix}{verb} completed (no messages)")]
        if move:
            new = session.backend.move(account, self.name, uids, dest)
        else:
            new = session.backend.copy(account, self.name, uids, dest)
        code = r.ResponseCode("COPYUID", f"{dest_state.uidvalidity} {_uid_set(uids)} {_uid_set(new)}")
        if not move:
            return [r.ok(cmd.tag, f"{prefix}COPY completed", code)]
        # RFC 6851 4.3: COPYUID goes in an untagged OK before the EXPUNGEs
        updates = self.sync(session.backend.state(account, self.name), expunges=True)
        return [r.ok(None, "Moved", code), *updates, r.ok(cmd.tag, f"{prefix}MOVE completed")]

    def _expunge(self, cmd: c.Expunge, session: Session) -> list[r.Response]:
        if self.readonly:
            raise ImapNo("Mailbox is read-only", "READ-ONLY")
        account = _account(session)
        infos = self._info(session)
        wanted = set(cmd.uids.filter(self.uids)) if cmd.uids is not None else None
        doomed = [u for u in self.uids if u in infos and "\\Deleted" in infos[u].flags
                  and (wanted is None or u in wanted)]
        if doomed:
            session.backend.expunge(account, self.name, doomed)
        updates = self.sync(session.backend.state(account, self.name), expunges=True)
        return [*updates, r.ok(cmd.tag, f"{'UID ' if cmd.uids is not None else ''}EXPUNGE completed")]


def _account(session: Session) -> str:
    assert session.account is not None
    return session.account


def _canonical(flag: str) -> str:
    """System flags are case-insensitive (RFC 3501 2.3.2); keep their canonical spelling."""
    for sys_flag in SYSTEM_FLAGS:
        if flag.lower() == sys_flag.lower():
            return sys_flag
    return flag


def _uid_set(uids: list[int]) -> str:
    """A uid-set for COPYUID (RFC 4315 3): compressed when ascending, else listed in order."""
    if uids == sorted(uids):
        return str(SequenceSet.of(uids))
    return ",".join(str(u) for u in uids)
