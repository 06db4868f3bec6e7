"""The test tree's own rule: pytest collects tests/unit and tests/integration without
packages (rootdir-relative imports of ``cluster``/``dockerutil``), so two test modules with
one basename collide at collection and stop the whole run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_names_are_unique_across_unit_and_integration() -> None:
    names = Counter(p.name for d in ("unit", "integration")
                    for p in (TESTS / d).glob("test_*.py"))
    assert [n for n, count in names.items() if count > 1] == []
