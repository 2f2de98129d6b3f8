"""A stand-in for Claude Code that runs hooks in the background, as it runs an `"asyncRewake": true` hook.

One JSON request per line on stdin, one JSON answer per line on stdout:

    {"op": "spawn", "cmd", "input" (base64), "env", "cwd", "out"}  -> {"pid"}
        `/bin/sh -c CMD` in its own session (Claude Code spawns hooks detached), the input on its stdin (then
        closed), stdout and stderr to the files OUT.stdout and OUT.stderr; it is reaped here and its exit status
        written to OUT.rc, so a test can wait for a waiter to end without being its parent.
    {"op": "run", "cmd", "input", "env", "cwd"}  -> {"rc", "stdout", "stderr"}   (a foreground hook, as harness.py)

Started with `-p` among its arguments it looks like `claude -p` to the waiter (which reads its /proc cmdline).
Killing it (any signal) leaves its background hooks orphaned, as Claude Code does.
"""

import base64
import json
import os
import subprocess
import sys
import threading


def reap(proc: subprocess.Popen, out: str) -> None:
    rc = proc.wait()
    tmp = out + ".rc.tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{rc}\n")
    os.replace(tmp, out + ".rc")


def main() -> None:
    for line in sys.stdin:
        req = json.loads(line)
        data = base64.b64decode(req["input"])
        if req["op"] == "spawn":
            out = req["out"]
            with open(out + ".stdout", "wb") as so, open(out + ".stderr", "wb") as se:
                proc = subprocess.Popen(["/bin/sh", "-c", req["cmd"]], stdin=subprocess.PIPE, stdout=so, stderr=se,
                                        env=req["env"], cwd=req["cwd"], start_new_session=True)
            assert proc.stdin is not None
            proc.stdin.write(data)
            proc.stdin.close()
            threading.Thread(target=reap, args=(proc, out), daemon=True).start()
            answer = {"pid": proc.pid}
        else:
            done = subprocess.run(["/bin/sh", "-c", req["cmd"]], input=data, capture_output=True, env=req["env"],
                                  cwd=req["cwd"], timeout=60)
            answer = {"rc": done.returncode, "stdout": base64.b64encode(done.stdout).decode(),
                      "stderr": base64.b64encode(done.stderr).decode()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
