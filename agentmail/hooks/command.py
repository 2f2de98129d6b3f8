"""`agentmail hook EVENT`: Claude Code's hook protocol (JSON on stdin, JSON or nothing on stdout).

The idle check (idle.py) answers first; only when it cannot prove the event idle are the handlers (events.py, with
JSON, the store and registration) imported. Both this module and idle.py import only `os` and `sys`: the CLI's fast
path (cli/__init__.py) calls `main` without click, on every prompt and tool call.
"""

import sys

from .idle import fast_session_id, idle, store_home, touch

EVENTS = ("session-start", "prompt", "post-tool", "stop", "session-end", "wait")
# Events whose "nothing unannounced" answer is silence, so the fast path may answer them.
QUIET_WHEN_IDLE = frozenset({"prompt", "post-tool", "stop"})
USAGE = """Usage: agentmail hook session-start|prompt|post-tool|stop|session-end|wait

  Claude Code's hook protocol: the hook JSON on stdin, JSON or nothing on stdout, always exit 0
  (errors are one line on stderr). The plugin's hooks/hooks.json runs it; see docs/hooks.md.

  wait is the Stop hook that runs with "asyncRewake": it waits for mail that should wake the idle
  session and exits 2 with the announcement on stderr (0 when it stands down); see docs/claude-code.md.
"""


def read_stdin() -> bytes:
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        return b""
    return stdin.buffer.read()


def main(args: list[str], home: str | None = None, as_name: str | None = None) -> int:
    """Run one hook event; returns the exit status (0 unless the event itself is unknown).

    Never fails the user's turn: any error becomes one line on stderr and status 0.
    """
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if len(args) != 1 or args[0] not in EVENTS:
        sys.stderr.write(f"agentmail hook: expected one of {', '.join(EVENTS)}, got {' '.join(args) or 'nothing'}\n")
        return 64  # EX_USAGE: a misconfigured hook, shown to the user; Claude Code only blocks on status 2
    event = args[0]
    if event == "wait":
        return wait(home, as_name)
    try:
        data = read_stdin()
        sid = fast_session_id(data)
        if sid is not None:
            touch(event, sid, store_home(home))  # the session's waiter learns that a turn started (idle.touch)
        if event in QUIET_WHEN_IDLE and as_name is None and idle(event, data, home):
            return 0
        from .events import run

        return run(event, data, home, as_name, marked=sid is not None)
    except Exception as exc:  # noqa: BLE001 - the contract: never fail the user's turn, whatever happened
        message = " ".join(str(exc).split()) or type(exc).__name__
        try:
            sys.stderr.write(f"agentmail hook {event}: {message}\n")
        except Exception:  # noqa: BLE001 - stderr closed: nothing more can be done
            pass
        return 0


def wait(home: str | None, as_name: str | None) -> int:
    """`agentmail hook wait`: 2 is a wake (the text is on stderr), anything else is silence for Claude Code; an error
    is one line on stderr with its sysexits code, never 2."""
    try:
        from .wait import run

        code = run(read_stdin(), home, as_name)
        if code == 2:
            # Woken: the wake text is written and flushed, every file closed. Exit now rather than after the
            # interpreter's teardown (~10 ms): the model request waits for this exit.
            sys.stdout.flush()
            sys.stderr.flush()
            import os

            os._exit(2)
        return code if code == 0 or code >= 64 else 0
    except Exception as exc:  # noqa: BLE001 - never a traceback, never a wake by accident
        from ..errors import AgentmailError

        message = " ".join(str(exc).split()) or type(exc).__name__
        try:
            sys.stderr.write(f"agentmail hook wait: {message}\n")
        except Exception:  # noqa: BLE001 - stderr closed
            pass
        return exc.exit_code if isinstance(exc, AgentmailError) else 70
