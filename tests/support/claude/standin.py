"""A model stand-in for Claude Code: enough of the Anthropic Messages API on loopback for a real `claude` session
(interactive in tmux, or print mode) to run turns, with every request logged so a test reads exactly what the
harness sent the model (hook context, system reminders, wakes, tool results). Verified with Claude Code 2.1.197
(the research notes behind it: docs/testing.md, "Real Claude Code sessions").

What it answers
- ``POST /v1/messages``: streaming (``"stream": true``: SSE message_start, content_block_start, ping,
  content_block_delta, content_block_stop, message_delta with stop_reason and usage, message_stop) or a plain JSON
  message. Requests that carry ``tools`` are the main loop: a directive in the newest user text, else the
  responder, else the next scripted reply, else the default. Requests without ``tools`` are side requests (the
  session title, topics): the side reply, or a JSON object of the requested schema filled with it.
- ``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``. Any GET or HEAD, any other POST: 200 ``{}``.

Replies
- a plain string: one text block, stop_reason ``end_turn``;
- ``{"bash": "CMD"}``: one ``Bash`` tool_use (stop_reason ``tool_use``); Claude Code runs it (PreToolUse and
  PostToolUse fire) and sends the tool_result back, which is answered like any other request;
- ``{"tool": NAME, "input": {...}}``: any other tool_use.
Directives typed into the session override the rest for that request: ``[[bash: CMD]]``, ``[[tool: NAME {JSON}]]``,
``[[reply: TEXT]]``. A tool_result turn never takes a directive or the responder (else a command would loop).

The log keeps one entry per request: ``seq, t`` (unix time at receipt), ``method, path, headers, body, kind``
(``main``, ``side``, ``count_tokens`` or ``other``) and ``reply``; also written as JSON lines when given a path.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Reply = str | dict[str, Any]
Json = dict[str, Any]

BASH_DIRECTIVE = re.compile(r"\[\[bash:\s*(.*?)\]\]", re.S)
REPLY_DIRECTIVE = re.compile(r"\[\[reply:\s*(.*?)\]\]", re.S)
TOOL_DIRECTIVE = re.compile(r"\[\[tool:\s*(\w+)\s+(\{.*?\})\]\]", re.S)


def text_of(content: Any) -> str:
    """The text of a message's content (a string or a list of blocks); tool_result blocks count too."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.append(text_of(block.get("content", "")))
    return "\n".join(parts)


def last_user_blocks(body: Json) -> list[Json]:
    """The content blocks of the newest user message (a string content becomes one text block)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        return [b for b in content or [] if isinstance(b, dict)]
    return []


def system_text(body: Json) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    return text_of(system)


Responder = Callable[[Json], Reply | None]


class Replies:
    """Decides what each request is answered with. Thread-safe; a test may push more replies at any time.

    `responder` sees the body of each fresh main-loop request (not a tool_result turn) without a directive; what it
    returns is the answer, None passes to the script and the default.
    """

    def __init__(self, script: Iterable[Reply] = (), default: str = "ok", side: str = "ok",
                 responder: Responder | None = None) -> None:
        self._lock = threading.Lock()
        self._queue: list[Reply] = list(script)
        self.default = default
        self.side = side
        self.responder = responder

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def choose(self, body: Json) -> tuple[str, Reply]:
        """(kind, reply) for one /v1/messages request."""
        if not body.get("tools"):
            schema = ((body.get("output_config") or {}).get("format") or {}).get("schema")
            if isinstance(schema, dict):  # e.g. the session title request wants {"title": ...}
                return "side", json.dumps(fill_schema(schema, self.side))
            return "side", self.side
        blocks = last_user_blocks(body)
        newest_text = "\n".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        # A directive only counts in a fresh prompt, not in a tool_result turn (else the same command would loop).
        if not any(b.get("type") == "tool_result" for b in blocks):
            # The newest directive in the newest user message wins (system reminders may quote older prompts).
            bashes = BASH_DIRECTIVE.findall(newest_text)
            if bashes:
                return "main", {"bash": bashes[-1]}
            tools = TOOL_DIRECTIVE.findall(newest_text)
            if tools:
                return "main", {"tool": tools[-1][0], "input": json.loads(tools[-1][1])}
            texts = REPLY_DIRECTIVE.findall(newest_text)
            if texts:
                return "main", texts[-1]
            if self.responder is not None:
                answer = self.responder(body)
                if answer is not None:
                    return "main", answer
        with self._lock:
            if self._queue:
                return "main", self._queue.pop(0)
        return "main", self.default


def fill_schema(schema: Json, text: str) -> Any:
    """A small value that satisfies a simple JSON schema (strings become `text`)."""
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {key: fill_schema(sub, text) for key, sub in props.items() if isinstance(sub, dict)}
    if kind == "array":
        return []
    if kind in ("number", "integer"):
        return 0
    if kind == "boolean":
        return False
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    return text


def content_blocks(reply: Reply) -> tuple[list[Json], str]:
    """The assistant content blocks for a reply and the stop_reason."""
    if isinstance(reply, str):
        return [{"type": "text", "text": reply}], "end_turn"
    if "bash" in reply:
        name, tool_input = "Bash", {"command": str(reply["bash"]), "description": "stand-in command"}
    elif "tool" in reply:
        name, tool_input = str(reply["tool"]), dict(reply.get("input") or {})
    else:
        return [{"type": "text", "text": str(reply.get("text", ""))}], "end_turn"
    block = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": name, "input": tool_input}
    return [block], "tool_use"


def rough_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


class RequestLog:
    """The JSON-lines request log, also kept in memory for in-process tests."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seq = 0
        self.entries: list[Json] = []
        self._changed = threading.Condition(self._lock)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def add(self, entry: Json) -> Json:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, **entry}
            self.entries.append(entry)
            if self.path is not None:
                with self.path.open("a") as f:
                    f.write(json.dumps(entry) + "\n")
            self._changed.notify_all()
        return entry

    def wait_for(self, predicate: Callable[[Json], bool], timeout: float, after_seq: int = 0) -> Json | None:
        """The first entry past `after_seq` that matches, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for entry in self.entries:
                    if entry["seq"] > after_seq and predicate(entry):
                        return entry
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; the JSON log is the record
        pass

    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, raw.decode("utf-8", "replace")

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def _record(self, body: Any, kind: str, reply: Any) -> None:
        self.server.log.add({"t": time.time(), "method": self.command, "path": self.path,
                             "headers": dict(self.headers.items()), "body": body, "kind": kind, "reply": reply})

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_standin_" + uuid.uuid4().hex[:12])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._record(None, "other", {})
        self._send_json(200, {})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        _, body = self._read_body()
        path = self.path.split("?")[0]
        if path.endswith("/v1/messages/count_tokens"):
            self._record(body, "count_tokens", None)
            self._send_json(200, {"input_tokens": rough_tokens(body)})
            return
        if not path.endswith("/v1/messages") or not isinstance(body, dict):
            self._record(body, "other", {})
            self._send_json(200, {})
            return
        kind, reply = self.server.replies.choose(body)
        self._record(body, kind, reply)
        blocks, stop_reason = content_blocks(reply)
        model = str(body.get("model") or "claude-standin")
        usage_in = rough_tokens(body.get("messages"))
        if self.server.delay:
            time.sleep(self.server.delay)
        if body.get("stream"):
            self._stream(model, blocks, stop_reason, usage_in)
        else:
            self._send_json(200, {"id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
                                  "model": model, "content": blocks, "stop_reason": stop_reason,
                                  "stop_sequence": None,
                                  "usage": {"input_tokens": usage_in, "output_tokens": 1,
                                            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})

    def _stream(self, model: str, blocks: list[Json], stop_reason: str, usage_in: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", "req_standin_" + uuid.uuid4().hex[:12])
        self.end_headers()

        def event(name: str, data: Json) -> None:
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()

        event("message_start", {"type": "message_start", "message": {
            "id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                event("content_block_start", {"type": "content_block_start", "index": index,
                                              "content_block": {"type": "text", "text": ""}})
                if index == 0:
                    event("ping", {"type": "ping"})
                event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "text_delta", "text": block["text"]}})
            else:
                event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
                event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                    "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                "usage": {"output_tokens": 5}})
        event("message_stop", {"type": "message_stop"})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    log: RequestLog
    replies: Replies
    delay: float

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Claude Code drops idle keep-alive connections (and whole processes get killed in tests): not errors.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class StandIn:
    """The stand-in, run in a background thread: ``with StandIn(log_path) as s: ... s.url ...``."""

    def __init__(self, log_path: Path | None = None, replies: Replies | None = None, port: int = 0,
                 host: str = "127.0.0.1", delay: float = 0.0) -> None:
        self.log = RequestLog(log_path)
        self.replies = replies or Replies()
        self._server = _Server((host, port), _Handler)
        self._server.log = self.log
        self._server.replies = self.replies
        self._server.delay = delay
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, which must have started
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self, kind: str | None = "main", after_seq: int = 0) -> list[Json]:
        """The logged requests of `kind` (None: all) past `after_seq`."""
        return [e for e in list(self.log.entries) if e["seq"] > after_seq and (kind is None or e["kind"] == kind)]

    def last_seq(self) -> int:
        entries = self.log.entries
        return int(entries[-1]["seq"]) if entries else 0


# --- reading what Claude Code sent --------------------------------------------------------------------------------

# Claude Code 2.1.197 wraps an asyncRewake hook's exit-2 output in this (FINDINGS: the body is the hook's stderr
# byte for byte, the summary is XML-escaped); mid-turn it arrives as a system message with a notice in front.
WAKE_HEAD = ("<task-notification>\n<summary>Stop hook feedback</summary>\n</task-notification>\n"
             "<system-reminder>\nStop hook blocking error from command \"Stop\": ")
WAKE_TAIL = "\n</system-reminder>"


def texts_of(message: Json) -> list[str]:
    """The text blocks of one message (a string content is one block)."""
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [str(b.get("text", "")) for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]


def messages_of(entry: Json) -> list[Json]:
    body = entry.get("body")
    messages = body.get("messages") if isinstance(body, dict) else None
    return [m for m in messages or [] if isinstance(m, dict)]


def newest_user_text(entry: Json) -> str:
    """Every text block of the newest user message of a logged /v1/messages request, joined by newlines."""
    body = entry.get("body")
    if not isinstance(body, dict):
        return ""
    return "\n".join(str(b.get("text", "")) for b in last_user_blocks(body) if b.get("type") == "text")


def user_texts(entry: Json) -> list[str]:
    """Every text block of every user message of a logged request, in order."""
    return [t for m in messages_of(entry) if m.get("role") == "user" for t in texts_of(m)]


def turn_texts(entry: Json) -> list[str]:
    """Every text of the messages after the newest assistant message: the prompt (or wake, or tool result) and what
    Claude Code added with it. Hook context arrives as ``role: "system"`` messages (2.1.197), e.g.
    ``UserPromptSubmit hook additional context: ...``."""
    messages = messages_of(entry)
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    return [t for m in messages[last + 1:] for t in texts_of(m)]


def all_texts(entry: Json) -> list[str]:
    """Every text of every message (user, system, assistant) of a logged request."""
    return [t for m in messages_of(entry) for t in texts_of(m)]


def hook_context(texts: list[str], event: str) -> list[str]:
    """The additionalContext a hook `event` (e.g. "UserPromptSubmit") gave, found in `texts`, without its wrapper.

    2.1.197 sends it two ways: a system message ``EVENT hook additional context: TEXT`` (SessionStart,
    UserPromptSubmit), or, after a tool, a user text block ``<system-reminder>\nEVENT:TOOL hook additional context:
    TEXT\n</system-reminder>`` (PostToolUse)."""
    pattern = re.compile(rf"(?:<system-reminder>\n)?{re.escape(event)}(?::\S+)? hook additional context: (.*?)"
                         r"(?:\n</system-reminder>)?", re.S)
    found = []
    for text in texts:
        match = pattern.fullmatch(text)
        if match:
            found.append(match.group(1))
    return found


def wake_text(entry: Json) -> str | None:
    """What the waiter wrote (its stderr) when this request's newest turn is a wake, else None.

    A wake while idle is a user message of its own; a wake during a turn is a system message with a notice in front
    of the same text (FINDINGS 0). Either way the waiter's text stands between WAKE_HEAD and WAKE_TAIL."""
    if entry.get("kind") != "main":
        return None
    for text in turn_texts(entry):
        start = text.find(WAKE_HEAD)
        if start >= 0:
            rest = text[start + len(WAKE_HEAD):]
            return rest[: -len(WAKE_TAIL)] if rest.endswith(WAKE_TAIL) else rest
    return None


def is_wake(entry: Json) -> bool:
    return wake_text(entry) is not None


def is_prompt(entry: Json) -> bool:
    """A fresh main-loop turn (typed or woken), not a tool_result round trip."""
    if entry.get("kind") != "main" or not isinstance(entry.get("body"), dict):
        return False
    return not any(b.get("type") == "tool_result" for b in last_user_blocks(entry["body"]))


