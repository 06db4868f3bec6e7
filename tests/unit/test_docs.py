"""docs/architecture.md renders and matches the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

from berth.domain.status import StatusInfo, transition_table_markdown

ARCHITECTURE = Path(__file__).parents[2] / "docs" / "architecture.md"


def _text() -> str:
    return ARCHITECTURE.read_text()


def test_code_blocks_are_closed() -> None:
    fences = [line for line in _text().splitlines() if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0, "an odd number of ``` lines: a code block is never closed"


def test_transition_table_is_the_code_table() -> None:
    assert transition_table_markdown() in _text(), (
        "docs/architecture.md §3 differs from domain.status.TRANSITIONS; paste "
        "transition_table_markdown() there"
    )


def test_every_status_reason_has_a_line() -> None:
    documented = set(re.findall(r"^- `([a-z-]+)` — ", _text(), flags=re.MULTILINE))
    missing = {str(r) for r in StatusInfo} - documented
    assert not missing, f"reasons without a line in docs/architecture.md §3: {sorted(missing)}"
