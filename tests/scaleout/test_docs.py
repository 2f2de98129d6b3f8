"""docs/scale-out.md shows exactly what the code writes: every block marked `<!-- config: NAME -->` is
`agentmail.agent.deploy`'s NAME for the doc's example values (the text the scale-out tests start Postfix and
Dovecot from), every `<!-- table: NAME -->` the Postfix table `agentmail admin` writes for the doc's store, and every
`<!-- output: admin ... -->` what that command prints. When this fails, paste the new text into the doc."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmail.agent import deploy
from tests.support.cli import run_script
from tests.support.tools import need

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"
STORE = "/srv/agentmail"
CONF_OUT = "/root/agentmail-conf"
CERT = "/etc/letsencrypt/live/mail.example.com/fullchain.pem"
KEY = "/etc/letsencrypt/live/mail.example.com/privkey.pem"
DOC_DEPLOYMENT = deploy.Deployment(STORE, "agents.example.com", "mail.example.com", CERT, KEY)
MARKED = re.compile(r"<!-- (config|table|output): ([\w. -]+?) -->\n```[a-z]*\n(.*?)```", re.S)


def blocks(kind: str) -> dict[str, str]:
    found = {name: text for k, name, text in MARKED.findall(DOC.read_text()) if k == kind}
    assert found, f"no <!-- {kind}: ... --> blocks in {DOC}"
    return found


def test_every_configuration_file_in_the_doc_is_the_generated_one() -> None:
    shown = blocks("config")
    assert set(shown) == set(deploy.files(DOC_DEPLOYMENT))
    for name, text in deploy.files(DOC_DEPLOYMENT).items():
        assert shown[name] == text, f"docs/scale-out.md's {name} differs from agentmail/agent/deploy.py's"


@pytest.fixture(scope="module")
def doc_store() -> Iterator[tuple[Path, dict[str, str]]]:
    """A store like the doc's (domain agents.example.com, agents alice and bob) after `admin config` and `admin
    add alice`, `admin add bob`: the store path and what each command printed, with the temp paths replaced by the
    doc's."""
    need("postmap")
    root = Path(tempfile.mkdtemp(prefix="am-doc-"))
    home = root / "store"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"domain": "agents.example.com"}))
    out = root / "conf"

    def docpaths(text: str) -> str:
        return text.replace(str(out), CONF_OUT).replace(str(home), STORE)

    printed = {"admin config": docpaths(run_script(home, "admin", "config", "--hostname", "mail.example.com",
                                                   "--tls-cert", CERT, "--tls-key", KEY, "--out", str(out)).ok().out)}
    printed["admin add"] = docpaths(run_script(home, "admin", "add", "alice").ok().out)
    run_script(home, "admin", "add", "bob").ok()
    try:
        yield home, printed
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_postfix_tables_in_the_doc_are_what_admin_writes(doc_store: tuple[Path, dict[str, str]]) -> None:
    home, _ = doc_store
    for name, text in blocks("table").items():
        assert (home / "server" / "postfix" / name).read_text() == text, name


def test_the_admin_output_in_the_doc_is_what_admin_prints(doc_store: tuple[Path, dict[str, str]]) -> None:
    _, printed = doc_store
    shown = blocks("output")
    assert set(shown) == set(printed)
    for name, text in shown.items():
        assert printed[name] == text, name


def test_the_doc_names_the_files_admin_config_writes(doc_store: tuple[Path, dict[str, str]]) -> None:
    home, _ = doc_store
    text = DOC.read_text()
    for rel in ("server/postfix", "server/sieve", "server/public", "server/credentials", "server/server.json"):
        assert os.path.exists(home / rel) and f"{STORE}/{rel}" in text, rel
