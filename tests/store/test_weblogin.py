"""One-time login tokens for the web view (store/weblogin.py): used once, expire, hashed on disk, no links followed."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from agentmail import config
from agentmail.errors import EX_NOPERM
from agentmail.store import registry, weblogin


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    cfg = config.load(str(tmp_path / "home"))
    registry.ensure_store(cfg)
    return cfg


def token_dir(cfg: config.Config) -> Path:
    return Path(cfg.path("run", "web-login"))


def test_a_token_is_stored_only_as_its_hash_and_works_once(cfg: config.Config) -> None:
    token = weblogin.issue(cfg, "human")
    assert weblogin.well_formed(token) and len(token) == 43
    files = list(token_dir(cfg).iterdir())
    assert [f.name for f in files] == [hashlib.sha256(token.encode()).hexdigest()]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert token.encode() not in files[0].read_bytes()
    assert weblogin.redeem(cfg, token) == "human"
    assert not files[0].exists()
    with pytest.raises(weblogin.LoginRefused, match="already used") as refused:
        weblogin.redeem(cfg, token)
    assert refused.value.exit_code == EX_NOPERM


def test_an_expired_token_is_refused_and_removed(cfg: config.Config) -> None:
    token = weblogin.issue(cfg, "human", ttl=60, now=1000.0)
    with pytest.raises(weblogin.LoginRefused, match="expired"):
        weblogin.redeem(cfg, token, now=1061.0)
    assert not any(token_dir(cfg).iterdir())


def test_malformed_tokens_are_refused_before_any_file_is_looked_at(cfg: config.Config) -> None:
    for bad in ("", "short", "../../../../etc/passwd-xxxxxxxxxxxxxxxx", "a" * 101, "é" * 30, "a b" * 10, "x\0" * 15):
        with pytest.raises(weblogin.LoginRefused, match="not valid"):
            weblogin.redeem(cfg, bad)


def test_a_damaged_token_file_is_refused(cfg: config.Config) -> None:
    token = weblogin.issue(cfg, "human")
    path = token_dir(cfg) / hashlib.sha256(token.encode()).hexdigest()
    path.write_bytes(b"{not json")
    with pytest.raises(weblogin.LoginRefused, match="damaged"):
        weblogin.redeem(cfg, token)
    assert not path.exists()


def test_a_symbolic_link_is_not_followed(cfg: config.Config, tmp_path: Path) -> None:
    token = "A" * 43
    outside = tmp_path / "outside.json"
    outside.write_text('{"account": "human", "expires": 1e12}')
    link = token_dir(cfg)
    link.mkdir(parents=True, exist_ok=True)
    (link / hashlib.sha256(token.encode()).hexdigest()).symlink_to(outside)
    with pytest.raises(weblogin.LoginRefused):
        weblogin.redeem(cfg, token)
    assert outside.exists()


def race(cfg: config.Config, token: str, barrier: threading.Barrier, results: list[str]) -> None:
    barrier.wait()
    try:
        results.append(weblogin.redeem(cfg, token))
    except weblogin.LoginRefused:
        results.append("refused")


def test_two_browsers_racing_with_one_link_sign_in_once(cfg: config.Config) -> None:
    for _ in range(20):
        token = weblogin.issue(cfg, "human")
        results: list[str] = []
        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=race, args=(cfg, token, barrier, results)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["human", "refused", "refused", "refused"]


def test_sweep_removes_only_expired_tokens(cfg: config.Config) -> None:
    old = weblogin.issue(cfg, "human", ttl=10, now=100.0)
    fresh = weblogin.issue(cfg, "human", ttl=10, now=200.0)  # issuing sweeps too, with its own clock
    assert weblogin.sweep(cfg, now=205.0) == 0  # `old` went when `fresh` was issued
    assert len(os.listdir(token_dir(cfg))) == 1
    assert weblogin.redeem(cfg, fresh, now=205.0) == "human"
    with pytest.raises(weblogin.LoginRefused):
        weblogin.redeem(cfg, old, now=105.0)
