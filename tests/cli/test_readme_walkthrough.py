"""The README's "Two agents in a minute" runs as shown: each command pasted in order into a fresh bash, with the venv
on PATH and a fresh AGENTMAIL_HOME, prints what the `# ...` lines under it say.

What may differ from the README is what differs on every machine: short ids (8 hex digits), ages (`3s`), dates
and absolute paths. Everything else, including the order of lines and what goes to stderr, must match.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.store import AGENTMAIL, env_for
from tests.support.tools import need

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Two agents in a minute"
MARK = "@@readme-step"


def walkthrough() -> list[tuple[list[str], list[str]]]:
    """(command lines, expected output lines) for each command of the section's code block."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    block = [line[4:] for line in text[start:end].splitlines() if line.startswith("    ")]
    steps: list[tuple[list[str], list[str]]] = []
    i = 0
    while i < len(block):
        line = block[i]
        if line.startswith("#"):
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line[2:] if line.startswith("# ") else line[1:])
            i += 1
            continue
        command = [line]
        here = re.search(r"<<'(\w+)'", line)
        if here:  # the heredoc's lines belong to the command
            while block[i] != here.group(1):
                i += 1
                command.append(block[i])
        steps.append((command, []))
        i += 1
    return steps


# Parts of a line that differ between runs, and what may stand in their place.
VARYING = [
    (r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}", r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} "
     r"\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"),  # a Date
    (r"/home/you/\S+", r"/\S.*"),  # a directory
    (r"\b[0-9a-f]{8}\b", r"[0-9a-f]{8}"),  # a short id
    (r"\b\d+[smhd]\b", r"\d+[smhd]"),  # an age
]
TOKEN = re.compile("|".join(f"({example})" for example, _ in VARYING))


def pattern(expected: str) -> re.Pattern[str]:
    """An expected line with the machine-dependent parts (dates, paths, ids, ages) as wildcards."""
    out, pos = [], 0
    for match in TOKEN.finditer(expected):
        out.append(re.escape(expected[pos:match.start()]))
        out.append(VARYING[match.lastindex - 1][1] if match.lastindex else "")
        pos = match.end()
    out.append(re.escape(expected[pos:]))
    return re.compile("".join(out))


def test_the_walkthrough_has_commands_and_outputs() -> None:
    steps = walkthrough()
    assert len(steps) >= 10
    assert steps[0][0][0].startswith("export AGENTMAIL_HOME=")
    assert any(len(command) > 1 for command, _ in steps), "the heredoc send is in the walk-through"
    assert pattern("sent 22bc7fa7 to backend").fullmatch("sent 0504dd07 to backend")
    assert not pattern("sent 22bc7fa7 to backend").fullmatch("sent 0504dd07 to backend, human")
    assert pattern("backend (agent, online) /home/you/shop").fullmatch("backend (agent, online) /tmp/x y/shop")
    assert pattern("# Date: Tue, 03 Mar 2026 14:05:09 +0100"[2:]).fullmatch("Date: Mon, 07 Dec 2026 17:43:27 +0000")


def test_readme_walkthrough_runs_as_shown(tmp_path: Path) -> None:
    bash = need("bash")["bash"]
    steps = walkthrough()
    script = []
    for n, (command, _) in enumerate(steps):
        script.append(f"echo {MARK} {n}")
        script.extend(command)
    shop = tmp_path / "shop"
    shop.mkdir()
    bin_dir = str(Path(AGENTMAIL).parent)
    env = env_for(tmp_path / "unused", drop=("AGENTMAIL_HOME",), TMPDIR=str(tmp_path), LC_ALL="C.UTF-8",
                  PATH=f"{bin_dir}:/usr/bin:/bin")
    env.pop("AGENTMAIL_HOME")
    proc = subprocess.run([bash, "--norc", "--noprofile", "-s"], input="\n".join(script) + "\n", text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=shop, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout
    chunks = re.split(rf"^{MARK} (\d+)\n", proc.stdout, flags=re.M)
    assert chunks[0] == "", chunks[0]
    got = {int(chunks[i]): chunks[i + 1].splitlines() for i in range(1, len(chunks), 2)}
    assert sorted(got) == list(range(len(steps)))
    for n, (command, expected) in enumerate(steps):
        lines = got[n]
        assert len(lines) == len(expected), f"{command[0]}\nREADME shows {expected}\nit printed {lines}"
        for want, line in zip(expected, lines, strict=True):
            assert pattern(want).fullmatch(line), f"{command[0]}\nREADME shows {want!r}\nit printed {line!r}"
    assert (tmp_path / "unused").exists() is False  # the README's own AGENTMAIL_HOME was used
