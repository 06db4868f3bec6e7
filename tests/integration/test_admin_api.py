"""Admin resources through the real manager on SQLite and PostgreSQL: projects and members,
resource groups with their settings and access lists, presets, resource policies and their
assignment, the user lookup and agent updates. Admins manage; users read what they may use
(403 for changes, 404 for what they may not see); bad input is a 422 naming the field."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from berth.client import ApiError, Client
from cluster import Cluster


def later(days: int = 300) -> str:
    """A start time the session waits for (PENDING) all through a test."""
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def refused(call: Callable[[], Any], status: int) -> ApiError:
    with pytest.raises(ApiError) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.detail)
    return info.value


def locs(e: ApiError) -> dict[str, str]:
    """field path -> message of a 422 (several messages of one field joined)."""
    assert e.status == 422, e.detail
    return e.fields


def test_projects_crud_members_and_who_sees_what(berth: Cluster) -> None:
    admin, member, stranger = berth.admin, berth.user(), berth.user()
    name = _name("proj")
    p = admin.create_project(name, description="team A")
    assert (p["name"], p["description"], p["is_active"], p["members_count"]) == (
        name, "team A", True, 0)
    assert p["resource_policy"] is None
    # Changes are admins' only; an unknown name is a 404, a taken one a 409.
    refused(lambda: member.create_project(_name("x")), 403)
    refused(lambda: member.update_project(name, description="mine"), 403)
    refused(lambda: member.delete_project(name), 403)
    refused(lambda: admin.create_project(name), 409)
    refused(lambda: admin.get_project("no-such-project"), 404)
    assert "name" in locs(refused(lambda: admin.create_project("bad name!"), 422))
    assert locs(refused(lambda: admin.create_project(_name("p"), resource_policy="nope"),
                        422)) == {"resource_policy": "no resource policy 'nope'"}
    # Members: by email; a member sees the project, a stranger does not.
    out = admin.add_project_member(name, member.email)  # type: ignore[attr-defined]
    assert out["email"] == member.email  # type: ignore[attr-defined]
    refused(lambda: admin.add_project_member(name, member.email), 409)  # type: ignore[attr-defined]
    assert "email" in locs(refused(lambda: admin.add_project_member(name, "no@example.com"),
                                   422))
    refused(lambda: member.add_project_member(name, stranger.email), 403)  # type: ignore[attr-defined]
    assert name in {x["name"] for x in member.list_projects()}
    assert name not in {x["name"] for x in stranger.list_projects()}
    assert member.get_project(name)["members_count"] == 1
    assert [m["email"] for m in member.project_members(name)] == [member.email]  # type: ignore[attr-defined]
    refused(lambda: stranger.get_project(name), 404)
    refused(lambda: stranger.project_members(name), 404)
    # Rename, deactivate; the admin sees every project.
    new = _name("renamed")
    assert admin.update_project(name, name=new, is_active=False)["name"] == new
    assert {new, "default"} <= {x["name"] for x in admin.list_projects()}
    admin.update_project(new, is_active=True)
    member_id = member.me()["id"]
    admin.remove_project_member(new, member_id)
    refused(lambda: admin.remove_project_member(new, member_id), 404)
    refused(lambda: member.get_project(new), 404)
    # The default project stays; an empty project can go.
    refused(lambda: admin.delete_project("default"), 409)
    assert "name" in locs(refused(lambda: admin.update_project("default", name="other"), 422))
    admin.delete_project(new)
    refused(lambda: admin.get_project(new), 404)


def test_a_project_with_sessions_or_folders_is_not_deleted(berth: Cluster) -> None:
    admin = berth.admin
    name = _name("busy")
    admin.create_project(name)
    admin.add_project_member(name, "admin@berth.local")
    folder = admin.create_folder(_name("data"), project=name)
    e = refused(lambda: admin.delete_project(name), 409)
    assert "folders" in str(e)
    admin.trash_folder(folder["id"])
    admin.purge_folder(folder["id"])
    [s] = admin.create_session(image="berth/python:3.11", type="batch", project=name,
                               startup_command="true", starts_at=later())
    assert "not yet ended" in str(refused(lambda: admin.delete_project(name), 409))
    admin.terminate_session(s["id"], force=True)
    assert "deactivate" in str(refused(lambda: admin.delete_project(name), 409))


def test_resource_groups_settings_access_and_visibility(berth: Cluster) -> None:
    admin, linked, via_project, other = berth.admin, berth.user(), berth.user(), berth.user()
    project = _name("gp")
    admin.create_project(project)
    admin.add_project_member(project, via_project.email)  # type: ignore[attr-defined]
    name = _name("grp")
    g = admin.create_resource_group(
        name, description="big nodes", scheduler="drf", agent_selection="concentrated",
        allowed_session_types=["batch"], pending_timeout=600, projects=[project],
        users=[linked.email])  # type: ignore[attr-defined]
    assert (g["scheduler"], g["agent_selection"], g["allowed_session_types"],
            g["pending_timeout"], g["agents"]) == ("drf", "concentrated", ["batch"], 600, 0)
    assert (g["projects"], g["users"]) == ([project], [linked.email])  # type: ignore[attr-defined]
    assert g["allow_sudo"] is False  # off unless asked for
    assert admin.update_resource_group(name, allow_sudo=True)["allow_sudo"] is True
    e = refused(lambda: admin.update_resource_group(name, allow_sudo="maybe"), 422)
    assert "allow_sudo" in locs(e)
    # Who may use it: linked directly or through a project; others do not see it.
    for user in (linked, via_project):
        seen = {x["name"]: x for x in user.list_resource_groups()}
        assert name in seen and "default" in seen
        assert seen[name]["users"] == [] and seen[name]["projects"] == []  # admins' only
        assert user.get_resource_group(name)["name"] == name
    assert name not in {x["name"] for x in other.list_resource_groups()}
    refused(lambda: other.get_resource_group(name), 404)
    refused(lambda: other.list_presets(resource_group=name), 404)
    refused(lambda: linked.update_resource_group(name, is_active=False), 403)
    refused(lambda: linked.create_resource_group(_name("g")), 403)
    # Bad input names the field; unknown members name the list item.
    e = refused(lambda: admin.create_resource_group(_name("g"), scheduler="random"), 422)
    assert "scheduler" in locs(e)
    e = refused(lambda: admin.create_resource_group(_name("g"), allowed_session_types=[]), 422)
    assert "allowed_session_types" in locs(e)
    e = refused(lambda: admin.create_resource_group(_name("g"), pending_timeout=-1), 422)
    assert "pending_timeout" in locs(e)
    e = refused(lambda: admin.create_resource_group(_name("g"), users=["ghost@example.com"],
                                                    projects=["nope"]), 422)
    assert locs(e) == {"projects.0": "no project 'nope'",
                       "users.0": "no user with email ghost@example.com"}
    refused(lambda: admin.create_resource_group(name), 409)
    # Settings change; emptying both lists opens the group to everyone; inactive hides it.
    g = admin.update_resource_group(name, projects=[], users=[], scheduler="lifo",
                                    allowed_session_types=["interactive", "batch"])
    assert (g["scheduler"], g["projects"], g["users"]) == ("lifo", [], [])
    assert name in {x["name"] for x in other.list_resource_groups()}
    admin.update_resource_group(name, is_active=False)
    assert name not in {x["name"] for x in other.list_resource_groups()}
    assert name in {x["name"] for x in admin.list_resource_groups()}
    # Deleting: not the default group, not one with agents; its presets go with it.
    preset = admin.create_preset(_name("pre"), {"cpu": 1, "mem": "1g"}, resource_group=name)
    refused(lambda: admin.delete_resource_group("default"), 409)
    admin.delete_resource_group(name)
    refused(lambda: admin.get_resource_group(name), 404)
    assert preset["id"] not in {p["id"] for p in admin.list_presets()}


def test_presets_crud_validation_and_scope(berth: Cluster) -> None:
    admin, user = berth.admin, berth.user()
    closed = _name("closed")
    admin.create_resource_group(closed, users=["admin@berth.local"])
    name = _name("small")
    p = admin.create_preset(name, {"cpu": 2, "mem": "4g", "shmem": "1g"})
    assert (p["resource_group"], p["slots"]) == (None, {"cpu": "2", "mem": str(4 * 2**30),
                                                        "shmem": str(2**30)})
    hidden = admin.create_preset(name, {"cpu": "0.5", "mem": 2**30}, resource_group=closed)
    # The same name is fine in another scope, not twice in one.
    refused(lambda: admin.create_preset(name, {"cpu": 1, "mem": "1g"}), 409)
    # Users see the global presets and those of groups they may use.
    seen = {x["id"] for x in user.list_presets()}
    assert p["id"] in seen and hidden["id"] not in seen
    assert {x["id"] for x in user.list_presets(resource_group="default")} >= {p["id"]}
    assert hidden["id"] in {x["id"] for x in admin.list_presets(resource_group=closed)}
    refused(lambda: user.create_preset(_name("u"), {"cpu": 1, "mem": "1g"}), 403)
    refused(lambda: user.update_preset(p["id"], name="mine"), 403)
    refused(lambda: user.delete_preset(p["id"]), 403)
    # Every slot problem at once, each naming its slot.
    e = refused(lambda: admin.create_preset(_name("bad"), {"cpu": 0, "mem": "1m",
                                                           "gpu": 1}), 422)
    fields = locs(e)
    assert set(fields) == {"slots.cpu", "slots.mem", "slots.gpu"}
    assert "unknown resource slot" in fields["slots.gpu"]
    e = refused(lambda: admin.create_preset(_name("bad"), {"cpu": 1}), 422)
    assert "slots.mem" in locs(e)
    e = refused(lambda: admin.create_preset(_name("bad"), {"cpu": 1, "mem": "1g",
                                                           "shmem": "2g"}), 422)
    assert locs(e) == {"slots.shmem": "must not be larger than memory"}
    e = refused(lambda: admin.create_preset(_name("bad"), {"cpu": 1, "mem": "1g"},
                                            resource_group="no-such-group"), 422)
    assert "resource_group" in locs(e)
    # Update: name, slots, and moving it to global (null).
    q = admin.update_preset(hidden["id"], name="moved", resource_group=None,
                            slots={"cpu": 3, "mem": "3g"})
    assert (q["name"], q["resource_group"], q["slots"]["cpu"]) == ("moved", None, "3")
    admin.delete_preset(q["id"])
    refused(lambda: admin.delete_preset(q["id"]), 404)
    admin.delete_preset(p["id"])
    admin.delete_resource_group(closed)


def test_policies_crud_and_assignment(berth: Cluster) -> None:
    admin, user = berth.admin, berth.user()
    name = _name("pol")
    pol = admin.create_policy(name, description="small team", total_slots={"cpu": 8,
                                                                           "mem": "16g"},
                              max_concurrent_sessions=2, max_pending_sessions=5,
                              max_containers_per_session=4, max_session_lifetime=3600,
                              idle_timeout=600, max_folders=3, max_customized_images=1)
    assert pol["total_slots"] == {"cpu": "8", "mem": str(16 * 2**30)}
    assert (pol["max_concurrent_sessions"], pol["max_folders"], pol["users"]) == (2, 3, 0)
    assert admin.get_policy(name)["max_customized_images"] == 1
    assert name in {x["name"] for x in admin.list_policies()}
    refused(lambda: user.list_policies(), 403)
    refused(lambda: user.get_policy(name), 403)
    refused(lambda: user.create_policy(_name("p")), 403)
    refused(lambda: admin.create_policy(name), 409)
    refused(lambda: admin.get_policy("no-such-policy"), 404)
    e = refused(lambda: admin.create_policy(_name("p"), total_slots={"shmem": "1g",
                                                                     "cpu": -1}), 422)
    assert set(locs(e)) == {"total_slots.shmem", "total_slots.cpu"}
    e = refused(lambda: admin.create_policy(_name("p"), max_pending_sessions=-1,
                                            max_session_lifetime=0), 422)
    assert set(locs(e)) == {"max_pending_sessions", "max_session_lifetime"}
    # Null removes a limit; total_slots replaces the map.
    pol = admin.update_policy(name, max_concurrent_sessions=None, total_slots={"cpu": 4})
    assert (pol["max_concurrent_sessions"], pol["total_slots"]) == (None, {"cpu": "4"})
    assert pol["max_pending_sessions"] == 5
    # Assigning it: users (admins only) and projects; a policy in use is not deleted.
    user_id = user.me()["id"]
    refused(lambda: user.update_user(user_id, resource_policy=name), 403)
    assert "resource_policy" in locs(refused(
        lambda: admin.update_user(user_id, resource_policy="nope"), 422))
    assert admin.update_user(user_id, resource_policy=name)["resource_policy"] == name
    assert user.me()["resource_policy"] == name
    project = _name("pp")
    admin.create_project(project, resource_policy=name)
    assert admin.get_policy(name)["users"] == 1 and admin.get_policy(name)["projects"] == 1
    assert "in use" in str(refused(lambda: admin.delete_policy(name), 409))
    admin.update_user(user_id, resource_policy=None)
    assert admin.update_project(project, resource_policy=None)["resource_policy"] is None
    admin.delete_policy(name)
    refused(lambda: admin.get_policy(name), 404)
    refused(lambda: admin.update_user("no-such-user", full_name="x"), 404)


def test_user_lookup_lists_projects_and_usable_groups(berth: Cluster) -> None:
    admin, user = berth.admin, berth.user()
    project, group, closed = _name("lp"), _name("lg"), _name("lc")
    admin.create_project(project)
    admin.add_project_member(project, user.email)  # type: ignore[attr-defined]
    admin.create_resource_group(group, projects=[project])
    admin.create_resource_group(closed, users=["admin@berth.local"])
    found = admin.lookup_user(user.email.upper())  # type: ignore[attr-defined]
    assert found["email"] == user.email  # type: ignore[attr-defined]
    assert {p["name"] for p in found["projects"]} == {"default", project}
    assert group in found["resource_groups"] and "default" in found["resource_groups"]
    assert closed not in found["resource_groups"]
    refused(lambda: user.lookup_user("admin@berth.local"), 403)
    refused(lambda: admin.lookup_user("nobody@example.com"), 404)
    admin.delete_resource_group(group)
    admin.delete_resource_group(closed)


def test_agents_show_info_and_admins_change_them(berth: Cluster) -> None:
    admin, user = berth.admin, berth.user()
    [agent] = [a for a in admin.agents() if a["id"] == berth.agent_id]
    assert agent["schedulable"] is True and isinstance(agent["info"], dict)
    assert berth.agent_id in {a["id"] for a in user.agents()}
    refused(lambda: user.update_agent(berth.agent_id, schedulable=False), 403)
    refused(lambda: admin.update_agent("no-such-agent", schedulable=False), 404)
    assert "resource_group" in locs(refused(
        lambda: admin.update_agent(berth.agent_id, resource_group="no-such-group"), 422))
    group = _name("ag")
    admin.create_resource_group(group, users=["admin@berth.local"])
    try:
        moved = admin.update_agent(berth.agent_id, schedulable=False, resource_group=group)
        assert (moved["schedulable"], moved["resource_group"]) == (False, group)
        # Heartbeats keep the admin's choice; users no longer see an agent of a closed group.
        _wait_heartbeats(admin, berth.agent_id)
        [again] = [a for a in admin.agents() if a["id"] == berth.agent_id]
        assert (again["schedulable"], again["resource_group"]) == (False, group)
        assert berth.agent_id not in {a["id"] for a in user.agents()}
        assert "agents" in str(refused(lambda: admin.delete_resource_group(group), 409))
    finally:
        admin.update_agent(berth.agent_id, schedulable=True, resource_group="default")
    admin.delete_resource_group(group)


def _wait_heartbeats(c: Client, agent_id: str) -> None:
    """Until two heartbeats newer than now have been handled."""
    from cluster import wait_for

    def beat() -> str:
        [a] = [a for a in c.agents() if a["id"] == agent_id]
        return str(a["last_heartbeat"])

    first = beat()
    second = wait_for(lambda: (b := beat()) != first and b, 30, what="a heartbeat")
    wait_for(lambda: (b := beat()) != second and b, 30, what="another heartbeat")
