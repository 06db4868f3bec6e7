"""The web UI's API types (webui/src/api-schema.d.ts) are generated from the OpenAPI document
by openapi-typescript; this fails when the committed file no longer matches the API."""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path

import pytest

from berth.manager.openapi import document

WEBUI = Path(__file__).resolve().parents[2] / "webui"
COMMITTED = WEBUI / "src" / "api-schema.d.ts"
GENERATOR = WEBUI / "node_modules" / ".bin" / "openapi-typescript"


def test_committed_api_types_match_the_openapi_document(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: install the web UI's packages "
                    "(scripts/setup.sh, or `cd webui && npm ci`)")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document(), indent=2, ensure_ascii=False) + "\n")
    fresh = tmp_path / "api-schema.d.ts"
    subprocess.run([str(GENERATOR), str(spec), "-o", str(fresh)], cwd=WEBUI, check=True,
                   capture_output=True, timeout=120)
    want, have = fresh.read_text(), COMMITTED.read_text() if COMMITTED.exists() else ""
    if want != have:
        diff = "".join(list(difflib.unified_diff(
            have.splitlines(keepends=True), want.splitlines(keepends=True),
            "committed", "generated"))[:60])
        pytest.fail("webui/src/api-schema.d.ts is out of date with the API: run "
                    "`cd webui && npm run gen:api` and commit the result.\n" + diff)
