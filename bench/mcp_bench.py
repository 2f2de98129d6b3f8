"""What `agentmail mcp` costs a harness: start-up to the first `initialize` reply, a tool call, and the tokens its
tool definitions and instructions put in front of the model on every request.

    .venv/bin/python bench/mcp_bench.py [--reps 9] [--calls 50] [--json]

Start-up variants, interleaved in a fresh random order on each repetition so machine noise hits all alike (medians):

    venv python -c pass            the floor: a bare interpreter with `site`
    import the MCP SDK             `python -c "import mcp.server.lowlevel, mcp.server.stdio"`: what it all comes to
    agentmail whoami               the CLI through click (no SDK), for comparison
    agentmail mcp -> initialize    spawn the server, send `initialize`, read the reply (what a harness waits for)

Then one server answers `--calls` `tools/call` requests of `whoami` and of `send` (each send a real delivery with
its fsyncs), timed per call on the wire, next to `agentmail send` as a process. Last, the token figure: the compact
JSON of the `tools/list` result plus the instructions, characters / 4 (issue 11: at most 1,500).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

AGENTMAIL = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "agentmail")
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "0"}}}


def make_store(home: str) -> None:
    from agentmail import config
    from agentmail.store import registry

    cfg = config.load(home)
    registry.ensure_store(cfg)
    for name in ("alice", "bob"):
        registry.create_account(cfg, name)


class Wire:
    """`agentmail --as alice mcp` with JSON-RPC lines on its stdin and stdout."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([AGENTMAIL, "--as", "alice", "mcp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        self.next_id = 1

    def send(self, message: dict[str, object]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        while True:
            message = json.loads(self.proc.stdout.readline())
            if "id" in message:
                return dict(message)

    def request(self, method: str, params: dict[str, object] | None = None) -> dict[str, object]:
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        self.next_id += 1
        answer = self.reply()
        if "error" in answer:
            raise SystemExit(f"{method}: {answer['error']}")
        result = answer["result"]
        assert isinstance(result, dict)
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def time_initialize(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    wire = Wire(env)
    wire.send(INIT)
    wire.reply()
    elapsed = time.perf_counter() - t0
    wire.close()
    return elapsed


def time_process(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object too")
    opts = ap.parse_args()

    home = tempfile.mkdtemp(prefix="mcp-bench-")
    make_store(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAIL_")}
    env.update(AGENTMAIL_HOME=home, PYTHONPATH=ROOT)
    py = sys.executable
    variants = {
        "venv python -c pass": lambda: time_process([py, "-c", "pass"], env),
        "import the MCP SDK": lambda: time_process([py, "-c", "import mcp.server.lowlevel, mcp.server.stdio"], env),
        "agentmail whoami": lambda: time_process([AGENTMAIL, "--as", "alice", "whoami"], env),
        "agentmail mcp -> initialize": lambda: time_initialize(env),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        fn()  # warm the bytecode caches
    for _ in range(opts.reps):
        order = list(variants)
        random.shuffle(order)
        for name in order:
            times[name].append(variants[name]())
    floor = statistics.median(times["venv python -c pass"])
    figures: dict[str, float] = {}
    print(f"start-up, median of {opts.reps} (ratio to the bare interpreter):")
    for name, runs in times.items():
        med = statistics.median(runs)
        figures[f"startup_ms:{name}"] = round(med * 1000, 1)
        print(f"  {name:30} {med * 1000:7.1f} ms  x{med / floor:5.1f}   (min {min(runs) * 1000:.0f}, "
              f"max {max(runs) * 1000:.0f})")

    wire = Wire(env)
    wire.send(INIT)
    init = wire.reply()["result"]
    assert isinstance(init, dict)
    wire.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    listed = wire.request("tools/list")
    calls: dict[str, list[float]] = {"whoami": [], "send": []}
    for n in range(opts.calls):
        for tool, args in (("whoami", {}), ("send", {"to": "bob", "title": f"bench {n}", "body": "x"})):
            t0 = time.perf_counter()
            result = wire.request("tools/call", {"name": tool, "arguments": args})
            calls[tool].append(time.perf_counter() - t0)
            if result.get("isError"):
                raise SystemExit(f"{tool}: {result}")
    wire.close()
    cli_send = [time_process([AGENTMAIL, "--as", "alice", "send", "bob", f"cli {n}", "x"], env)
                for n in range(min(opts.calls, 20))]
    print(f"tool calls on one server, median of {opts.calls}:")
    for tool, runs in calls.items():
        figures[f"call_ms:{tool}"] = round(statistics.median(runs) * 1000, 2)
        print(f"  tools/call {tool:19} {statistics.median(runs) * 1000:7.2f} ms")
    cli_med = statistics.median(cli_send)
    figures["cli_send_ms"] = round(cli_med * 1000, 1)
    print(f"  agentmail send (process)      {cli_med * 1000:7.2f} ms  "
          f"(x{cli_med / statistics.median(calls['send']):.1f} the tool call)")

    blob = json.dumps(listed, separators=(",", ":"), ensure_ascii=False)
    instructions = str(init.get("instructions", ""))
    tokens = (len(blob) + len(instructions)) / 4
    figures.update(tools_list_chars=len(blob), instructions_chars=len(instructions), tokens=round(tokens))
    print(f"tokens: tools/list {len(blob)} chars + instructions {len(instructions)} chars = {tokens:.0f} tokens "
          f"(chars / 4; budget 1,500: {tokens / 1500:.0%})")
    if opts.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
