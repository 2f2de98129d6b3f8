"""The model side of a Codex session: what a loopback stand-in answers to the OpenAI Responses API (the only wire API
Codex 0.171 accepts for a custom model provider, `wire_api = "responses"`), and how to read what Codex sent.

Codex POSTs `<base_url>/responses` with `stream: true` and reads Server-Sent Events: `response.created`, an
`output_item.added`/`done` pair per output item (a `message` with `output_text`, or a `function_call`), and
`response.completed` with `usage`. MCP tools come as one `namespace` tool per server (`mcp__agentmail`, its tools
inside); a call to one names both (`"namespace": "mcp__agentmail", "name": "send"`). The shell tool is
`exec_command` (`{"cmd": ...}`).

What the stand-in answers is decided by the newest user message, the same directives as the Claude Code stand-in
(tests/support/claude/standin.py): `[[tool: NAME {json}]]` calls the offered tool whose name is NAME or ends with it
(`send` finds `mcp__agentmail` / `send`), `[[bash: CMD]]` runs CMD with `exec_command`, `[[reply: TEXT]]` is the
final text. Several directives run in order, one per request; then, or without any, the answer is plain text.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

Json = dict[str, Any]

TOOL = re.compile(r"\[\[tool:\s*([\w/.-]+)\s+(\{.*?\})\]\]", re.S)
BASH = re.compile(r"\[\[bash:\s*(.*?)\]\]", re.S)
REPLY = re.compile(r"\[\[reply:\s*(.*?)\]\]", re.S)
SHELL_TOOL = "exec_command"
WAIT_CMD = "sleep 0.5"
WAITS = 20


def item_text(item: Json) -> str:
    """The text of one input item: a message's input_text/output_text parts, or a tool output."""
    if item.get("type") == "message":
        content = item.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict))
    if item.get("type") in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        return output if isinstance(output, str) else json.dumps(output)
    return ""


def items(body: Json) -> list[Json]:
    return [i for i in body.get("input") or [] if isinstance(i, dict)]


def messages(body: Json, role: str) -> list[str]:
    """The texts of every `role` message of a request, oldest first."""
    return [item_text(i) for i in items(body) if i.get("type") == "message" and i.get("role") == role]


def newest_user(body: Json) -> tuple[int, str]:
    """(index, text) of the newest user message in the request's input; (-1, "") if none."""
    found = items(body)
    for index in range(len(found) - 1, -1, -1):
        if found[index].get("type") == "message" and found[index].get("role") == "user":
            return index, item_text(found[index])
    return -1, ""


def tool_names(body: Json) -> list[tuple[str | None, str]]:
    """(namespace or None, name) of every function tool offered."""
    names: list[tuple[str | None, str]] = []
    for tool in body.get("tools") or []:
        if tool.get("type") == "function" and tool.get("name"):
            names.append((None, str(tool["name"])))
        elif tool.get("type") == "namespace":
            names += [(str(tool.get("name")), str(sub["name"])) for sub in tool.get("tools") or [] if sub.get("name")]
    return names


def find_tool(body: Json, want: str) -> tuple[str | None, str] | None:
    offered = tool_names(body)
    for namespace, name in offered:
        full = f"{namespace}/{name}" if namespace else name
        if want in (full, name):
            return namespace, name
    for namespace, name in offered:
        if f"{namespace or ''}/{name}".endswith(want):
            return namespace, name
    return None


def directives(text: str) -> list[tuple[str, str]]:
    """The directives of a prompt in the order written: ("tool", "NAME {json}"), ("bash", CMD) or ("reply", TEXT)."""
    found = [(m.start(), "tool", f"{m.group(1)} {m.group(2)}") for m in TOOL.finditer(text)]
    found += [(m.start(), "bash", m.group(1)) for m in BASH.finditer(text)]
    found += [(m.start(), "reply", m.group(1)) for m in REPLY.finditer(text)]
    return [(kind, value) for _, kind, value in sorted(found)]


def called(body: Json, after: int) -> list[tuple[str, Any]]:
    """(name, parsed arguments) of the tool calls in the input after index `after`: what this turn already did."""
    out = []
    for item in items(body)[after + 1:]:
        if item.get("type") == "function_call":
            try:
                args = json.loads(item.get("arguments") or "{}")
            except ValueError:
                args = None
            out.append((str(item.get("name")), args))
    return out


def decide(body: Json, default: str) -> Json:
    """What to answer: {"call": (namespace, name), "args": {...}} or {"text": ...}.

    The directives of the newest user message run in order, one per request: each tool call made since that
    message finishes the next directive. A tool not offered yet (Codex may send its first request before an MCP
    server has started; it lists tools again for every request) is waited for with a short `sleep` through the
    shell tool, at most WAITS times.
    """
    index, text = newest_user(body)
    done = called(body, index)
    waits = sum(1 for name, args in done if name == SHELL_TOOL and args == {"cmd": WAIT_CMD})
    done = [c for c in done if not (c[0] == SHELL_TOOL and c[1] == {"cmd": WAIT_CMD})]
    steps = directives(text)
    if len(done) >= len([s for s in steps if s[0] != "reply"]):
        replies = [value for kind, value in steps if kind == "reply"]
        return {"text": replies[-1] if replies else default}
    kind, value = [s for s in steps if s[0] != "reply"][len(done)]
    if kind == "bash":
        return {"call": (None, SHELL_TOOL), "args": {"cmd": value}}
    name, _, args = value.partition(" ")
    found = find_tool(body, name)
    if found is None:
        if waits < WAITS and find_tool(body, SHELL_TOOL):
            return {"call": (None, SHELL_TOOL), "args": {"cmd": WAIT_CMD}}
        return {"text": f"stand-in: no tool {name} offered"}
    return {"call": found, "args": json.loads(args)}


def events(body: Json, default: str = "ok") -> tuple[Json, list[Json]]:
    """(the decision, the SSE events answering one /responses request)."""
    choice = decide(body, default)
    if "call" in choice:
        namespace, name = choice["call"]
        item: Json = {"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:12],
                      "call_id": "call_" + uuid.uuid4().hex[:12], "name": name,
                      "arguments": json.dumps(choice["args"]), "status": "completed"}
        if namespace:
            item["namespace"] = namespace
    else:
        item = {"type": "message", "id": "msg_" + uuid.uuid4().hex[:12], "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": choice["text"], "annotations": []}]}
    base = {"id": "resp_" + uuid.uuid4().hex[:16], "object": "response", "created_at": int(time.time()),
            "model": body.get("model", "standin"), "status": "in_progress", "output": []}
    out = [{"type": "response.created", "response": base},
           {"type": "response.output_item.added", "output_index": 0, "item": {**item, "status": "in_progress"}}]
    if item["type"] == "message":
        out.append({"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
                    "content_index": 0, "delta": choice["text"]})
    usage = {"input_tokens": len(json.dumps(body)) // 4, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0}
    out += [{"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": {**base, "status": "completed", "output": [item],
                                                        "usage": usage}}]
    return choice, out


# --- reading what Codex sent -----------------------------------------------------------------------------------------


def developer_texts(body: Json) -> list[str]:
    """Hook additionalContext reaches the model as developer messages (FINDINGS 3.4)."""
    return messages(body, "developer")


def all_text(body: Json) -> str:
    """Everything of a request the model reads: instructions, tools and every input item."""
    return json.dumps({"instructions": body.get("instructions"), "tools": body.get("tools"), "input": items(body)})
