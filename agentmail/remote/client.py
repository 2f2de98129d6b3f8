"""What the rest of agentmail calls on a remote home: submit a postcard or a receipt, refresh the mirror.

- `submit_postcard` (agent/compose.py): queue durably, try at once; "queued" when the server cannot be reached
  (or an error with `sync=True`: 75, nothing queued). A refused login (77), a refused TLS certificate (69) or an
  unknown recipient (67) is an error and nothing stays queued.
- `submit_receipt` (agent/receipts.py): the same for an MDN, never an error for a server that is away.
- `refresh` (cli/__init__.py, before inbox, read, reply, log, receipts, clerk): asks the sync process for a full
  pass and waits for it, so a command sees what the server has; the hooks never call it.
"""

from __future__ import annotations

import os
import socket
import time

from ..delivery.deliver import Delivery
from ..errors import TempFailError
from . import outbox
from .alive import SOCKET, ensure, running
from .connect import AuthRefused, TlsRefused
from .settings import Settings, load
from .submit import IN_DOUBT, OK, REFUSED, UNKNOWN_RCPT, raise_for, submit_now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..config import Config
    from ..format.postcard import Built

REFRESH_WAIT = 30.0


class Submitted(Delivery):
    """A Delivery for mail handed to the server: `delivered` names the recipients as given (the server expands
    `all`), `queued` says why the message waits in the outbox, or None when the server took it."""

    __slots__ = ("queued",)

    def __init__(self, key: str, message_id: str | None) -> None:
        super().__init__(key, message_id, False)
        self.queued: str | None = None


def settings(cfg: Config) -> Settings:
    found = load(cfg)
    if found is None:
        from ..errors import ConfigError

        raise ConfigError(f"{cfg.home} is not a remote home (`agentmail remote set` makes one)")
    return found


def recipient_names(cfg: Config, texts: Sequence[str]) -> list[str]:
    """Names for recipients on a remote home: checked as on one machine (a valid name in our domain, exit 64 for
    another domain), but not looked up here: the server refuses an unknown one (exit 67), and expands `all`."""
    from ..format.address import parse_address

    return list(dict.fromkeys(parse_address(t, cfg.domain) for t in texts))


def submit_postcard(cfg: Config, built: Built, sender: str, names: Sequence[str], *, sync: bool = False) -> Submitted:
    remote = settings(cfg)
    rcpts = [cfg.address(n) for n in names]
    envelope = {"from": cfg.address(sender), "rcpt": rcpts, "message_id": built.message_id, "key": built.key,
                "kind": "postcard", "self_copy": True, "created": round(time.time(), 3)}
    entry = outbox.add(cfg, built.data, envelope)
    try:
        outcome = submit_now(cfg, remote, entry)
    except (AuthRefused, TlsRefused):
        entry.drop()  # sending later would meet the same refusal: the user must act now
        raise
    except BaseException:
        entry.release()  # queued: the sync process sends it
        raise
    result = Submitted(built.key, built.message_id)
    result.delivered = {n: ("server", "") for n in names if n != "all"}
    if outcome.kind == OK:
        entry.release()
        return result
    if outcome.kind in (UNKNOWN_RCPT, REFUSED):
        entry.drop()
        raise_for(outcome, remote)
    if sync:
        if outcome.kind == IN_DOUBT:
            entry.release()
            raise TempFailError(f"{outcome.reply}: the server may have taken it, so it stays queued and is sent "
                                "again only if its copy does not appear on the server")
        entry.drop()
        raise TempFailError(f"not sent: {outcome.reply} (nothing was queued)")
    entry.release()
    result.queued = outcome.reply
    return result


def submit_receipt(cfg: Config, data: bytes, reader: str, target: str, message_id: str) -> None:
    """Queue an MDN to `target` (null envelope sender, RFC 8098 2.1) and try it at once; the sync process sends it
    if the server is away. A refused login or TLS is left to the sync process's state (`remote show`)."""
    remote = settings(cfg)
    envelope = {"from": "", "rcpt": [cfg.address(target)], "message_id": message_id, "kind": "mdn",
                "self_copy": False, "created": round(time.time(), 3), "reader": cfg.address(reader)}
    entry = outbox.add(cfg, data, envelope)
    try:
        outcome = submit_now(cfg, remote, entry)
        if outcome.kind in (UNKNOWN_RCPT, REFUSED):
            entry.move("failed")  # a receipt nobody can take: recorded, not retried
    except (AuthRefused, TlsRefused):
        pass
    finally:
        entry.release()


# ---------------------------------------------------------------------- the sync process's control socket
def short_path(path: str) -> tuple[str, int | None]:
    """A socket path within sun_path's 108 bytes: a longer one is reached through /proc/self/fd (Linux)."""
    if len(path.encode()) < 100:
        return path, None
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd


def ask(home: str, command: str, timeout: float) -> str:
    """Send one command to the sync process and return its one-line answer (OSError when it is not there)."""
    where, fd = short_path(os.path.join(home, SOCKET))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(where)
            sock.sendall(command.encode() + b"\n")
            with sock.makefile("rb") as fh:
                return fh.readline(4096).decode("utf-8", "replace").strip()
    finally:
        if fd is not None:
            os.close(fd)


def refresh(home: str, timeout: float = REFRESH_WAIT) -> str | None:
    """Have the sync process bring the mirror up to date and wait for it. Returns a warning to show when the
    server could not be reached (the command goes on with the mirror as it is); raises AuthRefused (77) or
    TlsRefused (69), which the user must fix."""
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = ask(home, "sync", max(0.1, deadline - time.monotonic()))
            break
        except TimeoutError:
            break
        except OSError:
            if not running(home):
                ensure(home)
            time.sleep(0.05)  # started a moment ago: its socket is not there yet
    if answer is None or answer == "busy":
        return f"the sync process did not answer within {timeout:g} s; showing the local copy"
    if answer == "ok":
        return None
    state, _, why = answer.partition(" ")
    if state == "auth":
        raise AuthRefused(why or "the server refused the password")
    if state == "tls":
        raise TlsRefused(why or "the server's TLS certificate was refused")
    return f"{why or state}; showing the local copy"
