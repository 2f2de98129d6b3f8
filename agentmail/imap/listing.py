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
    return sorted(out, key=lambda b: (b.name != "INBOX", b.name))
