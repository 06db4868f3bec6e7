"""Sessions on the real Docker engine, on SQLite and PostgreSQL: resources and environment
inside the container, batch results, start time, timeout, queueing, rename, logs, terminate."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cluster import Cluster, wait_for, wait_status
from conftest import PYTHON_IMAGE
from dockerutil import exec_in, inspect, kill

pytestmark = pytest.mark.slow


def _container(session: dict) -> str:
    [kernel] = session["kernels"]
    assert kernel["container_id"], session
    return str(kernel["container_id"])


def test_interactive_session_limits_and_environment(berth: Cluster) -> None:
    [s] = berth.admin.create_session(
        image=PYTHON_IMAGE, name="limits-check",
        resources={"cpu": 1.5, "mem": "768m", "shmem": "128m"},
        environ={"FOO": "bar baz", "EMPTYISH": "0"})
    assert s["status"] == "PENDING" and s["type"] == "interactive"
    s = wait_status(berth.admin, s["id"], "RUNNING")
    cid = _container(s)
    script = ("cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
              "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; "
              "df -B1 --output=size /dev/shm | tail -1; id -u; echo $HOME; pwd; "
              "echo \"$FOO|$EMPTYISH|$OMP_NUM_THREADS|$OPENBLAS_NUM_THREADS\"; "
              "grep -E 'CapEff|NoNewPrivs' /proc/self/status")
    lines = exec_in(cid, "sh", "-c", script).split("\n")
    quota, period, mem, pids, shm, uid, home, cwd, env = (x.strip() for x in lines[:9])
    assert int(quota) / int(period) == 1.5
    assert int(mem) == 768 * 2**20
    assert int(pids) == 4096
    assert int(shm) == 128 * 2**20
    assert uid == "1000" and home == "/home/work" and cwd == "/home/work"
    assert env == f"bar baz|0|{math.ceil(1.5)}|{math.ceil(1.5)}"
    assert "CapEff:\t0000000000000000" in lines[9] and lines[10].split() == ["NoNewPrivs:", "1"]
    info = inspect(cid)
    assert info is not None
    labels = info["Config"]["Labels"]
    assert labels["berth.session-id"] == s["id"]
    assert labels["berth.kernel-id"] == s["kernels"][0]["id"]
    assert labels["berth.owner-id"] == s["owner_id"]
    host = info["HostConfig"]
    assert host["Privileged"] is False and host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    for bindings in (info["NetworkSettings"]["Ports"] or {}).values():
        assert all(b["HostIp"] == "127.0.0.1" for b in bindings or [])
    assert s["requested"] == {"cpu": "1.5", "mem": str(768 * 2**20), "shmem": str(128 * 2**20)}


def test_threads_follow_user_choice(berth: Cluster) -> None:
    [a] = berth.admin.create_session(image=PYTHON_IMAGE, resources={"cpu": 2},
                                     environ={"OMP_NUM_THREADS": "1"})
    [b] = berth.admin.create_session(image=PYTHON_IMAGE, resources={"cpu": 1}, threads=3)
    a = wait_status(berth.admin, a["id"], "RUNNING")
    b = wait_status(berth.admin, b["id"], "RUNNING")
    show = "echo $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS"
    assert exec_in(_container(a), "sh", "-c", show).split() == ["1", "2"]
    assert exec_in(_container(b), "sh", "-c", show).split() == ["3", "3"]


def test_scratch_home_is_per_session_and_removed(berth: Cluster) -> None:
    [s] = berth.admin.create_session(image=PYTHON_IMAGE)
    s = wait_status(berth.admin, s["id"], "RUNNING")
    exec_in(_container(s), "sh", "-c", "echo hello > /home/work/note.txt")
    scratch = berth.root / "scratch" / s["kernels"][0]["id"]
    assert (scratch / "note.txt").read_text() == "hello\n"
    [other] = berth.admin.create_session(image=PYTHON_IMAGE)
    other = wait_status(berth.admin, other["id"], "RUNNING")
    assert "No such file" in exec_in(_container(other), "cat", "/home/work/note.txt")
    berth.admin.terminate_session(s["id"])
    s = wait_status(berth.admin, s["id"], "TERMINATED")
    assert s["status_info"] == "user-requested"
    assert not scratch.exists()
    assert inspect(s["kernels"][0]["container_id"]) is None


@pytest.mark.parametrize(("command", "info", "result", "code"), [
    ("echo to-stdout; echo to-stderr >&2; exit 0", "task-finished", "SUCCESS", 0),
    ("echo failing; exit 7", "task-failed", "FAILURE", 7),
])
def test_batch_result_and_logs(berth: Cluster, command: str, info: str, result: str,
                               code: int) -> None:
    [s] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE, startup_command=command)
    s = wait_status(berth.admin, s["id"], "TERMINATED")
    assert (s["status_info"], s["result"], s["exit_code"]) == (info, result, code)
    assert s["status_data"]["exit_code"] == code
    logs = b"".join(berth.admin.logs(s["id"])).decode()
    assert ("to-stdout" in logs and "to-stderr" in logs) if code == 0 else "failing" in logs
    statuses = [h["status"] for h in s["history"]]
    assert statuses == ["PENDING", "SCHEDULED", "PREPARING", "CREATING", "RUNNING",
                        "TERMINATING", "TERMINATED"]
    times = [h["at"] for h in s["history"]]
    assert times == sorted(times)


def test_batch_timeout_ends_with_failure(berth: Cluster) -> None:
    [s] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE,
                                     startup_command="sleep 300", timeout="2s")
    assert s["timeout_seconds"] == 2
    s = wait_status(berth.admin, s["id"], "TERMINATED", timeout=60)
    assert (s["status_info"], s["result"]) == ("task-timeout", "FAILURE")
    ran = datetime.fromisoformat(s["terminated_at"]) - datetime.fromisoformat(s["started_at"])
    assert timedelta(seconds=2) <= ran < timedelta(seconds=30)


def test_batch_start_time_is_respected(berth: Cluster) -> None:
    start = datetime.now(UTC) + timedelta(seconds=4)
    [s] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE, startup_command="date",
                                     starts_at=start.isoformat())
    s = wait_for(lambda: (x := berth.admin.get_session(s["id"]))["status_info"]
                 == "waiting-for-start-time" and x, 10, what="the start-time reason")
    assert s["status"] == "PENDING"
    assert "will not start before" in s["status_data"]["scheduler"]["message"]
    s = wait_status(berth.admin, s["id"], "TERMINATED", timeout=60)
    assert datetime.fromisoformat(s["started_at"]) >= start
    assert s["result"] == "SUCCESS"


def test_queue_waits_for_free_resources(berth: Cluster) -> None:
    # The test agent offers 4 cores; each container may use at most the host's 2.
    bigs = berth.admin.create_session(image=PYTHON_IMAGE, resources={"cpu": 2}, count=2)
    for big in bigs:
        wait_status(berth.admin, big["id"], "RUNNING")
    [waiting] = berth.admin.create_session(image=PYTHON_IMAGE, resources={"cpu": 1})
    waiting = wait_for(
        lambda: (x := berth.admin.get_session(waiting["id"]))["status_info"]
        == "no-available-resources" and x, 15, what="the no-resources reason")
    assert waiting["status"] == "PENDING"
    scheduler = waiting["status_data"]["scheduler"]
    assert scheduler["tries"] >= 1 and "short of cpu" in scheduler["message"]
    assert any(c["name"] == "agent-resources" and not c["passed"] for c in scheduler["checks"])
    berth.admin.terminate_session(bigs[0]["id"])
    wait_status(berth.admin, waiting["id"], "RUNNING", timeout=60)


def test_count_creates_identical_sessions(berth: Cluster) -> None:
    made = berth.admin.create_session(image=PYTHON_IMAGE, name="many", count=3,
                                      resources={"cpu": 1, "mem": "512m"})
    assert [s["name"] for s in made] == ["many-1", "many-2", "many-3"]
    for s in made:
        wait_status(berth.admin, s["id"], "RUNNING")


def test_rename_rules(berth: Cluster) -> None:
    [s] = berth.admin.create_session(image=PYTHON_IMAGE, name="before")
    [other] = berth.admin.create_session(image=PYTHON_IMAGE, name="taken")
    wait_status(berth.admin, s["id"], "RUNNING")
    assert berth.admin.rename_session(s["id"], "after.v2")["name"] == "after.v2"
    assert berth.admin.get_session("after.v2")["id"] == s["id"]
    from berth.client import ApiError

    with pytest.raises(ApiError) as bad:
        berth.admin.rename_session(s["id"], "no spaces")
    assert bad.value.status == 422 and "name" in bad.value.fields
    with pytest.raises(ApiError) as clash:
        berth.admin.rename_session(s["id"], "taken")
    assert clash.value.status == 409
    berth.admin.terminate_session(other["id"], force=True)
    wait_status(berth.admin, other["id"], "TERMINATED")
    with pytest.raises(ApiError) as ended:
        berth.admin.rename_session(other["id"], "whatever")
    assert ended.value.status == 409 and "RUNNING" in str(ended.value)


def test_logs_follow_streams_while_running(berth: Cluster) -> None:
    [s] = berth.admin.create_session(
        type="batch", image=PYTHON_IMAGE,
        startup_command="for i in 1 2 3; do echo line-$i; sleep 1; done")
    wait_status(berth.admin, s["id"], {"RUNNING", "TERMINATING", "TERMINATED"})
    seen = b"".join(berth.admin.logs(s["id"], follow=True)).decode()
    assert "line-1" in seen and "line-3" in seen
    wait_status(berth.admin, s["id"], "TERMINATED")
    assert "line-2" in b"".join(berth.admin.logs(s["id"], tail=2)).decode()


def test_container_that_dies_ends_session_with_reason(berth: Cluster) -> None:
    [s] = berth.admin.create_session(image=PYTHON_IMAGE)
    s = wait_status(berth.admin, s["id"], "RUNNING")
    kill(_container(s))
    s = wait_status(berth.admin, s["id"], "ERROR", timeout=30)
    assert s["status_info"] == "kernel-died" and s["exit_code"] == 137
    assert s["result"] == "FAILURE"


def test_force_terminate_and_ended_sessions(berth: Cluster) -> None:
    from berth.client import ApiError

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    [pending] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE,
                                           startup_command="true", starts_at=later)
    [running] = berth.admin.create_session(image=PYTHON_IMAGE)
    wait_status(berth.admin, running["id"], "RUNNING")
    assert berth.admin.terminate_session(pending["id"], force=True)["status"] == "CANCELLED"
    berth.admin.terminate_session(running["id"], force=True)
    running = wait_status(berth.admin, running["id"], "TERMINATED")
    assert running["status_info"] == "force-terminated"
    with pytest.raises(ApiError) as again:
        berth.admin.terminate_session(running["id"])
    assert again.value.status == 409 and "already ended" in str(again.value)


def test_event_stream_reports_status_changes(berth: Cluster) -> None:
    import threading

    events: list[dict] = []
    ready = threading.Event()
    target: dict[str, str] = {}

    def listen() -> None:
        c = berth.client(berth.admin.http.headers["Authorization"].split(" ", 1)[1])
        with c.http.stream("GET", "/api/events", timeout=60) as r:
            kind = ""
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                    if kind == "ready":
                        ready.set()
                elif line.startswith("data:") and kind == "session.status":
                    import json

                    event = json.loads(line[5:])
                    events.append(event)
                    if event["session_id"] == target.get("id") and event["status"] == "RUNNING":
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(20)
    [s] = berth.admin.create_session(image=PYTHON_IMAGE)
    target["id"] = s["id"]
    thread.join(60)
    seen = [e["status"] for e in events if e["session_id"] == s["id"]]
    assert seen == ["PENDING", "SCHEDULED", "PREPARING", "CREATING", "RUNNING"]


def test_scratch_dir_of_finished_batch_is_gone(berth: Cluster) -> None:
    [s] = berth.admin.create_session(type="batch", image=PYTHON_IMAGE,
                                     startup_command="echo data > /home/work/out.txt")
    s = wait_status(berth.admin, s["id"], "TERMINATED")
    assert s["result"] == "SUCCESS"
    assert not (Path(berth.root) / "scratch" / s["kernels"][0]["id"]).exists()


def test_list_filters_pagination_and_order(berth: Cluster) -> None:
    c = berth.user()
    made = [c.create_session(image=PYTHON_IMAGE, name=f"page-{i}")[0] for i in range(3)]
    [batch] = c.create_session(type="batch", image=PYTHON_IMAGE, name="page-batch",
                               startup_command="true")
    wait_status(c, batch["id"], "TERMINATED")
    everything = c.list_sessions(state="all")
    assert [s["name"] for s in everything["items"]] == ["page-batch", "page-2", "page-1",
                                                         "page-0"]  # newest first
    running = c.list_sessions(state="running")
    assert {s["name"] for s in running["items"]} == {"page-0", "page-1", "page-2"}
    assert [s["name"] for s in c.list_sessions(state="finished")["items"]] == ["page-batch"]
    assert c.list_sessions(state="all", type="batch")["total"] == 1
    assert c.list_sessions(state="all", type="interactive")["total"] == 3
    assert [s["name"] for s in c.list_sessions(state="all", name="page-1")["items"]] == [
        "page-1"]
    page = c.list_sessions(state="all", offset=1, limit=2)
    assert page["total"] == 4 and [s["name"] for s in page["items"]] == ["page-2", "page-1"]
    for s in made:
        c.terminate_session(s["id"])


def test_sort_counts_dry_run_and_launch_history(berth: Cluster) -> None:
    c = berth.user()
    would = c.request("POST", "/api/sessions", params={"dry_run": "true"},
                      json={"image": PYTHON_IMAGE, "name": "dry-one"})
    assert [s["name"] for s in would] == ["dry-one"] and would[0]["status"] == "PENDING"
    assert c.list_sessions(state="all")["total"] == 0  # nothing was created
    assert c.request("GET", "/api/launches") == []  # and nothing remembered
    from berth.client import ApiError

    with pytest.raises(ApiError) as bad:
        c.request("POST", "/api/sessions", params={"dry_run": "true"},
                  json={"image": PYTHON_IMAGE, "name": "x"})
    assert bad.value.status == 422 and "name" in bad.value.fields
    for i, name in enumerate(["bravo", "alpha", "charlie", "delta", "echo", "foxtrot"]):
        c.create_session(type="batch", image=PYTHON_IMAGE, name=name,
                         startup_command=f"exit {i}", environ={"N": str(i)})
    page = c.list_sessions(state="all", sort="name")
    assert [s["name"] for s in page["items"]][:3] == ["alpha", "bravo", "charlie"]
    assert page["counts"] == {"all": 6, "interactive": 0, "batch": 6}
    assert c.list_sessions(state="all", type="interactive")["counts"]["batch"] == 6
    recent = c.request("GET", "/api/launches")
    assert [r["label"] for r in recent] == ["foxtrot", "echo", "delta", "charlie", "alpha"]
    assert recent[0]["params"]["environ"] == {"N": "5"}
    assert recent[0]["params"]["startup_command"] == "exit 5"
    pinned = c.request("PATCH", f"/api/launches/{recent[-1]['id']}",
                       json={"pinned": True, "label": "keep me"})
    assert pinned["pinned"] and pinned["label"] == "keep me"
    c.create_session(type="batch", image=PYTHON_IMAGE, name="golf", startup_command="true")
    after = c.request("GET", "/api/launches")
    assert after[0]["label"] == "keep me"  # pinned first, and kept beyond the five
    assert [r["label"] for r in after[1:]] == ["golf", "foxtrot", "echo", "delta", "charlie"]
    other = berth.user()
    with pytest.raises(ApiError) as nope:
        other.request("PATCH", f"/api/launches/{pinned['id']}", json={"pinned": False})
    assert nope.value.status == 404
    assert other.request("GET", "/api/launches") == []


def test_sort_by_resources_and_owner(berth: Cluster) -> None:
    zed, amy = berth.user("zed-sort@example.com"), berth.user("amy-sort@example.com")
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()  # they wait in the queue
    zed.create_session(type="batch", image=PYTHON_IMAGE, name="small", startup_command="true",
                       resources={"cpu": 1, "mem": "2g"}, starts_at=later)
    amy.create_session(type="batch", image=PYTHON_IMAGE, name="large", startup_command="true",
                       resources={"cpu": 1.5, "mem": "768m"}, starts_at=later)

    def names(sort: str) -> list[str]:
        page = berth.admin.list_sessions(state="running", name="a", sort=sort)["items"]
        return [s["name"] for s in page if s["name"] in ("small", "large")]

    assert names("-cpu") == ["large", "small"] and names("cpu") == ["small", "large"]
    assert names("mem") == ["large", "small"] and names("-mem") == ["small", "large"]
    assert names("owner") == ["large", "small"] and names("-owner") == ["small", "large"]
