"""TLS rules of a remote home: STARTTLS whenever offered, a certificate that does not match refused (69) with
nothing saved, the test CA trusted only when given with --ca-file, and a plain-text login refused to a host that is
not loopback unless --allow-plain. Real servers: agentmail serve with a test certificate (SMTP STARTTLS), and
Dovecot listening on this machine's own non-loopback address."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dovecot import DOVECOT, Dovecot, need_dovecot
from tests.support.remotehome import Machines
from tests.support.servers import Serve
from tests.support.store import Store, make_store
from tests.support.tls import TestCA


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "server")


def serve_with(store: Store, ca: TestCA, *names: str) -> Serve:
    cert = ca.issue(*names)
    return Serve.start(store, "--tls-cert", str(cert.cert), "--tls-key", str(cert.key))


def urls(serve: Serve) -> tuple[str, str]:
    return f"imap://127.0.0.1:{serve.imap_port}", f"smtp://127.0.0.1:{serve.smtp_port}"


def test_a_certificate_for_another_name_is_refused_and_nothing_is_saved(store: Store, ca: TestCA,
                                                                       machine: Machines) -> None:
    serve = serve_with(store, ca, "wrong.example")
    try:
        alice = machine("alice")
        imap, smtp = urls(serve)
        refused = alice.connect(imap, smtp, store.passwords["alice"], "--ca-file", str(ca.cert)).fails(69)
        assert "does not verify" in refused.err and "127.0.0.1" in refused.err
        assert not (alice.home / "remote.json").exists()
        assert store.passwords["alice"] not in refused.err
    finally:
        serve.stop()


def test_a_matching_certificate_is_trusted_only_with_its_ca(store: Store, ca: TestCA, machine: Machines) -> None:
    serve = serve_with(store, ca, "127.0.0.1")
    try:
        alice = machine("alice")
        imap, smtp = urls(serve)
        unknown = alice.connect(imap, smtp, store.passwords["alice"]).fails(69)  # the system CAs do not know it
        assert "does not verify" in unknown.err
        alice.connect(imap, smtp, store.passwords["alice"], "--ca-file", str(ca.cert)).ok()
        assert alice.run("remote", "show", "--json").ok().out.count('"ca": "custom"') == 1
        sent = alice.as_me("send", "bob", "over STARTTLS", "hello").ok()
        assert sent.out.startswith("sent ")
        assert "ESMTPSA" in store.only("bob", "over STARTTLS").decode()  # RFC 3848: the submission used TLS
    finally:
        serve.stop()


def test_a_bad_ca_file_is_refused(store: Store, machine: Machines, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("hello\n")
    alice = machine("alice")
    result = alice.connect("imap://127.0.0.1:1", "smtp://127.0.0.1:1", "pw", "--ca-file", str(bad)).fails(64)
    assert "no PEM certificate" in result.err


def own_address() -> str:
    """A non-loopback address of this machine (the stand-in for a server elsewhere)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    found = [a for a in out if ":" not in a and not a.startswith("127.")]
    if not found:
        pytest.skip("this machine has no non-loopback IPv4 address")
    return found[0]


@pytest.fixture
def plain_dovecot(store: Store) -> Iterator[tuple[Dovecot, str]]:
    need_dovecot()
    address = own_address()
    dovecot = Dovecot(store.home)
    dovecot.conf.write_text(dovecot.conf.read_text().replace("127.0.0.1", address))
    try:
        yield start_on(dovecot, address), address
    finally:
        dovecot.stop()


def start_on(dovecot: Dovecot, address: str) -> Dovecot:
    """Dovecot.start() waits on 127.0.0.1; this one listens on `address` only."""
    import socket
    import time

    dovecot.chown()
    with open(dovecot.work / "dovecot.out", "wb") as out:
        dovecot.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(dovecot.conf)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, dovecot.port), timeout=0.5).close()
            return dovecot
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"dovecot did not listen on {address}: {dovecot.output()}")


def test_a_plain_login_to_a_host_that_is_not_loopback_needs_allow_plain(store: Store, machine: Machines,
                                                                        plain_dovecot: tuple[Dovecot, str]) -> None:
    dovecot, address = plain_dovecot
    alice = machine("alice")
    imap, smtp = f"imap://{address}:{dovecot.port}", "smtp://127.0.0.1:1"
    refused = alice.connect(imap, smtp, store.passwords["alice"]).fails(69)
    assert "offers no STARTTLS" in refused.err and "--allow-plain" in refused.err
    assert not (alice.home / "remote.json").exists()
    # explicitly allowed: IMAP logs in in plain text (SMTP is not there: checked without --no-check it would fail)
    alice.connect(imap, smtp, store.passwords["alice"], "--allow-plain", "--no-check").ok()
    shown = alice.run("remote", "show", "--json").ok().out
    assert '"allow_plain": true' in shown
    from agentmail import config
    from agentmail.remote.connect import close_imap, open_imap
    from agentmail.remote.settings import load

    settings = load(config.load(str(alice.home)))
    assert settings is not None
    close_imap(open_imap(settings))  # the plain login itself works once allowed
