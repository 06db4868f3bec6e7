"""The web UI's own unit and component tests (Vitest, `npm test` in webui/), run here so that
the README's single test command covers them too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

WEBUI = Path(__file__).resolve().parents[2] / "webui"


def test_vitest_suite() -> None:
    npm = shutil.which("npm")
    if npm is None or not (WEBUI / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("npm or webui/node_modules is missing; run scripts/setup.sh")
    result = subprocess.run([npm, "test", "--silent"], cwd=WEBUI, capture_output=True,
                            text=True, timeout=600)  # ~200 s on 2 quiet cores
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
