"""LIST attributes (\\HasChildren / \\HasNoChildren, RFC 3348 / 5258 4) and LSUB entries (RFC 3501
6.3.9), table-driven over name lists like the human's Agents/<name>/... view."""

from __future__ import annotations

import pytest

from agentmail.imap.backend import MailboxInfo
from agentmail.imap.listing import list_attributes, lsub_entries, pattern_regex, with_parents

HUMAN = ["INBOX", "Sent", "Archive", "Projects/2024/Q1", "Projects/misc", "Agents/bob/INBOX", "Agents/bob/Sent",
         "Agents/bob/Todo/Later", "Agents/carol/INBOX"]

CHILDREN = [
    ("INBOX", ("\\HasNoChildren",)),
    ("Sent", ("\\HasNoChildren",)),
    ("Projects", ("\\Noselect", "\\HasChildren")),  # only its children exist (a placeholder)
    ("Projects/2024", ("\\Noselect", "\\HasChildren")),
    ("Projects/2024/Q1", ("\\HasNoChildren",)),
    ("Projects/misc", ("\\HasNoChildren",)),
    ("Agents", ("\\Noselect", "\\HasChildren")),
    ("Agents/bob", ("\\Noselect", "\\HasChildren")),
    ("Agents/bob/INBOX", ("\\HasNoChildren",)),
    ("Agents/bob/Todo", ("\\Noselect", "\\HasChildren")),
    ("Agents/bob/Todo/Later", ("\\HasNoChildren",)),
    ("Agents/carol", ("\\Noselect", "\\HasChildren")),
    ("Agents/carol/INBOX", ("\\HasNoChildren",)),
]


@pytest.mark.parametrize(("name", "attrs"), CHILDREN)
def test_children_attributes(name: str, attrs: tuple[str, ...]) -> None:
    boxes = with_parents([MailboxInfo(n) for n in HUMAN])
    box = next(b for b in boxes if b.name == name)
    assert tuple(list_attributes(box, boxes, special_use=False)) == attrs


def test_a_prefix_is_not_a_parent() -> None:
    boxes = with_parents([MailboxInfo("Work"), MailboxInfo("Workshop")])
    assert [list_attributes(b, boxes) for b in boxes] == [["\\HasNoChildren"], ["\\HasNoChildren"]]


LSUB = [
    # (subscribed, pattern, expected (attributes, name))
    (["INBOX", "Sent"], "*", [((), "INBOX"), ((), "Sent")]),
    (["Sent", "INBOX"], "%", [((), "INBOX"), ((), "Sent")]),
    (["Gone"], "*", [(("\\Noselect",), "Gone")]),  # subscribed, no such mailbox: still listed
    (["Projects/2024/Q1"], "%", [(("\\Noselect",), "Projects")]),  # RFC 3501 6.3.9: the parent "%" hides
    (["Projects/2024/Q1"], "Projects/%", [(("\\Noselect",), "Projects/2024")]),
    (["Projects/2024/Q1"], "*", [((), "Projects/2024/Q1")]),
    (["Projects", "Projects/misc"], "%", [(("\\Noselect",), "Projects")]),  # subscribed but only a placeholder
    (["Sent"], "Arch*", []),
]


@pytest.mark.parametrize(("subscribed", "pattern", "expected"), LSUB)
def test_lsub_entries(subscribed: list[str], pattern: str, expected: list[tuple[tuple[str, ...], str]]) -> None:
    boxes = with_parents([MailboxInfo(n) for n in HUMAN])
    assert lsub_entries(subscribed, boxes, [pattern_regex("", pattern)]) == expected
