"""The hook events once there is something to do: find or register the session's account, announce new mail.

Reached from `agentmail.hooks.main` only when the fast path could not prove the event idle, so start-up cost matters
less here; still no click and no `email` package (headers come from `format.card.read_headers`).
"""

from __future__ import annotations

import os
import sys
import time

from .. import config
from ..store import presence, registry
from .harness import CLAUDE, CODEX, CONTINUE, EVENT_NAMES, GEMINI, detect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..agent.mailbox import Item
    from ..config import Config

MAX_LINES = 10  # postcards listed one per line; the rest are counted ("and N more")
# Characters per postcard line. With the header (~46 characters) a lone postcard costs at most 160 characters,
# 40 tokens at the usual 4 characters a token; long titles are clipped ("...") and `agentmail read ID` has them whole.
MAX_LINE = 112
MAX_SENDER = 32
MAX_PEERS = 8
CLERK_FROM = 3  # give the triage advice from this many postcards on
# What the model is told, per harness: only what that harness has (docs/harnesses.md). Claude Code has the plugin's
# clerk subagent; Codex and Gemini CLI triage themselves. Gemini CLI escapes `<` in hook context (`&lt;`), so its
# text has no heredoc: its extension brings the MCP tools, and the CLI takes a body as an argument too.
SEND_HINT = "Send: agentmail send NAME \"title\" - <<'EOF' ... EOF; reply: agentmail reply ID; read: agentmail inbox."
GEMINI_SEND_HINT = ("Send: the agentmail send tool (reply_to=ID answers one), or agentmail send NAME \"title\" "
                    "\"body\"; read: the inbox and read tools.")
CLERK_HINT = "Triage with the agentmail:clerk subagent."
TRIAGE_HINT = "Triage: urgent ones first; file routine ones with agentmail clerk file ID."
CODEX_SANDBOX_HINT = ("In Codex's sandbox the store may be read-only (agentmail exits 73): then use the agentmail "
                      "MCP tools, or ask the user to run agentmail doctor.")
SEND_HINTS = {CLAUDE: SEND_HINT, CODEX: SEND_HINT, GEMINI: GEMINI_SEND_HINT}
TRIAGE_HINTS = {CLAUDE: CLERK_HINT, CODEX: TRIAGE_HINT, GEMINI: TRIAGE_HINT}
ANSWER_HINTS = {
    CLAUDE: "Read and answer before you stop: agentmail read ID, then agentmail reply ID.",
    CODEX: "Read and answer before you stop: agentmail read ID, then agentmail reply ID.",
    GEMINI: "Read and answer before you stop: the read tool (or agentmail read ID), then send with reply_to=ID.",
}


class Session:
    """Who the hook speaks for: the account, and whether this very call bound the session to it."""

    __slots__ = ("name", "bound_now", "note")

    def __init__(self, name: str, bound_now: bool = False, note: str | None = None) -> None:
        self.name = name
        self.bound_now = bound_now
        self.note = note


def payload_of(data: bytes) -> dict[str, Any]:
    """The hook JSON; an empty or unparseable input gives {} (the parent process chain still identifies us)."""
    import json

    try:
        value = json.loads(data) if data.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def text_field(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


def harness_chain() -> tuple[int, list[int]]:
    """The Claude Code process (the nearest ancestor that is not a shell or launcher) and the chain up to it.

    Claude Code runs a hook as claude -> sh -c -> hooks/agentmail-hook -> agentmail: the shells and the wrapper are
    in presence.PASS_THROUGH. The chain stops at the harness: a binding further up (a terminal, tmux) belongs to
    whatever else runs there, not to this session.
    """
    chain = presence.ancestors()
    for i, pid in enumerate(chain):
        info = presence.proc_stat(pid)
        if info is None or info[1] not in presence.PASS_THROUGH:
            return pid, chain[: i + 1]
    return presence.harness_pid(), chain


def bound_in_chain(cfg: Config, chain: list[int]) -> str | None:
    """An account bound to a live process of the chain (e.g. `agentmail register` run through the Bash tool)."""
    for pid in chain:
        path = cfg.path("sessions", f"pid-{pid}")
        try:
            with open(path, encoding="utf-8") as fh:
                name, _, started = fh.readline().strip().partition(" ")
        except (OSError, UnicodeDecodeError):
            continue
        if name and presence.pid_alive(pid, started or None):
            return registry.resolve(cfg, name)
    return None


def find_session(cfg: Config, payload: dict[str, Any], as_name: str | None, register: bool) -> Session | None:
    """The session's account, registering the session if it has none yet (and `register` is set).

    Order: `--as` or AGENTMAIL_ADDRESS (as for every command), else the hook JSON's session_id (sessions/<id>),
    else an account bound to the parent process chain up to Claude Code, else a new registration (stable name from
    AGENTMAIL_NAME or the `.agentmail` file of the JSON's cwd, else three random words). Whatever is found is bound
    to the session id, so the next hook (and the plugin wrapper's fast path) finds it in sessions/<id>.
    """
    sid = text_field(payload, "session_id")
    cwd = text_field(payload, "cwd")
    if cwd is not None and not os.path.isdir(cwd):
        cwd = None
    if as_name or os.environ.get("AGENTMAIL_ADDRESS"):
        from ..agent.identity import whoami

        name = whoami(cfg, as_name)
        if sid is None or presence.lookup_session(cfg, sid) == name:
            return Session(name)
        presence.bind(cfg, name, harness_chain()[0], sid, cwd)
        return Session(name, bound_now=True)
    if sid:
        bound = presence.lookup_session(cfg, sid)
        real = registry.resolve(cfg, bound) if bound else None
        if real:
            if real != bound:  # renamed since: rewrite sessions/<id>, which the wrapper reads
                presence.bind(cfg, real, harness_chain()[0], sid, cwd)
            return Session(real)
    harness, chain = harness_chain()
    found = bound_in_chain(cfg, chain)
    if found and not register:
        return Session(found)
    if found and sid is None:
        return Session(found)  # no session id to bind: the process binding is all there is, and it exists
    if found:
        presence.bind(cfg, found, harness, sid, cwd)
        return Session(found, bound_now=True)
    if not register:
        return None
    from ..agent.identity import register as do_register

    registry.ensure_store(cfg)
    name, note = do_register(cfg, None, pid=harness, session_id=sid, cwd=cwd)
    return Session(name, bound_now=True, note=note)


def refresh_presence(cfg: Config, session: Session, payload: dict[str, Any], force: bool = False) -> None:
    """Keep directory/<name>.json pointing at this live Claude Code process (after a resume, or a restart)."""
    info = presence.presence(cfg, session.name)
    harness = harness_chain()[0]
    if force or not info or not info.get("online") or info.get("pid") != harness:
        cwd = text_field(payload, "cwd")
        presence.bind(cfg, session.name, harness, text_field(payload, "session_id"),
                      cwd if cwd and os.path.isdir(cwd) else None)
    else:
        presence.touch(cfg, session.name)


# --- announcing --------------------------------------------------------------------------------------------------


def take_new(cfg: Config, name: str, urgent_only: bool = False) -> list[Item]:
    """Move the unannounced postcards (all, or only the urgent ones) from new/ to cur/; returns those moved here.

    Only new/ is listed, never cur/: the cost does not grow with old mail. A file another reader moved first
    (a concurrent hook or `agentmail inbox`) was announced there and is left out here.
    """
    from ..agent.mailbox import announce, load_items
    from ..store.msgfile import read_cap

    box = registry.mailbox(cfg, name)
    items = load_items(name, "INBOX", box, [("new", f) for f in box.list_new()], read_cap(cfg.max_message))
    if urgent_only:
        items = [i for i in items if i.urgent]
    items.sort(key=lambda i: (not i.urgent, i.delivered_at, i.filename))
    announce(items)
    return [i for i in items if i.subdir == "cur"]


def wake_notes(cfg: Config, name: str, items: list[Item]) -> dict[str, str]:
    """Why the waiter let any of these wait (a wake budget), by base name; also records --done closures."""
    if not items:
        return {}
    from ..agent.wake import seen

    return seen(cfg, name, items)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def postcard_lines(cfg: Config, items: list[Item], notes: dict[str, str] | None = None) -> list[str]:
    """One line per postcard, `<id> <sender>: <title>[ [URGENT]][ (not woken: why)]`, at most MAX_LINES, then
    "and N more". Sender and title are neutralised (format/safetext.py: one line, no markup, no hidden text)."""
    from ..agent.render import prefixes, short_name
    from ..format.safetext import neutral

    ids = prefixes(items)
    out = []
    for item in items[:MAX_LINES]:
        head = f"{ids[item.key]} {neutral(short_name(cfg, item.sender), MAX_SENDER) or '(no sender)'}: "
        tail = " [URGENT]" if item.urgent else ""
        note = (notes or {}).get(item.base)
        if note:
            tail += f" (not woken: {note})"
        out.append(head + neutral(item.title or "(no title)", max(8, MAX_LINE - len(head) - len(tail))) + tail)
    if len(items) > MAX_LINES:
        out.append(f"and {len(items) - MAX_LINES} more (agentmail inbox)")
    return out


def announcement(cfg: Config, items: list[Item], what: str = "new", notes: dict[str, str] | None = None,
                 harness: str = CLAUDE) -> list[str]:
    if not items:
        return []
    n = len(items)
    lines = [f"agentmail: {n} {what} postcard{'s' if n > 1 else ''} (agentmail read ID):",
             *postcard_lines(cfg, items, notes)]
    if n >= CLERK_FROM:
        lines.append(TRIAGE_HINTS[harness])
    return lines


def peers(cfg: Config, me: str) -> list[str]:
    """Other agents with a live session, by name."""
    found = []
    for info in presence.all_presence(cfg):
        name = info.get("name")
        if isinstance(name, str) and name not in (me, registry.HUMAN) and presence.is_live(info):
            found.append(name)
    return sorted(found)


def intro(cfg: Config, session: Session, harness: str = CLAUDE) -> str:
    """The one line that tells the agent who it is and how to use the mail (with what its harness has)."""
    parts = [f"agentmail: you are {cfg.address(session.name)}."]
    if session.note:
        parts.append(f"({session.note}.)")
    others = peers(cfg, session.name)
    if others:
        shown = ", ".join(others[:MAX_PEERS]) + (f" and {len(others) - MAX_PEERS} more" if len(others) > MAX_PEERS
                                                 else "")
        parts.append(f"Peers: {shown}.")
    parts.append(SEND_HINTS[harness])
    if harness == CLAUDE:
        parts.append(CLERK_HINT)
    elif harness == CODEX and not codex_store_writable(cfg):
        parts.append(CODEX_SANDBOX_HINT)
    return " ".join(parts)


def codex_store_writable(cfg: Config) -> bool:
    """Does Codex's config let the commands its model runs write the store (agent/doctor.py)? The hook itself runs
    outside the sandbox, so it reads the config Codex reads rather than trying."""
    from ..agent.doctor import codex_store_covered

    return codex_store_covered(cfg.home, os.environ) is True


# --- output ------------------------------------------------------------------------------------------------------


def emit(obj: dict[str, Any]) -> None:
    import json

    text = json.dumps(obj, ensure_ascii=False) + "\n"
    out = sys.stdout
    out.buffer.write(text.encode("utf-8"))
    out.flush()


def context(event: str, lines: list[str], harness: str = CLAUDE) -> None:
    if lines:
        emit({"hookSpecificOutput": {"hookEventName": EVENT_NAMES[harness][event],
                                     "additionalContext": "\n".join(lines)}})


def write_stamp(cfg: Config, name: str, new_mtime_ns: int, began_ns: int) -> None:
    """Let the wrapper skip post-tool while new/ is unchanged (docs/claude-code.md, "The post-tool stamp").

    The stamp carries new/'s mtime as it was before the scan. It is written only when that mtime is over a second
    old: a delivery after the scan then changes new/'s mtime to a later second, so even a shell whose `-nt`
    compares whole seconds sees new/ as newer. Otherwise (a change within the last second) no stamp: Python runs
    again on the next tool call, which is only slower, never wrong.
    """
    if began_ns - new_mtime_ns <= 1_000_000_000:
        return
    from .idle import stamp_path

    path = stamp_path(cfg.home, name)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("post-tool found nothing urgent in new/ as of this file's mtime\n")
        os.utime(tmp, ns=(new_mtime_ns, new_mtime_ns))
        os.replace(tmp, path)
    except OSError:
        pass  # an optimisation only


# --- events ------------------------------------------------------------------------------------------------------


def session_start(cfg: Config, payload: dict[str, Any], as_name: str | None, harness: str = CLAUDE) -> None:
    session = find_session(cfg, payload, as_name, register=True)
    assert session is not None
    refresh_presence(cfg, session, payload, force=not session.bound_now)
    items = take_new(cfg, session.name)
    notes = wake_notes(cfg, session.name, items)
    context("session-start", [intro(cfg, session, harness), *announcement(cfg, items, notes=notes, harness=harness)],
            harness)


def prompt(cfg: Config, payload: dict[str, Any], as_name: str | None, event: str = "prompt",
           harness: str = CLAUDE) -> None:
    session = find_session(cfg, payload, as_name, register=True)
    assert session is not None
    if not session.bound_now:
        refresh_presence(cfg, session, payload)
    urgent_only = event == "post-tool"
    new_dir = os.path.join(registry.mailbox(cfg, session.name).path, "new")
    began = time.time_ns()
    try:
        before = os.stat(new_dir).st_mtime_ns
    except OSError:
        before = None
    items = take_new(cfg, session.name, urgent_only=urgent_only)
    # The session was registered by this very call (SessionStart never ran for it): say who it is, once.
    lines = [intro(cfg, session, harness)] if session.bound_now else []
    lines += announcement(cfg, items, "urgent" if urgent_only else "new", wake_notes(cfg, session.name, items),
                          harness)
    context(event, lines, harness)
    if urgent_only and not items and before is not None:
        write_stamp(cfg, session.name, before, began)


def stop(cfg: Config, payload: dict[str, Any], as_name: str | None, harness: str = CLAUDE) -> None:
    """Block the stop once for urgent mail that nobody announced; never when the harness is already continuing
    (Codex and Gemini CLI put no cap on these blocks: `stop_hook_active` is the only guard against a loop)."""
    if payload.get("stop_hook_active") is True:
        return
    session = find_session(cfg, payload, as_name, register=True)
    assert session is not None
    items = take_new(cfg, session.name, urgent_only=True)
    if items:
        lines = announcement(cfg, items, "urgent", wake_notes(cfg, session.name, items), harness)
        emit({"decision": CONTINUE[harness], "reason": "\n".join([*lines, ANSWER_HINTS[harness]])})


def session_end(cfg: Config, payload: dict[str, Any], as_name: str | None) -> None:
    """Mark the session offline; its account, mailbox and sessions/<id> (for a resume) stay."""
    session = find_session(cfg, payload, as_name, register=False)
    if session is None:
        return
    info = presence.presence(cfg, session.name)
    sid = text_field(payload, "session_id")
    # Only this session's presence: if another live session has taken the account over, leave it be.
    if info and (info.get("pid") == harness_chain()[0] or (sid and info.get("session_id") == sid)):
        presence.mark_offline(cfg, session.name)
    prune_wake_dirs(cfg)


def prune_wake_dirs(cfg: Config, days: float = 7) -> None:
    """Drop the waiter files of sessions untouched for `days` (wake/sessions/<id>/: a few empty files each)."""
    import shutil

    root = cfg.path("wake", "sessions")
    try:
        entries = os.listdir(root)
    except OSError:
        return
    cutoff = time.time() - days * 86400
    for entry in entries:
        folder = os.path.join(root, entry)
        try:
            if os.lstat(folder).st_mtime < cutoff and all(
                    os.lstat(os.path.join(folder, f)).st_mtime < cutoff for f in os.listdir(folder)):
                shutil.rmtree(folder)
        except OSError:
            continue


def run(event: str, data: bytes, home: str | None, as_name: str | None, marked: bool = True) -> int:
    payload = payload_of(data)
    cfg = config.load(home)
    sid = text_field(payload, "session_id")
    if not marked and sid:  # the fast reader could not find the id: touch the waiter's marker here
        from .idle import touch

        touch(event, sid, cfg.home)
    harness = detect(payload, harness_pid=harness_chain()[0])
    if event == "session-start":
        session_start(cfg, payload, as_name, harness)
    elif event in ("prompt", "post-tool"):
        prompt(cfg, payload, as_name, event, harness)
    elif event == "stop":
        stop(cfg, payload, as_name, harness)
    else:
        session_end(cfg, payload, as_name)
    return 0
