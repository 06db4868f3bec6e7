"""Schemathesis over our OpenAPI document: whatever it sends, the API never answers 5xx."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cluster import Cluster

pytestmark = pytest.mark.slow


def test_no_server_errors_for_generated_requests(berth: Cluster) -> None:
    """Deeper runs: BERTH_FUZZ_EXAMPLES=500 (default 40 keeps CI short)."""
    # Its own account: the fuzzer may log out or revoke the key it uses.
    fuzzer = berth.user(role="superadmin")
    token = fuzzer.http.headers["Authorization"]
    r = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{berth.url}/api/openapi.json",
         "-H", f"Authorization: {token}", "--checks", "not_a_server_error",
         "--max-examples", os.environ.get("BERTH_FUZZ_EXAMPLES", "40"),
         "--exclude-path", "/api/events",
         "--exclude-path", "/api/auth/logout", "--request-timeout", "20",
         "--suppress-health-check", "all", "--no-color"],
        capture_output=True, text=True, timeout=900)
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, tail
    assert "passed" in tail.lower()
