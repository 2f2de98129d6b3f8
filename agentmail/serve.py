"""`agentmail serve`: one asyncio process running the listeners (SMTP, IMAP and the web view).

Lifecycle:
- one server per store: `run/serve.lock` is held with flock(2) for the whole life of the process, so a crashed
  server (whose `run/serve.json` is left behind) never blocks a restart, and a second `serve` fails with exit 69,
  naming the running server's pid and ports;
- every listener binds (port 0 = a free port), then `run/serve.json` ({pid, host, imap_port, smtp_port,
  web_port, started_at}, see agent/server_info.py) is written atomically for `agentmail login-info` and tests;
- SIGINT/SIGTERM: stop accepting, let transactions in progress finish (a 250 is only sent once a message is
  fsynced), close the rest with 421, remove `run/serve.json`, exit 0.

Adding a listener: a `Listener(name, port_key, port, start)` whose `start(ctx, host, port)` returns a started
`asyncio.Server` (and optionally registers a shutdown step with `ctx.on_shutdown`), listed in `build_listeners`.
The listeners know nothing of this module: it starts them (start_smtp, start_imap, start_web), so nothing imports
upwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .agent.server_info import (
    DEFAULT_HOST,
    DEFAULT_IMAP_PORT,
    DEFAULT_SMTP_PORT,
    DEFAULT_WEB_PORT,
    is_loopback,
    run_file,
    web_login,
)
from .errors import AgentmailError, ConfigError, UnavailableError, UsageError
from .store import registry

if TYPE_CHECKING:
    import ssl

    from .config import Config

log = logging.getLogger("agentmail.serve")

SHUTDOWN_GRACE = 10.0  # seconds a transaction in DATA gets to finish after SIGTERM
LOCK_FILE = "serve.lock"


class ServeContext:
    """What listeners share: the store, the bind address, TLS, the worker threads, shutdown steps."""

    def __init__(self, cfg: Config, host: str, tls_context: ssl.SSLContext | None, remote: bool,
                 workers: int = 16, verbose: int = 0) -> None:
        self.cfg = cfg
        self.host = host
        self.tls_context = tls_context
        self.remote = remote  # True when bound beyond loopback: TLS is then required before AUTH
        self.verbose = verbose
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self.shutdown_steps: list[Callable[[float], Awaitable[None]]] = []

    def on_shutdown(self, step: Callable[[float], Awaitable[None]]) -> None:
        """Register `step(grace_seconds)`, awaited after the listeners stop accepting."""
        self.shutdown_steps.append(step)


StartFn = Callable[[ServeContext, str, int], Awaitable[asyncio.AbstractServer]]


class Listener:
    __slots__ = ("name", "port_key", "port", "start")

    def __init__(self, name: str, port_key: str, port: int, start: StartFn) -> None:
        self.name = name
        self.port_key = port_key  # the run/serve.json key of its port
        self.port = port
        self.start = start


async def start_smtp(ctx: ServeContext, host: str, port: int) -> asyncio.AbstractServer:
    from .smtp.listener import SmtpService

    service = SmtpService(ctx.cfg, ctx.executor, hostname=socket.gethostname() or "localhost",
                          tls_context=ctx.tls_context, require_tls=ctx.remote)
    ctx.on_shutdown(service.shutdown)
    loop = asyncio.get_running_loop()
    return await loop.create_server(service.protocol, host, port, backlog=1024, reuse_address=True)


async def start_imap(ctx: ServeContext, host: str, port: int) -> asyncio.AbstractServer:
    from .imap.server import ImapServer

    server = ImapServer(ctx.cfg)
    ctx.on_shutdown(server.shutdown)
    return await server.start(host, port)


async def start_web(ctx: ServeContext, host: str, port: int) -> asyncio.AbstractServer:
    from .web.service import WebService

    service = WebService(ctx.cfg, ctx.executor, ctx.tls_context, ctx.remote, verbose=ctx.verbose)
    ctx.on_shutdown(service.shutdown)
    return await service.start(host, port)


def build_listeners(smtp_port: int, imap_port: int, web_port: int | None = DEFAULT_WEB_PORT) -> list[Listener]:
    """The listeners to start; `web_port=None` leaves the web view out."""
    listeners = [Listener("SMTP", "smtp_port", smtp_port, start_smtp),
                 Listener("IMAP", "imap_port", imap_port, start_imap)]
    if web_port is not None:
        listeners.append(Listener("Web", "web_port", web_port, start_web))
    return listeners


def tls_context_for(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not cert and not key:
        return None
    if not (cert and key):
        raise UsageError("--tls-cert and --tls-key go together")
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from exc
    return ctx


def check_bind(host: str, allow_remote: bool, tls: ssl.SSLContext | None) -> bool:
    """True if `host` is beyond loopback (and allowed); refuses what DESIGN.md forbids."""
    if is_loopback(host):
        return False
    if not allow_remote:
        raise UsageError(f"refusing to listen on {host}: it is not a loopback address. Mail would be reachable "
                         "from other machines; pass --allow-remote with --tls-cert and --tls-key to do it anyway")
    if tls is None:
        raise ConfigError(f"listening on {host} needs TLS: pass --tls-cert FILE and --tls-key FILE "
                          "(STARTTLS is then required before AUTH)")
    return True


class RunLock:
    """flock(2) on run/serve.lock: held while the server runs, released by the kernel if it dies."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.path = cfg.path("run", LOCK_FILE)
        self.fd = -1

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise UnavailableError(already_running(self.cfg)) from None
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def already_running(cfg: Config) -> str:
    info = registry.read_json(run_file(cfg)) or {}
    ports = ", ".join(f"{k.split('_')[0].upper()} {info.get('host', DEFAULT_HOST)}:{info[k]}"
                      for k in ("smtp_port", "imap_port", "web_port") if isinstance(info.get(k), int))
    pid = info.get("pid", "unknown")
    return (f"agentmail serve is already running for {cfg.home} (pid {pid}{'; ' + ports if ports else ''}); "
            "stop it first, or use `agentmail login-info` to connect to it")


def setup_logging(verbose: int) -> None:
    """One line per event (a delivery, a refusal, a failed login) on stderr.

    -v adds aiosmtpd's command trace (AUTH arguments masked), -vv its DATA lines too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    levels = {0: logging.WARNING, 1: logging.INFO}
    logging.getLogger("mail.log").setLevel(levels.get(verbose, logging.DEBUG))


async def run(ctx: ServeContext, listeners: list[Listener], ready: Callable[[dict[str, Any]], None] | None = None,
              stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Start every listener, write run/serve.json, wait for a signal (or `stop`), shut down cleanly."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not in the main thread
            loop.add_signal_handler(sig, stop.set)
    servers: list[asyncio.AbstractServer] = []
    info: dict[str, Any] = {"pid": os.getpid(), "host": ctx.host}
    try:
        for lst in listeners:
            try:
                server = await lst.start(ctx, ctx.host, lst.port)
            except OSError as exc:
                why = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
                raise UnavailableError(f"cannot listen for {lst.name} on {ctx.host}:{lst.port}: {why}") from exc
            servers.append(server)
            sockets = getattr(server, "sockets", None) or []
            info[lst.port_key] = sockets[0].getsockname()[1] if sockets else lst.port
        info["started_at"] = registry.iso_now()
        registry.write_json(run_file(ctx.cfg), info)
        if ready:
            ready(info)
        await stop.wait()
        log.info("shutting down: no new connections; finishing messages in progress")
    finally:
        for server in servers:
            server.close()
        for step in ctx.shutdown_steps:
            await step(SHUTDOWN_GRACE)
        ctx.executor.shutdown(wait=True)  # every delivery already started completes
        current = registry.read_json(run_file(ctx.cfg)) or {}
        if current.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(run_file(ctx.cfg))
    return info


def banner(cfg: Config, info: dict[str, Any], remote: bool) -> str:
    host = info["host"]
    lines = [f"agentmail serve: store {cfg.home}, pid {info['pid']}"]
    if "smtp_port" in info:
        how = "STARTTLS then AUTH PLAIN/LOGIN" if remote else "AUTH PLAIN/LOGIN, loopback only"
        lines.append(f"  SMTP  {host}:{info['smtp_port']}  ({how})")
    if "imap_port" in info:
        lines.append(f"  IMAP  {host}:{info['imap_port']}")
    else:
        lines.append("  IMAP  not available in this version yet")
    if "web_port" in info:
        try:
            url = web_login(cfg, info, "human")["login_url"]
        except AgentmailError as exc:
            url = f"(no login link: {exc})"
        lines.append(f"  Web   {url}")
        lines.append("        (that link signs a browser in once, within 10 minutes; a new one: "
                     "`agentmail login-info --json`)")
    lines.append("  mail client settings (user, password): `agentmail login-info [NAME]`; stop with Ctrl-C")
    return "\n".join(lines)


def run_loop(main: Coroutine[Any, Any, object]) -> None:
    """Run serve's listeners on uvloop where it is installed (a dependency, but it has no wheel everywhere): its
    libuv loop takes about 15 us less per IMAP round trip than asyncio's selector loop (docs/imap.md). The tests
    that start a listener in-process run it on asyncio's loop, so both loops are tested."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform without uvloop
        asyncio.run(main)
        return
    uvloop.run(main)


def serve(cfg: Config, host: str = DEFAULT_HOST, smtp_port: int = DEFAULT_SMTP_PORT,
          imap_port: int = DEFAULT_IMAP_PORT, *, web_port: int | None = DEFAULT_WEB_PORT, allow_remote: bool = False,
          tls_cert: str | None = None, tls_key: str | None = None, verbose: int = 0) -> int:
    """Run the server in the foreground until SIGINT/SIGTERM; returns the exit code (0 on a clean stop)."""
    tls = tls_context_for(tls_cert, tls_key)
    remote = check_bind(host, allow_remote, tls)
    registry.ensure_store(cfg)
    lock = RunLock(cfg)
    lock.acquire()
    setup_logging(verbose)
    started = time.monotonic()
    try:
        ctx = ServeContext(cfg, host, tls, remote, verbose=verbose)

        def ready(info: dict[str, Any]) -> None:
            print(banner(cfg, info, remote), file=sys.stderr, flush=True)

        run_loop(run(ctx, build_listeners(smtp_port, imap_port, web_port), ready))
    finally:
        lock.release()
    log.info("stopped after %.0f s", time.monotonic() - started)
    return 0
