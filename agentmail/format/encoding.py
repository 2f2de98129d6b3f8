"""Low-level encodings shared by postcards and MDNs: header folding, RFC 2047 encoded words, dates,
body transfer encodings, RFC 2231 parameters and the content hash.

Hand-written on purpose: the `email` package costs ~20 ms to import and `agentmail send` must start
in about 10 ms. Only binascii, time and the builtin SHA-256 module are imported.
"""

from __future__ import annotations

import binascii
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from hashlib import sha256 as sha256
else:
    # hashlib loads OpenSSL (~2.5 ms); the builtin SHA-256 module gives the same digests in ~0.2 ms.
    try:
        from _sha256 import sha256  # Python <= 3.11
    except ImportError:  # pragma: no cover - depends on the Python version
        try:
            from _sha2 import sha256  # Python >= 3.12
        except ImportError:
            from hashlib import sha256

LINE = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters
MAX_LINE = 998  # ... and MUST be at most 998 octets
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_control(c: str) -> bool:
    """C0/C1 controls, DEL and the Unicode line/paragraph separators: never allowed in a header."""
    o = ord(c)
    return o < 32 or 127 <= o < 160 or o in (0x2028, 0x2029)


def has_control(text: str) -> bool:
    return any(is_control(c) for c in text)


def one_line(text: str) -> str:
    """`text` with every control character (CR, LF, TAB, ...) replaced by a space, then stripped."""
    if has_control(text):
        text = "".join(" " if is_control(c) else c for c in text)
    return text.strip()


def format_date(ts: float, offset: int | None = None) -> str:
    """RFC 5322 3.3 date-time, e.g. `Tue, 03 Mar 2026 14:05:09 +0100`.

    `offset` is seconds east of UTC; None uses the local zone at `ts`. English names, not the locale's.
    """
    secs = int(ts)
    if offset is None:
        offset = time.localtime(secs).tm_gmtoff
    t = time.gmtime(secs + offset)
    sign = "-" if offset < 0 else "+"
    minutes = abs(offset) // 60
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


def _encoded_words(text: str, first: int) -> list[str]:
    """RFC 2047 B encoded words for `text`, each at most 75 characters (RFC 2047 2) and never
    splitting a UTF-8 sequence (RFC 2047 5.3). The first word fits in `first` characters."""
    words: list[str] = []
    chunk = b""
    budget = first
    for c in text:
        b = c.encode("utf-8")
        # 12 = len("=?utf-8?B?") + len("?="); base64 takes 4 characters per 3 bytes.
        if chunk and 12 + 4 * ((len(chunk) + len(b) + 2) // 3) > budget:
            words.append(_word(chunk))
            chunk, budget = b"", 75
        chunk += b
    if chunk or not words:
        words.append(_word(chunk))
    return words


def _word(chunk: bytes) -> str:
    return "=?utf-8?B?" + binascii.b2a_base64(chunk, newline=False).decode("ascii") + "?="


def _fold(name: str, tokens: list[str], sep: str) -> str:
    """`name: ` + tokens joined by `sep`, folded with LF + space before a token when the line would
    pass 78 characters (RFC 5322 2.2.3: folding only inserts a line break before existing whitespace,
    so unfolding gives back the same value)."""
    if not tokens:
        return f"{name}:"
    lines = [f"{name}: {tokens[0]}"]
    for tok in tokens[1:]:
        if len(lines[-1]) + len(sep) + len(tok) <= LINE:
            lines[-1] += sep + tok
        else:
            lines[-1] += sep.rstrip()
            lines.append(" " + tok)
    return "\n".join(lines)


def header_text(name: str, text: str) -> str:
    """An unstructured header (Subject) with `text` as its value: plain folded ASCII when that is
    safe, else RFC 2047 encoded words. No trailing newline."""
    words = text.split(" ")
    plain = (
        text.isascii()
        and text.isprintable()  # CR, LF or another control character goes encoded: never a new header line
        and "=?" not in text  # would be decoded as an encoded word by readers
        and "" not in words  # runs of spaces would not survive folding and unfolding
        and all(len(w) < MAX_LINE - len(name) - 3 for w in words)
    )
    if plain:
        return _fold(name, words, " ")
    encoded = _encoded_words(text, LINE - len(name) - 2)
    return f"{name}: " + "\n ".join(encoded)


def header_list(name: str, items: Iterable[str]) -> str:
    """A comma-separated header (To, Cc) folded after commas."""
    return _fold(name, list(items), ", ")


def header_ids(name: str, ids: Iterable[str]) -> str:
    """A space-separated list of message ids (References), folded between ids."""
    return _fold(name, list(ids), " ")


def normalize_body(text: str) -> str:
    """CRLF and lone CR become LF; the result ends with exactly the newlines it had, plus one if none."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return text


def encode_body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, encoded bytes) for a normalized body (RFC 2045 6).

    7bit for ASCII with lines <= 998 octets, 8bit for UTF-8 with such lines, quoted-printable when a
    line is longer (RFC 5322 2.1.1 forbids lines over 998 octets).
    """
    data = text.encode("utf-8")
    if any(len(line) > MAX_LINE for line in data.split(b"\n")):
        # istext keeps LF as line breaks; soft breaks keep encoded lines at 76 (RFC 2045 6.7).
        return "quoted-printable", binascii.b2a_qp(data, istext=True)
    return ("7bit" if data.isascii() else "8bit"), data


def base64_lines(data: bytes) -> bytes:
    """Base64 in 76-character lines, each ending with LF (RFC 2045 6.8)."""
    return b"".join(binascii.b2a_base64(data[i : i + 57]) for i in range(0, len(data), 57))


_ATTR_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&+-.^_`|~")


def filename_param(filename: str, used: int = len("Content-Disposition: attachment")) -> str:
    """The `filename` parameter of Content-Disposition, with its leading `;`, for a header line
    already `used` characters long.

    Printable ASCII goes in a quoted string; anything else uses RFC 2231 `filename*=utf-8''...`
    percent-encoding, split into `filename*0*`, `filename*1*`, ... continuations (RFC 2231 3)
    when long. The parameter moves to a folded line when the header would pass 78 characters.
    Callers have refused quotes, backslashes and control characters.
    """
    if filename.isascii():
        param = f'filename="{filename}"'
    else:
        enc = "".join(chr(b) if b in _ATTR_CHARS else f"%{b:02X}" for b in filename.encode("utf-8"))
        if len(enc) > 60:
            return _continuations(enc)
        param = f"filename*=utf-8''{enc}"
    if used + 2 + len(param) <= LINE:
        return "; " + param
    return ";\n " + param


def _continuations(enc: str) -> str:
    parts: list[str] = []
    while enc:
        cut = min(50, len(enc))
        pct = enc.rfind("%", max(0, cut - 2), cut)  # never split a %XX escape
        if pct >= 0 and pct + 3 > cut:
            cut = pct
        parts.append(enc[:cut])
        enc = enc[cut:]
    charset = ["utf-8''"] + [""] * (len(parts) - 1)
    return "".join(f";\n filename*{i}*={charset[i]}{part}" for i, part in enumerate(parts))


def content_key(tag: str, fields: Iterable[str]) -> str:
    """32 lowercase hex: sha256 over `tag` and `fields` as netstrings (`<len>:<utf-8>,`), an
    unambiguous serialization, so no two different field lists hash the same bytes."""
    h = sha256()
    for f in (tag, *fields):
        b = f.encode("utf-8", "surrogatepass")
        h.update(b"%d:%s," % (len(b), b))
    return h.hexdigest()[:32]
