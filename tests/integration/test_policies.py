"""Resource policies and group rules at session creation, through the real manager on SQLite
and PostgreSQL: every hard limit at its value (accepted) and one past it (a 422 naming every
violated scope with its numbers); group access, active groups and allowed session types;
the session's project and priority; max_folders; and the resource check's numbers with a
real running session."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from berth.client import ApiError, Client
from cluster import Cluster, wait_status
from conftest import PYTHON_IMAGE

GiB = 2**30


def later(days: int = 300) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def refusal(call: Callable[[], Any]) -> list[tuple[str, str]]:
    """(field, message) of every error of a 422, in order."""
    with pytest.raises(ApiError) as info:
        call()
    assert info.value.status == 422, info.value.detail
    return [(".".join(str(p) for p in e["loc"][1:]), e["msg"]) for e in info.value.detail]


def dry(c: Client, **body: Any) -> list[dict[str, Any]]:
    return c.create_session(dry_run=True, image=PYTHON_IMAGE, **body)


@pytest.fixture
def team(berth: Cluster) -> Iterator[tuple[Client, str, str]]:
    """A user in a new project (first by name, so their default), each with a policy of
    their own to set; both policies removed afterwards."""
    user = berth.user()
    project = _name("a-team")
    user_policy, project_policy = _name("upol"), _name("ppol")
    berth.admin.create_policy(user_policy)
    berth.admin.create_policy(project_policy)
    berth.admin.create_project(project, resource_policy=project_policy)
    berth.admin.add_project_member(project, user.email)  # type: ignore[attr-defined]
    berth.admin.update_user(user.me()["id"], resource_policy=user_policy)
    yield user, user_policy, project_policy
    berth.end_all_sessions()
    berth.admin.update_user(user.me()["id"], resource_policy=None)
    berth.admin.update_project(project, resource_policy=None)
    berth.admin.delete_policy(user_policy)
    berth.admin.delete_policy(project_policy)


def test_total_slots_at_the_limit_and_past_it_in_every_scope(
        berth: Cluster, team: tuple[Client, str, str]) -> None:
    user, upol, ppol = team
    berth.admin.update_policy(upol, total_slots={"cpu": 4, "mem": "4g"})
    berth.admin.update_policy(ppol, total_slots={"cpu": 3})
    # The project allows 3 cores: 3 sessions of 1 core are at its limit.
    assert len(dry(user, count=3, resources={"cpu": 1, "mem": "1g"})) == 3
    assert refusal(lambda: dry(user, count=2, resources={"cpu": 2, "mem": "2g"})) == [
        ("resources.cpu", f"project policy '{ppol}' allows 3 cores in total; this asks "
         "4 cores (2 sessions × 2 cores)")]
    # Past both: one entry per violated scope and slot, each with its numbers.
    assert refusal(lambda: dry(user, count=2, resources={"cpu": 2.5, "mem": "2.5g"})) == [
        ("resources.cpu", f"user policy '{upol}' allows 4 cores in total; this asks "
         "5 cores (2 sessions × 2.5 cores)"),
        ("resources.mem", f"user policy '{upol}' allows 4g in total; this asks 5g "
         "(2 sessions × 2560m)"),
        ("resources.cpu", f"project policy '{ppol}' allows 3 cores in total; this asks "
         "5 cores (2 sessions × 2.5 cores)")]
    # Cluster kernels count too.
    assert refusal(lambda: dry(user, cluster_size=2, resources={"cpu": 2, "mem": "1g"})) == [
        ("resources.cpu", f"project policy '{ppol}' allows 3 cores in total; this asks "
         "4 cores (2 kernels × 2 cores)")]


def test_containers_pending_and_lifetime_limits(
        berth: Cluster, team: tuple[Client, str, str]) -> None:
    user, upol, ppol = team
    berth.admin.update_policy(upol, max_containers_per_session=2, max_session_lifetime=3600,
                              max_pending_sessions=2)
    berth.admin.update_policy(ppol, max_session_lifetime=7200)
    small = {"cpu": 1, "mem": "1g"}
    assert dry(user, cluster_size=2, resources=small)[0]["cluster_size"] == 2
    assert refusal(lambda: dry(user, cluster_size=3, resources=small)) == [
        ("cluster_size", f"user policy '{upol}' allows at most 2 containers per session; "
         "this asks 3")]
    # Lifetime: a batch timeout up to the shortest one; without one, it is recorded.
    batch = {"type": "batch", "startup_command": "true", "starts_at": later()}
    assert dry(user, timeout="1h", **batch)[0]["timeout_seconds"] == 3600
    assert dry(user, **batch)[0]["timeout_seconds"] == 3600
    assert dry(user)[0]["timeout_seconds"] == 3600  # interactive: recorded as well
    assert refusal(lambda: dry(user, timeout="61m", **batch)) == [
        ("timeout", f"user policy '{upol}' allows sessions of at most 1h; this timeout "
         "is 61m")]
    assert refusal(lambda: dry(user, timeout="3h", **batch)) == [
        ("timeout", f"user policy '{upol}' allows sessions of at most 1h; this timeout is 3h"),
        ("timeout", f"project policy '{ppol}' allows sessions of at most 2h; this timeout "
         "is 3h")]
    # Pending: two waiting sessions are the limit; a third is refused at once.
    made = user.create_session(image=PYTHON_IMAGE, count=2, **batch)
    assert {s["status"] for s in made} == {"PENDING"}
    assert refusal(lambda: dry(user, **batch)) == [
        ("count", f"user policy '{upol}' allows 2 pending sessions; 2 are pending and this "
         "adds 1")]
    user.terminate_session(made[0]["id"])
    assert len(dry(user, **batch)) == 1


def test_every_violated_scope_is_reported_at_once(
        berth: Cluster, team: tuple[Client, str, str]) -> None:
    user, upol, ppol = team
    berth.admin.update_policy(upol, total_slots={"mem": "2g"}, max_containers_per_session=1)
    berth.admin.update_policy(ppol, total_slots={"cpu": 1}, max_pending_sessions=1)
    errors = refusal(lambda: dry(user, count=2, cluster_size=2,
                                 resources={"cpu": 1, "mem": "1g"}))
    assert [f for f, _ in errors] == ["resources.mem", "cluster_size", "resources.cpu", "count"]
    assert [m.split(" allows")[0] for _, m in errors] == [
        f"user policy '{upol}'", f"user policy '{upol}'", f"project policy '{ppol}'",
        f"project policy '{ppol}'"]
    # A limit on concurrency is not a refusal: such a session waits.
    berth.admin.update_policy(upol, total_slots={}, max_containers_per_session=None,
                              max_concurrent_sessions=0)
    berth.admin.update_policy(ppol, total_slots={}, max_pending_sessions=None)
    assert len(dry(user)) == 1


def test_group_access_activity_and_session_types(berth: Cluster) -> None:
    admin, user = berth.admin, berth.user()
    project, group = _name("gacc"), _name("gated")
    admin.create_project(project)
    admin.create_resource_group(group, projects=[project], allowed_session_types=["batch"])
    admin.update_agent(berth.agent_id, resource_group=group)
    batch = {"type": "batch", "startup_command": "true", "resource_group": group}
    try:
        assert refusal(lambda: dry(user, **batch)) == [
            ("resource_group", f"no resource group '{group}' you may use")]
        admin.add_project_member(project, user.email)  # type: ignore[attr-defined]
        assert dry(user, **batch)[0]["resource_group"] == group
        assert refusal(lambda: dry(user, resource_group=group)) == [
            ("type", f"resource group '{group}' allows batch sessions only")]
        admin.update_resource_group(group, is_active=False)
        assert refusal(lambda: dry(user, **batch)) == [
            ("resource_group", f"resource group '{group}' is not active")]
        # Superadmins may use every group (inactive ones still refused).
        admin.update_resource_group(group, is_active=True, projects=[],
                                    users=[user.email])  # type: ignore[attr-defined]
        assert dry(admin, **batch)[0]["resource_group"] == group
        assert refusal(lambda: dry(user, resource_group="no-such-group")) == [
            ("resource_group", "no resource group 'no-such-group' you may use")]
    finally:
        admin.update_agent(berth.agent_id, resource_group="default")
    admin.delete_resource_group(group)


def test_project_and_priority_of_a_session(berth: Cluster) -> None:
    admin, user = berth.admin, berth.user()
    first, other, idle = _name("aaa"), _name("zzz"), _name("aab")
    for p in (first, other, idle):
        admin.create_project(p)
    admin.add_project_member(first, user.email)  # type: ignore[attr-defined]
    admin.add_project_member(idle, user.email)  # type: ignore[attr-defined]
    admin.update_project(idle, is_active=False)
    # Default: the owner's first active project by name; by name or id otherwise.
    assert dry(user)[0]["project"] == first
    assert dry(user, project="default")[0]["project"] == "default"
    pid = admin.get_project(first)["id"]
    assert dry(user, project=pid)[0]["project"] == first
    assert refusal(lambda: dry(user, project=other)) == [
        ("project", f"you are not a member of a project named '{other}'")]
    assert refusal(lambda: dry(user, project=idle)) == [
        ("project", f"project '{idle}' is not active")]
    # An admin launching for a user picks one of the user's projects.
    email = user.email  # type: ignore[attr-defined]
    assert dry(admin, owner_email=email, project=first)[0]["project"] == first
    assert refusal(lambda: dry(admin, owner_email=email, project=other)) == [
        ("project", f"the owner is not a member of a project named '{other}'")]
    # Priority: 10 by default, users up to 10, admins up to 100.
    assert dry(user)[0]["priority"] == 10
    assert dry(user, priority=0)[0]["priority"] == 0
    assert refusal(lambda: dry(user, priority=11)) == [
        ("priority", "only admins may set a priority above 10")]
    [s] = admin.create_session(image=PYTHON_IMAGE, priority=100, type="batch",
                               startup_command="true", starts_at=later())
    assert (s["priority"], admin.get_session(s["id"])["priority"]) == (100, 100)
    assert refusal(lambda: dry(admin, priority=101))[0][0] == "priority"


def test_max_folders_from_the_policy(berth: Cluster) -> None:
    admin, user = berth.admin, berth.user()
    policy = _name("fold")
    admin.create_policy(policy, max_folders=1)
    admin.update_user(user.me()["id"], resource_policy=policy)
    first = user.create_folder(_name("one"))
    with pytest.raises(ApiError) as info:
        user.create_folder(_name("two"))
    assert info.value.status == 422
    assert "the most allowed is 1" in info.value.fields["name"]
    admin.update_policy(policy, max_folders=2)
    second = user.create_folder(_name("two"))
    for f in (first, second):
        user.trash_folder(f["id"])
        user.purge_folder(f["id"])
    admin.update_user(user.me()["id"], resource_policy=None)
    admin.delete_policy(policy)


def test_resource_check_numbers(berth: Cluster, team: tuple[Client, str, str]) -> None:
    user, upol, ppol = team
    admin = berth.admin
    admin.update_policy(upol, total_slots={"cpu": 3, "mem": "3g"}, max_concurrent_sessions=2,
                        max_pending_sessions=5)
    small = admin.create_preset(_name("small"), {"cpu": 1, "mem": "1g"})
    big = admin.create_preset(_name("big"), {"cpu": 3, "mem": "2g"})
    try:
        [running] = user.create_session(image=PYTHON_IMAGE, resources={"cpu": 1, "mem": "1g"})
        wait_status(user, running["id"], "RUNNING", 120)
        user.create_session(image=PYTHON_IMAGE, type="batch", startup_command="true",
                            starts_at=later())
        check = user.check_resources()
        assert (check["resource_group"], check["project"]) == ("default", running["project"])
        mine = check["scopes"]["user"]
        assert (mine["name"], mine["limits"]) == (upol, {"cpu": "3", "mem": str(3 * GiB)})
        assert mine["used"] == {"cpu": "1", "mem": str(GiB), "shmem": str(64 * 2**20)}
        assert mine["remaining"] == {"cpu": "2", "mem": str(2 * GiB)}
        assert (mine["concurrent_sessions"], mine["max_concurrent_sessions"],
                mine["pending_sessions"], mine["max_pending_sessions"]) == (1, 2, 1, 5)
        project = check["scopes"]["project"]
        assert (project["name"], project["limits"], project["remaining"]) == (ppol, {}, {})
        assert (project["concurrent_sessions"], project["pending_sessions"]) == (1, 1)
        group = check["scopes"]["group"]
        assert group["name"] == "default"
        assert group["limits"] == {"cpu": "4", "mem": str(4 * GiB)}
        assert group["remaining"] == {"cpu": "3", "mem": str(3 * GiB)}
        assert (group["concurrent_sessions"], group["pending_sessions"]) == (1, 1)
        assert check["max_per_container"] == {"cpu": "4", "mem": str(4 * GiB)}
        [agent] = [a for a in check["agents"] if a["id"] == berth.agent_id]
        assert agent["free"] == {"cpu": "3", "mem": str(3 * GiB)}
        offered = {p["id"]: p["allocatable"] for p in check["presets"]}
        assert offered[small["id"]] is True and offered[big["id"]] is False  # 3 > 2 left
        # An admin sees the same for the user; users may not ask for others.
        email = user.email  # type: ignore[attr-defined]
        assert admin.check_resources(owner_email=email)["scopes"]["user"] == mine
        with pytest.raises(ApiError) as info:
            user.check_resources(owner_email="admin@berth.local")
        assert info.value.status == 403
        with pytest.raises(ApiError) as info:
            user.check_resources(project="no-such-project")
        assert (info.value.status, list(info.value.fields)) == (422, ["project"])
        with pytest.raises(ApiError) as info:
            user.check_resources(resource_group="no-such-group")
        assert info.value.status == 404
        # At the concurrency limit nothing is allocatable now.
        admin.update_policy(upol, max_concurrent_sessions=1)
        assert not any(p["allocatable"] for p in user.check_resources()["presets"])
    finally:
        admin.delete_preset(small["id"])
        admin.delete_preset(big["id"])


def test_queue_position_follows_priority(berth: Cluster) -> None:
    from cluster import wait_for

    batch = {"type": "batch", "startup_command": "true", "starts_at": later()}
    [low] = berth.admin.create_session(image=PYTHON_IMAGE, priority=5, **batch)
    [high] = berth.admin.create_session(image=PYTHON_IMAGE, priority=60, **batch)

    def positions() -> tuple[int, int] | None:
        a, b = (berth.admin.get_session(s["id"])["queue_position"] for s in (high, low))
        return (a, b) if a and b else None

    assert wait_for(positions, 30, what="queue positions") == (1, 2)
