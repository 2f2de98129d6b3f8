"""LIST / LSUB pattern matching (RFC 3501 6.3.8): "*" matches anything, "%" anything but the
hierarchy delimiter; the reference name is prepended to the pattern (RFC 3501 6.3.8, 5258 3)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .backend import DELIMITER, MailboxInfo


def pattern_regex(reference: str, pattern: str) -> re.Pattern[str]:
    full = reference + pattern
    out = []
    for ch in full:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(DELIMITER)}]*")
        else:
            out.append(re.escape(ch))
    body = "".join(out)
    # INBOX is case-insensitive (RFC 3501 5.1)
    if full[:5].upper() == "INBOX" and (len(full) == 5 or full[5] in (DELIMITER, "*", "%")):
        body = "(?i:INBOX)" + "".join(out[5:])
    return re.compile(body + r"\Z", re.DOTALL)


def list_attributes(box: MailboxInfo, all_boxes: Sequence[MailboxInfo], special_use: bool = True) -> list[str]:
    prefix = box.name + DELIMITER
    children = any(b.name.startswith(prefix) for b in all_boxes)
    attrs = ["\\HasChildren" if children else "\\HasNoChildren"]
    if not box.selectable:
        attrs.insert(0, "\\Noselect")
    if special_use:
        attrs += list(box.special_use)
    return attrs


def with_parents(boxes: Sequence[MailboxInfo]) -> list[MailboxInfo]:
    """Add \\Noselect placeholders for missing parents (e.g. "Agents" above "Agents/bob")."""
    names = {b.name for b in boxes}
    out = list(boxes)
    for b in boxes:
        parts = b.name.split(DELIMITER)
        for i in range(1, len(parts)):
            parent = DELIMITER.join(parts[:i])
            if parent not in names:
                names.add(parent)
                out.append(MailboxInfo(parent, selectable=False, read_only=True))
    return sorted(out, key=lambda b: order(b.name))


def order(name: str) -> tuple[bool, str]:
    """LIST order: INBOX first, then by name."""
    return (name != "INBOX", name)


def lsub_entries(subscribed: Sequence[str], boxes: Sequence[MailboxInfo],
                 regexes: Sequence[re.Pattern[str]]) -> list[tuple[tuple[str, ...], str]]:
    """(attributes, name) for LSUB (RFC 3501 6.3.9): the subscribed names the patterns match, \\Noselect
    when no such mailbox exists; and a parent the pattern matches while a "%" hides its subscribed
    child is listed \\Noselect too (unless subscribed itself)."""
    selectable = {b.name for b in boxes if b.selectable}
    subs = set(subscribed)

    def match(name: str) -> bool:
        return any(rx.match(name) for rx in regexes)

    out: dict[str, tuple[str, ...]] = {}
    for name in subscribed:
        if match(name):
            out[name] = () if name in selectable else ("\\Noselect",)
            continue
        parts = name.split(DELIMITER)
        for i in range(len(parts) - 1, 0, -1):
            parent = DELIMITER.join(parts[:i])
            if parent not in subs and match(parent):
                out.setdefault(parent, ("\\Noselect",))
                break
    return [(out[n], n) for n in sorted(out, key=order)]
