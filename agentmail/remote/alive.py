"""Is this home remote, and does its sync process run? Started on demand, checked in a few system calls.

Every command and every Python hook calls `ensure` (cli/__init__.py), so this module imports only `os` and `sys`
(fcntl when the home is remote). On a local home the whole check is one failed stat of `remote.json`.

    remote.json      the settings (settings.py), mode 0600: its presence makes the home remote
    run/sync.lock    flock(2)ed exclusively by the running sync process for its whole life; the kernel drops the
                     lock when the process dies, even by SIGKILL, so "locked" is "running"
    run/sync.sock    the sync process's control socket (syncd.py): `sync`, `ping`, `stop`
    run/sync.json    its pid and state (online, offline, auth, tls), for `agentmail remote show`
    run/sync.log     what it did, one line per event
"""

import os
import sys

SETTINGS = "remote.json"
LOCK = os.path.join("run", "sync.lock")
SOCKET = os.path.join("run", "sync.sock")
STATUS = os.path.join("run", "sync.json")
LOG = os.path.join("run", "sync.log")
LOG_MAX = 1 << 20  # the log starts afresh past 1 MiB


def store_home(home: str | None) -> str:
    """The store directory, as `config.load` computes it (without importing it)."""
    if home:
        return os.path.abspath(os.path.expanduser(home))
    env = os.environ.get("AGENTMAIL_HOME")
    return os.path.abspath(os.path.expanduser(env) if env else os.path.join(os.path.expanduser("~"), ".agentmail"))


def is_remote(home: str) -> bool:
    """Does this home mirror an account on a mail server (`agentmail remote set`)?"""
    try:
        os.stat(os.path.join(home, SETTINGS))
    except OSError:
        return False
    return True


def running(home: str) -> bool:
    """Does the home's sync process run? (Its lock is held.)"""
    try:
        fd = os.open(os.path.join(home, LOCK), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True  # held: the sync process runs
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def ensure(home: str) -> bool:
    """On a remote home, start the sync process unless it runs; True when the home is remote. Never raises: a
    process that cannot be started is started by the next command or hook, and `remote show` says why."""
    if not is_remote(home):
        return False
    try:
        if not running(home):
            spawn(home)
    except OSError:
        pass
    return True


def spawn(home: str) -> None:
    """Start `python -m agentmail.remote.syncd HOME` detached (its own session, stdio on /dev/null and the log).

    Twice forked, so it is never a zombie of a long-lived caller (the waiter), and with every inherited file
    descriptor closed: a hook's stdout is a pipe Claude Code reads to the end, which must not stay open in it.
    Two callers racing both spawn; the second process finds the lock held and exits at once."""
    log = os.path.join(home, LOG)
    try:
        if os.stat(log).st_size > LOG_MAX:
            os.replace(log, log + ".1")
    except OSError:
        pass
    argv = [sys.executable, "-m", "agentmail.remote.syncd", home]
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.closerange(3, 65536)
                os.execv(sys.executable, argv)
        except BaseException:  # noqa: BLE001 - a forked child must never go back into the caller's code
            code = 1
        os._exit(code)
    os.waitpid(pid, 0)
