"""SORT (RFC 5256 3) over messages whose sort fields are known: pure, no IO.

Each message is a ``SortItem``: the number the reply shows (sequence number or UID, which order the same
way), its ``Fields`` (sortkeys.py), INTERNALDATE in seconds and RFC822.SIZE. Keys compare as Dovecot 2.3
compares them: ARRIVAL the INTERNALDATE, DATE the sent date (else INTERNALDATE), SIZE the CRLF size,
SUBJECT the base subject, FROM/TO/CC the first address's local part, DISPLAYFROM/DISPLAYTO the display name
(RFC 5957); strings case-mapped. REVERSE turns one key round; messages equal on every key stay in
mailbox order (RFC 5256 3: "sorted in ascending order by their message sequence number").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .sortkeys import Fields, sent_or_arrival


@dataclass(frozen=True, slots=True)
class SortItem:
    number: int  # sequence number or UID: what the reply lists
    fields: Fields
    internal: int  # INTERNALDATE, whole seconds
    size: int  # RFC822.SIZE


def _key(name: str) -> Callable[[SortItem], Any]:  # an int or a str
    if name == "ARRIVAL":
        return lambda item: item.internal
    if name == "DATE":
        return lambda item: sent_or_arrival(item.fields, item.internal)
    if name == "SIZE":
        return lambda item: item.size
    if name == "SUBJECT":
        return lambda item: item.fields.base_subject()[0]
    if name in ("FROM", "TO", "CC", "DISPLAYFROM", "DISPLAYTO"):
        return lambda item: item.fields.address_key(name)
    raise ValueError(f"unknown sort key {name}")


def needs_fields(criteria: Sequence[tuple[str, bool]]) -> bool:
    """Whether the sort reads headers at all (ARRIVAL and SIZE do not)."""
    return any(name not in ("ARRIVAL", "SIZE") for name, _ in criteria)


def sort_items(items: Sequence[SortItem], criteria: Sequence[tuple[str, bool]]) -> list[int]:
    """The items' numbers in SORT order. ``items`` come in mailbox order; Python's sort is stable (reverse
    too), so sorting by the least significant key first and the most significant last leaves ties in
    mailbox order, however many keys are reversed."""
    ordered = list(items)
    for name, reverse in reversed(criteria):
        ordered.sort(key=_key(name), reverse=reverse)
    return [item.number for item in ordered]
