"""format=flowed (RFC 3676) decoding for display: agentmail.format.flowed, and `parse` using it.

The table gives the stored text and what a reader is shown. tests/format/golden/thunderbird-flowed.eml is a message as
Thunderbird sends it (text/plain; charset=UTF-8; format=flowed, wrapped at 72 with a trailing space on each soft
break, a quoted paragraph and a signature); tests/cli/test_cli_newuser.py reads it through the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmail.format.card import parse
from agentmail.format.flowed import decode_flowed, flowed_params

THUNDERBIRD = Path(__file__).parent / "golden" / "thunderbird-flowed.eml"

# (case, stored text, DelSp=yes?, shown text)
CASES: list[tuple[str, str, bool, str]] = [
    ("fixed lines stay", "one\ntwo\n", False, "one\ntwo\n"),
    ("soft break joined", "a long \nparagraph\n", False, "a long paragraph\n"),
    ("three lines one paragraph", "one \ntwo \nthree\nfour\n", False, "one two three\nfour\n"),
    ("blank line after a soft break ends the paragraph", "one \n\ntwo\n", False, "one \ntwo\n"),
    ("blank line between paragraphs", "one\n\ntwo \nthree\n", False, "one\n\ntwo three\n"),
    ("delsp removes the added space", "abc\u00e9 \ndef\n", True, "abc\u00e9def\n"),
    ("delsp keeps fixed lines", "one\ntwo\n", True, "one\ntwo\n"),
    ("space-stuffing removed", " From here\n  two spaces\n", False, "From here\n two spaces\n"),
    ("stuffed line that is also flowed", " >not a quote \nsee\n", False, ">not a quote see\n"),
    ("quoted paragraph joined", "> quoted \n> text\n", False, "> quoted text\n"),
    ("quote without stuffing", ">quoted \n>text\n", False, "> quoted text\n"),
    ("nested quotes", ">> deep \n>> er\n> shallow\n", False, ">> deep er\n> shallow\n"),
    ("depth change never joins", "> quoted \nreply\n", False, "> quoted \nreply\n"),
    ("unquoted flowed then quoted", "reply \n> quoted\n", False, "reply \n> quoted\n"),
    ("empty quoted line", ">\n> x\n", False, ">\n> x\n"),
    ("signature separator is fixed", "Thanks \n-- \nme\n", False, "Thanks \n-- \nme\n"),
    ("signature separator alone", "x\n-- \nme\n", False, "x\n-- \nme\n"),
    ("signature separator under delsp", "-- \nme\n", True, "-- \nme\n"),
    ("flowed last line, no newline", "ends \nhere ", False, "ends here "),
    ("no trailing newline", "a \nb", False, "a b"),
    ("lone stuffed space is an empty flowed line", " \nnext\n", False, "next\n"),
    ("crlf tolerated", "a \r\nb\r\n", False, "a b\n"),
    ("empty", "", False, ""),
    ("just a newline", "\n", False, "\n"),
]


@pytest.mark.parametrize(("stored", "delsp", "shown"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decode_flowed(stored: str, delsp: bool, shown: str) -> None:
    assert decode_flowed(stored, delsp) == shown


@pytest.mark.parametrize(("value", "expected"), [
    ("text/plain; charset=UTF-8; format=flowed", (True, False)),
    ("text/plain; format=\"Flowed\"; delsp=YES", (True, True)),
    ("text/plain; charset=utf-8", (False, False)),
    ("text/plain; format=fixed; delsp=yes", (False, True)),
    ("text/plain", (False, False)),
])
def test_flowed_params(value: str, expected: tuple[bool, bool]) -> None:
    assert flowed_params(value) == expected


def test_thunderbird_message_is_shown_as_written() -> None:
    data = THUNDERBIRD.read_bytes()
    assert b"return \nnull" in data  # the stored text has its soft breaks
    card = parse(data)
    assert card.body == (
        "Hi backend,\n"
        "\n"
        "The avatar column should be nullable text, and the API should return null when there is none rather "
        "than an empty string, because the frontend treats an empty string as a broken image.\n"
        "\n"
        "On 03/03/2026 13:58, backend wrote:\n"
        "> Should avatar_url be nullable? The old clients send an empty string when they have no picture and I "
        "do not want to break them.\n"
        "\n"
        "Thanks,\n"
        "-- \n"
        "The human at the keyboard\n"
    )
    assert card.sender == "human@agents.localhost" and card.title == "Re: avatar_url"


def test_fixed_message_is_left_alone() -> None:
    data = THUNDERBIRD.read_bytes().replace(b"; format=flowed", b"")
    assert parse(data).body == data.split(b"\n\n", 1)[1].decode()


def test_delsp_in_a_message() -> None:
    data = (b"From: a@agents.localhost\nSubject: x\n"
            b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\n\n"
            b"\xe6\x97\xa5\xe6\x9c\xac \n\xe8\xaa\x9e\n")
    assert parse(data).body == "\u65e5\u672c\u8a9e\n"
