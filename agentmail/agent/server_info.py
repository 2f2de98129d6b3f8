"""Where `agentmail serve` listens: `run/serve.json` ({pid, host, imap_port, smtp_port, web_port, started_at}), and
the one-time links that sign a browser in to its web view."""

from __future__ import annotations

import os

from ..store.presence import pid_alive
from ..store.registry import read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_IMAP_PORT = 1143
DEFAULT_SMTP_PORT = 8025
DEFAULT_WEB_PORT = 8026
RUN_FILE = "serve.json"


def run_file(cfg: Config) -> str:
    return cfg.path("run", RUN_FILE)


def server_info(cfg: Config) -> dict[str, Any]:
    """The running server's address and ports, or the defaults with running=False."""
    data = read_json(run_file(cfg)) or {}
    pid = data.get("pid")
    running = isinstance(pid, int) and pid != os.getpid() and pid_alive(pid)
    if not running:
        data = {}
    return {
        "running": running, "pid": pid if running else None,
        "host": data.get("host", DEFAULT_HOST),
        "imap_port": data.get("imap_port", DEFAULT_IMAP_PORT),
        "smtp_port": data.get("smtp_port", DEFAULT_SMTP_PORT),
        "web_port": data.get("web_port") if running else DEFAULT_WEB_PORT,  # None: serve runs without the web view
    }


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """The host part of a URL for a listening address (a wildcard address is reached by the machine's name)."""
    if host in ("0.0.0.0", "::", ""):
        host = os.uname().nodename
    return f"[{host}]" if ":" in host else host


def web_login(cfg: Config, info: dict[str, Any], account: str) -> dict[str, Any]:
    """login-info's "web": {"host", "port", "login_url"}. The link signs a browser in once, within
    store.weblogin.TOKEN_TTL seconds; only the human account gets one (the view is the person's)."""
    from ..store.registry import HUMAN
    from ..store.weblogin import issue

    host, port = info["host"], info["web_port"]
    url = None
    if account == HUMAN and isinstance(port, int):
        from ..errors import AgentmailError

        scheme = "http" if is_loopback(host) else "https"
        try:
            url = f"{scheme}://{url_host(host)}:{port}/login?token={issue(cfg, account)}"
        except AgentmailError:
            url = None  # an unwritable run/: the mail client settings are still worth printing
    return {"host": host, "port": port, "login_url": url}
