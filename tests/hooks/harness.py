"""A stand-in for the Claude Code process: it stays alive and runs commands the way Claude Code runs hooks.

It reads one JSON request per line on stdin ({"cmd", "input" (base64), "env", "cwd"}), runs `/bin/sh -c CMD` with
that input, and answers one JSON line ({"rc", "stdout", "stderr"}, both base64). Because it is the parent of every
hook it runs, `presence.harness_pid()` in the hook resolves to this process, as it resolves to Claude Code for real.
"""

import base64
import json
import subprocess
import sys


def main() -> None:
    for line in sys.stdin:
        req = json.loads(line)
        proc = subprocess.run(
            ["/bin/sh", "-c", req["cmd"]], input=base64.b64decode(req["input"]), capture_output=True,
            env=req["env"], cwd=req["cwd"], timeout=req.get("timeout", 60),
        )
        answer = {"rc": proc.returncode, "stdout": base64.b64encode(proc.stdout).decode(),
                  "stderr": base64.b64encode(proc.stderr).decode()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
