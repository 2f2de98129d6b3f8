"""Decoding `format=flowed` text (RFC 3676) for display: soft line breaks joined, quotes kept apart.

Thunderbird, Apple Mail and others send text/plain with `format=flowed`: long paragraphs are wrapped at about 72
characters and each soft break is marked by a space at the end of the line. Shown as stored, such a body reads as
a ragged column; joined, each paragraph is one line again, as the sender typed it. This only changes what is shown:
the stored message is never touched.

Pure: str in, str out (LF line endings, as `card._text` gives them).
"""

from __future__ import annotations

SIG_SEP = "-- "  # RFC 3676 4.3: the Usenet signature separator is never a flowed line


def _split_quote(line: str) -> tuple[int, str]:
    """(quote depth, the rest): RFC 3676 4.5 counts every leading `>`, with no spaces between them."""
    depth = 0
    while depth < len(line) and line[depth] == ">":
        depth += 1
    return depth, line[depth:]


def decode_flowed(text: str, delsp: bool = False) -> str:
    """The text with RFC 3676 soft line breaks removed.

    - A line ending in a space is flowed: the next line of the same quote depth continues it (4.1, 4.2).
    - A leading space after the quote markers is space-stuffing and is removed (4.4).
    - With `DelSp=yes` the space before a soft break was added by the sender and is deleted (4.2).
    - Lines of different quote depth are never joined; a flowed line followed by another depth ends its
      paragraph as if it were fixed (4.5). The signature separator `-- ` is a fixed line (4.3).
    Quoted paragraphs are shown with their markers and one space: `> text`, `>> text`.
    """
    out: list[str] = []
    para: list[str] = []
    para_depth = -1

    def flush() -> None:
        nonlocal para, para_depth
        if para_depth >= 0:
            body = "".join(para)
            out.append((">" * para_depth + " " + body) if para_depth and body else ">" * para_depth + body)
        para, para_depth = [], -1

    lines = text.split("\n")
    trailing_newline = len(lines) > 1 and lines[-1] == ""
    if trailing_newline:
        lines.pop()
    for line in lines:
        depth, rest = _split_quote(line.rstrip("\r"))
        flowed = rest.endswith(" ")  # decided before unstuffing: a lone stuffed space is an empty flowed line
        if rest.startswith(" "):
            rest = rest[1:]  # 4.4: space-stuffing
        sig = rest == SIG_SEP
        if sig:
            flowed = False
        if para_depth >= 0 and (depth != para_depth or sig):
            flush()  # 4.5: a change of quote depth ends the paragraph, whatever the last line said (and 4.3)
        if para_depth < 0:
            para_depth = depth
        if flowed and delsp:
            rest = rest[:-1]
        para.append(rest)
        if not flowed:
            flush()
    flush()
    return "\n".join(out) + ("\n" if trailing_newline else "")


def flowed_params(content_type: str) -> tuple[bool, bool]:
    """(format=flowed?, DelSp=yes?) from a Content-Type value; parameter names and values are case-insensitive."""
    flowed = delsp = False
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if name == "format":
            flowed = value == "flowed"
        elif name == "delsp":
            delsp = value == "yes"
    return flowed, delsp
