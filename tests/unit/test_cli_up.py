"""`berth up` points its agent at its own manager."""

from __future__ import annotations

import pytest

from berth.cli.main import _agent_env
from berth.settings import ManagerSettings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("BERTH_AGENT_MANAGER_URL", "BERTH_PORT", "BERTH_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BERTH_CONFIG", str(tmp_path) + "/none.toml")


@pytest.mark.parametrize(("host", "port", "url"), [
    ("127.0.0.1", 8191, "http://127.0.0.1:8191"),
    ("0.0.0.0", 9000, "http://127.0.0.1:9000"),  # listening everywhere: reach it on loopback
    ("::1", 8090, "http://[::1]:8090"),
])
def test_the_agent_reports_to_the_managers_own_port(host: str, port: int, url: str) -> None:
    env = _agent_env(ManagerSettings(host=host, port=port))
    assert env["BERTH_AGENT_MANAGER_URL"] == url


def test_an_agent_manager_url_given_by_the_user_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_AGENT_MANAGER_URL", "http://10.0.0.5:8090")
    env = _agent_env(ManagerSettings(port=8191))
    assert env["BERTH_AGENT_MANAGER_URL"] == "http://10.0.0.5:8090"
