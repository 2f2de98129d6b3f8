"""SORT, THREAD (RFC 5256) and SEARCH RETURN (RFC 4731) in the grammar, and their responses: every malformed
form is a BAD that says what is wrong (Dovecot's wording where it has one)."""

from __future__ import annotations

import pytest

from agentmail.imap.protocol import commands as c
from agentmail.imap.protocol import response as r
from agentmail.imap.protocol.grammar import parse_command
from agentmail.imap.protocol.searchkeys import SAll, SFlag, SHeader, SNot

GOOD: list[tuple[bytes, c.Command]] = [
    (b"a SORT (SUBJECT) UTF-8 ALL", c.Sort("a", (("SUBJECT", False),), "UTF-8", SAll())),
    (b"a UID SORT (REVERSE date Subject) us-ascii FROM x", c.Sort(
        "a", (("DATE", True), ("SUBJECT", False)), "us-ascii", SHeader("From", "x"), uid=True)),
    (b'a SORT ("ARRIVAL" REVERSE REVERSE SIZE) "UTF-8" ALL', c.Sort(
        "a", (("ARRIVAL", False), ("SIZE", False)), "UTF-8", SAll())),
    # a key given twice counts once; the REVERSE before the repeat passes to the next key (as Dovecot)
    (b"a SORT (SUBJECT REVERSE SUBJECT CC) UTF-8 ALL", c.Sort(
        "a", (("SUBJECT", False), ("CC", True)), "UTF-8", SAll())),
    (b"a SORT (DISPLAYFROM DISPLAYTO TO) UTF-8 ALL", c.Sort(
        "a", (("DISPLAYFROM", False), ("DISPLAYTO", False), ("TO", False)), "UTF-8", SAll())),
    (b"a THREAD REFERENCES UTF-8 ALL", c.Thread("a", "REFERENCES", "UTF-8", SAll())),
    (b"a UID THREAD orderedsubject US-ASCII NOT DELETED", c.Thread(
        "a", "ORDEREDSUBJECT", "US-ASCII", SNot(SFlag("\\Deleted")), uid=True)),
    (b"a SEARCH RETURN () ALL", c.Search("a", SAll(), None, False, ())),
    (b"a SEARCH RETURN (min MAX MIN) CHARSET UTF-8 ALL", c.Search("a", SAll(), "UTF-8", False, ("MIN", "MAX"))),
    (b"a UID SEARCH RETURN (COUNT ALL) SEEN", c.Search("a", SFlag("\\Seen"), None, True, ("COUNT", "ALL"))),
    (b"a SEARCH ALL", c.Search("a", SAll(), None, False, None)),
]


@pytest.mark.parametrize(("line", "command"), GOOD)
def test_parses(line: bytes, command: c.Command) -> None:
    assert parse_command(line) == command


BAD = [
    (b"a SORT SUBJECT UTF-8 ALL", b"a BAD Invalid sort argument (expected a list of sort keys)\r\n"),
    (b"a SORT () UTF-8 ALL", b"a BAD Empty sort program\r\n"),
    (b"a SORT (REVERSE) UTF-8 ALL", b"a BAD Sort list ends with REVERSE\r\n"),
    (b"a SORT (SENDER) UTF-8 ALL", b"a BAD Unknown sort argument: SENDER\r\n"),
    (b"a SORT (SUBJECT (DATE)) UTF-8 ALL", b"a BAD Invalid sort list argument\r\n"),
    (b"a SORT (SUBJECT", b"a BAD Missing argument\r\n"),
    (b"a SORT (SUBJECT)", b"a BAD Invalid charset argument\r\n"),
    (b"a SORT (SUBJECT) (UTF-8) ALL", b"a BAD Invalid charset argument\r\n"),
    (b"a SORT (SUBJECT) UTF-8", b"a BAD Missing search parameters\r\n"),
    (b"a SORT (SUBJECT) UTF-8 FOO", b"a BAD Unknown SEARCH key 'FOO'\r\n"),
    (b"a SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", b"a BAD Invalid sort argument (expected a list of sort keys)\r\n"),
    (b"a THREAD", b"a BAD THREAD needs an algorithm, a charset and search keys\r\n"),
    (b"a THREAD REFS UTF-8 ALL", b"a BAD Unknown thread algorithm REFS (REFERENCES or ORDEREDSUBJECT)\r\n"),
    (b"a THREAD REFERENCES", b"a BAD Invalid charset argument\r\n"),
    (b"a THREAD REFERENCES UTF-8", b"a BAD Missing search parameters\r\n"),
    (b"a SEARCH RETURN (SAVE) ALL", b"a BAD Unknown SEARCH return option SAVE (ESEARCH: MIN MAX ALL COUNT)\r\n"),
    (b"a SEARCH RETURN (PARTIAL 1:5) ALL",
     b"a BAD Unknown SEARCH return option PARTIAL (ESEARCH: MIN MAX ALL COUNT)\r\n"),
    (b"a SEARCH RETURN (ALL)", b"a BAD Missing argument\r\n"),
    (b"a SEARCH RETURN ALL", b"a BAD Unknown SEARCH key 'RETURN'\r\n"),
]


@pytest.mark.parametrize(("line", "reply"), BAD)
def test_bad(line: bytes, reply: bytes) -> None:
    result = parse_command(line)
    assert not isinstance(result, c.Command)
    assert result.response.to_bytes() == reply


def test_esearch_response() -> None:
    every = frozenset({"MIN", "MAX", "ALL", "COUNT"})
    assert r.ESearchResponse("t1", True, every, [1, 2, 3, 5, 7, 8]).to_bytes() == (
        b'* ESEARCH (TAG "t1") UID MIN 1 MAX 8 ALL 1:3,5,7:8 COUNT 6\r\n')
    assert r.ESearchResponse("t2", False, every, []).to_bytes() == b'* ESEARCH (TAG "t2") COUNT 0\r\n'
    assert r.ESearchResponse("t3", False, frozenset({"MIN"}), []).to_bytes() == b'* ESEARCH (TAG "t3")\r\n'
    assert r.sequence_set([4]) == b"4" and r.sequence_set([]) == b""


def test_sort_and_thread_responses() -> None:
    assert r.SearchResponse([3, 1, 2], "SORT").to_bytes() == b"* SORT 3 1 2\r\n"
    assert r.SearchResponse([]).to_bytes() == b"* SEARCH\r\n"
    assert r.ThreadResponse([]).to_bytes() == b"* THREAD \r\n"  # Dovecot's empty answer, space and all
    assert r.ThreadResponse([r.ThreadNode(1, [r.ThreadNode(2)])]).to_bytes() == b"* THREAD (1 2)\r\n"
