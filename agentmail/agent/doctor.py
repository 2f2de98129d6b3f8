"""`agentmail doctor`: can this process use the store, and if not, what exactly to change.

The case it exists for is Codex's sandbox (docs/harnesses.md, "Codex"): shell commands the model runs under
`workspace-write` may write only the workspace and the configured writable roots, so a store outside them is
read-only there and `agentmail send` exits 73 (`Read-only file system`). The fix is one line of
`~/.codex/config.toml`; this module works it out from the config Codex actually reads (`$CODEX_HOME/config.toml`),
keeping the roots already there. The hooks ask `codex_store_covered` to decide whether the session's first line
mentions it.

Nothing here writes to the store but one probe file, created with O_EXCL (never through a symlink) and removed.
"""

from __future__ import annotations

import json
import os

from ..errors import EX_CANTCREAT, AgentmailError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..config import Config

PROBE = ".agentmail-doctor-probe"


def harness_of_shell(env: Mapping[str, str]) -> str | None:
    """The harness this command runs under, from what each puts in its shell commands' environment: Codex
    CODEX_THREAD_ID (and CODEX_SANDBOX* inside its sandbox), Gemini CLI GEMINI_CLI=1, Claude Code CLAUDECODE=1."""
    if env.get("CODEX_THREAD_ID") or env.get("CODEX_SANDBOX") or env.get("CODEX_SANDBOX_NETWORK_DISABLED"):
        return "codex"
    if env.get("GEMINI_CLI") == "1":
        return "gemini"
    if env.get("CLAUDECODE") == "1":
        return "claude"
    return None


def probe(path: str) -> str | None:
    """None when a file can be created in the directory `path`; else why not (the OS's words)."""
    target = os.path.join(path, f"{PROBE}-{os.getpid()}")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    try:
        os.unlink(target)
    except OSError:
        pass
    return None


def store_state(cfg: Config) -> dict[str, Any]:
    """{"path", "exists", "writable", "error"} of the store directory (and of maildirs/ when there is one)."""
    home = cfg.home
    if not os.path.isdir(home):
        parent = os.path.dirname(home.rstrip(os.sep)) or os.sep
        error = probe(parent) if os.path.isdir(parent) else "its parent directory does not exist"
        return {"path": home, "exists": False, "writable": error is None, "error": error}
    error = probe(home)
    maildirs = os.path.join(home, "maildirs")
    if error is None and os.path.isdir(maildirs):
        error = probe(maildirs)
    return {"path": home, "exists": True, "writable": error is None, "error": error}


# --- Codex's config -------------------------------------------------------------------------------------------------


def codex_home(env: Mapping[str, str]) -> str:
    value = env.get("CODEX_HOME")
    return os.path.abspath(value) if value else os.path.join(os.path.expanduser("~"), ".codex")


def codex_config(env: Mapping[str, str]) -> tuple[str, dict[str, Any] | None]:
    """(path of config.toml, its contents; {} when there is none, None when it cannot be read or parsed)."""
    path = os.path.join(codex_home(env), "config.toml")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(1 << 20)
    except FileNotFoundError:
        return path, {}
    except OSError:
        return path, None
    try:
        import tomllib
    except ImportError:  # Python 3.10: no TOML reader in the standard library
        return path, None
    try:
        return path, tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return path, None


def writable_roots(config: Mapping[str, Any]) -> list[str]:
    table = config.get("sandbox_workspace_write")
    roots = table.get("writable_roots") if isinstance(table, dict) else None
    return [r for r in roots if isinstance(r, str)] if isinstance(roots, list) else []


def under(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(os.path.expanduser(root))
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def codex_store_covered(home: str, env: Mapping[str, str]) -> bool | None:
    """Does Codex's config let sandboxed commands write the store? True when sandbox_mode is danger-full-access or
    a writable root holds the store; None when the config cannot be read."""
    _, config = codex_config(env)
    if config is None:
        return None
    if config.get("sandbox_mode") == "danger-full-access":
        return True
    return any(under(home, root) for root in writable_roots(config))


def toml_array(items: list[str]) -> str:
    # A JSON string is a valid TOML basic string for every path (the same escapes; no control characters in paths).
    return "[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def codex_fix(home: str, env: Mapping[str, str]) -> dict[str, Any]:
    """What to add to Codex's config.toml so sandboxed commands can write the store at `home`:
    {"config": path, "table": whether `[sandbox_workspace_write]` must be written too, "line": the writable_roots
    line (the roots already configured, then the store), "add_dir": the one-run alternative}."""
    path, config = codex_config(env)
    real = os.path.realpath(home)
    roots = writable_roots(config or {})
    kept = [r for r in roots if not under(home, r)]
    return {
        "config": path,
        "table": not isinstance((config or {}).get("sandbox_workspace_write"), dict),
        "line": f"writable_roots = {toml_array([*kept, real])}",
        "add_dir": f"--add-dir {real}",
    }


# --- the report ------------------------------------------------------------------------------------------------------


class Report:
    """What `agentmail doctor` found: one line per check, the exit status, and the same as JSON."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.data: dict[str, Any] = {}
        self.code = 0
        self.summary = ""

    def fail(self, code: int, summary: str) -> None:
        if not self.code:
            self.code, self.summary = code, summary

    def error(self) -> AgentmailError | None:
        """The first problem as an error carrying its exit code (what the CLI prints last, on stderr), or None."""
        if not self.code:
            return None
        err = AgentmailError(f"doctor: {self.summary}")
        err.exit_code = self.code
        return err


HARNESS_NAMES = {"codex": "Codex", "gemini": "Gemini CLI", "claude": "Claude Code"}


def diagnose(cfg: Config, as_name: str | None, env: Mapping[str, str] | None = None) -> Report:
    """Check the store and the identity as this process sees them; the report's code is the first failure's."""
    env = os.environ if env is None else env
    report = Report()
    harness = harness_of_shell(env)
    report.data["harness"] = harness
    report.lines.append(f"harness   {HARNESS_NAMES[harness] if harness else 'none seen (a plain shell)'}")
    state = store_state(cfg)
    report.data["store"] = state
    if state["writable"]:
        report.lines.append(f"store     {state['path']}: writable" + ("" if state["exists"] else
                                                                       " (not created yet)"))
    else:
        report.fail(EX_CANTCREAT, f"this process cannot write the store at {state['path']}")
        report.lines.append(f"store     {state['path']}: cannot write here ({state['error']}): send, read and "
                            "inbox cannot record anything")
        if harness == "codex" and codex_store_covered(cfg.home, env):
            report.lines.append("          Codex's config already lets its workspace-write sandbox write it: this "
                                "run is read-only (codex exec's default); start it with -s workspace-write")
        elif harness == "codex":
            fix = codex_fix(cfg.home, env)
            report.data["codex"] = fix
            report.lines += [f"          Codex's sandbox keeps it read-only. Add to {fix['config']}:",
                             *(["          [sandbox_workspace_write]"] if fix["table"] else []),
                             f"          {fix['line']}",
                             f"          (or start Codex with {fix['add_dir']}; the agentmail MCP server needs "
                             "neither: codex mcp add agentmail -- agentmail mcp)"]
        else:
            report.lines.append("          make it writable for this process, or point AGENTMAIL_HOME at a store "
                                "that is")
    report.data["identity"] = identity(cfg, as_name, env, report)
    return report


def identity(cfg: Config, as_name: str | None, env: Mapping[str, str], report: Report) -> dict[str, Any]:
    from .identity import whoami

    try:
        name = whoami(cfg, as_name, env=env)
    except AgentmailError as err:
        report.fail(err.exit_code, "this process has no agentmail identity")
        report.lines.append(f"identity  none: {err}")
        return {"name": None, "error": str(err)}
    report.lines.append(f"identity  {cfg.address(name)}")
    return {"name": name, "address": cfg.address(name)}
