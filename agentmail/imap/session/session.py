"""The IMAP session state machine (sans-IO): events in, response objects out.

States (RFC 3501 3): not-authenticated -> authenticated <-> selected -> logout. Each command
class declares the states it is valid in (``Command.states``); the session checks that once,
in ``handle``, then dispatches by class. Everything touching mail goes through a ``Backend``.

The IO layer's loop::

    for event in parser events:
        for resp in session.stream(event): write(resp.to_bytes())   # drain as they come
        if session.wants_line: parser.expect_line()
        if session.closed: close
    while idling (session.idling): every second write(session.poll())
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..protocol import commands as c
from ..protocol import response as r
from ..protocol import utf7
from ..protocol.errors import ImapBad, ImapBye, ImapError, ImapNo, internal_error
from ..protocol.events import NeedContinuation, ParseError, RawLine
from .backend import DELIMITER, Backend, MailboxInfo, MailboxState
from .condstore import CONDSTORE, QRESYNC, qresync_select
from .listing import decode_mailbox, lsub_entries, order, parents, pattern_regex, with_parents
from .selected import SelectedMailbox
from .views import total_size, unseen_count

CAPABILITIES = (
    "IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE",
    "UNSELECT", "CHILDREN", "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "ESEARCH",
    "SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "CONDSTORE", "QRESYNC",
)
PRE_AUTH_CAPABILITIES = (*CAPABILITIES, "AUTH=PLAIN")
# each once, as Dovecot sends them
STATUS_ORDER = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE")
ENABLEABLE = (CONDSTORE, QRESYNC)  # RFC 5161 ENABLE: RFC 7162's two
SERVER_ID = (("name", "agentmail"), ("vendor", "agentmail"))
CLOSED = r.Encoded(r.ok(None, "Previous mailbox closed.", r.ResponseCode("CLOSED")).to_bytes())


def _list_name(name: str) -> str | None:
    try:
        return utf7.decode(name)
    except utf7.Utf7Error:
        return None


class Session:
    def __init__(self, backend: Backend, greeting: str = "agentmail IMAP ready.") -> None:
        self.backend = backend
        self.greeting_text = greeting
        self.state = "not-authenticated"
        self.account: str | None = None
        self.selected: SelectedMailbox | None = None
        self.closed = False
        self.wants_line = False  # the IO layer should call parser.expect_line()
        self.idling: str | None = None  # tag of the running IDLE
        self.failed_logins = 0  # for the IO layer's delay / rate limit
        self._pending_auth: str | None = None  # tag of an AUTHENTICATE waiting for its line
        self.enabled: set[str] = set()  # RFC 5161 / 7162: CONDSTORE, QRESYNC (which implies CONDSTORE)

    # ------------------------------------------------------------------ entry points
    def greeting(self) -> list[r.Response]:
        caps = " ".join(PRE_AUTH_CAPABILITIES)
        return [r.ok(None, self.greeting_text, r.ResponseCode("CAPABILITY", caps))]

    def handle(self, event: c.Command | NeedContinuation | ParseError | RawLine) -> list[r.Response]:
        """All responses to one event (see ``stream``), without its pauses."""
        return [resp for resp in self.stream(event) if not isinstance(resp, r.Pause)]

    def stream(self, event: c.Command | NeedContinuation | ParseError | RawLine) -> Iterator[r.Response]:
        """The responses to one event, built as they are iterated, so the IO layer can write a
        whole-mailbox FETCH while it is produced. The iterator must be run to its end (the tagged
        reply comes last); ``wants_line`` / ``closed`` / the state are final once it is. A long command
        yields ``response.PAUSE`` (no bytes) now and then: where the IO layer may give the worker to others."""
        self.wants_line = False
        if isinstance(event, NeedContinuation):
            yield r.ContinuationRequest()
        elif isinstance(event, ParseError):
            if event.fatal:
                self.closed = True
            yield event.response
        else:
            # the command a raw line belongs to (AUTHENTICATE, IDLE) is known only until it is handled
            tag, what = (self._pending_auth or self.idling, "a continuation line") if isinstance(event, RawLine) \
                else (event.tag, event.name)
            try:
                if isinstance(event, RawLine):
                    yield from self._raw_line(event.line)
                else:
                    yield from self._command(event)
            except Exception:  # a bug: logged with its traceback; the client gets NO [SERVERBUG], not BAD
                self.wants_line, self._pending_auth, self.idling = False, None, None  # the next line is a command
                yield internal_error(tag, what)

    def poll(self) -> list[r.Response]:
        """Untagged updates for the selected mailbox (call it while idling)."""
        if self.selected is None or self.account is None:
            return []
        name = self.selected.name
        try:
            if self.selected.readonly:
                return self.selected.sync(self._state(name), expunges=True, recent=self._recent(name), claimed=False)
            state, claimed = self._claim(name)
        except ImapNo as err:
            if err.code is None or err.code.name != "NONEXISTENT":
                raise
            # deleted under us (another session, the CLI): as Dovecot, BYE rather than a NO for every command after
            self.closed = True
            raise ImapBye("Selected mailbox was deleted, have to disconnect") from None
        return self.selected.sync(state, expunges=True, recent=claimed)

    def idle_poll(self) -> list[r.Response]:
        """``poll`` while idling: with QRESYNC, the new HIGHESTMODSEQ after what it reported goes untagged (there is
        no tagged reply to carry it, RFC 7162 3.2.10)."""
        updates = self.poll()
        if updates and self.selected is not None and self.selected.qresync:
            send = self.selected.highest_report()
            if send:
                updates.append(r.ok(None, "Highest", r.ResponseCode("HIGHESTMODSEQ", str(send))))
        return updates

    def condstore_on(self) -> list[r.Response]:
        """CONDSTORE enabled by ENABLE or a CONDSTORE-enabling command (RFC 7162 3.1): from now on FETCH responses
        of flag changes carry MODSEQ; the selected mailbox's HIGHESTMODSEQ is told at once (as Dovecot does)."""
        if CONDSTORE in self.enabled:
            return []
        self.enabled.add(CONDSTORE)
        if self.selected is None:
            return []
        self.selected.condstore = True
        # the highest the mailbox had at the last look, or that this session's own changes since took (Dovecot
        # tells the highest of its view, which holds them)
        highest = max(self.selected.state.highestmodseq, self.selected.own_modseq) if \
            self.selected.state.highestmodseq else 0
        return [r.ok(None, "Highest", r.ResponseCode("HIGHESTMODSEQ", str(highest)))] if highest else []

    # ------------------------------------------------------------------ dispatch
    def _command(self, cmd: c.Command) -> Iterator[r.Response]:
        if self.state not in cmd.states:
            yield r.bad(cmd.tag, self._state_error(cmd))
            return
        handler: Callable[[Any], Iterable[r.Response]] | None = getattr(
            self, "_cmd_" + type(cmd).__name__.lower(), None)
        if handler is None:
            if self.selected is not None:
                yield from self.selected.handle(cmd, self)  # a generator: FETCH/STORE stream
                return
            yield r.bad(cmd.tag, f"{cmd.name} is not supported")  # pragma: no cover
            return
        try:
            yield from handler(cmd)  # a list, or a generator (LIST) whose errors come while iterating
        except ImapError as err:
            yield err.response(cmd.tag)

    def _state_error(self, cmd: c.Command) -> str:
        if self.state == "not-authenticated":
            return f"{cmd.name} requires authentication first (LOGIN or AUTHENTICATE)"
        if cmd.states == c.SELECTED:
            return f"{cmd.name} requires a selected mailbox (SELECT or EXAMINE first)"
        return f"{cmd.name} is not allowed after authentication"

    def _state(self, mailbox: str) -> MailboxState:
        assert self.account is not None
        return self.backend.state(self.account, mailbox)

    def _claim(self, mailbox: str) -> tuple[MailboxState, list[int]]:
        """State of a mailbox selected read-write, and the UIDs now \\Recent in this session only. A
        backend with ``claim`` (Maildir) hands each new message to one session and moves new/ to
        cur/ as Dovecot does; without it nothing is ever recent."""
        claim: Callable[[str, str], tuple[MailboxState, list[int]]] | None = getattr(self.backend, "claim", None)
        if claim is None:
            return self._state(mailbox), []
        assert self.account is not None
        return claim(self.account, mailbox)

    def _recent(self, mailbox: str) -> list[int]:
        """UIDs \\Recent in no session yet (EXAMINE / STATUS / read-only views: counted, not claimed)."""
        recent: Callable[[str, str], list[int]] | None = getattr(self.backend, "recent", None)
        if recent is None:
            return []
        assert self.account is not None
        return recent(self.account, mailbox)

    def _untagged_updates(self) -> list[r.Response]:
        return self.poll() if self.selected is not None else []

    # ------------------------------------------------------------------ any state
    def _cmd_capability(self, cmd: c.Capability) -> list[r.Response]:
        caps = CAPABILITIES if self.account else PRE_AUTH_CAPABILITIES
        return [r.CapabilityResponse(caps), r.ok(cmd.tag, "CAPABILITY completed")]

    def _done(self, tag: str, text: str, code: r.ResponseCode | None = None) -> list[r.Response]:
        """The tagged OK of a command that reported changes (selected.done: QRESYNC's HIGHESTMODSEQ)."""
        return self.selected.done(tag, text, code) if self.selected is not None else [r.ok(tag, text, code)]

    def _cmd_noop(self, cmd: c.Noop) -> list[r.Response]:
        return [*self._untagged_updates(), *self._done(cmd.tag, "NOOP completed")]

    def _cmd_logout(self, cmd: c.Logout) -> list[r.Response]:
        self.closed = True
        self.state = "logout"
        return [r.bye("Logging out"), r.ok(cmd.tag, "LOGOUT completed")]

    def _cmd_id(self, cmd: c.Id) -> list[r.Response]:
        data: list[r.Value] = []
        for k, v in SERVER_ID:
            data += [k, v]
        return [r.Untagged((r.Atom("ID"), data)), r.ok(cmd.tag, "ID completed")]

    # ------------------------------------------------------------------ not authenticated
    def _cmd_starttls(self, cmd: c.StartTls) -> list[r.Response]:
        return [r.bad(cmd.tag, "STARTTLS is not available on this loopback server")]

    def _logged_in(self, tag: str, account: str | None) -> list[r.Response]:
        if account is None:
            self.failed_logins += 1
            return [r.no(tag, "Authentication failed.", r.ResponseCode("AUTHENTICATIONFAILED"))]
        self.account = account
        self.state = "authenticated"
        return [r.ok(tag, "Logged in", r.ResponseCode("CAPABILITY", " ".join(CAPABILITIES)))]

    def _cmd_login(self, cmd: c.Login) -> list[r.Response]:
        return self._logged_in(cmd.tag, self.backend.login(cmd.user, cmd.password))

    def _cmd_authenticate(self, cmd: c.Authenticate) -> list[r.Response]:
        if cmd.mechanism != "PLAIN":
            return [r.no(cmd.tag, f"Unsupported authentication mechanism {cmd.mechanism}", r.ResponseCode("CANNOT"))]
        if cmd.initial is None:  # RFC 3501 6.2.2: empty challenge, then one line of base64
            self._pending_auth = cmd.tag
            self.wants_line = True
            return [r.ContinuationRequest(data=b"")]
        return self._plain(cmd.tag, cmd.initial.encode("ascii"))

    def _plain(self, tag: str, b64: bytes) -> list[r.Response]:
        try:
            raw = base64.b64decode(b64, validate=True)
            _authzid, user, password = raw.split(b"\0")  # RFC 4616
        except (binascii.Error, ValueError):
            return [r.bad(tag, "Invalid SASL PLAIN response")]
        return self._logged_in(tag, self.backend.login(user.decode("utf-8", "replace"),
                                                       password.decode("utf-8", "replace")))

    def _raw_line(self, line: bytes) -> list[r.Response]:
        if self._pending_auth is not None:
            tag, self._pending_auth = self._pending_auth, None
            if line.strip() == b"*":
                return [r.bad(tag, "Authentication cancelled")]
            return self._plain(tag, line.strip())
        if self.idling is not None:
            tag, self.idling = self.idling, None
            if line.strip().upper() != b"DONE":
                return [r.bad(tag, "Expected DONE to end IDLE")]
            try:
                updates = self._untagged_updates()
            except ImapError as err:  # the mailbox went away while idling (deleted by another session): IDLE's NO
                return [err.response(tag)]
            return [*updates, *self._done(tag, "IDLE terminated")]
        return [r.bad(None, "Unexpected line")]

    # ------------------------------------------------------------------ authenticated
    def _cmd_enable(self, cmd: c.Enable) -> list[r.Response]:
        """RFC 5161: ``* ENABLED`` names what was asked for and is known here (as Dovecot: again when already on;
        no ENABLED line when nothing is known); QRESYNC implies CONDSTORE (RFC 7162 3.2.3)."""
        names = [cap for cap in dict.fromkeys(cmd.capabilities) if cap in ENABLEABLE]
        out = self.condstore_on() if names else []
        if QRESYNC in names:
            self.enabled.add(QRESYNC)
            if self.selected is not None:
                self.selected.qresync = True
        if names:
            out.append(r.EnabledResponse(tuple(names)))
        return [*out, r.ok(cmd.tag, "ENABLE completed")]

    def _cmd_namespace(self, cmd: c.Namespace) -> list[r.Response]:
        personal = r.Raw(b'(("" "' + DELIMITER.encode() + b'"))')
        return [r.Untagged((r.Atom("NAMESPACE"), personal, None, None)), r.ok(cmd.tag, "NAMESPACE completed")]

    def _cmd_select(self, cmd: c.Select) -> Iterator[r.Response]:
        if self.selected is not None:  # RFC 7162 3.2.11: said whenever a selected mailbox is closed this way
            yield CLOSED
        self.selected = None
        self.state = "authenticated"
        if cmd.qresync is not None and QRESYNC not in self.enabled:
            raise ImapBad("QRESYNC not enabled")
        name = decode_mailbox(cmd.mailbox)
        if cmd.readonly:  # RFC 3501 6.3.2: EXAMINE must not take \Recent away from anyone
            state, recent = self._state(name), self._recent(name)
        else:
            state, recent = self._claim(name)
            if state.read_only:
                recent = self._recent(name)
        if cmd.condstore:  # CONDSTORE-enabling (RFC 7162 3.1.8): HIGHESTMODSEQ is in the responses anyway
            self.enabled.add(CONDSTORE)
        readonly = cmd.readonly or state.read_only
        selected = self.selected = SelectedMailbox(name, readonly, state, recent)
        selected.condstore, selected.qresync = CONDSTORE in self.enabled, QRESYNC in self.enabled
        self.state = "selected"
        yield from selected.select_responses()
        if cmd.qresync is not None and state.highestmodseq:  # RFC 7162 3.2.5.2
            backend = self.backend
            assert self.account is not None
            account = self.account

            def told(modseq: int) -> list[int] | None:
                fn: Callable[[str, str, int], list[int] | None] | None = getattr(backend, "vanished", None)
                return fn(account, name, modseq) if fn is not None else None

            yield from qresync_select(cmd.qresync, selected.uids, selected.flags, state.uidvalidity, state.uidnext,
                                      state.messages, told, selected.flag_value)
        code = r.ResponseCode("READ-ONLY" if readonly else "READ-WRITE")
        yield r.ok(cmd.tag, f"{cmd.name} completed", code)

    _cmd_examine = _cmd_select

    def _cmd_create(self, cmd: c.Create) -> list[r.Response]:
        name = decode_mailbox(cmd.mailbox).rstrip(DELIMITER)
        if name.upper() == "INBOX":
            raise ImapNo("INBOX already exists", "ALREADYEXISTS")
        if cmd.special_use:  # RFC 6154 5.3: CREATE-SPECIAL-USE is not offered; never create it without the use
            raise ImapNo("Special-use attributes cannot be given to new mailboxes here", "USEATTR")
        assert self.account is not None
        self.backend.create(self.account, name)
        return [r.ok(cmd.tag, "CREATE completed")]

    def _cmd_delete(self, cmd: c.Delete) -> list[r.Response]:
        name = decode_mailbox(cmd.mailbox)
        if name == "INBOX":
            raise ImapNo("INBOX cannot be deleted", "CANNOT")
        assert self.account is not None
        self.backend.delete(self.account, name)
        return [r.ok(cmd.tag, "DELETE completed")]

    def _cmd_rename(self, cmd: c.Rename) -> list[r.Response]:
        assert self.account is not None
        self.backend.rename(self.account, decode_mailbox(cmd.old), decode_mailbox(cmd.new))
        return [r.ok(cmd.tag, "RENAME completed")]

    def _subscribe(self, tag: str, mailbox: str, on: bool) -> list[r.Response]:
        """RFC 3501 6.3.6 / 6.3.7, kept in Dovecot's ``subscriptions`` file by a backend that has
        ``subscribe``; without one every mailbox counts as subscribed."""
        fn: Callable[[str, str, bool], None] | None = getattr(self.backend, "subscribe", None)
        name = decode_mailbox(mailbox)
        if fn is not None:
            assert self.account is not None
            fn(self.account, name, on)
        return [r.ok(tag, f"{'SUBSCRIBE' if on else 'UNSUBSCRIBE'} completed")]

    def _cmd_subscribe(self, cmd: c.Subscribe) -> list[r.Response]:
        return self._subscribe(cmd.tag, cmd.mailbox, True)

    def _cmd_unsubscribe(self, cmd: c.Unsubscribe) -> list[r.Response]:
        return self._subscribe(cmd.tag, cmd.mailbox, False)

    def _subscribed(self, boxes: list[MailboxInfo]) -> list[str]:
        fn: Callable[[str], list[str]] | None = getattr(self.backend, "subscriptions", None)
        assert self.account is not None
        return fn(self.account) if fn is not None else [b.name for b in boxes if b.selectable]

    def _list(self, tag: str, reference: str, patterns: tuple[str, ...], command: str,
              cmd: c.List | None = None) -> Iterator[r.Response]:
        """LIST and LSUB. A plain LIST (RFC 3501) shows \\HasChildren / \\HasNoChildren and the special-use
        attributes; an extended one (RFC 5258: selection options, several patterns or RETURN) only what it asks
        for, as Dovecot does: CHILDREN, SUBSCRIBED (also implied by the SUBSCRIBED selection), SPECIAL-USE (also
        implied by the SPECIAL-USE selection, RFC 6154 3), STATUS (RFC 5819: a STATUS response after each
        selectable mailbox). Attributes go in Dovecot's order: \\Subscribed, \\Noselect or \\NonExistent,
        the children, the special use."""
        assert self.account is not None
        done = r.ok(tag, f"{command} completed")
        if patterns == ("",):  # RFC 3501 6.3.8: the delimiter and root
            yield r.ListResponse(("\\Noselect",), DELIMITER, "", command)
            yield done
            return
        boxes = with_parents(self.backend.mailboxes(self.account))
        # a reference or pattern that is not modified UTF-7 names no mailbox: OK, nothing listed (Dovecot too)
        regexes = [pattern_regex(ref, pat) for ref, pat in ((_list_name(reference), _list_name(p)) for p in patterns)
                   if ref is not None and pat is not None]
        if command == "LSUB":
            for a, n in lsub_entries(self._subscribed(boxes), boxes, regexes):
                yield r.ListResponse(a, DELIMITER, utf7.encode(n), "LSUB")
            yield done
            return
        extended = cmd is not None and cmd.extended
        selection = cmd.selection if cmd is not None else ()
        returns = cmd.returns if cmd is not None else ()
        special_only = "SPECIAL-USE" in selection
        only_subscribed = "SUBSCRIBED" in selection
        show_children = not extended or "CHILDREN" in returns
        show_special = not extended or special_only or "SPECIAL-USE" in returns
        show_subscribed = only_subscribed or "SUBSCRIBED" in returns
        status_items = cmd.status_items if cmd is not None else ()
        subs = set(self._subscribed(boxes)) if show_subscribed else set()
        known = {b.name for b in boxes}
        having_children = parents(boxes)
        shown = boxes
        child_info: set[str] = set()
        if only_subscribed:  # RFC 5258 3.1: the subscribed names, existing or not
            gone = [MailboxInfo(n, selectable=False) for n in subs if n not in known]
            listed = [b for b in boxes if b.name in subs and b.selectable] + gone
            if "RECURSIVEMATCH" in selection:  # RFC 5258 3.5: and the parents of subscribed names the patterns miss
                child_info = parents([MailboxInfo(n) for n in subs if not any(rx.match(n) for rx in regexes)])
                listed += [b for b in boxes if b.name in child_info and b.name not in subs]
                listed += [MailboxInfo(n, selectable=False) for n in child_info - known - subs]
            shown = sorted(listed, key=lambda b: order(b.name))
        for box in shown:
            yield r.PAUSE  # hundreds of mailboxes times many patterns, or a STATUS each: others go in between
            if not any(rx.match(box.name) for rx in regexes):
                continue
            if special_only and not box.special_use:
                continue
            attrs: list[str] = []
            if box.name in subs and (box.selectable or box.name not in known):
                attrs.append("\\Subscribed")
            if not box.selectable:  # a missing parent ("Agents" above "Agents/bob") or a subscribed name that is gone
                attrs.append("\\NonExistent" if extended else "\\Noselect")
            if show_children:  # RFC 3348 / RFC 5258 4 (a subscribed name that is gone too)
                attrs.append("\\HasChildren" if box.name in having_children else "\\HasNoChildren")
            if show_special:
                attrs += box.special_use
            # RFC 5258 3.5: a parent listed for its subscribed children says so
            extra: tuple[r.Value, ...] = (r.Raw(b'CHILDINFO ("SUBSCRIBED")'),) if box.name in child_info else ()
            yield r.ListResponse(tuple(attrs), DELIMITER, utf7.encode(box.name), command, extra)
            if status_items and box.selectable:
                yield self._status_response(box.name, status_items)
        yield done

    def _cmd_list(self, cmd: c.List) -> Iterator[r.Response]:
        return self._list(cmd.tag, cmd.reference, cmd.patterns, "LIST", cmd)

    def _cmd_lsub(self, cmd: c.Lsub) -> Iterator[r.Response]:
        return self._list(cmd.tag, cmd.reference, (cmd.pattern,), "LSUB")

    def _status_response(self, name: str, items: tuple[str, ...]) -> r.StatusDataResponse:
        st = self._state(name)
        values: list[tuple[str, int]] = []
        for item in STATUS_ORDER:  # only what was asked (UNSEEN and SIZE may walk every message), in Dovecot's order
            if item not in items:
                continue
            if item == "MESSAGES":
                values.append((item, len(st.messages)))
            elif item == "RECENT":
                values.append((item, len(self._recent(name))))
            elif item == "UIDNEXT":
                values.append((item, st.uidnext))
            elif item == "UIDVALIDITY":
                values.append((item, st.uidvalidity))
            elif item == "UNSEEN":
                values.append((item, unseen_count(st.messages)))
            elif item == "HIGHESTMODSEQ":  # RFC 7162 3.1.2.3
                values.append((item, st.highestmodseq))
            else:  # SIZE (RFC 8438); the grammar lets nothing else through
                values.append((item, total_size(st.messages)))
        return r.StatusDataResponse(utf7.encode(name), tuple(values))

    def _cmd_status(self, cmd: c.Status) -> list[r.Response]:
        first = self.condstore_on() if "HIGHESTMODSEQ" in cmd.items else []  # CONDSTORE-enabling (RFC 7162 3.1)
        return [*first, self._status_response(decode_mailbox(cmd.mailbox), cmd.items),
                r.ok(cmd.tag, "STATUS completed")]

    def _cmd_append(self, cmd: c.Append) -> list[r.Response]:
        assert self.account is not None
        name = decode_mailbox(cmd.mailbox)
        if "\\Recent" in cmd.flags:
            raise ImapBad("\\Recent cannot be set")
        try:
            st = self._state(name)
        except ImapNo as err:
            raise ImapNo(err.text, "TRYCREATE") from None
        if st.read_only:
            raise ImapNo("Mailbox is read-only", "READ-ONLY")
        uid = self.backend.append(self.account, name, cmd.message, frozenset(cmd.flags), cmd.date)
        # stored but no UID recorded yet (maildir_backend._publish): OK without APPENDUID, never a NO that a client
        # would answer with a second APPEND
        code = r.ResponseCode("APPENDUID", f"{st.uidvalidity} {uid}") if uid is not None else None
        return [*self._untagged_updates(), *self._done(cmd.tag, "APPEND completed", code)]

    def _cmd_idle(self, cmd: c.Idle) -> list[r.Response]:
        updates = self._untagged_updates()  # first: a NO here (the mailbox deleted meanwhile) must not leave us idling
        self.idling = cmd.tag
        self.wants_line = True
        return [*updates, r.ContinuationRequest("idling")]

    # ------------------------------------------------------------------ leaving selected state
    def _cmd_close(self, cmd: c.Close) -> list[r.Response]:
        assert self.selected is not None and self.account is not None
        if not self.selected.readonly:  # RFC 3501 6.4.2: silently expunge \Deleted
            state = self._state(self.selected.name)
            doomed = [m.uid for m in state.messages if "\\Deleted" in m.flags]
            if doomed:
                self.backend.expunge(self.account, self.selected.name, doomed)
        self.selected = None
        self.state = "authenticated"
        return [r.ok(cmd.tag, "CLOSE completed")]

    def _cmd_unselect(self, cmd: c.Unselect) -> list[r.Response]:
        self.selected = None
        self.state = "authenticated"
        return [r.ok(cmd.tag, "UNSELECT completed")]

    def _cmd_check(self, cmd: c.Check) -> list[r.Response]:
        return [*self._untagged_updates(), *self._done(cmd.tag, "CHECK completed")]
