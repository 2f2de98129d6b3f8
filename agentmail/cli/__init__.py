"""The `agentmail` command.

`main()` first tries a fast path for the commands agents run all the time (`send`, plain `inbox`): their
arguments are parsed by hand and the same library functions are called, without importing click (~28 ms of
start-up). Anything the fast path does not recognise (help, unusual options, other commands) goes to the click
application in `app.py`, which defines the documented interface.
"""

from __future__ import annotations

import os
import sys

from ..errors import EX_USAGE, AgentmailError, os_failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

FAST_SEND_FLAGS = {"--urgent": "urgent", "--no-receipt": "no_receipt", "--no-wake": "no_wake", "--done": "done"}


def fail(err: AgentmailError) -> int:
    sys.stderr.write(f"agentmail: {err}\n")
    return err.exit_code


def read_body(arg: str | None) -> str:
    """A body argument, or stdin for `-`; bytes that are not UTF-8 are refused (exit 65)."""
    from ..errors import DataError

    if arg is None:
        return ""
    if arg == "-":
        raw = sys.stdin.buffer.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"the body on stdin is not valid UTF-8 (byte {exc.start})") from None
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError("the body argument is not valid UTF-8") from None
    return arg


def _globals(argv: list[str]) -> tuple[dict[str, str], list[str]] | None:
    """Split leading `--as`/`--home` options off; None if anything unusual is there."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name not in ("--as", "--home"):
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        opts[name[2:]] = value
        i += 1
    return opts, argv[i:]


def _fast_send(opts: dict[str, str], args: list[str]) -> int | None:
    flags: set[str] = set()
    cc: list[str] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in FAST_SEND_FLAGS:
            flags.add(FAST_SEND_FLAGS[arg])
        elif arg == "--cc" and i + 1 < len(args):
            cc.extend(a for a in args[i + 1].split(",") if a.strip())
            i += 1
        elif arg.startswith("-") and arg != "-":
            return None  # --attach, --help, typos: the full parser handles (and explains) those
        else:
            positional.append(arg)
        i += 1
    if len(positional) not in (2, 3):
        return None
    from .. import config
    from ..agent.compose import send
    from ..agent.identity import whoami

    cfg = config.load(opts.get("home"))
    me = whoami(cfg, opts.get("as"))
    to = [t for t in positional[0].split(",") if t.strip()]
    body = read_body(positional[2] if len(positional) == 3 else None)
    result = send(cfg, me, to, positional[1], body, cc=cc, urgent="urgent" in flags,
                  receipt="no_receipt" not in flags, wake="no_wake" not in flags, done="done" in flags)
    from ..agent.render import names_all, sent_line

    sys.stdout.write(sent_line(result.key, list(result.delivered), names_all(to + cc),
                               queued=getattr(result, "queued", None)) + "\n")
    return 0


def _fast_inbox(opts: dict[str, str], args: list[str]) -> int | None:
    if args:
        return None
    from .. import config
    from ..agent.identity import whoami
    from ..agent.mailbox import announce, unread
    from ..agent.render import lines

    cfg = config.load(opts.get("home"))
    me = whoami(cfg, opts.get("as"))
    items = unread(cfg, me)
    announce(items)
    out = lines(cfg, items) if items else ["no unread postcards"]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _hook(opts: dict[str, str], args: list[str]) -> int | None:
    """`agentmail hook <event>`: Claude Code's hook protocol, never through click (it runs on every prompt)."""
    from ..hooks.command import main as hook_main

    return hook_main(args, home=opts.get("home"), as_name=opts.get("as"))


FAST = {"send": _fast_send, "inbox": _fast_inbox, "hook": _hook}


def fast_path(argv: list[str]) -> int | None:
    split = _globals(argv)
    if split is None or not split[1] or split[1][0] not in FAST:
        return None
    opts, rest = split
    return FAST[rest[0]](opts, rest[1:])


def bug(exc: BaseException) -> int:
    """An exception no layer turned into an AgentmailError is a bug: one line (no traceback) and EX_SOFTWARE.
    Set AGENTMAIL_TRACEBACK=1 to see where it came from."""
    from ..errors import EX_SOFTWARE

    if os.environ.get("AGENTMAIL_TRACEBACK"):
        import traceback

        traceback.print_exception(exc)
    text = " ".join(str(exc).split())[:300]
    sys.stderr.write(f"agentmail: internal error (a bug in agentmail, please report it): "
                     f"{type(exc).__name__}{': ' + text if text else ''}\n")
    return EX_SOFTWARE


def _guarded(run: Callable[[], int]) -> int:
    """Never a traceback: every failure is one line on stderr and a sysexits code."""
    try:
        return run()
    except AgentmailError as err:
        return fail(err)
    except BrokenPipeError:
        return 0  # the reader went away (`agentmail inbox | head`)
    except OSError as exc:
        return fail(os_failure(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return bug(exc)


# Commands that read the mirror of a remote home: they wait for the sync process to bring it up to date first.
REMOTE_FRESH = frozenset({"inbox", "read", "reply", "log", "receipts", "clerk"})


def _remote_home(args: list[str]) -> None:
    """On a remote home (docs/scale-out.md) the sync process is started if it does not run, and reading commands
    see what the server has. A local home costs one failed stat. Hooks never wait for the network."""
    split = _globals(args)
    if split is None or not split[1] or split[1][0] in ("remote", "serve"):
        return
    from ..remote.alive import ensure, store_home

    home = store_home(split[0].get("home"))
    if not ensure(home) or split[1][0] not in REMOTE_FRESH or "--help" in split[1] or "-h" in split[1]:
        return
    from ..remote.client import refresh

    warning = refresh(home)
    if warning:
        sys.stderr.write(f"agentmail: warning: {warning}\n")


def _main(args: list[str]) -> int:
    _remote_home(args)
    if not os.environ.get("AGENTMAIL_NO_FAST_PATH"):
        code = fast_path(args)
        if code is not None:
            return code
    from .app import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return _guarded(lambda: _main(args))


def sendmail_main(argv: list[str] | None = None) -> int:
    """`agentmail-sendmail`: the same as `agentmail sendmail`."""
    args = sys.argv[1:] if argv is None else argv

    def go() -> int:
        from .app import run

        return run(["sendmail", *args])

    return _guarded(go)


__all__ = ["main", "sendmail_main", "EX_USAGE"]
