"""Which account an MCP tool call speaks for.

Exactly as the CLI (agent/identity.py `whoami`): `--as`, else AGENTMAIL_ADDRESS, else the harness session, else the
nearest registered process up the parent chain. The MCP server is started by the harness itself, so its parent is
the harness process that the hooks bind (Claude Code, Gemini CLI). The session id comes from the request when the
harness sends one (Codex puts its thread id in every `tools/call` `_meta`, and one Codex daemon serves every
session, so its process is not enough), else from the environment Claude Code gives its MCP servers
(CLAUDE_CODE_SESSION_ID, the hooks' `session_id`). A call that carries a session id is answered for that session
alone: the shared Codex daemon's process binding belongs to whichever session registered first.

A harness with no agentmail hooks (Cursor, any MCP client) has registered nothing: then the first tool call
registers the session as a hook would (AGENTMAIL_NAME, else the `.agentmail` file, else three random words), bound
to the harness process and the session id.
"""

from __future__ import annotations

import os

from ..agent.identity import HOW_TO_REGISTER, register, whoami
from ..errors import ConfigError
from ..store import presence, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..config import Config

META_SESSION_KEYS = ("threadId", "sessionId")  # Codex: `_meta.threadId` (= its hooks' session_id)
ENV_SESSION_KEYS = ("CLAUDE_CODE_SESSION_ID", "CLAUDE_SESSION_ID")  # Claude Code's MCP servers get the first


class Speaker:
    """The identity settings the server was started with; `name()` resolves them for one call."""

    def __init__(self, cfg: Config, as_name: str | None, env: Mapping[str, str] | None = None,
                 cwd: str | None = None) -> None:
        self.cfg = cfg
        self.as_name = as_name
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd or os.getcwd()
        self.last: str | None = None  # the account of the last resolved call: the one the inbox watcher watches

    def call_session(self, meta: Mapping[str, Any] | None) -> str | None:
        """The session id a request carries (Codex's `_meta.threadId`), if any."""
        for key in META_SESSION_KEYS:
            value = (meta or {}).get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def session_id(self, meta: Mapping[str, Any] | None = None) -> str | None:
        """The call's session id, else the one the harness put in the server's environment."""
        env = (value for key in ENV_SESSION_KEYS if (value := self.env.get(key, "").strip()))
        return self.call_session(meta) or next(env, None)

    def explicit(self) -> bool:
        """Was an account named (`--as`, AGENTMAIL_ADDRESS)? Then an unknown one is an error, never a registration."""
        return self.as_name is not None or bool(self.env.get("AGENTMAIL_ADDRESS"))

    def check(self) -> None:
        """A --as or AGENTMAIL_ADDRESS that names no account fails at start-up, not on every call."""
        if self.explicit():
            self.name()

    def name(self, meta: Mapping[str, Any] | None = None, register_if_none: bool = True) -> tuple[str, str | None]:
        """(account, note for the model or None); ConfigError (78) when there is none and `register_if_none` is off."""
        sid = self.session_id(meta)
        try:
            if self.call_session(meta) and not self.explicit():
                # one harness process serves many sessions (Codex's daemon): a binding of that process belongs to
                # whichever session registered first, so the session id alone decides
                found = self.by_session(sid or "")
            else:
                found = whoami(self.cfg, self.as_name, session_id=sid, env=self.env)
            note = None
        except ConfigError:
            if self.explicit() or not register_if_none:
                raise
            found, note = register(self.cfg, None, pid=presence.harness_pid(), session_id=sid, cwd=self.cwd,
                                   env=self.env)
            note = note or f"this session is now {self.cfg.address(found)}"
        self.last = found
        return found, note

    def by_session(self, sid: str) -> str:
        bound = presence.lookup_session(self.cfg, sid)
        real = registry.resolve(self.cfg, bound) if bound else None
        if real is None:
            raise ConfigError(HOW_TO_REGISTER)
        return real
