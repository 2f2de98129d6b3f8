"""What a FETCH needs to read per message, decided once per command.

Items fall into kinds: metadata the backend keeps (UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ); ENVELOPE
(from the backend's envelope cache when it has one, else from the header); header-only items
(RFC822.HEADER, BODY[HEADER], BODY[HEADER.FIELDS (...)], BODY[HEADER.FIELDS.NOT (...)]), which need the
header block alone; the whole file as it is (BODY[], BODY.PEEK[]<p>, RFC822); and items that need
the MIME tree (BODY, BODYSTRUCTURE, RFC822.TEXT, TEXT and numbered parts).
"""

from __future__ import annotations

from ..protocol.fetchatt import FetchAtt

UID, FLAGS, INTERNALDATE, SIZE, ENVELOPE, HEADER, WHOLE, PARSE, MODSEQ = range(9)
_META = {"UID": UID, "FLAGS": FLAGS, "INTERNALDATE": INTERNALDATE, "RFC822.SIZE": SIZE, "MODSEQ": MODSEQ}


def kind_of(att: FetchAtt) -> int:
    if att.section is None:
        if att.name in _META:
            return _META[att.name]
        if att.name == "ENVELOPE":
            return ENVELOPE
        if att.name == "RFC822.HEADER":
            return HEADER
        return WHOLE if att.name == "RFC822" else PARSE
    if att.section.part:
        return PARSE
    if att.section.text is None:
        return WHOLE
    return HEADER if att.section.text.startswith("HEADER") else PARSE


class FetchPlan:
    """``full``: read the whole message; ``parse``: build its MIME tree; ``header_only``: parse just
    the header block (read up to its blank line); ``cached_envelope``: ENVELOPE comes from the
    backend's cache."""

    def __init__(self, atts: list[FetchAtt], has_envelopes: bool, has_headers: bool) -> None:
        self.kinds = [(a, kind_of(a)) for a in atts]
        kinds = {k for _, k in self.kinds}
        self.cached_envelope = ENVELOPE in kinds and has_envelopes
        needs_header = HEADER in kinds or (ENVELOPE in kinds and not has_envelopes)
        self.full = PARSE in kinds or WHOLE in kinds or (needs_header and not has_headers)
        # BODY[] and friends are the file's bytes: no MIME parse (~40 us a message) unless other items need it
        self.parse = self.full and (PARSE in kinds or needs_header)
        self.header_only = needs_header and not self.full
