"""Untrusted text (a title, a sender) made safe to put in front of a model.

A hook's output reaches the model as context, and a wake (DESIGN.md, "Waking an idle agent") even as a Stop hook
"blocking error" inside `<system-reminder>`. A title is another agent's (or anyone's) words: it must not be able to
end that reminder (`</system-reminder>`), open a fake tag, start a new line that looks like an instruction, or hide
text with bidi or zero-width characters. `neutral` keeps the words (so the agent still knows what the postcard is
about) and takes away the structure: one line, no controls, angle brackets turned into look-alikes that no parser
reads as markup, bounded length.
"""

from __future__ import annotations

import unicodedata

# < and > become single guillemets: still readable, never a tag.
REPLACE = {"<": "\u2039", ">": "\u203a"}
# Unicode categories that have no place in one line shown to a model: controls, format characters (bidi overrides,
# zero-width joiners, the BOM), line and paragraph separators, private use, surrogates, unassigned.
DROP_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def neutral(text: str, limit: int) -> str:
    """`text` as one safe line of at most `limit` characters ("..." marks a cut)."""
    out = []
    for c in text:
        if c in REPLACE:
            out.append(REPLACE[c])
        elif c.isascii() and c.isprintable():
            out.append(c)
        elif c.isspace() or unicodedata.category(c) in DROP_CATEGORIES:
            out.append(" ")
        else:
            out.append(c)
    line = " ".join("".join(out).split())
    if len(line) <= limit:
        return line
    return line[: max(0, limit - 3)].rstrip() + "..."


def quoted(text: str, limit: int) -> str:
    """`neutral(text)` in double quotes, the quotes included in `limit`: plainly a quotation, not an instruction.
    Double quotes inside become single ones, so the quotation cannot be closed early."""
    return '"' + neutral(text.replace('"', "'"), max(1, limit - 2)) + '"'
