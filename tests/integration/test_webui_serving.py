"""The manager serves the built web UI: files, index.html for client routes, never a file
outside the bundle, and unknown API paths stay JSON 404s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cluster import Cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> Iterator[Cluster]:
    bundle = tmp_path_factory.mktemp("bundle")
    (bundle / "index.html").write_text("<html>berth-index</html>")
    (bundle / "assets").mkdir()
    (bundle / "assets" / "app.js").write_text("console.log('app')")
    (bundle.parent / "secret.txt").write_text("outside")
    c = Cluster(manager_env={"BERTH_WEBUI_DIR": str(bundle)}).start()
    try:
        yield c
    finally:
        c.close()


def test_bundle_files_and_client_routes(served: Cluster) -> None:
    assert "berth-index" in httpx.get(f"{served.url}/").text
    assert "berth-index" in httpx.get(f"{served.url}/sessions/abc?x=1").text
    r = httpx.get(f"{served.url}/assets/app.js")
    assert r.status_code == 200 and "console.log" in r.text
    for sneaky in ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"):
        assert "outside" not in httpx.get(f"{served.url}{sneaky}").text
    r = httpx.get(f"{served.url}/api/no-such-thing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert httpx.get(f"{served.url}/api/health").json()["status"] == "ok"


def test_without_a_bundle_root_is_404(tmp_path: Path, docker_ready: None) -> None:
    c = Cluster(manager_env={"BERTH_WEBUI_DIR": str(tmp_path / "missing")}).start()
    try:
        assert httpx.get(f"{c.url}/").status_code == 404
    finally:
        c.close()
