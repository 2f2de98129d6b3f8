"""Where the store lives and the limits that apply to it.

`--home` or `AGENTMAIL_HOME` picks the store, default `~/.agentmail`. Optional overrides live in
`$AGENTMAIL_HOME/config.json` ({"domain": ..., "max_title": ..., ...}) and in `AGENTMAIL_DOMAIN`.

Paths are plain strings and Config a slotted class: pathlib costs ~9 ms and dataclasses ~14 ms of start-up, and
this module is loaded by every `agentmail send` and every hook (see bench/).
"""

from __future__ import annotations

import os

from .errors import ConfigError

DEFAULT_DOMAIN = "agents.localhost"

# name -> (type, default) of the settings config.json may override
SETTINGS: dict[str, tuple[type, object]] = {
    "domain": (str, DEFAULT_DOMAIN),
    "max_title": (int, 140),
    "max_body": (int, 1400),
    "max_attachments": (int, 1024 * 1024),  # total bytes of all attachments of one postcard
    "max_message": (int, 10 * 1024 * 1024),  # SMTP SIZE, sendmail and IMAP APPEND cap
    # Waking an idle agent (docs/claude-code.md, "Waking an idle agent"): on or off for every session of the store,
    # wakes per hour one thread and one sender may cause an agent, and the waiter's lifetime in seconds.
    "wake": (str, "on"),
    "wake_budget_thread": (int, 6),
    "wake_budget_pair": (int, 12),
    "wake_lifetime": (int, 86100),
}
CHOICES = {"wake": ("on", "off")}


class Config:
    __slots__ = ("home", "domain", "max_title", "max_body", "max_attachments", "max_message", "wake",
                 "wake_budget_thread", "wake_budget_pair", "wake_lifetime")

    def __init__(self, home: str, domain: str = DEFAULT_DOMAIN, max_title: int = 140, max_body: int = 1400,
                 max_attachments: int = 1024 * 1024, max_message: int = 10 * 1024 * 1024) -> None:
        self.home = home
        self.domain = domain
        self.max_title = max_title
        self.max_body = max_body
        self.max_attachments = max_attachments
        self.max_message = max_message
        self.wake = "on"
        self.wake_budget_thread = 6
        self.wake_budget_pair = 12
        self.wake_lifetime = 86100

    def __repr__(self) -> str:
        return f"Config(home={self.home!r}, domain={self.domain!r})"

    # --- paths (DESIGN.md, "The store") ---
    def path(self, *parts: str) -> str:
        return os.path.join(self.home, *parts)

    def maildir_path(self, name: str) -> str:
        return os.path.join(self.home, "maildirs", name)

    @property
    def journal_path(self) -> str:
        return os.path.join(self.home, "journal")

    def address(self, name: str) -> str:
        return f"{name}@{self.domain}"


def default_home() -> str:
    env = os.environ.get("AGENTMAIL_HOME")
    if env:
        return os.path.expanduser(env)
    return os.path.join(os.path.expanduser("~"), ".agentmail")


def load(home: str | None = None) -> Config:
    """The configuration for `home` (else `$AGENTMAIL_HOME`, else ~/.agentmail)."""
    path = os.path.abspath(os.path.expanduser(os.fspath(home)) if home else default_home())
    cfg = Config(path)
    conf_file = os.path.join(path, "config.json")
    if os.path.exists(conf_file):
        import json

        try:
            with open(conf_file, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {conf_file}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{conf_file}: expected a JSON object")
        for key, value in data.items():
            if key not in SETTINGS:
                raise ConfigError(f"{conf_file}: unknown setting {key!r}")
            want = SETTINGS[key][0]
            if not isinstance(value, want) or isinstance(value, bool):
                raise ConfigError(f"{conf_file}: {key} must be a {want.__name__}")
            if isinstance(value, int) and value <= 0:
                raise ConfigError(f"{conf_file}: {key} must be positive")
            if isinstance(value, str):
                value = value.strip().lower()
                if key in CHOICES and value not in CHOICES[key]:
                    raise ConfigError(f"{conf_file}: {key} must be one of {', '.join(CHOICES[key])}")
            setattr(cfg, key, value)
    env_domain = os.environ.get("AGENTMAIL_DOMAIN")
    if env_domain:
        cfg.domain = env_domain.strip().lower()
    return cfg
