"""A line-level SMTP client for the bytes smtplib will not send (non-UTF-8, bare CR, NUL, odd commands)."""

from __future__ import annotations

import base64
import socket

from tests.smtp.conftest import Server

DOMAIN = "agents.localhost"


class Raw:
    """One connection: `cmd` sends a line and returns the whole (possibly multi-line) reply, CRLFs included."""

    def __init__(self, server: Server, timeout: float = 15) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        self.buf = b""
        self.server = server
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        """The next reply; at EOF whatever came before it (b"" when the server had closed)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b"".join(lines) + self.buf
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line + b"\r\n")
            if line[3:4] != b"-":
                return b"".join(lines)

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def auth(self, user: str, password: str | None = None) -> None:
        """EHLO and AUTH PLAIN as `user` (with its password from the store unless `password` is given)."""
        assert self.cmd(b"EHLO raw").startswith(b"250")
        secret = self.server.store.passwords[user] if password is None else password
        token = base64.b64encode(f"\0{user}\0{secret}".encode())
        assert self.cmd(b"AUTH PLAIN " + token).startswith(b"235")

    def submit(self, data: bytes, sender: str = "bob", rcpts: tuple[str, ...] = ("alice",)) -> bytes:
        """MAIL, RCPT and DATA with `data` (CRLF lines, dot-stuffing left to the caller): the reply to the data."""
        assert self.cmd(f"MAIL FROM:<{sender}@{DOMAIN}>".encode()).startswith(b"250")
        for rcpt in rcpts:
            assert self.cmd(f"RCPT TO:<{rcpt}@{DOMAIN}>".encode()).startswith(b"250")
        assert self.cmd(b"DATA").startswith(b"354")
        end = b"" if data.endswith(b"\r\n") else b"\r\n"
        return self.cmd(data + end + b".")

    def closed(self) -> bool:
        """Has the server closed the connection (EOF with nothing more to read)?"""
        self.sock.settimeout(15)
        return self.sock.recv(1) == b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
