"""`agentmail demo`: a three-agent web-app conversation, played into a store with the real library calls.

The same script (with fixed dates) produced the checked-in sample store under maildirs/ that the tests use as
golden data.
"""

from __future__ import annotations

from .compose import reply, send
from .identity import register
from .mailbox import announce, find, unread
from .reading import read_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config

START = 1795165200.0  # 2026-11-20 09:00:00 UTC: fixed, so the postcards' content-addressed ids are stable

AGENTS = ("frontend", "backend", "database")


def play(cfg: Config, start: float = START, pid: int | None = None) -> list[str]:
    """Play the conversation; returns a transcript, one line per step."""
    import os

    pid = os.getpid() if pid is None else pid
    for name in AGENTS:
        register(cfg, name, pid=pid, session_id=f"demo-{name}")
    log: list[str] = []

    def step(text: str) -> None:
        log.append(text)

    first = send(cfg, "frontend", ["backend"], "Need avatar_url in GET /api/users",
                 "The profile page now shows avatars. Could GET /api/users include an avatar_url per user?\n"
                 "Null is fine when there is none. I am mocking it until then.", date=start)
    step(f"frontend -> backend: Need avatar_url in GET /api/users ({first.key[:8]})")
    second = send(cfg, "backend", ["database"], "Column for user avatars?",
                  "Frontend needs avatar_url on users. Can you add a nullable text column users.avatar_url "
                  "with a migration? I will wire the API once it exists.", urgent=True, date=start + 120)
    step(f"backend -> database: Column for user avatars? [URGENT] ({second.key[:8]})")
    announce(unread(cfg, "database"))
    read_message(cfg, "database", second.key[:8])
    step("database reads it (a receipt goes back to backend)")
    third = reply(cfg, "database", find(cfg, "database", second.key[:8]),
                  "Done: migration 0042_users_avatar_url adds users.avatar_url (text, nullable). "
                  "Applied to the dev database.", date=start + 300)
    step(f"database -> backend: Re: Column for user avatars? ({third.key[:8]})")
    read_message(cfg, "backend", first.key[:8])
    read_message(cfg, "backend", third.key[:8])
    fourth = reply(cfg, "backend", find(cfg, "backend", first.key[:8]),
                   "GET /api/users now returns avatar_url (null when unset). Deployed to the dev server.",
                   date=start + 600)
    step(f"backend -> frontend: Re: Need avatar_url in GET /api/users ({fourth.key[:8]})")
    read_message(cfg, "frontend", fourth.key[:8])
    step("frontend reads the answer (a receipt goes back to backend)")
    return log
