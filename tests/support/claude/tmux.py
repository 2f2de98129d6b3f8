"""Drive an interactive Claude Code session in tmux on a private socket (``tmux -L``): start it, read the screen,
type, wait for the idle prompt, find the claude process, end it.

Screen markers (2.1.197): idle shows ``? for shortcuts`` in the footer (``bypass permissions on`` with
--dangerously-skip-permissions), busy shows ``esc to interrupt``. Text is typed literally (``send-keys -l``) and Enter
pressed separately, as a person would; a slash command opens a completion menu, so wait before its Enter.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.wait import until


class TmuxClaude:
    """One `claude` in a detached tmux session on socket `socket`, started with exactly the environment `env`."""

    def __init__(self, socket: str, cwd: Path, env: Mapping[str, str], args: Sequence[str] = (),
                 claude: str = "claude", width: int = 200, height: int = 50) -> None:
        self.socket = socket
        self.session = "claude"
        self.cwd = cwd
        self.env = dict(env)
        self.args = list(args)
        self.claude = claude
        self.width = width
        self.height = height
        self._pid: int | None = None

    def tmux(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check,
                              timeout=30).stdout

    def start(self) -> TmuxClaude:
        # The tmux server gets a bare environment; `env -i` gives claude exactly self.env; `exec` makes the pane's
        # process claude itself, so #{pane_pid} is claude's pid.
        inner = "exec env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in self.env.items()) + " " + \
            shlex.join([self.claude, *self.args])
        subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", self.session,
                        "-x", str(self.width), "-y", str(self.height), "-c", str(self.cwd), inner], check=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color"}, timeout=30)
        # Keep the pane after claude exits, so its last screen can still be read (and its death seen).
        self.tmux("set-option", "-t", self.session, "remain-on-exit", "on", check=False)
        self._pid = int(self.tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())
        return self

    @property
    def pid(self) -> int:
        """The claude process's pid (known from the start, still valid for checks after it died)."""
        assert self._pid is not None, "not started"
        return self._pid

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session, check=False)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """The screen once `text` is on it."""
        def shown() -> str:
            screen = self.screen()
            return screen if text in screen else ""

        return until(shown, f"{text!r} on claude's screen", timeout, 0.1)

    def is_idle(self) -> bool:
        screen = self.screen()
        return "esc to interrupt" not in screen and ("? for shortcuts" in screen or "bypass permissions" in screen)

    def wait_idle(self, timeout: float = 30.0, steady: float = 0.5) -> None:
        """Wait until the idle footer has shown for `steady` seconds in a row (a turn's end flickers)."""
        since: list[float] = []

        def settled() -> bool:
            if not self.is_idle():
                since.clear()
                return False
            since.append(time.monotonic())
            return since[-1] - since[0] >= steady

        try:
            until(settled, "claude idle at its prompt", timeout, 0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{self.screen()}") from None

    def type(self, text: str, enter: bool = True) -> None:
        """Type `text` literally, then Enter as its own key press."""
        self.tmux("send-keys", "-t", self.session, "-l", text)
        if enter:
            time.sleep(0.3)  # a paste followed at once by Enter can land as a newline in the input box
            self.tmux("send-keys", "-t", self.session, "Enter")

    def command(self, slash: str) -> None:
        """Run a slash command: type it, let the completion menu open, press Enter."""
        self.tmux("send-keys", "-t", self.session, "-l", slash)
        time.sleep(0.5)
        self.tmux("send-keys", "-t", self.session, "Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def pane_dead(self) -> bool:
        return self.tmux("display-message", "-p", "-t", self.session, "#{pane_dead}", check=False).strip() != "0"

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        """End the tmux server of this socket (claude gets SIGHUP) and remove the socket file."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(tmpdir, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)
