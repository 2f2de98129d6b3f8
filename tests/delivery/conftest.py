"""The CLI fixtures (tests/support/cli.py): a temp store, the CLI run two ways, accounts, snapshots."""

from tests.support.cli import accounts, am, cfg, home, script, tiny_tmpfs  # noqa: F401
