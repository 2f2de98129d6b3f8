"""Findings already routed to a fix, each with the strict-xfail regression test that reproduces it.

The CI slices fail on any finding not listed here. When a fix lands, its regression test XPASSes (strict: the run
fails), which is the signal to drop its line here and the xfail mark there.
"""

from __future__ import annotations

from collections.abc import Mapping

# finding kind prefix (file, no line number: lines move) -> the regression test in tests/fuzz/test_regressions.py
KNOWN: dict[str, str] = {
}


def unrouted(counts: Mapping[str, int]) -> dict[str, int]:
    """The findings of a run that no known regression test covers."""
    return {k: n for k, n in counts.items() if not any(k.startswith(p) for p in KNOWN)}
