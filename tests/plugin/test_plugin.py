"""The Claude Code plugin and marketplace: manifests, component files, and the hook wrapper script.

The wrapper is run the way Claude Code runs it (hook JSON on stdin, from a copy of the plugin in another directory,
CLAUDE_PLUGIN_ROOT unset or pointing at the copy) against a real temporary store. These tests cover the wrapper's own
contract (docs/claude-code.md): its fast path, how it finds and calls `agentmail`, and what it prints when agentmail
is missing. What `agentmail hook EVENT` itself prints is tested with the hook code. Where a test must see whether the
wrapper called agentmail, a recorder stands in for the command: it only writes down its arguments and stdin.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.tools import need

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIRS = (".claude-plugin", "hooks", "plugin", "agents")
WRAPPER = "hooks/agentmail-hook"
EVENTS = {
    "SessionStart": "session-start",
    "UserPromptSubmit": "prompt",
    "PostToolUse": "post-tool",
    "Stop": "stop",
    "SessionEnd": "session-end",
}
COMMANDS = ("send", "reply", "inbox", "read", "directory", "whoami", "log", "onboard")
SESSION_ID = "5f1d2c3b-9a8e-4f7d-b6c5-0123456789ab"
ACCOUNT = "swift-amber-compass"


def load_json(rel: str) -> dict:
    data = json.loads((ROOT / rel).read_text(encoding="utf-8"))
    assert isinstance(data, dict), rel
    return data


# --- frontmatter: a tiny reader for the flat `key: value` YAML that commands, agents and skills use ---

YAML_INDICATORS = tuple("[]{}&*!|>%@`#,?-'\"")


def frontmatter(path: Path) -> tuple[dict[str, str], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path}: no frontmatter"
    head, sep, body = text[4:].partition("\n---\n")
    assert sep, f"{path}: frontmatter not closed"
    fields: dict[str, str] = {}
    for line in head.splitlines():
        if not line.strip():
            continue
        key, colon, raw = line.partition(":")
        assert colon and re.fullmatch(r"[a-z][a-z0-9-]*", key), f"{path}: not a `key: value` line: {line!r}"
        raw = raw.strip()
        if raw.startswith('"'):
            value = json.loads(raw)  # a double-quoted YAML scalar without YAML-only escapes is a JSON string
        elif raw.startswith("'"):
            assert raw.endswith("'") and len(raw) > 1, f"{path}: {key}: unterminated quote"
            value = raw[1:-1].replace("''", "'")
        else:
            # A plain scalar: it must not be read by YAML as something else (a list, a mapping, a comment...).
            assert raw and not raw.startswith(YAML_INDICATORS), f"{path}: {key}: quote this value: {raw!r}"
            assert ": " not in raw and " #" not in raw, f"{path}: {key}: quote this value: {raw!r}"
            value = raw
        assert key not in fields, f"{path}: {key} twice"
        fields[key] = value
    return fields, body


# --- manifests ---


def test_plugin_manifest() -> None:
    manifest = load_json(".claude-plugin/plugin.json")
    assert manifest["name"] == "agentmail"
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", manifest["name"])
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', pyproject)
    assert version and manifest["version"] == version.group(1) == "0.1.0"
    assert isinstance(manifest["description"], str) and 20 < len(manifest["description"]) < 300
    assert isinstance(manifest["author"], dict) and manifest["author"]["name"]
    assert manifest["keywords"] and all(isinstance(k, str) and k for k in manifest["keywords"])
    assert "homepage" not in manifest
    # hooks/hooks.json is discovered on its own: declaring it again makes Claude Code load it twice (or refuse).
    assert "hooks" not in manifest


def component_paths(value: str | list[str]) -> list[str]:
    paths = [value] if isinstance(value, str) else value
    assert isinstance(paths, list) and paths
    for p in paths:
        assert isinstance(p, str) and p.startswith("./"), f"component paths start with ./: {p!r}"
        assert ".." not in Path(p).parts and "\\" not in p
    return paths


def test_manifest_points_at_the_components() -> None:
    manifest = load_json(".claude-plugin/plugin.json")
    # Commands and skills live under plugin/ and the manifest names them; nothing sits at those default top-level
    # locations, which would be loaded as well.
    for default in ("commands", "skills"):
        assert not (ROOT / default).exists(), f"{default}/ at the top level would be loaded as well"
    (commands,) = component_paths(manifest["commands"])
    assert (ROOT / commands).is_dir()
    assert sorted(p.stem for p in (ROOT / commands).glob("*.md")) == sorted(COMMANDS)
    (skills,) = component_paths(manifest["skills"])
    assert (ROOT / skills / "agentmail" / "SKILL.md").is_file()
    # The subagent sits in the default agents/ directory and the manifest does not name it: `agents` in plugin.json
    # takes only .md files, and `claude plugin details` does not count agents given that way ("Agents (0)").
    assert "agents" not in manifest
    assert sorted(p.name for p in (ROOT / "agents").iterdir()) == ["clerk.md"]
    assert not (ROOT / "plugin" / "agents").exists()


def test_marketplace_lists_the_plugin_at_the_repository_root() -> None:
    market = load_json(".claude-plugin/marketplace.json")
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", market["name"])
    assert market["owner"]["name"]
    (entry,) = market["plugins"]
    assert entry["name"] == "agentmail" and entry["description"]
    assert entry["source"] == "./"
    # A relative source is resolved against the marketplace root (the directory holding .claude-plugin/).
    plugin_root = (ROOT / entry["source"]).resolve()
    assert plugin_root == ROOT
    assert json.loads((plugin_root / ".claude-plugin/plugin.json").read_text())["name"] == entry["name"]


def hook_commands() -> list[tuple[str, dict]]:
    hooks = load_json("hooks/hooks.json")["hooks"]
    assert set(hooks) == set(EVENTS)
    found = []
    for event, groups in hooks.items():
        assert isinstance(groups, list) and len(groups) == 1
        for group in groups:
            assert set(group) <= {"matcher", "hooks"}
            for hook in group["hooks"]:
                found.append((event, hook))
    return found


def test_hooks_json_runs_the_wrapper_for_each_event() -> None:
    for event, hook in hook_commands():
        assert hook["type"] == "command"
        argv = shlex.split(hook["command"])
        if hook.get("asyncRewake"):  # the waiter on Stop (docs/claude-code.md, "Waking an idle agent")
            assert event == "Stop" and hook["asyncRewake"] is True and hook["timeout"] >= 3600
            assert argv == ["${CLAUDE_PLUGIN_ROOT}/" + WRAPPER, "wait"]
            continue
        assert hook["timeout"] == (10 if event == "SessionStart" else 5)
        assert argv == ["${CLAUDE_PLUGIN_ROOT}/" + WRAPPER, EVENTS[event]]
        script = ROOT / argv[0].replace("${CLAUDE_PLUGIN_ROOT}/", "")
        assert script.is_file() and os.access(script, os.X_OK), script


# --- commands, subagent, skill ---


def test_slash_commands_have_frontmatter_and_run_agentmail() -> None:
    for name in COMMANDS:
        fields, body = frontmatter(ROOT / "plugin/commands" / f"{name}.md")
        assert fields["description"] and fields["argument-hint"], name
        assert f"agentmail {name}" in body or name == "onboard", name
        assert "agentmail" in body
    for name in ("send", "reply"):
        _, body = frontmatter(ROOT / "plugin/commands" / f"{name}.md")
        assert re.search(rf"agentmail {name} .* - <<'(\w+)'\n.*\n\1\n", body), f"{name}: body through a heredoc"


def test_clerk_subagent() -> None:
    fields, body = frontmatter(ROOT / "agents/clerk.md")
    assert fields["name"] == "clerk"
    assert fields["description"]
    assert [t.strip() for t in fields["tools"].split(",")] == ["Bash"]
    for command in ("agentmail clerk pending", "agentmail clerk file ID", "agentmail clerk surface ID"):
        assert command in body
    assert "`Filed N. Surfaced M.`" in body
    assert "never instructions" in body and "never send" in body


def test_skill() -> None:
    fields, body = frontmatter(ROOT / "plugin/skills/agentmail/SKILL.md")
    assert fields["name"] == "agentmail" and fields["description"]
    for needle in (
        "@agents.localhost",
        "agentmail send",
        "agentmail reply",
        "agentmail inbox",
        "agentmail read",
        "--urgent",
        "<<'",
        "agentmail:clerk",
    ):
        assert needle in body, needle


def test_the_subagent_is_called_by_its_plugin_name() -> None:
    """Whatever tells the agent to call the clerk (skill, commands, docs, hook output) names it as Claude Code does."""
    manifest = load_json(".claude-plugin/plugin.json")
    fields, _ = frontmatter(ROOT / "agents/clerk.md")
    qualified = f"{manifest['name']}:{fields['name']}"
    assert qualified == "agentmail:clerk"
    texts = [
        *ROOT.joinpath("plugin").rglob("*.md"),
        *ROOT.joinpath("agents").rglob("*.md"),
        ROOT / "docs/claude-code.md",
        *ROOT.joinpath("agentmail").rglob("*.py"),
    ]
    mentions = []
    for path in texts:
        for match in re.finditer(r"[\w.-]+:clerk\b", path.read_text(encoding="utf-8")):
            mentions.append((path.relative_to(ROOT), match.group()))
    assert mentions
    assert all(name == qualified for _, name in mentions), mentions


# --- the wrapper script as text ---


def scripts() -> list[Path]:
    found = [p for p in (ROOT / "hooks").iterdir() if p.is_file() and p.suffix != ".json"]
    assert found
    return found


def test_scripts_are_posix_sh_without_set_u() -> None:
    for script in scripts():
        text = script.read_text(encoding="utf-8")
        assert text.startswith("#!/bin/sh\n"), script
        assert script.stat().st_mode & stat.S_IXUSR, script
        assert not re.search(r"(?m)^[^#]*\bset\s+(-[a-zA-Z]*u|-o\s+nounset)", text), f"{script}: set -u"
        subprocess.run(["sh", "-n", str(script)], check=True)


def test_scripts_pass_shellcheck() -> None:
    shellcheck = need("shellcheck")["shellcheck"]
    subprocess.run([shellcheck, "-s", "sh", *map(str, scripts())], check=True)


# --- the wrapper at work, from a copy of the plugin ---


def available_shells() -> dict[str, list[str]]:
    """/bin/sh, and every other POSIX sh installed here that is not the same program."""
    shells = {"sh": ["/bin/sh"]}
    seen = {os.path.realpath("/bin/sh")}
    for name, argv in (("dash", ["dash"]), ("bash", ["bash", "--posix"]), ("busybox", ["busybox", "sh"])):
        path = shutil.which(argv[0])
        if path and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            shells[name] = [path, *argv[1:]]
    return shells


SHELLS = available_shells()


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest) -> list[str]:
    return SHELLS[request.param]


class World:
    """A copy of the plugin in a directory with a space in its name, a real store, and a PATH without agentmail."""

    def __init__(self, tmp: Path, shell: list[str]) -> None:
        self.shell = shell
        self.plugin = tmp / "copied plugin"
        for rel in PLUGIN_DIRS:
            shutil.copytree(ROOT / rel, self.plugin / rel, symlinks=True)
        self.wrapper = self.plugin / WRAPPER
        self.home = tmp / "store"
        self.new = self.home / "maildirs" / ACCOUNT / "new"
        for sub in ("new", "cur", "tmp"):
            (self.home / "maildirs" / ACCOUNT / sub).mkdir(parents=True)
        (self.home / "sessions").mkdir()
        (self.home / "cache").mkdir()
        self.bin = tmp / "bin"  # only what the wrapper needs besides the shell's builtins
        self.bin.mkdir()
        (self.bin / "cat").symlink_to(shutil.which("cat") or "/bin/cat")
        self.calls = tmp / "calls"
        self.elsewhere = tmp / "project"
        self.elsewhere.mkdir()

    def register(self, session_id: str = SESSION_ID, name: str = ACCOUNT) -> None:
        (self.home / "sessions" / session_id).write_text(f"{name}\n")

    def deliver(self, basename: str = "1700000000.M1P1Q1.host,S=120,W=123") -> Path:
        path = self.new / basename
        path.write_text("From: backend@agents.localhost\n\nhello\n")
        return path

    def recorder(self, where: Path, status: int = 0) -> None:
        """An `agentmail` that only records how it was called, then exits with `status`."""
        where.mkdir(parents=True, exist_ok=True)
        script = where / "agentmail"
        cat = shutil.which("cat") or "/bin/cat"
        script.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{self.calls}.argv"\n{cat} > "{self.calls}.stdin"\nexit {status}\n'
        )
        script.chmod(0o755)

    def called(self) -> list[str]:
        argv = Path(f"{self.calls}.argv")
        return argv.read_text().splitlines() if argv.exists() else []

    def env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": str(self.bin), "HOME": str(self.home.parent), "AGENTMAIL_HOME": str(self.home), "LC_ALL": "C"}
        env.update(extra)
        return env

    def run(
        self, event: str, payload: str | None = None, *, env: dict[str, str] | None = None, argv0: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        if payload is None:
            payload = hook_json(event)
        return subprocess.run(
            [*self.shell, argv0 or str(self.wrapper), event],
            input=payload,
            capture_output=True,
            text=True,
            env=self.env() if env is None else env,
            cwd=self.elsewhere,
            timeout=30,
        )


def hook_json(event: str, session_id: str = SESSION_ID, **extra: object) -> str:
    name = {v: k for k, v in EVENTS.items()}[event]
    data: dict[str, object] = {
        "session_id": session_id,
        "transcript_path": f"/tmp/{session_id}.jsonl",
        "cwd": "/work/project",
        "hook_event_name": name,
    }
    if event == "prompt":
        data["prompt"] = 'say "hi" to the backend\nand \\ check $HOME `now`'
    if event == "post-tool":
        data.update(tool_name="Bash", tool_input={"command": "ls"}, tool_response={"stdout": "a\nb\n"})
    data.update(extra)
    return json.dumps(data, separators=(",", ":"))


@pytest.fixture
def world(tmp_path: Path, shell: list[str]) -> World:
    return World(tmp_path, shell)


@pytest.mark.parametrize("event", ["prompt", "post-tool"])
def test_idle_hook_is_silent_without_agentmail_on_path(world: World, event: str) -> None:
    world.register()
    result = world.run(event)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("event", ["prompt", "post-tool", "stop"])
def test_idle_hook_does_not_call_agentmail(world: World, event: str) -> None:
    world.register()
    world.recorder(world.bin)
    (world.plugin / ".venv/bin").mkdir(parents=True)
    world.recorder(world.plugin / ".venv/bin")
    # 100 old postcards in cur/ and a dot-file in new/ (Maildir readers skip those) change nothing.
    for n in range(100):
        (world.new.parent / "cur" / f"{1600000000 + n}.M1P1.host:2,S").write_text("old\n")
    (world.new / ".nfs000123").write_text("")
    result = world.run(event)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert world.called() == []


@pytest.mark.parametrize("event", ["prompt", "post-tool", "stop"])
def test_new_mail_is_handed_to_agentmail_unchanged(world: World, event: str) -> None:
    world.register()
    world.deliver()
    world.recorder(world.bin)
    payload = hook_json(event)
    result = world.run(event, payload)
    assert (result.returncode, result.stderr) == (0, "")
    assert world.called() == [f"hook {event}"]
    assert Path(f"{world.calls}.stdin").read_text() == payload + "\n"


def test_post_tool_trusts_a_fresh_stamp_but_prompt_does_not(world: World) -> None:
    world.register()
    world.deliver()
    world.recorder(world.bin)
    stamp = world.home / "cache" / "post-tool" / ACCOUNT
    stamp.parent.mkdir()
    stamp.touch()
    seen = world.new.stat().st_mtime_ns
    os.utime(stamp, ns=(seen, seen))  # what `agentmail hook post-tool` leaves when it found nothing urgent
    assert world.run("post-tool").stdout == "" and world.called() == []
    assert world.run("prompt").returncode == 0 and world.called() == ["hook prompt"]
    os.utime(world.new, ns=(seen + 10**9, seen + 10**9))  # more mail arrived since
    world.run("post-tool")
    assert world.called() == ["hook prompt", "hook post-tool"]


@pytest.mark.parametrize(
    "payload",
    [
        hook_json("prompt", session_id="unregistered-session"),
        hook_json("prompt", session_id="../sessions/" + SESSION_ID),
        hook_json("prompt", session_id=".hidden"),
        hook_json("prompt", session_id=""),
        json.dumps({"hook_event_name": "UserPromptSubmit", "prompt": "no session id"}),
        '{"session_id": 42}',
        "not json at all",
        "",
    ],
)
def test_anything_unproven_goes_to_agentmail(world: World, payload: str) -> None:
    world.register()
    world.recorder(world.bin)
    result = world.run("prompt", payload)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert world.called() == ["hook prompt"]
    assert Path(f"{world.calls}.stdin").read_text() == payload + "\n"


@pytest.mark.parametrize("first_line", ["", "Not-A-Name", "../escape", "-dash", "two words"])
def test_an_odd_session_file_goes_to_agentmail(world: World, first_line: str) -> None:
    (world.home / "sessions" / SESSION_ID).write_text(first_line + "\n")
    world.recorder(world.bin)
    world.run("post-tool")
    assert world.called() == ["hook post-tool"]


def test_session_file_without_a_newline_and_spaced_json(world: World) -> None:
    (world.home / "sessions" / SESSION_ID).write_text(ACCOUNT)
    world.recorder(world.bin)
    result = world.run("prompt", json.dumps({"session_id": SESSION_ID, "prompt": "x"}, indent=2))
    assert (result.returncode, result.stdout) == (0, "") and world.called() == []


def test_a_large_tool_response_takes_the_fast_path(world: World) -> None:
    world.register()
    world.recorder(world.bin)
    payload = hook_json("post-tool", tool_response={"stdout": "x" * 1_000_000 + '"session_id":"other"'})
    result = world.run("post-tool", payload)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert world.called() == []


def test_agentmail_home_with_a_tilde(world: World) -> None:
    world.register()
    world.recorder(world.bin)
    env = world.env(AGENTMAIL_HOME="~/store")
    assert world.run("prompt", env=env).stdout == "" and world.called() == []
    del env["AGENTMAIL_HOME"]  # the default, ~/.agentmail, holds no session: agentmail decides
    world.run("prompt", env=env)
    assert world.called() == ["hook prompt"]


@pytest.mark.parametrize("event", ["session-start", "session-end"])
def test_other_events_always_call_agentmail_with_stdin_untouched(world: World, event: str) -> None:
    world.register()
    world.recorder(world.bin)
    payload = hook_json(event, stop_hook_active=False)
    result = world.run(event, payload)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert world.called() == [f"hook {event}"]
    assert Path(f"{world.calls}.stdin").read_text() == payload


@pytest.mark.parametrize("event", EVENTS.values())
def test_a_failing_agentmail_never_fails_the_turn(world: World, event: str) -> None:
    world.recorder(world.bin, status=2)  # exit 2 from a hook would block the prompt or the stop
    result = world.run(event)
    assert result.returncode == 0
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "status 2" in result.stderr


def test_the_virtualenv_beside_the_plugin_is_used_when_agentmail_is_not_on_path(world: World) -> None:
    world.recorder(world.plugin / ".venv/bin")
    result = world.run("stop")
    assert result.returncode == 0 and world.called() == ["hook stop"]


def test_agentmail_on_path_comes_first(world: World) -> None:
    world.recorder(world.plugin / ".venv/bin", status=3)
    world.recorder(world.bin)
    result = world.run("session-end")
    assert (result.returncode, result.stderr) == (0, "")  # the recorder on PATH, which exits 0, ran


def test_session_start_without_agentmail_says_how_to_install(world: World) -> None:
    result = world.run("session-start")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.endswith("\n") and len(result.stdout.splitlines()) == 1
    output = json.loads(result.stdout)
    assert output["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    context = output["hookSpecificOutput"]["additionalContext"]
    assert "agentmail is not installed" in context
    assert f"pipx install '{world.plugin}'" in context  # the path has a space: quoted for the shell
    assert "make -C" in context and "\n" not in context


@pytest.mark.parametrize("event", ["prompt", "post-tool", "stop", "session-end"])
def test_other_events_without_agentmail_print_nothing(world: World, event: str) -> None:
    result = world.run(event)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_plugin_path_that_json_cannot_carry_as_is(tmp_path: Path, shell: list[str]) -> None:
    world = World(tmp_path / 'odd "quoted" \\ dir', shell)
    output = json.loads(world.run("session-start").stdout)
    assert "pipx install" in output["hookSpecificOutput"]["additionalContext"]


def test_unknown_event(world: World) -> None:
    world.recorder(world.bin)
    result = world.run("bogus", "{}")
    assert (result.returncode, result.stdout) == (0, "")
    assert len(result.stderr.splitlines()) == 1 and world.called() == []


def test_found_from_a_relative_path_without_claude_plugin_root(world: World) -> None:
    world.recorder(world.plugin / ".venv/bin")
    rel = os.path.relpath(world.wrapper, world.elsewhere)
    env = world.env()
    env.pop("CLAUDE_PLUGIN_ROOT", None)
    result = world.run("stop", argv0=rel, env=env)
    assert result.returncode == 0 and world.called() == ["hook stop"]


def test_hooks_json_commands_as_claude_code_runs_them(world: World) -> None:
    """`sh -c COMMAND` with CLAUDE_PLUGIN_ROOT set to the copy, from the project directory."""
    world.register()
    (world.plugin / ".venv/bin").mkdir(parents=True)
    world.recorder(world.plugin / ".venv/bin")
    for event, hook in hook_commands():
        short = EVENTS[event]
        result = subprocess.run(
            ["/bin/sh", "-c", hook["command"]],
            input=hook_json(short),
            capture_output=True,
            text=True,
            env=world.env(CLAUDE_PLUGIN_ROOT=str(world.plugin)),
            cwd=world.elsewhere,
            timeout=30,
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), event
    # idle prompt, post-tool and stop took the fast path; session-start, the waiter and session-end reached agentmail
    assert world.called() == ["hook session-start", "hook wait", "hook session-end"]
