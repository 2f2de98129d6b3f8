"""How much an idle Claude Code hook costs, side by side with the floor it is measured against.

    .venv/bin/python bench/hooks_bench.py [--reps 200] [--old 100000] [--no-remote] [--json]

Every variant runs in the same loop, interleaved in a fresh random order on each repetition, and the medians are
compared, so machine noise hits all of them alike:

    sh -c true                        the cheapest process a hook can be
    python3 -I -S -c pass             a bare interpreter (the venv's real interpreter, not a pyenv shim)
    venv python -c pass               the venv's interpreter with `site`, as the console script starts
    hook prompt, console script       `.venv/bin/agentmail hook prompt`, what the plugin wrapper runs
    hook prompt, python -I -S         the same code started as `python3 -I -S -c "...main(['hook', 'prompt'])"`
    hook prompt, 100k old             the console script with 100,000 old postcards in the account's cur/
    hook post-tool, console script    the same for PostToolUse
    wrapper prompt (shell fast path)  hooks/agentmail-hook, which answers idle prompts without starting Python
    wrapper prompt, 100k old          the wrapper with the 100,000 old postcards
    hook prompt, remote home          the console script on a remote home (docs/scale-out.md): `agentmail serve` on
                                      loopback stands for the server, the home's sync process runs meanwhile; the
                                      target is the cost on a local home (the idle path touches no network)
    wrapper prompt, remote home       the wrapper on that remote home

Each is fed the same hook JSON on stdin and must print nothing (output bytes are checked on every run). Then it
prints what an announcement costs: tokens (characters / 4) per postcard for 1, 5 and 12 postcards.

Bytecode: the hook's modules are run from a bytecode cache in a temporary PYTHONPYCACHEPREFIX (warmed first), as an
installed package would be, whatever PYTHONDONTWRITEBYTECODE says in the calling environment.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SID = "5f1d2c3b-9a8e-4f7d-b6c5-0123456789ab"
BIN = os.path.dirname(os.path.abspath(sys.executable))
AGENTMAIL = os.path.join(BIN, "agentmail")
WRAPPER = os.path.join(ROOT, "hooks", "agentmail-hook")
REAL_PYTHON = os.path.realpath(sys.executable)


def make_store(home: str, old: int) -> None:
    """An account `frontend` bound to SID, idle (empty new/), with `old` read postcards in cur/."""
    from agentmail import config
    from agentmail.store import registry

    cfg = config.load(home)
    registry.ensure_store(cfg)
    registry.create_account(cfg, "frontend")
    with open(os.path.join(home, "sessions", SID), "w") as fh:
        fh.write("frontend\n")
    cur = os.path.join(home, "maildirs", "frontend", "cur")
    sec = int(time.time()) - 86400 * 30
    for n in range(old):
        body = (f"From: backend@agents.localhost\nTo: frontend@agents.localhost\nSubject: old postcard {n}\n"
                f"Message-ID: <{n:032x}@agents.localhost>\n\nold\n").encode()
        name = f"{sec + n // 1000}.M{n % 1000000:06d}P1Q{n}.bench,S={len(body)},W={len(body) + 6}:2,S"
        fd = os.open(os.path.join(cur, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, body)
        os.close(fd)


def remote_home(tmp: str) -> tuple[str, list[object]]:
    """A remote home for `frontend` on an `agentmail serve` of its own, the session bound, its sync process
    running; returns the home and what to stop afterwards."""
    from agentmail import config
    from agentmail.store import passwd, registry

    server = os.path.join(tmp, "server")
    cfg = config.load(server)
    registry.ensure_store(cfg)
    registry.create_account(cfg, "frontend")
    env = {**os.environ, "AGENTMAIL_HOME": server}
    serve = subprocess.Popen([AGENTMAIL, "serve", "--smtp-port", "0", "--imap-port", "0", "--web-port", "0"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info: dict[str, object] = {}
    for _ in range(300):
        try:
            with open(os.path.join(server, "run", "serve.json")) as fh:
                info = json.load(fh)
            if info.get("pid") == serve.pid:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    home = os.path.join(tmp, "remote")
    password = os.path.join(tmp, "frontend.password")
    with open(password, "w") as fh:
        fh.write(passwd.password_for(cfg, "frontend") + "\n")
    subprocess.run([AGENTMAIL, "remote", "set", "--imap", f"imap://127.0.0.1:{info['imap_port']}", "--smtp",
                    f"smtp://127.0.0.1:{info['smtp_port']}", "--user", "frontend", "--password-file", password],
                   env={**os.environ, "AGENTMAIL_HOME": home}, check=True, capture_output=True)
    with open(os.path.join(home, "sessions", SID), "w") as fh:
        fh.write("frontend\n")
    from agentmail.remote.alive import running

    for _ in range(300):
        if running(home):
            break
        time.sleep(0.05)
    return home, [serve]


def stop_remote(home: str, procs: list[object]) -> None:
    from agentmail import config
    from agentmail.remote.setup import stop

    stop(config.load(home))
    for proc in procs:
        proc.terminate()  # type: ignore[attr-defined]
        proc.wait(10)  # type: ignore[attr-defined]


def run_once(argv: list[str], stdin_path: str, env: dict[str, str]) -> tuple[float, int]:
    with open(stdin_path, "rb") as stdin:
        start = time.perf_counter_ns()
        proc = subprocess.run(argv, stdin=stdin, capture_output=True, env=env)
        elapsed = (time.perf_counter_ns() - start) / 1e6
    if proc.returncode != 0 or proc.stderr:
        raise SystemExit(f"{argv}: exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
    return elapsed, len(proc.stdout)


def direct_hook(event: str) -> list[str]:
    code = (f"import sys; sys.path[:0] = [{ROOT!r}]; from agentmail.hooks.command import main; "
            f"sys.exit(main([{event!r}]))")
    return [REAL_PYTHON, "-I", "-S", "-c", code]


def tokens_per_postcard(tmp: str) -> dict[int, float]:
    """Announce n postcards with realistic titles through the real console script; chars/4 per postcard."""
    from agentmail import config
    from agentmail.agent.compose import send
    from agentmail.store import registry

    titles = ["Which port does the API listen on?", "Schema for users table frozen", "PR #42 ready for review",
              "Build broken on main after the auth refactor", "Can you take the flaky login test?"]
    out = {}
    for n in (1, 5, 12):
        home = os.path.join(tmp, f"tokens{n}")
        cfg = config.load(home)
        registry.ensure_store(cfg)
        for name in ("frontend", "backend"):
            registry.create_account(cfg, name)
        with open(os.path.join(home, "sessions", SID), "w") as fh:
            fh.write("frontend\n")
        for i in range(n):
            send(cfg, "backend", ["frontend"], titles[i % len(titles)], "body", urgent=i % 4 == 3)
        payload = json.dumps({"session_id": SID, "cwd": tmp, "hook_event_name": "UserPromptSubmit",
                              "prompt": "go on"}).encode()
        proc = subprocess.run([AGENTMAIL, "hook", "prompt"], input=payload, capture_output=True,
                              env={**os.environ, "AGENTMAIL_HOME": home}, check=True)
        context = json.loads(proc.stdout)["hookSpecificOutput"]["additionalContext"]
        out[n] = round(len(context) / 4 / n, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--old", type=int, default=100_000, help="old postcards in cur/ for the 'old' variants")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-remote", action="store_true", help="leave out the remote-home variants")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="hooks-bench-")
    remote: tuple[str, list[object]] | None = None
    try:
        idle_home = os.path.join(tmp, "idle")
        old_home = os.path.join(tmp, "old")
        t0 = time.time()
        make_store(idle_home, 0)
        make_store(old_home, args.old)
        setup_s = time.time() - t0
        stdin_path = os.path.join(tmp, "prompt.json")
        with open(stdin_path, "w") as fh:
            json.dump({"session_id": SID, "transcript_path": f"/tmp/{SID}.jsonl", "cwd": tmp,
                       "permission_mode": "default", "hook_event_name": "UserPromptSubmit",
                       "prompt": "Refactor the login form"}, fh)

        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "AGENTMAIL_ADDRESS")}
        base["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        idle = {**base, "AGENTMAIL_HOME": idle_home}
        old = {**base, "AGENTMAIL_HOME": old_home}
        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "sh -c true": (["/bin/sh", "-c", "true"], idle),
            "python3 -I -S -c pass": ([REAL_PYTHON, "-I", "-S", "-c", "pass"], idle),
            "venv python -c pass (site)": ([sys.executable, "-c", "pass"], idle),
            "hook prompt (console script)": ([AGENTMAIL, "hook", "prompt"], idle),
            "hook prompt (python -I -S)": (direct_hook("prompt"), idle),
            f"hook prompt, {args.old} old": ([AGENTMAIL, "hook", "prompt"], old),
            "hook post-tool (console script)": ([AGENTMAIL, "hook", "post-tool"], idle),
        }
        if os.access(WRAPPER, os.X_OK):
            variants["wrapper prompt (shell fast path)"] = ([WRAPPER, "prompt"], idle)
            variants[f"wrapper prompt, {args.old} old"] = ([WRAPPER, "prompt"], old)
        if not args.no_remote:
            remote = remote_home(tmp)
            remote_env = {**base, "AGENTMAIL_HOME": remote[0]}
            variants["hook prompt, remote home"] = ([AGENTMAIL, "hook", "prompt"], remote_env)
            if os.access(WRAPPER, os.X_OK):
                variants["wrapper prompt, remote home"] = ([WRAPPER, "prompt"], remote_env)

        for argv, env in variants.values():  # warm the bytecode cache and the page cache
            for _ in range(3):
                run_once(argv, stdin_path, env)
        times: dict[str, list[float]] = {name: [] for name in variants}
        out_bytes = dict.fromkeys(variants, 0)
        order = list(variants)
        for _ in range(args.reps):
            random.shuffle(order)
            for name in order:
                argv, env = variants[name]
                ms, nbytes = run_once(argv, stdin_path, env)
                times[name].append(ms)
                out_bytes[name] = max(out_bytes[name], nbytes)

        med = {name: statistics.median(t) for name, t in times.items()}
        floor_py, floor_sh = med["python3 -I -S -c pass"], med["sh -c true"]
        tokens = tokens_per_postcard(tmp)
        rows = [{"variant": name, "median_ms": round(med[name], 2),
                 "p10_ms": round(statistics.quantiles(times[name], n=10)[0], 2),
                 "p90_ms": round(statistics.quantiles(times[name], n=10)[-1], 2),
                 "x_python_IS": round(med[name] / floor_py, 2), "x_sh": round(med[name] / floor_sh, 2),
                 "max_output_bytes": out_bytes[name]} for name in variants]
        growth = med[f"hook prompt, {args.old} old"] / med["hook prompt (console script)"]
        report = {"reps": args.reps, "old_postcards": args.old, "setup_s": round(setup_s, 1),
                  "python": REAL_PYTHON, "rows": rows, "old_mail_growth": round(growth, 3),
                  "tokens_per_postcard": tokens}
        if remote is not None:
            report["remote_vs_local"] = round(med["hook prompt, remote home"] / med["hook prompt (console script)"], 3)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"{args.reps} interleaved repetitions; {args.old} old postcards set up in {setup_s:.1f} s; "
                  f"python {REAL_PYTHON}")
            print(f"{'variant':36} {'median':>8} {'p10':>7} {'p90':>7} {'x py-IS':>8} {'x sh':>6} {'bytes':>5}")
            for r in rows:
                print(f"{r['variant']:36} {r['median_ms']:7.2f}ms {r['p10_ms']:6.2f} {r['p90_ms']:6.2f} "
                      f"{r['x_python_IS']:8.2f} {r['x_sh']:6.2f} {r['max_output_bytes']:5d}")
            print(f"old mail: hook prompt with {args.old} old postcards / without = {growth:.3f}")
            if remote is not None:
                print(f"remote home: hook prompt on a remote home / on a local home = {report['remote_vs_local']:.3f}")
            print("tokens per announced postcard (chars/4): "
                  + ", ".join(f"{n} postcards: {t}" for n, t in tokens.items()))
        bad = [r["variant"] for r in rows if r["max_output_bytes"]]
        return 1 if bad else 0
    finally:
        if remote is not None:
            stop_remote(*remote)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
