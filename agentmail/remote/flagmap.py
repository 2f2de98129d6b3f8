"""IMAP flags <-> Maildir letters for the mirror. Only the flags agentmail and mail clients act on are synced;
any other keyword stays on the server untouched (the mirror neither copies nor removes it)."""

from __future__ import annotations

from ..store import keywords

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..store.maildir import Maildir

MDN_SENT = "$MDNSent"
LETTERS = {"D": "\\Draft", "F": "\\Flagged", "P": "$Forwarded", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
SYNCED = {f.lower(): f for f in (*LETTERS.values(), MDN_SENT)}  # canonical spelling by lowercase
BY_FLAG = {flag.lower(): letter for letter, flag in LETTERS.items()}


def normalise(flags: Iterable[bytes | str]) -> frozenset[str]:
    """The synced flags among an IMAP FLAGS list, spelled canonically (flags and keywords are case-insensitive)."""
    out = set()
    for flag in flags:
        text = flag.decode("utf-8", "replace") if isinstance(flag, bytes) else flag
        canonical = SYNCED.get(text.lower())
        if canonical:
            out.add(canonical)
    return frozenset(out)


def from_letters(box: Maildir, letters: str) -> frozenset[str]:
    """The synced IMAP flags of a file's `:2,` letters."""
    out = {LETTERS[c] for c in letters if c in LETTERS}
    lower = [c for c in letters if "a" <= c <= "z"]
    if lower:
        table = keywords.read(box)
        for c in lower:
            name = keywords.keyword_of(table, c)
            if name and name.lower() in SYNCED:
                out.add(SYNCED[name.lower()])
    return frozenset(out)


def to_letters(box: Maildir, flags: Iterable[str], keep: str = "") -> str:
    """Letters for `flags`, plus the letters of `keep` that stand for flags the mirror does not sync."""
    letters = {c for c in keep if c not in LETTERS}
    if keep:
        table = keywords.read(box)
        letters = {c for c in letters if not ((k := keywords.keyword_of(table, c)) and k.lower() in SYNCED)}
    for flag in flags:
        letter = BY_FLAG.get(flag.lower())
        if letter is None and flag.lower() in SYNCED:
            letter = keywords.ensure(box, SYNCED[flag.lower()])
        if letter:
            letters.add(letter)
    return "".join(sorted(letters))
