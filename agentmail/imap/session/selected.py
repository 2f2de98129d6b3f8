"""Selected-state commands (RFC 3501 6.4): FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, with CONDSTORE and QRESYNC
(RFC 7162: MODSEQ, CHANGEDSINCE, VANISHED, UNCHANGEDSINCE, SEARCH MODSEQ; see condstore.py).

``SelectedMailbox`` keeps the client's view: the UID list that defines sequence numbers and the
flags last reported. ``sync`` diffs a fresh backend state against it and produces EXPUNGE (VANISHED
once QRESYNC is enabled) / EXISTS / FETCH FLAGS updates (with MODSEQ once CONDSTORE is). Expunges are only reported
where RFC 3501 7.4.1 allows (not during FETCH, STORE or SEARCH; UID versions may, RFC 3501 6.4.8 - we stay
conservative).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Protocol

from ..message.fetch import apply_partial, message_item
from ..message.fetchplan import ENVELOPE, FLAGS, INTERNALDATE, MODSEQ, SIZE, UID, WHOLE, FetchPlan
from ..message.mime import parse_message
from ..message.search import SearchMessage, compile_key
from ..protocol import commands as c
from ..protocol import response as r
from ..protocol.errors import ImapBad, ImapError, ImapNo
from ..protocol.fetchatt import FetchAtt
from ..protocol.searchkeys import SAll, SearchKey, has_modseq
from ..protocol.seqset import SequenceSet
from . import ordering
from .backend import MailboxState, MessageInfo
from .condstore import NONPERMANENT, Highest, changed_after, modseq_item, modseq_of, present_uids, ranges_of, vanished
from .flagtext import RECENT, RECENT_SET, canonical, copyuid, flag_lines, internaldate
from .listing import decode_mailbox
from .views import client_view, destination, diff, uid_flags

if TYPE_CHECKING:
    from .backend import Backend


class Session(Protocol):
    """What a selected mailbox needs of its session (session.Session is one): no import of session.py, which
    imports this module."""

    backend: Backend
    account: str | None

    def condstore_on(self) -> list[r.Response]:
        """Enable CONDSTORE (a CONDSTORE-enabling command, RFC 7162 3.1): the HIGHESTMODSEQ of the selected mailbox
        when that is new to the client."""


EXPUNGED = "EXPUNGEISSUED"  # RFC 5530: the backend's code for a message gone meanwhile
BATCH = 64  # messages per backend call in COPY / MOVE / EXPUNGE, the worker free for others in between


class SelectedMailbox:
    def __init__(self, name: str, readonly: bool, state: MailboxState, recent: Iterable[int] = ()) -> None:
        self.name = name
        self.readonly = readonly
        # RFC 3501 2.3.2: the messages this session is the first to see (never stored; the backend
        # hands each to one read-write session; EXAMINE sees the unclaimed ones without taking them)
        self.recent: set[int] = set(recent)
        self.uidvalidity = state.uidvalidity
        # the client's view: UIDs by sequence number and the flags last reported, side by side
        # (two lists of references: ~16 bytes a message, no per-message dict entry); a backend that keeps them
        # lends its own (views.client_view): copied by _mine() before the first change, so SELECT is O(1)
        self.uids, self.flags, self.keywords, self.first_unseen, self._lent = client_view(state.messages)
        self.state = state
        # the state last diffed, and whether expunges were applied: a backend that returns the very
        # same object while nothing changed (the Maildir cache) makes an idle poll O(1); the last state whose
        # expunges were applied, from which the next diff that applies them starts (views.diff)
        self._synced: MailboxState | None = state
        self._synced_expunges = True
        self._expunged_at: MailboxState | None = state
        # RFC 7162: set by the session as the client enables them; the HIGHESTMODSEQ reports of QRESYNC
        self.condstore = False
        self.qresync = False
        self.highest = Highest(state.highestmodseq)
        self.held_expunges = False  # expunges seen but not reported yet (RFC 3501 7.4.1)
        self.matched_modseq = 0  # the highest mod-sequence among the last SEARCH's matches
        self.own_modseq = 0  # the highest given to this session's own changes (in no synced state yet)

    # ------------------------------------------------------------------ views and updates
    def select_responses(self) -> list[r.Response]:
        """In Dovecot's order and words: FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UNSEEN, UIDVALIDITY, UIDNEXT, and
        HIGHESTMODSEQ, which a server keeping mod-sequences sends at every SELECT (RFC 7162 3.1.2.1), or NOMODSEQ.
        The lines around EXISTS and RECENT go pre-serialised (``flagtext.flag_lines``, one bytes format): a warm
        SELECT is mostly this Python."""
        st = self.state
        self.keywords.add("$MDNSent")
        unseen = self.first_unseen  # at selection, which is when this is asked
        modseq = (b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % st.highestmodseq if st.highestmodseq
                  else b"* OK [NOMODSEQ] No permanent modsequences\r\n")
        tail = b"* OK [UIDVALIDITY %d] UIDs valid\r\n* OK [UIDNEXT %d] Predicted next UID\r\n%s" % (
            st.uidvalidity, st.uidnext, modseq)
        if unseen is not None:
            tail = b"* OK [UNSEEN %d] First unseen.\r\n" % unseen + tail
        return [flag_lines(tuple(sorted(self.keywords)), self.readonly), r.exists(len(self.uids)),
                r.recent(len(self.recent)), r.Encoded(tail)]

    def flag_items(self, uid: int, flags: frozenset[str], modseq: int) -> list[tuple[str, r.Value]]:
        """A change of flags as reported: ``UID u FLAGS (..)``, with CONDSTORE ``MODSEQ (m) FLAGS (..)`` and with
        QRESYNC ``UID u MODSEQ (m) FLAGS (..)`` (Dovecot's forms)."""
        if not self.condstore:
            return [("UID", uid), ("FLAGS", self.flag_value(uid, flags))]
        self.highest.sent(modseq)
        items: list[tuple[str, r.Value]] = [("UID", uid)] if self.qresync else []
        return [*items, modseq_item(modseq), ("FLAGS", self.flag_value(uid, flags))]

    def highest_report(self) -> int:
        """The HIGHESTMODSEQ to tell a QRESYNC client after a change report (0: none)."""
        return self.highest.after_sync(self.state.highestmodseq, self.held_expunges) if self.qresync else 0

    def done(self, tag: str, text: str, code: r.ResponseCode | None = None) -> list[r.Response]:
        """The tagged OK after a change report; with QRESYNC, the HIGHESTMODSEQ the client could not tell from it
        (condstore.Highest): in the tagged OK when that has no code yet, else untagged before it."""
        send = self.highest_report()
        if not send:
            return [r.ok(tag, text, code)]
        highest = r.ResponseCode("HIGHESTMODSEQ", str(send))
        if code is None:
            return [r.ok(tag, text, highest)]
        return [r.ok(None, "Highest", highest), r.ok(tag, text, code)]

    def _mine(self) -> tuple[list[int], list[frozenset[str]]]:
        """The view's lists, to change: copied first while they are still the backend's."""
        if self._lent:
            self.uids, self.flags, self._lent = self.uids.copy(), self.flags.copy(), False
        return self.uids, self.flags

    def seq_of(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def flag_value(self, uid: int, flags: frozenset[str]) -> r.Raw:
        """A FETCH FLAGS value: the stored flags, then \\Recent for this session's recent messages."""
        return r.flag_list([*sorted(flags), RECENT] if uid in self.recent else sorted(flags))

    def sync(self, state: MailboxState, expunges: bool, recent: Iterable[int] = (),
             claimed: bool = True) -> list[r.Response]:
        """EXPUNGE (highest first, so lower numbers stay valid), FETCH FLAGS (with QRESYNC: FETCH FLAGS, then
        VANISHED, as Dovecot), EXISTS, then RECENT when
        this session got new recent messages (RFC 3501 7.4.1, 7.3.1, 7.3.2), from one merge walk of
        the sorted UID lists (nothing built per message). ``recent``: UIDs claimed for this session,
        or (``claimed`` False, a read-only view) the unclaimed ones, of which only new arrivals count."""
        self.state = state
        last_known = self.uids[-1] if self.uids else 0
        had = len(self.recent)
        self.recent.update(recent if claimed else (u for u in recent if u > last_known))
        if state is self._synced and (self._synced_expunges or not expunges):
            return [r.recent(len(self.recent))] if len(self.recent) > had else []
        uids, flags = self.uids, self.flags
        # gone: indexes into uids of messages no longer in the mailbox; changed: (index, uid, flags); new: (uid, flags)
        gone, changed, new = diff(uids, flags, state, self._expunged_at if expunges else self._synced)
        self._synced, self._synced_expunges = state, expunges
        if expunges:
            self._expunged_at = state
        self.held_expunges = not expunges and (self.held_expunges or bool(gone))
        out: list[r.Response] = []
        vanished: list[r.Response] = []  # RFC 7162 3.2.10: VANISHED instead of EXPUNGEs, after the FETCHes (Dovecot)
        if expunges and gone:
            if self.qresync:
                vanished.append(r.VanishedResponse(ranges_of([uids[g] for g in gone])))
            else:
                out += [r.expunge(g + 1) for g in reversed(gone)]
            doomed = set(gone)
            self.recent.difference_update(uids[g] for g in gone)
            self.uids = uids = [u for j, u in enumerate(uids) if j not in doomed]
            self.flags = flags = [f for j, f in enumerate(flags) if j not in doomed]
            self._lent = False
        if changed or new:
            uids, flags = self._mine()
        for i, uid, fs in changed:
            seq = i + 1  # with VANISHED to come: the number before the expunges
            if expunges and gone:
                i -= bisect_left(gone, i)  # the place after the expunges (EXPUNGE came first: their numbers too)
                if not vanished:
                    seq = i + 1
            flags[i] = fs
            modseq = modseq_of(state.messages, uid) if self.condstore else 0
            out.append(r.FetchResponse(seq, self.flag_items(uid, fs, modseq)))
        out += vanished
        if new:
            uids += [u for u, _ in new]
            flags += [f for _, f in new]
            out.append(r.exists(len(uids)))
        if len(self.recent) > had:
            out.append(r.recent(len(self.recent)))
        return out

    def _spans(self, seqset: SequenceSet, uid: bool) -> list[tuple[int, int]]:
        """The sorted, disjoint index ranges [start, stop) of self.uids a sequence set names."""
        uids = self.uids
        spans: list[tuple[int, int]] = []
        if uid:  # self.uids is sorted: bisect each range instead of testing every UID
            top = uids[-1] if uids else 0
            for lo, hi in seqset.ranges:
                a, b = (top if lo is None else lo), (top if hi is None else hi)
                if a > b:
                    a, b = b, a
                spans.append((bisect_left(uids, a), bisect_right(uids, b)))
        else:
            top = len(uids)
            if not top:  # "*" too: there is no highest message (Dovecot: BAD, the UID forms are OK)
                raise ImapBad("No messages in the mailbox")
            for lo, hi in seqset.ranges:
                if (lo is not None and lo > top) or (hi is not None and hi > top):
                    raise ImapBad("Invalid message sequence number")
                a, b = (top if lo is None else lo), (top if hi is None else hi)
                spans.append((min(a, b) - 1, max(a, b)))
        merged: list[tuple[int, int]] = []
        for a, b in sorted(s for s in spans if s[0] < s[1]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    def _targets(self, seqset: SequenceSet, uid: bool) -> Iterator[tuple[int, int]]:
        """(seq, uid) pairs a sequence set names in the client's view, lazily (ImapBad at once)."""
        spans, uids = self._spans(seqset, uid), self.uids
        return ((i + 1, uids[i]) for a, b in spans for i in range(a, b))

    # ------------------------------------------------------------------ dispatch
    def handle(self, cmd: c.Command, session: Session) -> Iterator[r.Response]:
        """The command's responses, produced as they are iterated: a whole-mailbox FETCH or STORE
        never holds all its responses at once. An error ends the stream with its tagged reply."""
        try:
            if isinstance(cmd, c.Fetch):
                yield from self._fetch(cmd, session)
            elif isinstance(cmd, c.Store):
                yield from self._store(cmd, session)
            elif isinstance(cmd, c.Search):
                yield from self._search(cmd, session)
            elif isinstance(cmd, (c.Sort, c.Thread)):
                yield from ordering.run(self, cmd, session)
            elif isinstance(cmd, c.Copy):
                yield from self._copy(cmd, session)
            elif isinstance(cmd, c.Expunge):
                yield from self._expunge(cmd, session)
            else:
                yield r.bad(cmd.tag, f"{cmd.name} is not supported")
        except ImapError as err:
            yield err.response(cmd.tag)

    def _info(self, session: Session) -> Mapping[int, MessageInfo]:
        state = session.backend.state(_account(session), self.name)
        self.state = state
        # a backend's lazy uid lookup (the Maildir cache) spares building every MessageInfo
        lookup: Callable[[], Mapping[int, MessageInfo]] | None = getattr(state.messages, "lookup_map", None)
        return lookup() if lookup is not None else {m.uid: m for m in state.messages}

    def _fetch(self, cmd: c.Fetch, session: Session) -> Iterator[r.Response]:
        account = _account(session)
        targets = self._targets(cmd.sequence, cmd.uid)
        infos = self._info(session)
        atts = list(cmd.attributes)
        if cmd.uid and not any(a.name == "UID" and a.section is None for a in atts):
            atts.insert(0, FetchAtt("UID"))  # RFC 3501 6.4.8: UID FETCH always returns UID
        asks_modseq = any(a.name == "MODSEQ" for a in atts)
        if asks_modseq or cmd.changedsince is not None:  # CONDSTORE-enabling (RFC 7162 3.1)
            if not self.state.highestmodseq:
                raise ImapBad(f"FETCH {'MODSEQ' if asks_modseq else 'CHANGEDSINCE'} {NONPERMANENT}")
            yield from session.condstore_on()  # before the BAD below too, as Dovecot
            if cmd.vanished and not self.qresync:
                raise ImapBad("QRESYNC not enabled")
        if cmd.changedsince is not None:  # RFC 7162 3.1.4.1: only what changed since, always with its MODSEQ
            if not asks_modseq:
                atts.append(FetchAtt("MODSEQ"))
            changed = set(changed_after(self.state.messages, cmd.changedsince))
            targets = (t for t in targets if t[1] in changed)
            if cmd.vanished:  # RFC 7162 3.2.6: the expunges within the set since then, first
                told = _told(session, self.name, cmd.changedsince)
                gone = vanished(told, present_uids(self.state.messages), cmd.sequence, self.state.uidnext)
                if gone:
                    yield r.VanishedResponse(gone, earlier=True)
        backend = session.backend
        plan = FetchPlan(atts, getattr(backend, "envelopes", None) is not None,
                         getattr(backend, "headers", None) is not None)
        envelope_of: Callable[[int], bytes] | None = (
            backend.envelopes(account, self.name) if plan.cached_envelope else None)  # type: ignore[attr-defined]
        header_of: Callable[[int], bytes] | None = (
            backend.headers(account, self.name) if plan.header_only else None)  # type: ignore[attr-defined]
        set_seen = not self.readonly and any(a.sets_seen for a in atts)
        pending = iter(targets)
        while chunk := list(islice(pending, BATCH)):  # \Seen set for a batch at a time (one logged change)
            yield from self._fetch_chunk(chunk, infos, set_seen, plan, atts, cmd.uid, session, asks_modseq,
                                         envelope_of, header_of)
        yield from self.sync(backend.state(account, self.name), expunges=False)
        yield from self.done(cmd.tag, f"{'UID ' if cmd.uid else ''}FETCH completed")

    def _mark_seen(self, chunk: list[tuple[int, int]], infos: Mapping[int, MessageInfo], session: Session
                   ) -> dict[int, int | None]:
        """RFC 3501 6.4.5: the \\Seen a FETCH of a body sets, for a batch of messages in one backend call (one logged
        change); UID -> its new mod-sequence. A message expunged meanwhile ends the FETCH with NO [EXPUNGED], as it
        did one message at a time."""
        want = [(uid, info.flags | {"\\Seen"}) for _, uid in chunk
                if (info := infos.get(uid)) is not None and "\\Seen" not in info.flags]
        if not want:
            return {}
        done = session.backend.store_flags(_account(session), self.name, want)
        if len(done) < len(want):
            raise ImapNo("Message was expunged", EXPUNGED)
        return done

    def _fetch_chunk(self, chunk: list[tuple[int, int]], infos: Mapping[int, MessageInfo], set_seen: bool,
                     plan: FetchPlan, atts: list[FetchAtt], uid_fetch: bool, session: Session, asks_modseq: bool,
                     envelope_of: Callable[[int], bytes] | None, header_of: Callable[[int], bytes] | None
                     ) -> Iterator[r.Response]:
        account, backend, flag_value = _account(session), session.backend, self.flag_value
        seen = self._mark_seen(chunk, infos, session) if set_seen else {}
        for seq, uid in chunk:
            info = infos.get(uid)
            if info is None:
                continue  # expunged by someone else; reported at the next NOOP
            flags = info.flags
            modseq = info.modseq
            if uid in seen:
                flags = flags | {"\\Seen"}
                modseq = seen[uid] or modseq
                self.own_modseq = max(self.own_modseq, modseq)
            data = backend.message(account, self.name, uid) if plan.full else None
            root = None
            if plan.parse:
                root = parse_message(data) if data is not None else None
            elif header_of is not None:
                root = parse_message(header_of(uid))
            items: list[tuple[str, r.Value]] = []
            for att, kind in plan.kinds:
                if kind == UID:
                    items.append(("UID", uid))
                elif kind == FLAGS:
                    items.append(("FLAGS", flag_value(uid, flags)))
                elif kind == MODSEQ:
                    items.append(modseq_item(modseq))
                    self.highest.sent(modseq)
                elif kind == INTERNALDATE:
                    items.append(("INTERNALDATE", internaldate(info.internal_date)))
                elif kind == SIZE:
                    items.append(("RFC822.SIZE", info.size if data is None else len(data)))
                elif kind == ENVELOPE and envelope_of is not None:
                    items.append(("ENVELOPE", r.Raw(envelope_of(uid))))
                elif kind == WHOLE and root is None:
                    assert data is not None
                    items.append((att.response_name, r.Literal(apply_partial(data, att.partial))))
                else:
                    assert root is not None
                    items.append((att.response_name, message_item(att, root)))
            if flags != info.flags and not any(a.name == "FLAGS" for a in atts):
                items.append(("FLAGS", self.flag_value(uid, flags)))  # RFC 3501 6.4.5: report \Seen
            if flags is not self.flags[seq - 1]:
                self._mine()[1][seq - 1] = flags
            yield r.FetchResponse(seq, items)
            if flags is not info.flags and self.condstore and modseq != info.modseq and not asks_modseq:
                # the implicit \Seen's new mod-sequence, in a FETCH of its own as Dovecot sends it
                self.highest.sent(modseq)
                yield r.FetchResponse(seq, [*((("UID", uid),) if uid_fetch or self.qresync else ()),
                                            modseq_item(modseq)])

    def _store(self, cmd: c.Store, session: Session) -> Iterator[r.Response]:
        if self.readonly:
            raise ImapNo("Mailbox is read-only", "READ-ONLY")
        if any(f.lower() == "\\recent" for f in cmd.flags):
            raise ImapBad("\\Recent cannot be stored")
        account = _account(session)
        infos = self._info(session)
        since = cmd.unchangedsince
        if since is not None:  # RFC 7162 3.1.3, CONDSTORE-enabling
            if not self.state.highestmodseq:
                raise ImapBad(f"STORE UNCHANGEDSINCE {NONPERMANENT}")
            yield from session.condstore_on()
        given = frozenset(canonical(f) for f in cmd.flags)
        done: list[tuple[int, int, frozenset[str], int]] = []  # every change is made before any reply
        modified: list[int] = []  # RFC 7162 3.1.3: changed since UNCHANGEDSINCE, left alone
        batch: list[tuple[int, int, frozenset[str], int]] = []  # (seq, uid, flags, modseq) to change in one go
        for seq, uid in self._targets(cmd.sequence, cmd.uid):
            info = infos.get(uid)
            if info is None:
                continue
            if since is not None and info.modseq > since:
                modified.append(uid if cmd.uid else seq)
                continue
            if cmd.mode == "+":
                flags = info.flags | given
            elif cmd.mode == "-":
                flags = info.flags - given
            else:
                flags = given
            if flags != info.flags:
                batch.append((seq, uid, flags, info.modseq))
                if len(batch) >= BATCH:
                    self._store_batch(batch, done, session, account, cmd.silent)
                    batch = []
                    yield r.PAUSE  # 64 renames at a time: 10,000 of them take a while, let others in between
                continue
            if not self.condstore:  # nothing changed: no FETCH and no new mod-sequence with CONDSTORE (as Dovecot)
                self._stored(seq, uid, flags, info.modseq, done, cmd.silent)
        self._store_batch(batch, done, session, account, cmd.silent)
        done.sort()
        for seq, uid, flags, modseq in done:
            items: list[tuple[str, r.Value]] = [("UID", uid)] if cmd.uid or (self.condstore and self.qresync) else []
            if self.condstore:  # Dovecot's order: UID MODSEQ FLAGS; .SILENT still tells the new MODSEQ
                items.append(modseq_item(modseq))
                self.highest.sent(modseq)
            if not cmd.silent:
                items.append(("FLAGS", self.flag_value(uid, flags)))
            yield r.FetchResponse(seq, items)
        if modified:
            yield r.ok(cmd.tag, "Conditional store failed",
                       r.ResponseCode("MODIFIED", r.sequence_set(sorted(modified)).decode()))
        else:
            yield r.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}STORE completed")

    def _store_batch(self, batch: list[tuple[int, int, frozenset[str], int]], done: list[tuple[int, int,
                     frozenset[str], int]], session: Session, account: str, silent: bool) -> None:
        """Change the flags of a batch of messages in one backend call; the ones expunged by another client meanwhile
        (e.g. between two pauses) are skipped."""
        if not batch:
            return
        got = session.backend.store_flags(account, self.name, [(uid, flags) for _, uid, flags, _ in batch])
        for seq, uid, flags, modseq in batch:
            if uid not in got:
                continue
            modseq = got[uid] or modseq
            self.own_modseq = max(self.own_modseq, modseq)
            self._stored(seq, uid, flags, modseq, done, silent)

    def _stored(self, seq: int, uid: int, flags: frozenset[str], modseq: int,
                done: list[tuple[int, int, frozenset[str], int]], silent: bool) -> None:
        if flags is not self.flags[seq - 1]:
            self._mine()[1][seq - 1] = flags
        self.keywords.update(f for f in flags if not f.startswith("\\"))
        if not silent or self.condstore:
            done.append((seq, uid, flags, modseq))

    def infos(self, session: Session) -> Mapping[int, MessageInfo]:
        """The mailbox's messages by UID, as they are now."""
        return self._info(session)

    def matching(self, key: SearchKey, charset: str | None,
                 session: Session) -> Iterator[r.Pause | tuple[int, int]]:
        """(seq, uid) of each message the key matches, in mailbox order, with a PAUSE after each message
        tested (SEARCH, SORT and THREAD read and decode messages one at a time: nothing per message is kept,
        and others get the worker in between). Messages expunged meanwhile match nothing."""
        if charset is not None and charset.upper() not in ("UTF-8", "US-ASCII"):
            raise ImapNo(f"Unsupported charset {charset}", "BADCHARSET", "(US-ASCII UTF-8)")
        self.matched_modseq = 0
        if isinstance(key, SAll):  # SORT/THREAD ... ALL: nothing to test, no message looked at
            state = session.backend.state(_account(session), self.name)
            self.state = state
            present = {uid for uid, _ in uid_flags(state.messages)}
            yield from ((seq, uid) for seq, uid in enumerate(self.uids, 1) if uid in present)
            return
        account = _account(session)
        infos = self._info(session)
        test = compile_key(key, len(self.uids), self.uids[-1] if self.uids else 0)
        for seq, uid in enumerate(list(self.uids), 1):
            info = infos.get(uid)
            if info is None:
                continue

            def loader(uid: int = uid) -> bytes:
                return session.backend.message(account, self.name, uid)

            fs = info.flags | RECENT_SET if uid in self.recent else info.flags  # SEARCH RECENT / NEW / OLD

            def date(info: MessageInfo = info) -> dt.datetime:
                return info.internal_date

            try:
                if test(SearchMessage(seq, uid, fs, date, info.size, loader, info.modseq)):
                    if info.modseq > self.matched_modseq:
                        self.matched_modseq = info.modseq
                    yield seq, uid
            except ImapNo as err:
                if err.code is None or err.code.name != EXPUNGED:
                    raise  # expunged by another client meanwhile: it matches nothing, as in Dovecot
            yield r.PAUSE

    def _search(self, cmd: c.Search, session: Session) -> Iterator[r.Response]:
        assert cmd.key is not None
        modseq = has_modseq(cmd.key)
        if modseq:  # CONDSTORE-enabling (RFC 7162 3.1)
            yield from session.condstore_on()
        hits: list[int] = []
        for got in self.matching(cmd.key, cmd.charset, session):
            if isinstance(got, r.Pause):
                yield got
            else:
                hits.append(got[1] if cmd.uid else got[0])
        highest = self.matched_modseq if modseq else None  # RFC 7162 3.1.5: the highest among the matches
        if cmd.returns is None:
            yield r.SearchResponse(hits, modseq=highest)
        else:  # RFC 4731: RETURN () means ALL
            yield r.ESearchResponse(cmd.tag, cmd.uid, frozenset(cmd.returns or ("ALL",)), hits, highest)
        yield r.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}SEARCH completed")

    def _copy(self, cmd: c.Copy, session: Session) -> Iterator[r.Response]:

        account = _account(session)
        move = isinstance(cmd, c.Move)
        if move and self.readonly:
            raise ImapNo("Mailbox is read-only", "READ-ONLY")
        dest = decode_mailbox(cmd.mailbox)
        try:  # its UIDVALIDITY and read-only flag only: no listing of the whole destination
            dest_state = destination(session.backend, account, dest)
        except ImapNo as err:
            raise ImapNo(err.text, "TRYCREATE") from None
        if dest_state.read_only:
            raise ImapNo("Destination mailbox is read-only", "READ-ONLY")
        targets = self._targets(cmd.sequence, cmd.uid)
        uids = [u for _, u in targets]
        verb = "MOVE" if move else "COPY"
        prefix = "UID " if cmd.uid else ""
        if not uids:
            yield r.ok(cmd.tag, f"{prefix}{verb} completed (no messages)")
            return
        # in batches, the worker going to other clients in between (10,000 links take ~0.5 s)
        done: list[int] = []
        new: list[int] = []
        try:
            for i in range(0, len(uids), BATCH):
                batch = uids[i:i + BATCH]
                if move:
                    new += session.backend.move(account, self.name, batch, dest)
                else:
                    new += session.backend.copy(account, self.name, batch, dest)
                done += batch
                yield r.PAUSE
        except ImapError:
            if not move and new:  # RFC 3501 6.4.7: a failed COPY leaves the destination as it was
                session.backend.expunge(account, dest, new)
            elif move and done:  # RFC 6851 3.3: each message moved or untouched; tell what moved
                yield r.ok(None, "Moved in part", copyuid(dest_state.uidvalidity, done, new))
                yield from self.sync(session.backend.state(account, self.name), expunges=True)
            raise
        code = copyuid(dest_state.uidvalidity, uids, new)
        if not move:
            yield r.ok(cmd.tag, f"{prefix}COPY completed", code)
            return
        # RFC 6851 4.3: COPYUID goes in an untagged OK before the EXPUNGEs
        yield r.ok(None, "Moved", code)
        yield from self.sync(session.backend.state(account, self.name), expunges=True)
        yield from self.done(cmd.tag, f"{prefix}MOVE completed")

    def _expunge(self, cmd: c.Expunge, session: Session) -> Iterator[r.Response]:
        if self.readonly:
            raise ImapNo("Mailbox is read-only", "READ-ONLY")
        account = _account(session)
        infos = self._info(session)
        wanted = set(cmd.uids.filter(self.uids)) if cmd.uids is not None else None
        doomed = [u for u in self.uids if u in infos and "\\Deleted" in infos[u].flags
                  and (wanted is None or u in wanted)]
        for i in range(0, len(doomed), BATCH):
            session.backend.expunge(account, self.name, doomed[i:i + BATCH])
            yield r.PAUSE
        yield from self.sync(session.backend.state(account, self.name), expunges=True)
        yield from self.done(cmd.tag, f"{'UID ' if cmd.uids is not None else ''}EXPUNGE completed")


def _account(session: Session) -> str:
    assert session.account is not None
    return session.account


def _told(session: Session, mailbox: str, modseq: int) -> list[int] | None:
    """The backend's UIDs expunged after ``modseq`` (None: it cannot tell, or keeps no such memory)."""
    fn: Callable[[str, str, int], list[int] | None] | None = getattr(session.backend, "vanished", None)
    return fn(_account(session), mailbox, modseq) if fn is not None else None
