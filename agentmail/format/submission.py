"""What a message submission agent reads and adds (RFC 6409), for SMTP and sendmail. Pure: bytes in, values out.

- `header_values`: every value of some header fields, unfolded.
- `mailboxes`: the one reading of a From / Sender value that decides who the author is. It uses the stdlib's
  RFC 5322 parser (email.headerregistry), never email.utils.getaddresses, whose lax fallback reads
  `alice@x <bob@y>` one way or another depending on the Python release (CVE-2023-27043); anything the parser
  had to guess around is refused rather than read.
- `missing_fields`: the Date and Message-ID a submission lacks (RFC 6409 8.2, 8.3), with a content-addressed
  Message-ID in the same form as a postcard's (`<key@domain>`, key from `content_key`), so the short id works
  and every copy of one submission (all of `all`'s) carries the same id.
"""

from __future__ import annotations

import re

from ..errors import DataError
from .encoding import content_key, format_date, sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from email.headerregistry import HeaderRegistry

# RFC 5322 3.2.3 atext and the space between atoms: a display name made of these alone needs no parser
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ ")
_registry: HeaderRegistry | None = None
_FIELD_RES: dict[tuple[str, ...], re.Pattern[bytes]] = {}


def header_end(data: bytes) -> int:
    """Where the header section ends: the offset of the line break before the empty line, or len(data)."""
    if data.startswith((b"\n", b"\r\n")):
        return 0  # an empty line first: no header fields at all
    end = data.find(b"\r\n\r\n")
    alt = data.find(b"\n\n")
    if end < 0 or 0 <= alt < end:
        end = alt
    return len(data) if end < 0 else end


def _field_re(names: tuple[str, ...]) -> re.Pattern[bytes]:
    pattern = _FIELD_RES.get(names)
    if pattern is None:
        alts = b"|".join(re.escape(n.encode()) for n in names)
        # a field line, then its continuation lines (RFC 5322 2.2.3); no backtracking, so linear in the header
        pattern = _FIELD_RES[names] = re.compile(rb"^(?:" + alts + rb")[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)",
                                                 re.M | re.I)
    return pattern


def header_values(data: bytes, names: tuple[str, ...]) -> list[str]:
    """Every value of the header fields `names` (lowercase) in the header section, unfolded (RFC 5322 2.2.3).
    Bytes that are not UTF-8 come back as surrogate escapes. A regular expression, not a loop over lines: a
    10 MiB header is read in milliseconds."""
    out: list[str] = []
    for match in _field_re(names).finditer(data, 0, header_end(data)):
        lines = match.group(1).split(b"\n")
        value = b" ".join(line.rstrip(b"\r") for line in lines).strip()
        out.append(value.decode("utf-8", "surrogateescape"))
    return out


def header_problem(data: bytes) -> str | None:
    """Why the header section is unsafe to read, or None: a CR not followed by LF, or a NUL (RFC 5322 2.2).
    A reader that takes a bare CR for a line break would see fields this module does not."""
    head = data[:header_end(data)]
    if b"\0" in head:
        return "the header contains a NUL byte (RFC 5322 2.2)"
    if b"\r" in head.replace(b"\r\n", b""):
        return "the header contains a CR that does not end a line (RFC 5322 2.2)"
    return None


def is_plain(value: str, own: str) -> bool:
    """Is `value` exactly `own` or `Display Name <own>` with a display name of plain atoms (no quotes, comments,
    encoded words or specials), so it names `own` and nothing else without the full parser?"""
    if value == own:
        return True
    if not value.endswith(f" <{own}>"):
        return False
    name = value[: -len(own) - 3]
    return "=?" not in name and all(c in _ATEXT or (not c.isascii() and c.isprintable()) for c in name)


def _unquoted(value: str) -> str:
    """`value` without its quoted strings and comments (RFC 5322 3.2.2, 3.2.4; comments nest)."""
    out: list[str] = []
    depth, quoted, i = 0, False, 0
    while i < len(value):
        c = value[i]
        if c == "\\" and (quoted or depth):
            i += 2  # quoted-pair
            continue
        if quoted:
            quoted = c != '"'
        elif depth:
            depth += (c == "(") - (c == ")")
        elif c == '"':
            quoted = True
        elif c == "(":
            depth = 1
        else:
            out.append(c)
        i += 1
    return "".join(out)


def mailboxes(value: str) -> list[str]:
    """The addr-specs a From or Sender field value names, in order.

    Raises DataError with the reason when it is not a plain mailbox-list: empty, a group (not allowed in From,
    RFC 5322 3.6.2), bytes that are not UTF-8, a syntax error the parser recovered from by guessing, or `<` / `>`
    in a display name or comment (which a lax reader could take for the address).
    """
    if not value.strip():
        raise DataError("it is empty")
    global _registry
    if _registry is None:
        from email.headerregistry import HeaderRegistry

        _registry = HeaderRegistry()
    try:
        parsed = _registry("from", value)
    except Exception:  # the parser has raised IndexError and friends on odd input in some releases
        raise DataError("it cannot be parsed as a mailbox list (RFC 5322 3.4)") from None
    from email.errors import ObsoleteHeaderDefect, UndecodableBytesDefect

    for defect in parsed.defects:
        if isinstance(defect, UndecodableBytesDefect):
            raise DataError("it is not valid UTF-8 (RFC 6532)")
        if not isinstance(defect, ObsoleteHeaderDefect):  # obsolete syntax (RFC 5322 4.4) is still unambiguous
            raise DataError(f"it is not a valid mailbox list ({str(defect).rstrip('.')})")
    groups = parsed.groups  # type: ignore[attr-defined]
    if any(g.display_name is not None for g in groups):
        raise DataError("it uses group syntax, which From and Sender do not allow (RFC 5322 3.6.2)")
    addrs = parsed.addresses  # type: ignore[attr-defined]
    bare = _unquoted(value)
    if (value.count("<"), value.count(">")) != (bare.count("<"), bare.count(">")) or any(
            "<" in a.display_name or ">" in a.display_name for a in addrs):
        raise DataError("a display name or comment in it contains '<' or '>'")
    specs = [str(a.addr_spec) for a in addrs]
    if not specs or any(not a.username or not a.domain for a in addrs):
        raise DataError("it does not hold a complete address like name@domain")
    return specs


def missing_fields(data: bytes, *, sender: str, recipients: Sequence[str], domain: str, now: float) -> list[str]:
    """The `Date:` and `Message-ID:` fields (without line ends) that `data` lacks (RFC 6409 8.2, 8.3).

    The Message-ID is `<key@domain>` with a content key over the sender, the recipients, the date and the
    message, as postcards have (format/postcard.py): the same submission twice in one second is the same message.
    """
    dates = header_values(data, ("date",))
    fields = [] if dates else [f"Date: {format_date(now)}"]
    if not header_values(data, ("message-id",)):
        date = dates[0] if dates else fields[0][6:]
        key = content_key("submission-v1", [sender, str(len(recipients)), *recipients, date,
                                            sha256(data).hexdigest()])
        fields.append(f"Message-ID: <{key}@{domain}>")
    return fields


def add_fields(data: bytes, fields: Sequence[str]) -> bytes:
    """`data` with `fields` appended to its header section, in the message's own line ending (CRLF or LF)."""
    if not fields:
        return data
    first = data.find(b"\n")
    nl = b"\r\n" if first > 0 and data[first - 1:first] == b"\r" else b"\n"
    block = nl.join(f.encode("utf-8") for f in fields) + nl
    if data.startswith(nl):  # an empty header section: the message is all body
        return block + data
    end = header_end(data)
    if end == len(data):  # no body: the whole message is header fields
        return data + (b"" if not data or data.endswith(b"\n") else nl) + block
    return data[:end] + nl + block[:-len(nl)] + data[end:]
