"""Remote homes (docs/scale-out.md, "The client side"): a home whose account lives on a mail server elsewhere.

`agentmail remote set` writes `remote.json`; from then on sends go out over SMTP submission (outbox.py, submit.py)
and a small per-home sync process (syncd.py) keeps the local Maildir a mirror of the server's mailbox over IMAP
(mirror.py), so the hooks and the waiter read local files and never touch the network.

This package file stays empty: alive.py is imported by every command and must cost nothing more.
"""
