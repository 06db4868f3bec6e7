"""The RPC version is read before anything else, on both sides: an agent answers a manager's
message of another version with a 400 naming both versions (as the manager does for an
agent's heartbeat), and never acts on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from berth import rpc
from berth.agent.backends.fake import FakeBackend
from berth.agent.server import create_agent_app
from berth.settings import AgentSettings

TOKEN = "test-token"
CREATE = {"kernel_id": "k1", "session_id": "s1", "session_name": "n", "owner_id": "u",
          "session_type": "interactive", "image": "img", "cpu": 1, "mem": 2**30,
          "shmem": 2**26}
START = {"app": "jupyter", "protocol": "http", "container_port": 8888, "host_port": 40000}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[TestClient]:
    settings = AgentSettings(id="a1", token=TOKEN, data_dir=tmp_path,
                             manager_url="http://127.0.0.1:9")  # nothing listens there
    with TestClient(create_agent_app(settings, FakeBackend("a1")),
                    headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.mark.parametrize(("path", "body"), [("/v1/kernels", CREATE),
                                            ("/v1/kernels/batch", {"kernels": [CREATE]}),
                                            ("/v1/kernels/k1/apps", START)])
@pytest.mark.parametrize("version", [rpc.RPC_VERSION + 1, 0, "1", None])
def test_agent_refuses_other_versions(agent: TestClient, path: str, body: dict[str, object],
                                      version: object) -> None:
    sent = {**body, "rpc_version": version} if version is not None else body
    r = agent.post(path, json=sent)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert f"rpc_version {version}" in detail and f"need {rpc.RPC_VERSION}" in detail
    assert agent.get("/v1/kernels/k1/logs").status_code == 404  # nothing was created


def test_agent_reads_its_own_version_and_names_bad_fields(agent: TestClient) -> None:
    assert agent.post("/v1/kernels", json={**CREATE, "rpc_version": rpc.RPC_VERSION}
                      ).status_code == 202
    r = agent.post("/v1/kernels", json={"rpc_version": rpc.RPC_VERSION, "kernel_id": "k2"})
    assert r.status_code == 422
    assert "session_id" in {e["loc"][-1] for e in r.json()["detail"]}


def test_version_problem_and_parse() -> None:
    assert rpc.version_problem(rpc.RPC_VERSION) is None
    assert rpc.version_problem(True) is not None  # JSON true is not version 1
    with pytest.raises(rpc.VersionMismatch, match="rpc_version None"):
        rpc.parse(rpc.StartApp, b"not json")
    ok = rpc.parse(rpc.StartApp, rpc.StartApp(**START).model_dump_json())  # type: ignore[arg-type]
    assert ok.rpc_version == rpc.RPC_VERSION


def test_agent_takes_a_batch_of_kernels_and_bounds_it(agent: TestClient) -> None:
    v = rpc.RPC_VERSION
    batch = [{**CREATE, "kernel_id": f"b{i}"} for i in range(3)]
    r = agent.post("/v1/kernels/batch", json={"rpc_version": v, "kernels": batch})
    assert r.status_code == 202, r.text
    assert r.json() == {"kernel_ids": ["b0", "b1", "b2"]}
    # Each is accepted as if alone (Node.accept, idempotent per kernel): again is fine.
    assert agent.post("/v1/kernels/batch", json={"rpc_version": v, "kernels": batch}
                      ).status_code == 202
    for kernels in ([], [CREATE] * (rpc.MAX_KERNELS_PER_BATCH + 1)):
        r = agent.post("/v1/kernels/batch", json={"rpc_version": v, "kernels": kernels})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][-1] == "kernels"
