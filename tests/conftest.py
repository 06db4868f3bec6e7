"""Shared fixtures. Integration tests use the real Docker engine and real databases."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cluster import Cluster, run_async  # noqa: E402

PYTHON_IMAGE = "berth/python:3.11"


async def _docker_ok() -> str | None:
    import aiodocker

    try:
        docker = aiodocker.Docker()
    except Exception as e:  # noqa: BLE001
        return str(e)
    try:
        await docker.images.inspect(PYTHON_IMAGE)
    except Exception as e:  # noqa: BLE001
        return f"{PYTHON_IMAGE}: {e}"
    finally:
        await docker.close()
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Integration tests need the engine and the bundled images: run scripts/setup.sh first.
    A missing engine is a failure, never a skip."""
    problem = run_async(_docker_ok())
    if problem:
        pytest.fail(f"Docker engine or images not ready ({problem}); run scripts/setup.sh")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cluster(request: pytest.FixtureRequest, docker_ready: None) -> Iterator[Cluster]:
    """A manager + agent on the real engine, once per test module and database."""
    c = Cluster(db=request.param).start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def berth(cluster: Cluster) -> Iterator[Cluster]:
    """The module's cluster, with every session a test left behind ended afterwards."""
    yield cluster
    cluster.end_all_sessions()
