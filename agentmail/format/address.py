"""Account names and mail addresses (DESIGN.md, "Addresses").

A name is 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit. Names are
case-insensitive, like mail addresses in practice: `Bob`, `BOB` and `bob` are the same account and
are always stored and shown as `bob`. Validation uses character checks, not regular expressions, so
this module costs almost nothing to import (it is on the `agentmail send` fast path); difflib, secrets
and the word lists are imported only by the functions that need them.
"""

from __future__ import annotations

from ..errors import TempFailError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Iterable

MAX_NAME = 64
NAME_RULE = "names are 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit"

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_FIRST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


class ForeignAddressError(UsageError):
    """An address in a domain other than ours: agentmail does not relay mail elsewhere."""

    def __init__(self, address: str, domain: str) -> None:
        self.address = address
        self.domain = domain
        super().__init__(f"{_show(address)} is not an agentmail address (this store's domain is @{domain})")


def is_valid_name(name: str) -> bool:
    """True if `name` is already a valid, normalized account name."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        return False
    if name[0] not in _FIRST_CHARS:
        return False
    return all(c in _NAME_CHARS for c in name)


def _show(text: str, limit: int = 40) -> str:
    """`text` quoted for an error message, control characters visible, cut to `limit` characters."""
    if len(text) > limit:
        return repr(text[:limit])[:-1] + "...'"
    return repr(text)


def _name_problem(name: str) -> str:
    """Why `name` (stripped, lowercased) is not a valid name."""
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it is {len(name)} characters long"
    for c in name:
        if c not in _NAME_CHARS:
            if c == " ":
                return "it contains a space"
            if not c.isascii():
                return "it contains a non-ASCII character"
            if not c.isprintable():
                return "it contains a control character"
            return f"it contains {c!r}"
    return "it starts with '-'"


def normalize_name(text: str) -> str:
    """The account name for `text`: surrounding whitespace removed, lowercased, then validated.

    Raises UsageError (exit 64) naming the problem and the rule.
    """
    name = text.strip()
    # Check ASCII before lowercasing: str.lower() maps a few non-ASCII letters onto ASCII ones
    # (KELVIN SIGN U+212A -> 'k'), which would let look-alike names through.
    if name.isascii():
        name = name.lower()
        if is_valid_name(name):
            return name
    raise UsageError(f"invalid name {_show(text)} ({_name_problem(name)}): {NAME_RULE}")


def split_address(text: str) -> tuple[str, str]:
    """(local part, lowercased domain) from `local@domain`, `<local@domain>` or `Name <local@domain>`.

    The display name is ignored. Raises UsageError for anything else, including CR or LF anywhere.
    """
    if any(c in text for c in "\r\n\0"):
        raise UsageError(f"invalid address {_show(text)}: it contains a line break or NUL")
    spec = text.strip()
    if spec.endswith(">"):
        # RFC 5322 3.4 name-addr: [display-name] "<" addr-spec ">"
        start = spec.rfind("<")
        if start < 0:
            raise UsageError(f"invalid address {_show(text)}: '>' without '<'")
        spec = spec[start + 1 : -1].strip()
    local, at, domain = spec.rpartition("@")
    bad = ' \t<>,;:"()[]\\'
    if (
        not at
        or not local
        or not domain
        or any(c in bad or not c.isprintable() for c in local + domain)
        or "@" in local
    ):
        raise UsageError(f"invalid address {_show(text)}: expected name@domain")
    return local, domain.lower()


def parse_address(text: str, domain: str) -> str:
    """The account name in `text`: a bare name (`bob`) or an address in `domain` (`Bob <bob@domain>`).

    The domain compares case-insensitively. ForeignAddressError for another domain, UsageError for a
    bad name.
    """
    stripped = text.strip()
    if "@" not in stripped and "<" not in stripped:
        return normalize_name(stripped)
    local, dom = split_address(stripped)
    if dom != domain.strip().lower():
        raise ForeignAddressError(stripped, domain)
    return normalize_name(local)


def format_address(name: str, domain: str) -> str:
    """`name@domain`."""
    return f"{name}@{domain}"


def suggest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` names from `known` closest to `name`, best first (for "did you mean ...?")."""
    import difflib

    names = sorted(set(known))
    target = name.strip().lower()
    close = difflib.get_close_matches(target, names, n=n, cutoff=0.6)
    if len(close) < n and target:
        # A typed prefix (`swift` for `swift-amber-compass`) is a good hint even when short.
        for cand in names:
            if cand.startswith(target) and cand not in close:
                close.append(cand)
                if len(close) == n:
                    break
    return close


def random_name(taken: Container[str] = frozenset()) -> str:
    """A fresh `adjective-colour-noun` name drawn with `secrets`, not in `taken`."""
    import secrets

    from .words import ADJECTIVES, COLOURS, NOUNS

    for _ in range(1000):
        name = f"{secrets.choice(ADJECTIVES)}-{secrets.choice(COLOURS)}-{secrets.choice(NOUNS)}"
        if name not in taken:
            return name
    raise TempFailError("could not find a free random name after 1000 tries")
