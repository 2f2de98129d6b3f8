"""Properties of SORT and THREAD's pure parts over arbitrary input (hypothesis, derandomized): the readers of
subjects, dates, message IDs and addresses never fail, and every message is in exactly one place of a THREAD
answer and of a SORT answer, whatever the references say."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmail.imap.message.address import parse_address_list, write_addresses
from agentmail.imap.message.sort import SortItem, sort_items
from agentmail.imap.message.sortkeys import Fields, display_key, mailbox_key, message_ids, parse_date
from agentmail.imap.message.subject import base_subject
from agentmail.imap.message.thread import ThreadItem, ordered_subject, references
from agentmail.imap.protocol.response import encode_threads

PROPS = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                 suppress_health_check=[HealthCheck.too_slow])
TRICKY = st.binary(max_size=60) | st.text(alphabet='<>@"()[]\\:;,. \t\r\n=?qQbB-_aZ09éÿRrEeFfWw', max_size=60).map(
    lambda t: t.encode())


@PROPS
@given(TRICKY)
def test_readers_never_fail(value: bytes) -> None:
    assert isinstance(base_subject(value)[0], str)
    assert 0 <= parse_date(value) < 1 << 32
    assert all(isinstance(i, str) for i in message_ids(value))
    mailbox_key(value), display_key(value)
    write_addresses(parse_address_list(value))


MESSAGE = st.tuples(st.integers(0, 12), st.lists(st.integers(0, 15), max_size=4), st.sampled_from(
    ["a", "Re: a", "[x] a", "b", "Fwd: b", "", "(fwd) c"]), st.integers(0, 3), st.booleans())


def fields(msgid: int, refs: list[int], subject: str, dated: bool) -> Fields:
    head = f"Message-ID: <m{msgid}@x>\r\nSubject: {subject}\r\n"
    head += "References: " + " ".join(f"<m{r}@x>" for r in refs) + "\r\n" if refs else ""
    head += "Date: 4 Jun 2024 10:00 +0000\r\n" if dated else ""
    return Fields.parse(head.encode())


@PROPS
@given(st.lists(MESSAGE, max_size=25))
def test_every_message_once(messages: list[tuple[int, list[int], str, int, bool]]) -> None:
    items = [ThreadItem(n, fields(m, refs, subject, dated), day) for n, (m, refs, subject, day, dated)
             in enumerate(messages, 1)]
    every = list(range(1, len(items) + 1))
    steps = list(references(items))
    assert steps[-1] is not None
    for tree in (steps[-1], ordered_subject(items)):
        numbers = [int(n) for n in re.findall(rb"\d+", encode_threads(tree))]
        assert sorted(n for n in numbers if n) == every
    sort = [SortItem(i.number, i.fields, i.internal, len(i.fields.refs)) for i in items]
    for criteria in ([("SUBJECT", False)], [("DATE", True), ("SIZE", False)], [("FROM", False)]):
        assert sorted(sort_items(sort, criteria)) == every
