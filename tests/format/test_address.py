"""Account names and addresses: agentmail.format.address and agentmail.format.words."""

from __future__ import annotations

import pytest

from agentmail.errors import EX_USAGE, TempFailError, UsageError
from agentmail.format import words
from agentmail.format.address import (
    MAX_NAME,
    ForeignAddressError,
    format_address,
    is_valid_name,
    normalize_name,
    parse_address,
    random_name,
    split_address,
    suggest,
)

DOMAIN = "agents.localhost"

GOOD_NAMES = ["a", "0", "bob", "swift-amber-compass", "9lives", "bob-", "a--b", "x" * MAX_NAME, "human", "all"]

BAD_NAMES = [
    pytest.param("", "it is empty", id="empty"),
    pytest.param("   ", "it is empty", id="only-spaces"),
    pytest.param(".", "'.'", id="dot"),
    pytest.param("..", "'.'", id="dotdot"),
    pytest.param("../etc", "'.'", id="traversal"),
    pytest.param("a/b", "'/'", id="slash"),
    pytest.param("a\\b", "'\\\\'", id="backslash"),
    pytest.param("a\0b", "control character", id="nul"),
    pytest.param("a\nb", "control character", id="newline"),
    pytest.param("a\tb", "control character", id="tab"),
    pytest.param("bob.smith", "'.'", id="inner-dot"),
    pytest.param("bob@", "'@'", id="at-leftover"),
    pytest.param("a b", "space", id="space"),
    pytest.param("zoë", "non-ASCII", id="non-ascii"),
    pytest.param("\u212aate", "non-ASCII", id="kelvin-sign-lowercases-to-k"),
    pytest.param("bob\u200b", "non-ASCII", id="zero-width-space"),
    pytest.param("x" * (MAX_NAME + 1), "65 characters", id="too-long"),
    pytest.param("-bob", "starts with '-'", id="leading-dash"),
    pytest.param("a_b", "'_'", id="underscore"),
    pytest.param("a:b", "':'", id="colon"),
    pytest.param("*", "'*'", id="glob"),
    pytest.param("~", "'~'", id="tilde"),
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_is_valid_name_accepts_lowercase_names_of_the_rule(name: str) -> None:
    assert is_valid_name(name)
    assert normalize_name(name) == name


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_is_valid_name_refuses_bad_names(name: str, reason: str) -> None:
    assert not is_valid_name(name)


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_normalize_name_refuses_bad_names_with_reason_and_rule(name: str, reason: str) -> None:
    with pytest.raises(UsageError) as info:
        normalize_name(name)
    message = str(info.value)
    assert info.value.exit_code == EX_USAGE
    assert message.startswith("invalid name ")
    assert reason in message
    assert "names are 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit" in message
    assert "\n" not in message


def test_is_valid_name_refuses_uppercase_which_normalize_lowercases() -> None:
    assert not is_valid_name("Bob")
    assert normalize_name("Bob") == "bob"


@pytest.mark.parametrize(
    ("text", "name"),
    [(" Bob ", "bob"), ("BOB", "bob"), ("\tSwift-Amber-Compass\n", "swift-amber-compass"), ("X1", "x1")],
)
def test_normalize_name_strips_and_lowercases(text: str, name: str) -> None:
    assert normalize_name(text) == name


def test_normalize_name_error_shows_long_input_shortened() -> None:
    with pytest.raises(UsageError) as info:
        normalize_name("y" * 500)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bob@agents.localhost", ("bob", "agents.localhost")),
        ("<bob@agents.localhost>", ("bob", "agents.localhost")),
        ("Bob Builder <bob@Agents.LocalHost>", ("bob", "agents.localhost")),
        ('"Builder, Bob" <Bob@agents.localhost>', ("Bob", "agents.localhost")),
        ("  bob@agents.localhost  ", ("bob", "agents.localhost")),
        ("a.b+tag@example.com", ("a.b+tag", "example.com")),
    ],
)
def test_split_address_accepts_addr_spec_and_name_addr(text: str, expected: tuple[str, str]) -> None:
    assert split_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bob",
        "@agents.localhost",
        "bob@",
        "bob@@x",
        "b ob@x",
        "bob@x>",
        "<bob@x",
        "Bob <>",
        "bob@x\r\nBcc: eve@x",
        "bob\n@x",
        "bob@x\r",
        "bob\0@x",
        "bob@x,eve@x",
    ],
)
def test_split_address_refuses_garbage_and_line_breaks(text: str) -> None:
    with pytest.raises(UsageError):
        split_address(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("bob", "bob"),
        ("Bob", "bob"),
        ("bob@agents.localhost", "bob"),
        ("BOB@AGENTS.LOCALHOST", "bob"),
        ("Bob <bob@agents.localhost>", "bob"),
        ("<swift-amber-compass@agents.localhost>", "swift-amber-compass"),
    ],
)
def test_parse_address_gives_normalized_name(text: str, name: str) -> None:
    assert parse_address(text, DOMAIN) == name


@pytest.mark.parametrize("text", ["bob@example.com", "Bob <bob@agents.localhost.evil>", "bob@localhost"])
def test_parse_address_refuses_foreign_domain(text: str) -> None:
    with pytest.raises(ForeignAddressError) as info:
        parse_address(text, DOMAIN)
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == EX_USAGE
    assert info.value.address == text
    assert "@agents.localhost" in str(info.value)


def test_parse_address_domain_compare_ignores_case_of_configured_domain() -> None:
    assert parse_address("bob@agents.localhost", "Agents.LOCALHOST") == "bob"


@pytest.mark.parametrize(
    "text", ["../etc@agents.localhost", "bob.smith@agents.localhost", "-x@agents.localhost", "bob\nBcc: x", ""]
)
def test_parse_address_refuses_bad_local_part(text: str) -> None:
    with pytest.raises(UsageError):
        parse_address(text, DOMAIN)


def test_format_address_joins_name_and_domain() -> None:
    assert format_address("bob", DOMAIN) == "bob@agents.localhost"


KNOWN = ["alice", "alicia", "bob", "human", "swift-amber-compass", "swift-azure-comet"]


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("alcie", "alice"), ("bbo", "bob"), ("humna", "human"), ("swift-amber-compas", "swift-amber-compass")],
)
def test_suggest_finds_close_names(typo: str, expected: str) -> None:
    assert suggest(typo, KNOWN)[0] == expected


def test_suggest_uses_prefixes_and_limits_count() -> None:
    assert set(suggest("swift", KNOWN)) == {"swift-amber-compass", "swift-azure-comet"}
    assert len(suggest("ali", KNOWN, n=1)) == 1
    assert suggest("zzzzzz", KNOWN) == []
    assert suggest("bob", []) == []


def test_random_name_is_three_listed_words_and_valid() -> None:
    for _ in range(200):
        name = random_name()
        adjective, colour, noun = name.split("-")
        assert adjective in words.ADJECTIVES
        assert colour in words.COLOURS
        assert noun in words.NOUNS
        assert is_valid_name(name)


class _TakenFirst:
    """A Container that reports the first `n` names it is asked about as taken."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.asked: list[str] = []

    def __contains__(self, name: object) -> bool:
        self.asked.append(str(name))
        return len(self.asked) <= self.n


def test_random_name_retries_until_name_is_free() -> None:
    taken = _TakenFirst(5)
    name = random_name(taken)
    assert len(taken.asked) == 6
    assert name == taken.asked[-1]


def test_random_name_gives_up_when_everything_is_taken() -> None:
    with pytest.raises(TempFailError):
        random_name(_TakenFirst(10**9))


@pytest.mark.parametrize(("words_list", "minimum"), [(words.ADJECTIVES, 300), (words.COLOURS, 100), (words.NOUNS, 300)])
def test_word_lists_are_big_unique_and_plain_lowercase(words_list: tuple[str, ...], minimum: int) -> None:
    assert len(words_list) >= minimum
    assert len(set(words_list)) == len(words_list)
    for word in words_list:
        assert word.isascii() and word.isalpha() and word.islower(), word


def test_word_lists_give_millions_of_valid_names_within_64_chars() -> None:
    assert len(words.ADJECTIVES) * len(words.COLOURS) * len(words.NOUNS) >= 9_000_000
    longest = "-".join(max(w, key=len) for w in (words.ADJECTIVES, words.COLOURS, words.NOUNS))
    assert len(longest) <= MAX_NAME
    assert is_valid_name(longest)
    for a in words.ADJECTIVES:
        assert is_valid_name(f"{a}-{words.COLOURS[0]}-{words.NOUNS[0]}")
