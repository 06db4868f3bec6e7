"""One manager with thousands of sessions on one agent (FakeBackend): heartbeats that list
every kernel cost what changed, and the agent stays ALIVE through a burst of creates.

The database counts every write to ``sessions`` and ``kernels`` with a trigger planted by the
test (as an operator's hand edit would), so "a heartbeat where nothing changed writes no
session" is checked on the rows themselves, not on timestamps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from berth.agent.backends.fake import FAKE_IMAGE
from cluster import Cluster, wait_for

pytestmark = pytest.mark.slow
SESSIONS = 2000
PER_REQUEST = 20
HEARTBEAT = 0.5
SMALL = {"cpu": 1, "mem": "64m", "shmem": "1m"}

SQLITE_TRIGGERS = [
    "CREATE TABLE IF NOT EXISTS test_writes (n INTEGER NOT NULL)",
    "INSERT INTO test_writes VALUES (0)",
    *(f"CREATE TRIGGER test_count_{t} AFTER UPDATE ON {t} "
      "BEGIN UPDATE test_writes SET n = n + 1; END" for t in ("sessions", "kernels")),
]
PG_TRIGGERS = [
    "CREATE TABLE IF NOT EXISTS test_writes (n INTEGER NOT NULL)",
    "INSERT INTO test_writes VALUES (0)",
    "CREATE FUNCTION test_count_write() RETURNS trigger AS $$ BEGIN "
    "UPDATE test_writes SET n = n + 1; RETURN NULL; END $$ LANGUAGE plpgsql",
    *(f"CREATE TRIGGER test_count_{t} AFTER UPDATE ON {t} FOR EACH ROW "
      "EXECUTE FUNCTION test_count_write()" for t in ("sessions", "kernels")),
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def big(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(
        db=request.param,
        agent_env={
            "BERTH_AGENT_BACKEND": "fake",
            "BERTH_AGENT_CPU": str(SESSIONS),
            "BERTH_AGENT_MEM": str(SESSIONS * 64 * 2**20),
            "BERTH_AGENT_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        },
        manager_env={"BERTH_HEARTBEAT_TIMEOUT": "10"},
    )
    try:
        c.start()
        yield c
    finally:
        # Not one by one through the API: the fake's kernels vanish with its process.
        c.stop_agent()
        c.stop_manager()
        c.close()


def agent(c: Cluster) -> dict[str, Any]:
    return next(a for a in c.admin.request("GET", "/api/agents") if a["id"] == c.agent_ids[0])


def statuses(c: Cluster) -> dict[str, int]:
    return {s: int(n) for s, n in c.sql("SELECT status, count(*) FROM sessions GROUP BY status")}


def test_the_agent_stays_alive_through_a_burst_of_thousands(big: Cluster) -> None:
    token = big.admin.http.headers["Authorization"].removeprefix("Bearer ")
    seen: set[str] = set()

    def create(_: int) -> int:
        client = big.client(api_key=token)
        made = client.create_session(image=FAKE_IMAGE, resources=SMALL, count=PER_REQUEST)
        return len(made)

    with ThreadPoolExecutor(4) as pool:
        made = sum(pool.map(create, range(SESSIONS // PER_REQUEST)))
    assert made == SESSIONS

    def all_running() -> bool:
        seen.add(agent(big)["status"])
        return statuses(big).get("RUNNING", 0) == SESSIONS

    wait_for(all_running, 300, interval=1, what=f"{SESSIONS} sessions RUNNING")
    assert seen == {"ALIVE"}, seen
    assert statuses(big) == {"RUNNING": SESSIONS}


def test_a_heartbeat_where_nothing_changed_writes_no_session(big: Cluster) -> None:
    wait_for(lambda: statuses(big).get("RUNNING", 0) == SESSIONS, 300, interval=1,
             what=f"{SESSIONS} sessions RUNNING")
    time.sleep(3 * HEARTBEAT)  # the beats that saw the last sessions start are handled
    for statement in PG_TRIGGERS if big.db == "postgres" else SQLITE_TRIGGERS:
        big.sql(statement)
    first = agent(big)["last_heartbeat"]
    beats = set()

    def several_beats() -> bool:
        a = agent(big)
        assert a["status"] == "ALIVE", a
        beats.add(a["last_heartbeat"])
        return len(beats - {first}) >= 4

    wait_for(several_beats, 30, interval=HEARTBEAT / 2, what="four more heartbeats")
    [(writes,)] = big.sql("SELECT n FROM test_writes")
    assert writes == 0, f"{writes} session or kernel rows written by quiet heartbeats"
    assert statuses(big) == {"RUNNING": SESSIONS}
