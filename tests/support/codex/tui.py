"""One interactive Codex session (the TUI) in tmux, offline, on a `CodexRig`: the rig tests/harness/test_codex_wake.py
runs to see an idle thread woken by mail through `codex queue`.

    with CodexTui(rig) as tui:
        entry = tui.prompt("hello")            # the turn's first request to the model
        ...

The pane runs `unshare -n python -m tests.support.offline --log LOG -- codex --dangerously-bypass-hook-trust`
(tests/support/offline.py), with exactly the rig's environment. Screen markers (0.171): idle shows `? for
shortcuts` in the footer, a turn `esc to interrupt`, as Claude Code's (tests/support/claude/tmux.py, reused here).
Every process the session causes carries the rig's AGENTMAIL_TEST_SESSION tag in its environment: close() ends
them all by pid (the detached waiter included), and the tmux server.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.support import offline
from tests.support.claude import procs
from tests.support.claude.tmux import TmuxClaude
from tests.support.codex.session import TAG_VAR, CodexRig
from tests.support.codex.standin import newest_user
from tests.support.wait import until

Json = dict[str, Any]
STARTUP = 60.0
TURN = 60.0


class CodexTui:
    def __init__(self, rig: CodexRig) -> None:
        self.rig = rig
        argv = offline.command(rig.log, ["codex", "--dangerously-bypass-hook-trust"])
        self.tmux = TmuxClaude(f"agentmail-codex-{uuid.uuid4().hex[:8]}", rig.work, rig.env, argv[1:],
                               claude=argv[0])
        self._started = False

    def start(self) -> CodexTui:
        try:
            self.tmux.start()
            self._started = True
            self.tmux.wait_idle(STARTUP)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._started:
            self.tmux.kill()
        deadline = time.monotonic() + 5
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)  # Codex runs SessionEnd as it goes (at most 3 s)
        procs.kill_all([p.pid for p in self.processes()])

    def __enter__(self) -> CodexTui:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def processes(self) -> list[procs.Proc]:
        return procs.processes_of(self.rig.store_home, **{TAG_VAR: self.rig.tag})

    def waiters(self) -> list[int]:
        return sorted(p.pid for p in self.processes() if p.is_waiter())

    # --- turns ----------------------------------------------------------------------------------------------------

    def requests(self, after: int = 0) -> list[Json]:
        return offline.entries(self.rig.log, "codex", after)

    def last_seq(self) -> int:
        found = offline.entries(self.rig.log)
        return int(found[-1]["seq"]) if found else 0

    def wait_request(self, predicate: Callable[[Json], bool], what: str, timeout: float = TURN,
                     after: int = 0) -> Json:
        def found() -> Json | None:
            return next((e for e in self.requests(after) if predicate(e)), None)

        try:
            return until(found, what, timeout, 0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.debug()}") from None

    def prompt(self, text: str, timeout: float = TURN) -> Json:
        """Type a prompt; the turn's first request, once the turn is over."""
        self.tmux.wait_idle(timeout)
        seq = self.last_seq()
        self.tmux.type(text)
        entry = self.wait_request(lambda e: newest_user(e["body"])[1] == text, f"for the prompt {text!r}",
                                  timeout, seq)
        self.tmux.wait_idle(timeout)
        return entry

    def one_waiter(self, timeout: float = TURN) -> int:
        """The pid of the session's only waiter, once there is exactly one."""
        def one() -> int:
            found = self.waiters()
            return found[0] if len(found) == 1 else 0

        try:
            return until(one, "exactly one waiter", timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc} (have {self.waiters()})\n{self.debug()}") from None

    def debug(self) -> str:
        lines = ["--- screen ---", self.tmux.screen().rstrip(), "--- requests ---"]
        for entry in offline.entries(self.rig.log)[-6:]:
            text = newest_user(entry["body"])[1][-200:] if entry.get("kind") == "codex" else entry.get("cmd", "")
            lines.append(f"#{entry['seq']} {entry['kind']} reply={json.dumps(entry.get('reply'))} {text!r}")
        return "\n".join(lines) + f"\n--- processes ---\n{os.linesep.join(str(p) for p in self.processes())}"
