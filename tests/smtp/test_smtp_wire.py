"""Bytes on the wire that no polite client sends: non-UTF-8 and control characters in commands, AUTH abuse, AUTH
LOGIN's challenges, odd commands. Each gets a proper reply (never `451 internal error`), nothing is stored, and
the session (or, after too many failed logins, the connection) ends the way the reply says."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.smtp.conftest import DOMAIN, Server, lf, marker, message, strip_trace
from tests.smtp.wire import Raw

b64 = base64.b64encode


def printable_line(reply: bytes) -> bool:
    return reply.endswith(b"\r\n") and all(32 <= c < 127 for c in reply[:-2])


@pytest.mark.parametrize(("line", "reply"), [
    (b"MAIL FROM:<b\xffob@agents.localhost>", b"553 5.1.7 <b\\xffob@agents.localhost>: the address is not valid UTF-8"),
    (b"MAIL FROM:<\xe9@agents.localhost>", b"553 5.1.7 <\\xe9@agents.localhost>: the address is not valid UTF-8"),
    (b"MAIL FROM:<bob@agents.localhost\r>", b"553 5.1.7 <bob@agents.localhost\\r>: the address contains a control"),
    (b"MAIL FROM:<bob@agents.localhost\x00>", b"553 5.1.7 <bob@agents.localhost\\x00>: the address contains a con"),
    (b"MAIL FROM:<bob\x1b@agents.localhost>", b"553 5.1.7 <bob\\x1b@agents.localhost>: the address contains a c"),
])
def test_bad_bytes_in_mail_from(server: Server, line: bytes, reply: bytes) -> None:
    with Raw(server) as raw:
        raw.auth("bob")
        got = raw.cmd(line)
        assert got.startswith(reply) and printable_line(got), got
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"250")  # no transaction was started


@pytest.mark.parametrize(("line", "reply"), [
    (b"RCPT TO:<al\xffice@agents.localhost>", b"553 5.1.3 <al\\xffice@agents.localhost>: the address is not valid"),
    (b"RCPT TO:<alice@agents.localhost\xc3>", b"553 5.1.3 <alice@agents.localhost\\xc3>: the address is not valid"),
    (b"RCPT TO:<alice@agents.localhost\r>", b"553 5.1.3 <alice@agents.localhost\\r>: the address contains a contr"),
    (b"RCPT TO:<alice\x00@agents.localhost>", b"553 5.1.3 <alice\\x00@agents.localhost>: the address contains a co"),
    (b"RCPT TO:<\xc3\xa9@agents.localhost>", b"553 5.1.3 <\\xe9@agents.localhost>: invalid name"),  # UTF-8, not a name
    (b"RCPT TO:<alice@ag\xc3\xa9nts.localhost>", b"550 5.7.1 <alice@ag\\xe9nts.localhost>: relay access denied"),
])
def test_bad_bytes_in_rcpt_to(server: Server, line: bytes, reply: bytes) -> None:
    tag = marker()
    with Raw(server) as raw:
        raw.auth("bob")
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"250")
        got = raw.cmd(line)
        assert got.startswith(reply) and printable_line(got), got
        # the transaction goes on with the good recipient only
        assert raw.cmd(b"RCPT TO:<alice@agents.localhost>").startswith(b"250")
        assert raw.cmd(b"DATA").startswith(b"354")
        assert raw.cmd(message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag) + b".").startswith(b"250 2.0.0 OK "
                                                                                             b"delivered as")
    stored = server.store.only("alice", tag)
    assert b"\r" not in stored and b"\0" not in stored


def test_non_utf8_in_ehlo_and_auth(server: Server) -> None:
    tag = marker()
    with Raw(server) as raw:
        assert raw.cmd(b"EHLO h\xff\xfest\x00").startswith(b"250-")
        assert raw.cmd(b"AUTH \xff").startswith(b"504 5.5.4")  # not a mechanism
        # a login that is not UTF-8, both mechanisms: 535 (a wrong login), never an internal error
        assert raw.cmd(b"AUTH PLAIN " + b64(b"\0b\xffob\0x")).startswith(b"535 5.7.8")
        assert raw.cmd(b"AUTH LOGIN " + b64(b"\xff")) == b"334 UGFzc3dvcmQ6\r\n"
        assert raw.cmd(b64(b"\xfe\xff")).startswith(b"535 5.7.8")
        assert raw.cmd(b"AUTH PLAIN " + b64(f"\0bob\0{server.store.passwords['bob']}".encode())).startswith(b"235")
        assert raw.cmd(b"MAIL FROM:<bob@agents.localhost>").startswith(b"250")
        assert raw.cmd(b"RCPT TO:<alice@agents.localhost>").startswith(b"250")
        assert raw.cmd(b"DATA").startswith(b"354")
        assert raw.cmd(message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag) + b".").startswith(b"250")
    stored = server.store.only("alice", tag)
    assert b"Received: from hst ([127.0.0.1])" in stored  # the EHLO name keeps only its printable ASCII


def test_auth_login_uses_the_usual_challenges(server: Server) -> None:
    with Raw(server) as raw:
        assert raw.cmd(b"EHLO raw").startswith(b"250")
        assert raw.cmd(b"AUTH LOGIN") == b"334 VXNlcm5hbWU6\r\n"  # "Username:"
        assert raw.cmd(b64(b"bob")) == b"334 UGFzc3dvcmQ6\r\n"  # "Password:"
        assert raw.cmd(b64(server.store.passwords["bob"].encode())).startswith(b"235 2.7.0")
    with Raw(server) as raw:  # with the user name as an initial response (RFC 4954 4): only "Password:"
        assert raw.cmd(b"EHLO raw").startswith(b"250")
        assert raw.cmd(b"AUTH LOGIN " + b64(b"bob")) == b"334 UGFzc3dvcmQ6\r\n"
        assert raw.cmd(b64(server.store.passwords["bob"].encode())).startswith(b"235 2.7.0")


def test_three_failed_auth_then_421_and_close(server: Server) -> None:
    with Raw(server) as raw:
        assert raw.cmd(b"EHLO raw").startswith(b"250")
        assert raw.cmd(b"AUTH PLAIN " + b64(b"\0bob\0wrong1")).startswith(b"535 5.7.8")
        assert raw.cmd(b"AUTH LOGIN") == b"334 VXNlcm5hbWU6\r\n"
        assert raw.cmd(b64(b"bob")) == b"334 UGFzc3dvcmQ6\r\n"
        assert raw.cmd(b64(b"wrong2")).startswith(b"535 5.7.8")
        start = time.monotonic()
        third = raw.cmd(b"AUTH PLAIN " + b64(b"\0nosuchuser\0x"))
        assert third.startswith(b"535 5.7.8")  # the client still learns the password was wrong, as IMAP's NO
        assert time.monotonic() - start >= 0.8  # after the usual delay
        assert raw.reply().startswith(b"421 4.7.0 too many failed authentication attempts (3)")
        assert raw.closed()
    assert "3 failed AUTH attempts, closing" in server.log()


def test_two_failures_then_success_and_aborts_do_not_count(server: Server) -> None:
    with Raw(server) as raw:
        assert raw.cmd(b"EHLO raw").startswith(b"250")
        for _ in range(3):  # "*" (RFC 4954 4) and bad base64 check no password: they are not failures
            assert raw.cmd(b"AUTH LOGIN") == b"334 VXNlcm5hbWU6\r\n"
            assert raw.cmd(b"*").startswith(b"501")
            assert raw.cmd(b"AUTH PLAIN !!!").startswith(b"501")
        assert raw.cmd(b"AUTH PLAIN " + b64(b"\0bob\0wrong1")).startswith(b"535")
        assert raw.cmd(b"AUTH PLAIN " + b64(b"\0bob\0wrong2")).startswith(b"535")
        token = b64(f"\0bob\0{server.store.passwords['bob']}".encode())
        assert raw.cmd(b"AUTH PLAIN " + token).startswith(b"235")
        assert raw.cmd(b"NOOP").startswith(b"250")


def test_failures_count_per_connection(server: Server) -> None:
    """Three connections with two failures each: none is closed, each can still log in."""

    def two_failures_then_login(_: int) -> bytes:
        with Raw(server) as raw:
            assert raw.cmd(b"EHLO raw").startswith(b"250")
            for attempt in (b"x1", b"x2"):
                assert raw.cmd(b"AUTH PLAIN " + b64(b"\0carol\0" + attempt)).startswith(b"535")
            return raw.cmd(b"AUTH PLAIN " + b64(f"\0carol\0{server.store.passwords['carol']}".encode()))

    with ThreadPoolExecutor(3) as pool:
        assert all(r.startswith(b"235") for r in pool.map(two_failures_then_login, range(3)))


ODD = [
    (b"BDAT 10 LAST", b"500 Error: command \"BDAT\" not recognized"),  # CHUNKING (RFC 3030) is not offered
    (b"NOOP\x00", b'500 Error: command "NOOP\\x00" not recognized'),  # the NUL is shown escaped, not echoed
    (b"N\xffOP", b"500 Error: bad syntax"),
    (b"\x00\x00", b'500 Error: command "\\x00\\x00" not recognized'),
    (b"VRFY \xff", b"252"),
    (b"EXPN \xff\r", b"502"),
    (b"HELP \xff", b"501"),
    (b"MAIL FROM:<bob@agents.localhost> SIZE=\xff", b"501"),
    (b"MAIL FROM:<bob@agents.localhost> \xff=1", b"501"),
    (b"MAIL FROM:<bob@agents.localhost> " + b"A" * 600, b"500 Command line too long"),
    (b"X" * 300_000, b"500 Command line too long"),  # past the stream limit
    (b"", b"500 Error: bad syntax"),
    (b"HELO \xff\xfe", b"250"),  # last: it ends the ESMTP session
]


def test_odd_commands_get_proper_replies(server: Server) -> None:
    with Raw(server) as raw:
        raw.auth("bob")
        for line, reply in ODD:
            got = raw.cmd(line)
            assert got.startswith(reply) and printable_line(got.splitlines(keepends=True)[-1]), (line[:40], got)
            assert raw.cmd(b"RSET").startswith(b"250")
    assert "internal error" not in server.log()


def test_data_with_bare_cr_lf_nul_and_long_lines(server: Server) -> None:
    """The body is stored as sent (bare CR, bare LF, NUL, a 200 KB line); a line over the 256 KiB stream limit
    gets 500 once the data has ended, and nothing is stored."""
    tag = marker()
    body = b"bare\rcr\nbare lf\r\nnul\x00byte\r\n" + b"y" * 200_000 + b"\r\n\xff\xfe not utf-8\r\n"
    data = message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag) + body
    too_long = message(f"bob@{DOMAIN}", f"alice@{DOMAIN}", tag + "-long") + b"z" * 300_000 + b"\r\nafter\r\n"
    with Raw(server) as raw:
        raw.auth("bob")
        assert raw.submit(data).startswith(b"250 2.0.0")
        assert raw.submit(too_long).startswith(b"500 Line too long")
        assert raw.cmd(b"NOOP").startswith(b"250")
    assert strip_trace(server.store.only("alice", tag)) == lf(data)
    assert server.store.find("alice", tag + "-long") == []
    assert "internal error" not in server.log()
