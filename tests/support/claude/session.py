"""One real interactive Claude Code session with the agentmail plugin loaded, on a test's store, against its own
model stand-in: the rig every test under tests/harness/ and bench/wake_e2e.py runs.

    with ClaudeSession(tmp / "b", store.home, name="bob") as bob:
        first = bob.prompt("hello")             # the request that turn sent the model
        bob.wait_armed()                        # Stop ran and a waiter is alive
        ...                                     # mail bob; bob.wait_request(is_wake, ...)

The plugin is this checkout's root (`--plugin-dir`: .claude-plugin/plugin.json, hooks/hooks.json, agents/, plugin/),
so the hooks run the code under test: `agentmail` is first on PATH (this venv) and this tree first on PYTHONPATH.
Claude runs with --dangerously-skip-permissions (IS_SANDBOX=1 makes that legal as root), so a Bash tool call the
stand-in asks for (`agentmail reply ...`) runs without a permission dialog.

Every process the session causes carries AGENTMAIL_HOME=<the store> and AGENTMAIL_TEST_SESSION=<a tag unique to this
session> in its environment (inherited from claude), which is how `waiters()` finds this session's waiters and
`close()` finds, by pid, whatever is left: claude, hooks, waiters (Claude Code orphans a pending asyncRewake hook
when it exits; FINDINGS 6.5), tool commands. close() always ends them all and stops the tmux server and stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.support import checkout
from tests.support.claude import procs
from tests.support.claude.home import claude_env, make_home
from tests.support.claude.standin import Json, Replies, StandIn, is_prompt, newest_user_text, turn_texts
from tests.support.claude.tmux import TmuxClaude
from tests.support.store import BIN_DIR
from tests.support.wait import until

PLUGIN = checkout.REPO
STARTUP = 60.0  # seconds: claude takes a few seconds to reach its prompt on a loaded 2-core machine
TURN = 60.0
TAG_VAR = "AGENTMAIL_TEST_SESSION"


class ClaudeSession:
    """A `claude --plugin-dir <checkout>` in tmux, as account `name` (AGENTMAIL_NAME; None: three random words)."""

    def __init__(self, root: Path, store_home: Path, name: str | None = None, replies: Replies | None = None,
                 env: Mapping[str, str] | None = None, args: tuple[str, ...] = ("--dangerously-skip-permissions",),
                 plugin: Path = PLUGIN) -> None:
        self.root = root
        self.store_home = store_home
        self.name = name
        self.tag = f"{name or 'anon'}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.project = root / "project"
        self.home = root / "home"
        self.project.mkdir(parents=True, exist_ok=True)
        make_home(self.home, self.project)
        self.standin = StandIn(root / "requests.jsonl", replies or Replies())
        extra = {
            "AGENTMAIL_HOME": str(store_home),
            "PYTHONPATH": checkout.pythonpath(None),
            TAG_VAR: self.tag,
            **({"AGENTMAIL_NAME": name} if name else {}),
            **(env or {}),
        }
        self.env = claude_env(self.home, self.standin.port, extra,
                              path=os.pathsep.join([BIN_DIR, os.environ.get("PATH", "/usr/bin:/bin")]))
        self.tmux = TmuxClaude(f"agentmail-test-{self.tag}", self.project, self.env,
                               ["--plugin-dir", str(plugin), *args])
        self._started = False

    # --- life -------------------------------------------------------------------------------------------------------

    def start(self, timeout: float = STARTUP) -> ClaudeSession:
        """Start the stand-in and claude; return once claude shows its idle prompt."""
        self.standin.start()
        try:
            self.tmux.start()
            self._started = True
            self.tmux.wait_idle(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """End claude, its tmux server, every process left with this session's tag (by pid), and the stand-in."""
        try:
            if self._started:
                self.tmux.kill()
            # claude gets SIGHUP and runs SessionEnd (about 1.5 s); then whatever is left goes. Each pid once:
            # a waiter may exit (and its pid be reused) while we look, so only live tagged processes are signalled.
            deadline = time.monotonic() + 5
            while procs.alive(self.tmux.pid if self._started else -1) and time.monotonic() < deadline:
                time.sleep(0.05)
            procs.kill_all([p.pid for p in self.processes()])
        finally:
            self.standin.stop()

    def __enter__(self) -> ClaudeSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        """The claude process."""
        return self.tmux.pid

    def processes(self) -> list[procs.Proc]:
        return procs.processes_of(self.store_home, **{TAG_VAR: self.tag})

    def waiters(self) -> list[int]:
        return sorted(p.pid for p in self.processes() if p.is_waiter())

    def account(self, timeout: float = 20.0) -> str:
        """The account this session is registered as (its presence names the claude process)."""
        def bound() -> str:
            for path in sorted((self.store_home / "directory").glob("*.json")):
                try:
                    info = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                if info.get("pid") == self.pid and info.get("online"):
                    return str(info["name"])
            return ""

        return until(bound, f"{self.tag}'s account in directory/", timeout)

    # --- turns ------------------------------------------------------------------------------------------------------

    def last_seq(self) -> int:
        return self.standin.last_seq()

    def requests(self, after_seq: int = 0, kind: str | None = "main") -> list[Json]:
        return self.standin.requests(kind, after_seq)

    def wait_request(self, predicate: Callable[[Json], bool], what: str, timeout: float = TURN,
                     after_seq: int = 0) -> Json:
        """The first logged request past `after_seq` that matches (AssertionError naming `what`, and showing the
        screen, after `timeout` s)."""
        found = self.standin.log.wait_for(predicate, timeout, after_seq)
        if found is None:
            raise AssertionError(f"{self.tag}: no request {what} within {timeout:g} s\n{self.debug()}")
        return found

    def prompt(self, text: str, timeout: float = TURN, idle: bool = True) -> Json:
        """Type a prompt; return the turn's first request to the model (after the turn ends, unless idle=False)."""
        self.tmux.wait_idle(timeout)
        seq = self.last_seq()
        self.tmux.type(text)

        def typed(entry: Json) -> bool:  # this prompt's request, not a late one of the turn before (a request with
            # tools that Claude Code sends after a turn, on a loaded machine after `seq` was read)
            return is_prompt(entry) and any(text in t for t in turn_texts(entry))

        entry = self.wait_request(typed, f"for the prompt {text!r}", timeout, seq)
        if idle:
            self.tmux.wait_idle(timeout)
        return entry

    def wait_armed(self, timeout: float = TURN) -> list[int]:
        """Wait until the session is idle with exactly one waiter alive; its pid list."""
        self.tmux.wait_idle(timeout)

        def one() -> list[int]:
            found = self.waiters()
            return found if len(found) == 1 else []

        try:
            return until(one, f"{self.tag}: exactly one waiter", timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc} (have {self.waiters()})\n{self.debug()}") from None

    def end(self, how: str = "exit", timeout: float = 30.0) -> None:
        """End claude: `exit` types /exit (SessionEnd runs), `kill` sends SIGKILL (no hook runs at all)."""
        if how == "exit":
            self.tmux.wait_idle(timeout)
            self.tmux.command("/exit")
        elif how == "kill":
            self.tmux.signal(signal.SIGKILL)
        else:
            raise ValueError(how)
        until(lambda: not procs.alive(self.pid), f"{self.tag}: claude gone after {how}", timeout)

    # --- diagnostics ------------------------------------------------------------------------------------------------

    def debug(self, last: int = 6) -> str:
        """The screen and the newest requests' newest user text, for an assertion message."""
        lines = [f"--- screen of {self.tag} ---", self.tmux.screen().rstrip(), f"--- last requests of {self.tag} ---"]
        for entry in self.requests(kind=None)[-last:]:
            text: Any = newest_user_text(entry)[-300:] if entry["kind"] == "main" else ""
            lines.append(f"#{entry['seq']} {entry['kind']} t={entry['t']:.3f} reply={entry['reply']!r} {text!r}")
        return "\n".join(lines)
