"""Support code shared by the test directories (and bench/imap_bench.py): import it as `tests.support.<module>`.

- `store`: the environment for a subprocess on a temp store (`env_for`), accounts, and `Store`, a temp store to
  look into.
- `servers`: the real `agentmail serve` on free loopback ports (`Serve`), `free_port`.
- `dovecot`: Dovecot as the reference server on the same tree (the configuration of INTEROP.md).
- `tools`: `need()` for the real programs the tests drive, `missing()` for anything else the machine lacks (skip when
  one is missing, fail in CI).
- `checkout`: this checkout first on PYTHONPATH (`env_for` uses it) and `check()`, which proves the console scripts
  import it.
- `strace`: run a program under strace, parse the trace, check the durability order of a published message.
- `disk`: a tiny tmpfs to fill up (a real full disk), a tree snapshot, the partial-file check.
- `wait`: `until()`, waiting for a condition with a generous deadline instead of sleeping.

The repository root must be on sys.path: pyproject.toml gives pytest `pythonpath = ["."]`; scripts outside pytest
insert it themselves.
"""
