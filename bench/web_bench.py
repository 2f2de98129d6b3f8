"""The web view under load: first paint with 10,000 postcards, memory with 20 live views, send-to-screen delay.

    .venv/bin/python bench/web_bench.py [--postcards 10000] [--agents 10] [--runs 5] [--views 20] [--sends 20]

Against a real `agentmail serve` (tests/support/servers.py) and a real headless Chromium (tests/support/browser.py):
- time to first paint of the dashboard (Chromium's `first-contentful-paint`) and to the conversation list on screen
  (the page's `agentmail:ready` mark), on a store of `--postcards` postcards across `--agents` agents (threads of
  four, a receipt for every other postcard) and, for the ratio, on the demo store; median of `--runs` sign-ins,
  each a fresh page load with a fresh one-time link;
- the server's RSS (/proc) idle, with `--views` open live views (SSE streams of signed-in sessions) and after one
  change has been pushed to all of them;
- the delay from starting `agentmail send` to the postcard appearing in an open view (a MutationObserver in the
  page stamps the moment), `--sends` times: p50 and p90, target p50 < 500 ms. It includes the CLI's own start-up.
The store is written straight into the Maildirs (a foreign writer), as bench/core_bench.py does.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.*

from tests.support.browser import chromium  # noqa: E402
from tests.support.servers import Serve  # noqa: E402
from tests.support.store import AGENTMAIL, Store, env_for  # noqa: E402

DOMAIN = "agents.localhost"


def postcard(i: int, sender: str, to: str, thread: int, step: int) -> bytes:
    mid = f"<{i:08x}{'b' * 24}@{DOMAIN}>"
    root = f"<{thread * 4:08x}{'b' * 24}@{DOMAIN}>"
    parent = f"<{i - 1:08x}{'b' * 24}@{DOMAIN}>"
    threading = f"In-Reply-To: {parent}\nReferences: {root} {parent}\n" if step else ""
    title = f"{'Re: ' if step else ''}Topic {thread}"
    return (f"From: {sender}@{DOMAIN}\nTo: {to}@{DOMAIN}\nSubject: {title}\nDate: Mon, 01 Jun 2026 10:00:00 +0000\n"
            f"Message-ID: {mid}\n{threading}Disposition-Notification-To: {sender}@{DOMAIN}\nMIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=utf-8\n\nPostcard {i} of thread {thread}.\n").encode()


def receipt(i: int, reader: str, sender: str) -> bytes:
    from agentmail.format.mdn import build_mdn

    return build_mdn(reader=f"{reader}@{DOMAIN}", original_message_id=f"<{i:08x}{'b' * 24}@{DOMAIN}>",
                     original_sender=f"{sender}@{DOMAIN}", original_title="Topic", disposition="displayed",
                     domain=DOMAIN, reporting_ua="bench").data


def write(box: Path, sub: str, name: str, data: bytes, flags: str | None) -> None:
    lines = data.count(b"\n")
    full = f"{name},S={len(data)},W={len(data) + lines}" + (f":2,{flags}" if flags is not None else "")
    (box / sub / full).write_bytes(data)


def make_big_store(home: Path, postcards: int, agents: int) -> Store:
    from agentmail import config
    from agentmail.store import registry

    cfg = config.load(str(home))
    registry.ensure_store(cfg)
    names = [f"agent-{n}" for n in range(agents)]
    for name in names:
        registry.create_account(cfg, name)
    journal = home / "journal"
    start = int(time.time()) - 86400 * 7
    for i in range(postcards):
        thread, step = divmod(i, 4)
        sender, to = names[(thread + step) % agents], names[(thread + step + 1) % agents]
        data = postcard(i, sender, to, thread, step)
        stamp = f"{start + i * 30}.M{i}P1Q1.bench"
        write(home / "maildirs" / to, "cur", stamp, data, "S")
        write(home / "maildirs" / sender / ".Sent", "cur", stamp, data, "S")
        write(journal, "new", stamp, data, None)
        if i % 2 == 0:
            mdn = receipt(i, to, sender)
            rstamp = f"{start + i * 30 + 10}.M{i}P2Q1.bench"
            write(home / "maildirs" / sender / ".Receipts", "cur", rstamp, mdn, "S")
            write(journal, "new", rstamp, mdn, None)
    return Store(home)


def make_demo_store(home: Path) -> Store:
    from agentmail import config
    from agentmail.agent import demo

    demo.play(config.load(str(home)))
    return Store(home)


def login_url(store: Store) -> str:
    out = subprocess.run([AGENTMAIL, "login-info", "--json"], env=env_for(store.home), capture_output=True,
                         check=True, text=True)
    return str(json.loads(out.stdout)["web"]["login_url"])


def paint_times(driver: Any, store: Store) -> tuple[float, float]:
    driver.get("about:blank")
    driver.get(login_url(store))
    deadline = time.monotonic() + 60
    while not driver.execute_script("return performance.getEntriesByName('agentmail:ready').length"):
        if time.monotonic() > deadline:
            raise SystemExit("the dashboard did not get ready within 60 s")
        time.sleep(0.01)
    fcp = driver.execute_script(
        "const e = performance.getEntriesByName('first-contentful-paint'); return e.length ? e[0].startTime : null")
    ready = driver.execute_script("return performance.getEntriesByName('agentmail:ready')[0].startTime")
    return float(fcp or 0), float(ready)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sign_in(port: int, store: Store) -> str:
    url = login_url(store)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", url.split(str(port), 1)[1])
    res = conn.getresponse()
    res.read()
    conn.close()
    return res.headers["Set-Cookie"].split(";", 1)[0]


def open_views(port: int, cookie: str, count: int) -> list[tuple[http.client.HTTPConnection, Any]]:
    views = []
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/events", headers={"Cookie": cookie})
        res = conn.getresponse()
        assert res.status == 200, res.status
        while res.fp.readline().strip():  # the hello event
            pass
        views.append((conn, res))
    return views


def memory(server: Serve, store: Store, views: int) -> dict[str, int]:
    port = int(server.info["web_port"])
    idle = rss_kib(server.pid)
    opened = open_views(port, sign_in(port, store), views)
    time.sleep(0.5)
    with_views = rss_kib(server.pid)
    subprocess.run([AGENTMAIL, "--as", "agent-0", "send", "agent-1", "memory probe", "x"], env=env_for(store.home),
                   check=True, capture_output=True)
    for _, res in opened:  # every view gets the change
        line = b""
        while not line.startswith(b"event: change"):
            line = res.fp.readline()
    after = rss_kib(server.pid)
    for conn, _ in opened:
        conn.close()
    return {"idle": idle, "views": with_views, "after_change": after}


def send_delays(driver: Any, store: Store, sends: int) -> list[float]:
    driver.get(login_url(store))
    deadline = time.monotonic() + 60
    while driver.execute_script("return document.getElementById('live').textContent") != "live":
        if time.monotonic() > deadline:
            raise SystemExit("the live stream did not open within 60 s")
        time.sleep(0.01)
    delays = []
    for n in range(sends):
        title = f"Delay probe {n} {os.getpid()}"
        driver.execute_script("""
            window.__seen = null; const title = arguments[0];
            const look = () => Array.from(document.querySelectorAll('#list li.thread .title'))
                .some(e => e.textContent.startsWith(title));
            const obs = new MutationObserver(() => {
                if (!window.__seen && look()) { window.__seen = Date.now(); obs.disconnect(); } });
            obs.observe(document.getElementById('list'), {childList: true, subtree: true, characterData: true});
        """, title)
        start = time.time() * 1000
        subprocess.run([AGENTMAIL, "--as", "agent-2", "send", "agent-3", title, "x"], env=env_for(store.home),
                       check=True, capture_output=True)
        seen = None
        limit = time.monotonic() + 30
        while seen is None and time.monotonic() < limit:
            seen = driver.execute_script("return window.__seen")
            time.sleep(0.005)
        if seen is None:
            raise SystemExit(f"postcard {title!r} did not appear within 30 s")
        delays.append(float(seen) - start)
        time.sleep(0.2)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postcards", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--views", type=int, default=20)
    parser.add_argument("--sends", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentmail-web-bench-") as tmp:
        made = time.monotonic()
        big = make_big_store(Path(tmp) / "big", args.postcards, args.agents)
        small = make_demo_store(Path(tmp) / "small")
        print(f"stores: {args.postcards} postcards across {args.agents} agents (+ receipts) in "
              f"{time.monotonic() - made:.1f} s; the demo store for comparison", flush=True)
        results: dict[str, dict[str, float]] = {}
        with chromium() as driver:
            for label, store in (("demo", small), ("big", big)):
                server = Serve.start(store, timeout=60)
                try:
                    first = paint_times(driver, store)
                    rest = [paint_times(driver, store) for _ in range(args.runs)]
                    results[label] = {"fcp": statistics.median(r[0] for r in rest),
                                      "ready": statistics.median(r[1] for r in rest),
                                      "first_fcp": first[0], "first_ready": first[1]}
                    if label == "big":
                        mem = memory(server, store, args.views)
                        delays = sorted(send_delays(driver, store, args.sends))
                finally:
                    server.stop()
    demo, bigr = results["demo"], results["big"]
    print(f"first paint (first-contentful-paint), median of {args.runs}: demo {demo['fcp']:.0f} ms, "
          f"{args.postcards} postcards {bigr['fcp']:.0f} ms (ratio {bigr['fcp'] / max(demo['fcp'], 1):.2f})")
    print(f"conversation list on screen, median of {args.runs}: demo {demo['ready']:.0f} ms, "
          f"{args.postcards} postcards {bigr['ready']:.0f} ms (ratio {bigr['ready'] / max(demo['ready'], 1):.2f}); "
          f"the first load after start: {bigr['first_ready']:.0f} ms")
    print(f"server RSS: idle {mem['idle'] / 1024:.1f} MiB, with {args.views} live views {mem['views'] / 1024:.1f} MiB "
          f"({(mem['views'] - mem['idle']) / max(args.views, 1):.0f} KiB a view), after a change pushed to all "
          f"{mem['after_change'] / 1024:.1f} MiB")
    p50 = statistics.median(delays)
    p90 = delays[min(len(delays) - 1, int(len(delays) * 0.9))]
    verdict = "ok" if p50 < 500 else "OVER the 500 ms target"
    print(f"agentmail send -> on screen, {len(delays)} sends: p50 {p50:.0f} ms, p90 {p90:.0f} ms, "
          f"max {delays[-1]:.0f} ms ({verdict})")


if __name__ == "__main__":
    main()
