"""Record Dovecot's answers for the message corpora (run by hand, output committed).

    python tests/imap/dovecot_oracle.py      # needs /usr/sbin/dovecot and root (mail_uid vmail)

Starts Dovecot on a temp Maildir holding tests/imap/corpus/*.eml (LF endings, as agentmail stores
them), asks for every FETCH item in ITEMS per message over a raw socket and writes the exact
untagged FETCH lines to tests/imap/corpus/dovecot.json, so test_message.py can compare byte for byte.

Then the same for SORT, THREAD and ESEARCH (ORDER_QUERIES) over tests/imap/corpus/threads/*.eml (each file's
INTERNALDATE in threads/mtimes.json): the untagged lines go to threads/dovecot.json, which
tests/imap/server/test_sort_thread.py compares our server's answers with.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests.support

from tests.support.dovecot import Dovecot, unavailable  # noqa: E402

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"

ITEMS = [
    "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY",
    "BODY.PEEK[]", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]", "BODY.PEEK[MIME]",
    "BODY.PEEK[1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[1.HEADER]", "BODY.PEEK[1.TEXT]",
    "BODY.PEEK[2]", "BODY.PEEK[2.MIME]", "BODY.PEEK[2.HEADER]", "BODY.PEEK[2.TEXT]",
    "BODY.PEEK[2.1]", "BODY.PEEK[2.2]", "BODY.PEEK[2.1.MIME]", "BODY.PEEK[2.1.1]", "BODY.PEEK[2.1.2]",
    "BODY.PEEK[3]", "BODY.PEEK[3.MIME]", "BODY.PEEK[4]",
    "BODY.PEEK[HEADER.FIELDS (From Subject)]", "BODY.PEEK[HEADER.FIELDS (subject X-Missing date)]",
    "BODY.PEEK[HEADER.FIELDS.NOT (Received Return-Path subject)]",
    "BODY.PEEK[2.HEADER.FIELDS (Subject)]",
    "BODY.PEEK[]<0.20>", "BODY.PEEK[]<10.5>", "BODY.PEEK[TEXT]<3.7>", "BODY.PEEK[1]<100000.5>",
    "BODY.PEEK[HEADER]<0.1>", "RFC822.HEADER", "RFC822.TEXT",
]


def read_reply(sock: socket.socket, tag: bytes, buf: bytearray) -> bytes:
    out = bytearray()
    while True:
        while b"\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        i = buf.index(b"\r\n") + 2
        line = bytes(buf[:i])
        del buf[:i]
        out += line
        m = re.search(rb"\{(\d+)\}\r\n$", line)
        if m:
            n = int(m.group(1))
            while len(buf) < n:
                buf += sock.recv(65536)
            out += buf[:n]
            del buf[:n]
            continue
        if line.startswith(tag + b" "):
            return bytes(out)


THREADS = CORPUS / "threads"
# RFC 5256 SORT / THREAD and RFC 4731 ESEARCH over the threads corpus, sequence numbers and UIDs, with search keys
# that leave parents out (dummies) and that match nothing
ORDER_QUERIES = [
    *(f"{uid}SORT ({keys}) UTF-8 ALL" for uid in ("", "UID ") for keys in (
        "ARRIVAL", "DATE", "REVERSE DATE", "SIZE", "SUBJECT", "FROM", "TO", "CC", "DISPLAYFROM", "DISPLAYTO",
        "SUBJECT DATE", "REVERSE SUBJECT REVERSE ARRIVAL", "FROM REVERSE SUBJECT", "REVERSE REVERSE SIZE",
        "SUBJECT SUBJECT REVERSE ARRIVAL", "CC TO DATE")),
    "SORT (SUBJECT) UTF-8 NOT FROM alice", "UID SORT (REVERSE DATE) US-ASCII OR SUBJECT plan SUBJECT weekly",
    "SORT (DATE) UTF-8 SUBJECT no-such-subject", "UID SORT (FROM) UTF-8 UID 5:12,20:*",
    "SORT (SIZE) UTF-8 TEXT Friday", "SORT (ARRIVAL) UTF-8 SEEN",
    *(f"{uid}THREAD {alg} UTF-8 {keys}" for uid in ("", "UID ") for alg in ("REFERENCES", "ORDEREDSUBJECT")
      for keys in ("ALL", "NOT FROM alice", "NOT SUBJECT weekly", "5:*", "SUBJECT no-such-subject",
                   "OR FROM rene FROM carol")),
    "SEARCH RETURN () ALL", "SEARCH RETURN (MIN MAX COUNT ALL) FROM agents.localhost",
    "UID SEARCH RETURN (MIN MAX) SUBJECT weekly", "SEARCH RETURN (COUNT) SUBJECT no-such-subject",
    "UID SEARCH RETURN (ALL) 3:7,20:*", "SEARCH RETURN (MAX) NOT ALL", "SEARCH RETURN (ALL) 2,4:6,9",
    "UID SEARCH RETURN (COUNT MIN) CHARSET UTF-8 TEXT plan", "SEARCH RETURN (ALL MIN) UID 25:*",
    "SEARCH SUBJECT plan",
]


def threads_tree(top: Path, user: str = "u") -> Path:
    """``top/maildirs/<user>`` holding the threads corpus, each file with its INTERNALDATE (mtime) from
    mtimes.json and numbered in a dovecot-uidlist with gaps (UID 10, 13, 16, ...), so that UID and sequence
    number answers differ."""
    import os

    mtimes = json.loads((THREADS / "mtimes.json").read_text())
    md = top / "maildirs" / user
    for d in ("cur", "new", "tmp"):
        (md / d).mkdir(parents=True, exist_ok=True)
    records = []
    for i, name in enumerate(sorted(mtimes)):
        base = f"{1700000000 + i}.M1P1.host"
        path = md / "cur" / f"{base}:2,"
        path.write_bytes((THREADS / name).read_bytes())
        os.utime(path, (mtimes[name], mtimes[name]))
        records.append(f"{10 + 3 * i} :{base}\n")
    (md / "dovecot-uidlist").write_text(f"3 V1700000000 N{10 + 3 * len(records)}\n" + "".join(records))
    return md


def untagged(reply: bytes) -> str:
    """The untagged lines of a reply (the tagged one left out)."""
    lines = reply.split(b"\r\n")
    return b"".join(line + b"\r\n" for line in lines[:-2]).decode("latin-1")


def record_orders() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dovecot-oracle-"))
    threads_tree(tmp)
    (tmp / "passwd").write_text("u:{PLAIN}pw\n")
    dovecot = Dovecot(tmp).start()
    answers: dict[str, str] = {}
    try:
        s = socket.create_connection(("127.0.0.1", dovecot.port))
        buf = bytearray()
        while b"\r\n" not in buf:
            buf += s.recv(4096)
        buf.clear()
        for n, text in enumerate(["LOGIN u pw", "EXAMINE INBOX", *ORDER_QUERIES]):
            tag = f"t{n}".encode()
            s.sendall(tag + b" " + text.encode() + b"\r\n")
            reply = read_reply(s, tag, buf)
            if n >= 2:
                answers[text] = untagged(reply)
        out = {"queries": answers}
        (THREADS / "dovecot.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    finally:
        dovecot.stop()
        shutil.rmtree(tmp)



def main() -> None:
    why = unavailable()
    if why:
        raise SystemExit(why)
    record_orders()
    tmp = Path(tempfile.mkdtemp(prefix="dovecot-oracle-"))
    names = sorted(p.stem for p in CORPUS.glob("*.eml"))
    md = tmp / "maildirs" / "u"
    for d in ("cur", "new", "tmp"):
        (md / d).mkdir(parents=True)
    for i, name in enumerate(names, 1):
        data = (CORPUS / f"{name}.eml").read_bytes()
        (md / "cur" / f"1700000000.M{i}P1.host:2,S").write_bytes(data)
    (tmp / "passwd").write_text("u:{PLAIN}pw\n")
    dovecot = Dovecot(tmp).start()
    try:
        s = socket.create_connection(("127.0.0.1", dovecot.port))
        buf = bytearray()
        while b"\r\n" not in buf:
            buf += s.recv(4096)
        buf.clear()
        n = 0

        def cmd(text: str) -> bytes:
            nonlocal n
            n += 1
            tag = f"t{n}".encode()
            s.sendall(tag + b" " + text.encode() + b"\r\n")
            return read_reply(s, tag, buf)

        cmd("LOGIN u pw")
        cmd("SELECT INBOX")
        result: dict[str, dict[str, str]] = {}
        for i, name in enumerate(names, 1):
            result[name] = {}
            for item in ITEMS:
                reply = cmd(f"FETCH {i} ({item})")
                lines = reply.rsplit(b"\r\n", 2)
                untagged = reply[: len(reply) - len(lines[-2]) - 2]
                result[name][item] = untagged.decode("latin-1")
        search = {}
        for q in ["SUBJECT green", "FROM alice", "BODY München", "TEXT Grüße", "HEADER Importance high",
                  "SENTBEFORE 5-Jun-2024", "SENTON 4-Jun-2024", "SENTSINCE 4-Jun-2024", "LARGER 700",
                  "SMALLER 300", "OR FROM carol TO carol", "NOT BODY build", "TO team", "CC undisclosed",
                  "BCC x", "HEADER Message-ID multi", "TEXT report", "BODY AAECAwQF", "SUBJECT Größe",
                  "HEADER X-Missing \"\"", "HEADER subject \"\"", "FROM \"\"", "SUBJECT folded",
                  # address fields are searched as Dovecot writes them back (angles.eml, odd.eml)
                  "FROM missing_mailbox", "TO syntax_error", "FROM invalid_route", "CC a..b", "TO \"group: \"",
                  "FROM \"<weird@\"", "FROM \"\\\"Weird\"", "CC \"x <\"", "TO \"<>\"", "BCC \"b.>\""]:
            raw = q.encode()
            if any(b > 127 for b in raw):
                n += 1
                tag = f"t{n}".encode()
                enc = q.split(" ", 1)
                lit = enc[1].encode()
                s.sendall(tag + f" SEARCH CHARSET UTF-8 {enc[0]} {{{len(lit)}+}}\r\n".encode() + lit + b"\r\n")
                reply = read_reply(s, tag, buf)
            else:
                reply = cmd(f"SEARCH {q}")
            search[q] = reply.split(b"\r\n")[0].decode("latin-1")
        out = {"names": names, "fetch": result, "search": search}
        (CORPUS / "dovecot.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
        cmd("LOGOUT")
    finally:
        dovecot.stop()
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
