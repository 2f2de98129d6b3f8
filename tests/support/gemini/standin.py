"""The model side of a Gemini CLI session: what a loopback stand-in answers to the Gemini API
(`GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT`), and how to read what Gemini CLI sent.

Gemini CLI 0.61 POSTs `/v1beta/models/<model>:streamGenerateContent?alt=sse` for the conversation (SSE lines
`data: {"candidates": [...]}`) and `:generateContent` with `responseMimeType: application/json` for its helper calls
(the model router, which `-m MODEL` skips, and the next-speaker check), which get `{}`. Tools are
`functionDeclarations`; MCP tools are named `mcp_<server>_<tool>` (`mcp_agentmail_send`), the shell tool
`run_shell_command` (`{"command": ...}`).

Directives in the newest user text, as for the other stand-ins: `[[tool: NAME {json}]]` (NAME or a suffix of it,
`send` finds `mcp_agentmail_send`), `[[bash: CMD]]`, `[[reply: TEXT]]`; once the turn holds a function response,
or without a directive, the answer is plain text.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.codex.standin import BASH, REPLY, TOOL

Json = dict[str, Any]
SHELL_TOOL = "run_shell_command"


def part_text(part: Json) -> str:
    if "text" in part:
        return str(part["text"])
    if "functionResponse" in part:
        return json.dumps(part["functionResponse"])
    return ""


def contents(body: Json) -> list[Json]:
    return [c for c in body.get("contents") or [] if isinstance(c, dict)]


def user_texts(body: Json) -> list[str]:
    """The text of every user turn (hook context included: Gemini CLI sends it as user text), oldest first."""
    return ["\n".join(part_text(p) for p in c.get("parts") or [] if isinstance(p, dict))
            for c in contents(body) if c.get("role") == "user"]


def newest_prompt(body: Json) -> tuple[int, str]:
    """(index, text) of the newest user turn that is not only function responses."""
    found = contents(body)
    for index in range(len(found) - 1, -1, -1):
        parts = [p for p in found[index].get("parts") or [] if isinstance(p, dict)]
        if found[index].get("role") == "user" and any("text" in p for p in parts):
            return index, "\n".join(str(p["text"]) for p in parts if "text" in p)
    return -1, ""


def tool_names(body: Json) -> list[str]:
    return [str(d["name"]) for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []
            if d.get("name")]


def find_tool(body: Json, want: str) -> str | None:
    offered = tool_names(body)
    return next((n for n in offered if n == want), None) or next((n for n in offered if n.endswith(want)), None)


def decide(body: Json, default: str) -> Json:
    index, text = newest_prompt(body)
    answered = any("functionResponse" in p for c in contents(body)[index + 1:] for p in c.get("parts") or [])
    if not answered:
        tools = TOOL.findall(text)
        if tools:
            name = find_tool(body, tools[-1][0])
            if name is None:
                return {"text": f"stand-in: no tool {tools[-1][0]} offered"}
            return {"call": name, "args": json.loads(tools[-1][1])}
        bashes = BASH.findall(text)
        if bashes and find_tool(body, SHELL_TOOL):
            return {"call": SHELL_TOOL, "args": {"command": bashes[-1]}}
        replies = REPLY.findall(text)
        if replies:
            return {"text": replies[-1]}
    return {"text": default}


def answer(body: Json, default: str = "ok") -> tuple[Json, Json]:
    """(the decision, the GenerateContentResponse answering one request)."""
    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") == "application/json":  # a helper call wants JSON
        choice: Json = {"text": "{}", "helper": True}
    else:
        choice = decide(body, default)
    part = {"functionCall": {"name": choice["call"], "args": choice["args"]}} if "call" in choice else \
        {"text": choice["text"]}
    reply = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
             "usageMetadata": {"promptTokenCount": len(json.dumps(body)) // 4, "candidatesTokenCount": 5,
                               "totalTokenCount": 0},
             "modelVersion": "standin"}
    return choice, reply
