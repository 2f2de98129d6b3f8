"""Hook JSON exactly as Codex 0.171.0 and Gemini CLI 0.61.0 send it, recorded from real sessions (a logging hook in
the plugin's and the extension's hooks files, on 2026-12-07; /work/research/harness/FINDINGS.md 3.4 and 4.2 have
the same shapes), with only the ids, paths and texts turned into parameters. Key order is kept: both put
`session_id` first, which the wrapper's and idle.py's fast paths rely on.

Codex runs the plugin's Claude-format hooks/hooks.json (events SessionStart, UserPromptSubmit, PostToolUse, Stop,
SessionEnd); Gemini CLI runs the extension's gemini/hooks/hooks.json (SessionStart, BeforeAgent, AfterTool,
AfterAgent, SessionEnd), which call the same `agentmail-hook` events: session-start, prompt, post-tool, stop,
session-end.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

CODEX_TURN = "01a2522d-3df9-72a2-bb3b-28e8256cdd32"


def codex(event: str, session_id: str, cwd: str, codex_home: str = "/home/u/.codex", **extra: Any) -> Json:
    """One Codex hook payload for `agentmail hook EVENT`."""
    rollout = (f"{codex_home}/sessions/2026/12/07/rollout-2026-12-07T20-23-37-{session_id}.jsonl")
    common: Json = {"session_id": session_id}
    if event in ("prompt", "post-tool", "stop"):
        common["turn_id"] = CODEX_TURN
    common.update({"transcript_path": rollout, "cwd": cwd})
    if event == "session-start":
        data = {**common, "hook_event_name": "SessionStart", "model": "gpt-5.5", "permission_mode": "default",
                "source": "startup"}
    elif event == "prompt":
        data = {**common, "hook_event_name": "UserPromptSubmit", "model": "gpt-5.5", "permission_mode": "default",
                "prompt": 'look for "session_id": "not-this" in the logs'}
    elif event == "post-tool":
        data = {**common, "hook_event_name": "PostToolUse", "model": "gpt-5.5", "permission_mode": "default",
                "tool_name": "mcp__agentmail__send", "tool_input": {"to": "bob", "title": "hi from codex"},
                "tool_response": {"content": [{"type": "text", "text": "sent 18ef0e5d to bob"}], "isError": False},
                "tool_use_id": "call_5c99a0b1c2d3"}
    elif event == "stop":
        data = {**common, "hook_event_name": "Stop", "model": "gpt-5.5", "permission_mode": "default",
                "stop_hook_active": False, "last_assistant_message": "Sent."}
    elif event == "session-end":
        data = {**common, "hook_event_name": "SessionEnd", "reason": "other"}
    else:
        raise ValueError(event)
    data.update(extra)
    return data


def codex_shell_tool(session_id: str, cwd: str) -> Json:
    """PostToolUse after a shell command: Codex names its shell tool Bash here, with the output as a string."""
    return codex("post-tool", session_id, cwd, tool_name="Bash", tool_input={"command": "sleep 2; ls"},
                 tool_response="a\nb\n", tool_use_id="call_0a1b2c3d4e5f")


def gemini(event: str, session_id: str, cwd: str, home: str = "/home/u", **extra: Any) -> Json:
    """One Gemini CLI hook payload for `agentmail hook EVENT`."""
    common: Json = {"session_id": session_id,
                    "transcript_path": f"{home}/.gemini/tmp/work/chats/session-2026-12-07T20-25-{session_id[:8]}.jsonl",
                    "cwd": cwd}
    stamp = {"timestamp": "2026-12-07T20:25:29.446Z"}
    prompt = "<hook_context>agentmail: you are bob@agents.localhost.</hook_context>\n\nsend bob a postcard"
    if event == "session-start":
        data = {**common, "hook_event_name": "SessionStart", **stamp, "source": "startup"}
    elif event == "prompt":
        data = {**common, "hook_event_name": "BeforeAgent", **stamp, "prompt": prompt}
    elif event == "post-tool":
        data = {**common, "hook_event_name": "AfterTool", **stamp, "tool_name": "mcp_agentmail_send",
                "tool_input": {"to": "bob", "title": "t"},
                "tool_response": {"llmContent": [{"text": "<untrusted_context>\nsent 18ef0ee7 to bob\n"
                                                          "</untrusted_context>"}],
                                  "returnDisplay": "sent 18ef0ee7 to bob"},
                "mcp_context": {"server_name": "agentmail", "tool_name": "send", "command": "agentmail",
                                "args": ["mcp"]}}
    elif event == "stop":
        data = {**common, "hook_event_name": "AfterAgent", **stamp, "prompt": prompt, "prompt_response": "Sent.",
                "stop_hook_active": False}
    elif event == "session-end":
        data = {**common, "hook_event_name": "SessionEnd", **stamp, "reason": "exit"}
    else:
        raise ValueError(event)
    data.update(extra)
    return data


def gemini_env(session_id: str, cwd: str, home: str = "/home/u") -> dict[str, str]:
    """What Gemini CLI adds to its hooks' environment (recorded); there is no CLAUDE_PLUGIN_ROOT."""
    return {"GEMINI_SESSION_ID": session_id, "GEMINI_PROJECT_DIR": cwd, "GEMINI_CWD": cwd,
            "GEMINI_PLANS_DIR": f"{home}/.gemini/tmp/work/{session_id}/plans", "CLAUDE_PROJECT_DIR": cwd,
            "GEMINI_CLI_NO_RELAUNCH": "true"}
