"""Schemathesis over our OpenAPI document: whatever it sends, the API never answers 5xx. Its
coverage phase (on by default) sends each schema bound and the value just past it (the limits of
berth.domain.limits are in the schema); a hypothesis test adds the classes a schema does not
describe: huge numbers, far dates in any timezone, long and multi-byte text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.domain import limits
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
         # The tus PATCH declares Content-Length as a header parameter (the protocol's); a
         # generated value other than the body's length makes the server wait, as HTTP says,
         # for bytes that never come: a client lying about framing, not an API error.
         # tests/integration/test_folders.py and test_cli_folders.py drive this route.
         "--exclude-name", "PATCH /api/uploads/{uuid}",
         "--suppress-health-check", "all", "--no-color"],
        capture_output=True, text=True, timeout=900)
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, tail
    assert "passed" in tail.lower()


huge_numbers = st.one_of(
    st.integers(-(10**30), 10**30), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([2**31, 2**63, 10**20, 1e308, -1e308, 5e-324]),
)
far_dates = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                         timezones=st.timezones()).map(datetime.isoformat)
long_text = st.one_of(
    st.text(max_size=50),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "😀", "9"]),
              st.sampled_from([63, 64, 65, 256, 257, 32 * 1024, 32 * 1024 + 1, 70_000])),
)
sizes = st.one_of(huge_numbers, long_text,
                  st.from_regex(r"\A\d{1,40}(\.\d{1,10})?[kmgt]\Z", fullmatch=True))
bodies = st.fixed_dictionaries({"image": st.just("berth/python:3.11")}, optional={
    "type": st.sampled_from(["batch", "interactive"]),
    "name": long_text,
    "resources": st.fixed_dictionaries({}, optional={
        "cpu": huge_numbers, "mem": sizes, "shmem": sizes, "gpu": huge_numbers}),
    "environ": st.dictionaries(long_text, long_text, max_size=4),
    "threads": huge_numbers,
    "count": huge_numbers,
    "startup_command": long_text,
    "starts_at": st.one_of(far_dates, huge_numbers),
    "timeout": st.one_of(long_text, st.from_regex(r"\A\d{1,40}[smhdw]\Z", fullmatch=True)),
    "preopen_ports": st.lists(huge_numbers, max_size=12),
    "cluster_size": huge_numbers,
})


def test_extreme_values_get_a_plan_or_errors_naming_fields(berth: Cluster) -> None:
    """Dry-run creates with huge numbers, far dates and long strings: 200, or 422 whose every
    error names a field (413 for a body over the limit); never a 5xx."""
    headers = {"Authorization": berth.admin.http.headers["Authorization"],
               "Content-Type": "application/json"}
    http = httpx.Client(base_url=berth.url, headers=headers, timeout=30)

    @settings(max_examples=int(os.environ.get("BERTH_FUZZ_EXAMPLES", "40")), deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(bodies)
    def check(body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        r = http.post("/api/sessions?dry_run=true", content=raw)
        if len(raw) > limits.BODY_MAX:
            assert r.status_code == 413, r.text[:500]
            return
        assert r.status_code in (200, 422), (r.status_code, r.text[:500])
        if r.status_code == 422:
            for error in r.json()["detail"]:
                assert error["loc"][0] == "body" and len(error["loc"]) > 1, error
                assert error["msg"], error

    try:
        check()
    finally:
        http.close()
