"""How far above a do-nothing Python server a cheap IMAP command is: the floor under bench/imap_bench.py's warm ratios.

    .venv/bin/python bench/imap_floor.py [--messages 10000] [--runs 6] [--rounds 100]

Four servers side by side, the same raw-socket client and the same command pattern as imap_bench.py's `alone` (each
SELECT after an UNSELECT, STATUS with nothing selected, NOOP on the selected INBOX; medians of --rounds a run, the
median of --runs interleaved runs):

  echo-asyncio   an asyncio.Protocol that answers every line with `<tag> OK` and does nothing else: the round trip
                 of a Python server on asyncio's own loop, with this client, on this machine
  echo-uvloop    the same on uvloop (what `agentmail serve` runs on)
  agentmail      `agentmail serve` on a --messages postcard INBOX
  dovecot        Dovecot 2.3 on the same tree (as imap_bench.py starts it; needs root, skipped without it)

The ratios against Dovecot say what the 1.5x target leaves: (1.5 x Dovecot) - echo is what one command may cost in
Python above the event loop's own round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

from bench.imap_bench import build_mailbox, password_of, start_agentmail, start_dovecot  # noqa: E402
from bench.imap_phases import alone, logged_in  # noqa: E402
from tests.support.dovecot import unavailable  # noqa: E402

COMMANDS = ("select", "examine", "status", "noop")


class Echo(asyncio.Protocol):
    """`<tag> OK done` for every line: no parsing, no state, no store."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.transport.write(b"* OK echo\r\n")

    def data_received(self, data: bytes) -> None:
        for line in data.split(b"\r\n")[:-1]:
            self.transport.write(line.split(b" ", 1)[0] + b" OK done\r\n")


def echo_server(loop_kind: str, ports: Any) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.sleep(3600)

    if loop_kind == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args()

    top = Path(tempfile.mkdtemp(prefix="imapfloor-"))
    os.chmod(top, 0o755)  # Dovecot's users must be able to walk down to the store
    home = top / "home"
    build_mailbox(home, "bench", args.messages, 4)
    password = password_of(home, "bench")
    time.sleep(2.5)  # the directories quiet (both servers list a just-changed directory again)
    echoes: list[mp.Process] = []
    ports: dict[str, int] = {}
    for kind in ("asyncio", "uvloop"):
        queue: Any = mp.Queue()
        proc = mp.Process(target=echo_server, args=(kind, queue), daemon=True)
        proc.start()
        echoes.append(proc)
        ports[f"echo-{kind}"] = queue.get(timeout=20)
    am = start_agentmail(home)
    ports["agentmail"] = am.imap_port
    dc = None
    why_not = unavailable()
    if why_not is None:
        dc = start_dovecot(home)
        ports["dovecot"] = dc.port
    else:
        print(f"(no Dovecot: {why_not})")
    try:
        for name, port in ports.items():
            if not name.startswith("echo"):  # warm, as imap_bench.py's first run: Dovecot's index and cache, our
                first = logged_in(port, "bench", password)  # caches. Then a new connection, as there: Dovecot's
                first.cmd("SELECT INBOX")  # session that built the index re-syncs at every SELECT (2.8 ms each)
                first.cmd("UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
                first.close()
        conns = {name: logged_in(port, "bench", password) for name, port in ports.items()}
        for conn in conns.values():
            alone(conn, 10)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in conns}
        for run in range(args.runs):
            order = list(conns) if run % 2 == 0 else list(reversed(conns))
            for name in order:
                runs[name].append(alone(conns[name], args.rounds))
        print(f"{args.messages} messages, {args.runs} runs of {args.rounds} rounds (median of the runs' medians), us")
        print(f"{'':14}" + "".join(f"{c:>10}" for c in COMMANDS))
        medians = {name: {c: statistics.median(r[c] for r in rs) for c in COMMANDS} for name, rs in runs.items()}
        for name, row in medians.items():
            print(f"{name:14}" + "".join(f"{row[c] * 1e6:10.1f}" for c in COMMANDS))
        if "dovecot" in medians:
            print("ratio to dovecot")
            for name, row in medians.items():
                if name != "dovecot":
                    print(f"{name:14}" + "".join(f"{row[c] / medians['dovecot'][c]:9.2f}x" for c in COMMANDS))
        for conn in conns.values():
            conn.close()
    finally:
        am.stop()
        if dc is not None:
            dc.stop()
        for proc in echoes:
            proc.kill()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
