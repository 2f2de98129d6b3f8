"""Golden .eml files in tests/format/golden, shared by the format tests (test_postcard.py, test_mdn.py).

Regenerate the files with `AGENTMAIL_REGEN_GOLDEN=1 .venv/bin/pytest tests/format`
and review the diff by eye before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "format" / "golden"


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("AGENTMAIL_REGEN_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs from the golden file"
