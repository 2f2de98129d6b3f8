"""Run a harness offline: a network namespace with only loopback, a model stand-in listening inside it, the command.

    unshare -n python -m tests.support.offline --log LOG [--port P] [--default TEXT] -- codex exec ...

Codex tries github.com and chatgpt.com on every run and Gemini CLI's extension commands look up play.googleapis.com
(/work/research/harness/FINDINGS.md 3.7, 4.6); in a fresh namespace those fail at once and nothing leaves the
machine, whatever CI's network allows. The namespace starts with `lo` down: this brings it up (SIOCSIFFLAGS, no `ip`
needed), serves the stand-in on 127.0.0.1:P in a thread (any fixed port is free in a namespace of one's own) and runs
the command, exiting with its status. Each request is one JSON line in LOG: seq, t, path, body, what was answered.

A prompt may also say `[[meanwhile: CMD]]`: the stand-in runs CMD (sh -c, in its own environment, which is the
harness's) once, before it answers the first request that carries that prompt: mail that "arrives while the model
thinks", after the turn's first hooks ran and before its last ones run.

The stand-in speaks the OpenAI Responses API (Codex: POST .../responses, tests/support/codex/standin.py) and the
Gemini API (Gemini CLI: POST .../models/M:streamGenerateContent, :generateContent, :countTokens,
tests/support/gemini/standin.py).
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.codex import standin as codex_api
from tests.support.gemini import standin as gemini_api

PORT = 18765
MEANWHILE = re.compile(r"\[\[meanwhile:\s*(.*?)\]\]", re.S)
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
Json = dict[str, Any]


@functools.cache
def prefix() -> tuple[str, ...] | None:
    """How to start a command in a namespace of its own: `unshare -n` as root, else `unshare -rn` (a user namespace);
    None when neither works here."""
    for candidate in (("unshare", "-n"), ("unshare", "-rn")):
        try:
            if subprocess.run([*candidate, "true"], capture_output=True, timeout=30).returncode == 0:
                return candidate
        except (OSError, subprocess.SubprocessError):
            return None
    return None


def command(log: Path, args: list[str], default: str = "ok", port: int = PORT) -> list[str]:
    """The argv that runs `args` offline with a stand-in logging to `log` (the caller checks `prefix()` first)."""
    found = prefix()
    assert found is not None, "no network namespace can be made here"
    return [*found, sys.executable, "-m", "tests.support.offline", "--log", str(log), "--port", str(port),
            "--default", default, "--", *args]


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


class Log:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.seq = len(entries(path))  # a log shared by several runs keeps counting

    def add(self, entry: Json) -> None:
        with self.lock:
            self.seq += 1
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"seq": self.seq, "t": time.time(), **entry}) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the JSON log is the record
        pass

    def body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def sse(self, events: list[Json], named: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            head = f"event: {event['type']}\n" if named else ""
            self.wfile.write(f"{head}data: {json.dumps(event)}\n\n".encode())
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:
        self.server.log.add({"method": "GET", "path": self.path, "kind": "other"})
        self.send(200, {"object": "list", "data": [], "models": []})

    def do_POST(self) -> None:
        body = self.body()
        data: Json = body if isinstance(body, dict) else {}
        path = self.path.split("?")[0]
        record: Callable[[str, Any], None] = lambda kind, reply: self.server.log.add(  # noqa: E731
            {"method": "POST", "path": self.path, "kind": kind, "body": body, "reply": reply})
        default = self.server.default
        if path.endswith("/responses"):
            self.server.meanwhile(codex_api.newest_user(data)[1])
            choice, events = codex_api.events(data, default)
            record("codex", choice)
            self.sse(events, named=True)
        elif ":countTokens" in path:
            record("other", None)
            self.send(200, {"totalTokens": len(json.dumps(body)) // 4})
        elif ":streamGenerateContent" in path or ":generateContent" in path:
            self.server.meanwhile(gemini_api.newest_prompt(data)[1])
            choice, reply = gemini_api.answer(data, default)
            record("gemini-helper" if choice.get("helper") else "gemini", choice)
            if ":streamGenerateContent" in path and "alt=sse" in self.path:
                self.sse([reply], named=False)
            elif ":streamGenerateContent" in path:
                self.send(200, [reply])
            else:
                self.send(200, reply)
        else:
            record("other", None)
            self.send(404, {"error": {"message": f"stand-in: no route for {path}"}})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    log: Log
    default: str
    ran: set[str]

    def meanwhile(self, text: str) -> None:
        for cmd in MEANWHILE.findall(text):
            if cmd not in self.ran:
                self.ran.add(cmd)
                proc = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=120)
                self.log.add({"kind": "meanwhile", "cmd": cmd, "rc": proc.returncode,
                              "output": proc.stdout + proc.stderr})

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a harness dropping a connection (or being killed) is not an error
        super().handle_error(request, client_address)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="offline")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--default", default="ok", help="the text answered without a directive")
    parser.add_argument("args", nargs="+")
    opts = parser.parse_args(argv)
    loopback_up()
    server = Server(("127.0.0.1", opts.port), Handler)
    server.log = Log(opts.log)
    server.default = opts.default
    server.ran = set()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return subprocess.call(opts.args)
    except KeyboardInterrupt:
        return 130


def entries(log: Path, kind: str | None = None, after: int = 0) -> list[Json]:
    """The logged requests (of `kind`: codex, gemini, gemini-helper, other) past seq `after`."""
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line being written
        if entry["seq"] > after and (kind is None or entry["kind"] == kind):
            found.append(entry)
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
