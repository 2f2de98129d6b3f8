"""Is this hook event idle? The check `agentmail hook EVENT` (hooks/command.py) makes before anything else.

This module is the hot path. UserPromptSubmit and PostToolUse run it on every prompt and every tool call, so when
the session's account has nothing unannounced it must cost no more than a bare interpreter start: it imports only
`os` and `sys` (no json, re, typing, pathlib, email or click), reads the session id with a byte search, reads one
small file and looks into one directory. Everything else (JSON, registration, announcing) lives in
`agentmail.hooks.events`, which hooks/command.py imports only when there is something to do. docs/hooks.md has the
details and the measurements (bench/hooks_bench.py).

The store facts this relies on are the same the plugin's shell wrapper relies on (docs/claude-code.md, "The fast
path"): `sessions/<session_id>`'s first line is the account name, and `maildirs/<name>/new/` holds exactly the mail
not yet announced to the owner.
"""

import os

SAFE_ID = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
SAFE_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
KEY = b'"session_id"'


def fast_session_id(data: bytes) -> str | None:
    """The session id when it is the *first* key of the top-level object and a plain file name, else None.

    Claude Code writes `session_id` first. Insisting on the first key (only `{` and whitespace before it) means a
    prompt, tool input or tool output that mentions "session_id" can never be mistaken for it; anything unusual
    (another key order, escapes, odd characters) returns None and the caller parses the JSON properly.
    """
    start = data.find(KEY, 0, 512)
    if start < 0 or data[:start].strip() != b"{":
        return None
    pos = start + len(KEY)
    end = len(data)
    while pos < end and data[pos] in b" \t\r\n":
        pos += 1
    if pos >= end or data[pos] != 0x3A:  # ':'
        return None
    pos += 1
    while pos < end and data[pos] in b" \t\r\n":
        pos += 1
    if pos >= end or data[pos] != 0x22:  # '"'
        return None
    close = data.find(b'"', pos + 1, pos + 130)
    if close < 0:
        return None
    value = data[pos + 1:close]
    if not value or value[0] == 0x2E or not SAFE_ID.issuperset(value):  # empty, dot-file or unusual: let json decide
        return None
    return value.decode("ascii")


def store_home(home: str | None) -> str:
    """The store directory, exactly as `config.load` computes it (without importing it)."""
    if home:
        return os.path.abspath(os.path.expanduser(home))
    env = os.environ.get("AGENTMAIL_HOME")
    return os.path.abspath(os.path.expanduser(env) if env else os.path.join(os.path.expanduser("~"), ".agentmail"))


def session_account(home: str, session_id: str) -> str | None:
    """The first line of sessions/<session_id> when it is a plain account name."""
    try:
        with open(os.path.join(home, "sessions", session_id), "rb") as fh:
            line = fh.readline(80)
    except OSError:
        return None
    name = line.rstrip(b"\n").decode("ascii", "replace")
    if not name or name[0] == "-" or not SAFE_NAME.issuperset(name):
        return None
    return name


def has_unannounced(new_dir: str) -> bool:
    """Whether new/ holds a message: a regular file whose name does not start with '.', as for every Maildir reader
    (a FIFO, socket, link or directory is not mail; the d_type of the entry says so without a stat)."""
    with os.scandir(new_dir) as it:
        for entry in it:
            if entry.name[0] != "." and entry.is_file(follow_symlinks=False):
                return True
    return False


def stamp_path(home: str, name: str) -> str:
    return os.path.join(home, "cache", "post-tool", name)


def post_tool_settled(home: str, name: str, new_dir: str) -> bool:
    """True while new/ has not changed since post-tool last found nothing urgent in it (the stamp's mtime)."""
    try:
        return os.stat(new_dir).st_mtime_ns <= os.stat(stamp_path(home, name)).st_mtime_ns
    except OSError:
        return False


# --- the waiter's markers (docs/claude-code.md, "Waking an idle agent") ------------------------------------------
#
# Claude Code never stops a pending waiter itself: a waiter stands down when the next turn starts, which it learns
# from wake/sessions/<session_id>/turn (store.presence, "the waiter's session files"), touched here by the prompt
# and post-tool hooks; stop is touched at the end of a turn and end by SessionEnd. Only where a waiter made the
# session's directory: a session that never had one costs one failed open.

MARKS = {"prompt": "turn", "post-tool": "turn", "stop": "stop", "session-end": "end"}


def touch(event: str, sid: str, home: str) -> None:
    """Touch the event's marker in the session's wake directory, if there is one; never raises.

    `sid` is the session id as the hook JSON has it; the directory name is made from it as store.presence.wake_dir
    makes it. (When the fast reader cannot find the id, hooks/events.py parses the JSON and touches the marker.)
    """
    kind = MARKS.get(event)
    if kind is None or not sid:
        return
    safe = "".join(c for c in sid if c.isalnum() or c in "-_.")[:128].lstrip(".") or "_"
    try:
        fd = os.open(os.path.join(home, "wake", "sessions", safe, kind),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return  # no waiter ever ran for this session (or the store is odd): nothing to tell
    try:
        os.utime(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def idle(event: str, data: bytes, home: str | None) -> bool:
    """True when this event certainly has nothing to say: the session is registered and has nothing unannounced.

    False means "not proven idle" (unregistered session, mail waiting, anything odd): the slow path decides.
    """
    sid = fast_session_id(data)
    if sid is None:
        return False
    root = store_home(home)
    name = session_account(root, sid)
    if name is None:
        return False
    new_dir = os.path.join(root, "maildirs", name, "new")
    try:
        if not has_unannounced(new_dir):
            return True
    except OSError:  # no such account (renamed, removed): the slow path re-resolves it
        return False
    return event == "post-tool" and post_tool_settled(root, name, new_dir)
