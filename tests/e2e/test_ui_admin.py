"""The admin pages in Chromium on the real cluster: an admin creates a resource policy, a
project with that policy and a member, a resource group open to that project and a preset for
that group through the pages (a server refusal lands on its field), sees the agents with their
usage and toggles one's schedulable switch; a non-admin has no Admin menu, is refused the pages
and the API."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from berth.client.errors import ApiError
from cluster import Cluster, wait_status

from .ui import login_as, make_account, modal, shot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

GIB = 2**30
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 720}


@pytest.fixture
def names(berth: Cluster) -> Iterator[dict[str, str]]:
    """Names for what the test creates; whatever exists afterwards is deleted."""
    tag = secrets.token_hex(3)
    made = {"policy": f"pol-{tag}", "project": f"proj-{tag}", "group": f"grp-{tag}",
            "preset": f"pre-{tag}"}
    yield made
    for preset in berth.admin.request("GET", "/api/resource-presets"):
        if preset["name"] == made["preset"]:
            berth.admin.request("DELETE", f"/api/resource-presets/{preset['id']}")
    for path in (f"/api/resource-groups/{made['group']}", f"/api/projects/{made['project']}",
                 f"/api/resource-policies/{made['policy']}"):
        try:
            berth.admin.request("DELETE", path)
        except ApiError as e:
            assert e.status == 404, e


def table_row(page: Page, text: str) -> Locator:
    return page.locator(".ant-table-row").filter(has_text=text)


def field_error(dialog: Locator, label: str) -> Locator:
    """The error under the field labelled `label` (`has` is relative to each form item)."""
    return dialog.locator(".ant-form-item").filter(
        has=dialog.page.get_by_label(label, exact=True)).locator(".ant-form-item-explain-error")


def pick(page: Page, label: str, option: str) -> None:
    page.locator(f'.ant-select[aria-label="{label}"]').click()
    page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(
        has_text=re.compile(f"^{re.escape(option)}$")).click()


def test_admin_creates_policy_project_and_group(page: Page, berth: Cluster,
                                                names: dict[str, str]) -> None:
    admin = make_account(berth, role="admin")
    member = make_account(berth, role="user")
    login_as(page, admin)

    # the Admin menu leads to the pages
    page.get_by_test_id("admin-menu").hover()
    page.get_by_role("menuitem", name="Resource policies").click()
    expect(page).to_have_url(re.compile(r"/admin/policies$"))
    expect(page.get_by_role("heading", name="Resource policies")).to_be_visible()

    # ---- a policy: an empty limit is unlimited
    page.get_by_role("button", name="New policy").first.click()
    dialog = modal(page, "New resource policy")
    dialog.get_by_label("Name", exact=True).fill(names["policy"])
    dialog.get_by_label("CPU total (cores)").fill("8")
    dialog.get_by_label("Memory total (GiB)").fill("16")
    dialog.get_by_label("Concurrent sessions").fill("2")
    dialog.get_by_label("Containers per session").fill("4")
    dialog.get_by_label("Idle timeout (minutes)").fill("30")
    page.set_viewport_size({"width": 1280, "height": 1150})
    shot(page, "admin-policy-dialog")
    page.set_viewport_size(DESKTOP)
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    policy_row = table_row(page, names["policy"])
    expect(policy_row).to_contain_text("8 cores")
    expect(policy_row).to_contain_text("16 GiB")
    expect(policy_row).to_contain_text("30m")
    expect(policy_row).to_contain_text("unlimited")
    got = berth.admin.request("GET", f"/api/resource-policies/{names['policy']}")
    assert got["total_slots"] == {"cpu": "8", "mem": str(16 * GIB)}
    assert got["max_concurrent_sessions"] == 2
    assert got["max_containers_per_session"] == 4
    assert got["idle_timeout"] == 1800
    assert got["max_pending_sessions"] is None and got["max_folders"] is None
    expect(page.locator(".ant-message-notice")).to_have_count(0, timeout=10_000)
    page.set_viewport_size(PHONE)
    shot(page, "admin-policies-phone")
    page.set_viewport_size(DESKTOP)

    # ---- a project with that policy; the server's refusal of a name shows at the field
    page.goto("/admin/projects")
    page.get_by_role("button", name="New project").first.click()
    dialog = modal(page, "New project")
    dialog.get_by_label("Name", exact=True).fill("bad name!")
    dialog.get_by_role("button", name="Create").click()
    expect(field_error(dialog, "Name")).to_contain_text("may use only ASCII letters")
    dialog.get_by_label("Name", exact=True).fill(names["project"])
    dialog.get_by_label("Description").fill("the vision lab")
    pick(page, "Resource policy", names["policy"])
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    project_row = table_row(page, names["project"])
    expect(project_row).to_contain_text(names["policy"])
    expect(project_row).to_contain_text("the vision lab")

    # members: added by email, an unknown email refused at the field
    page.get_by_role("button", name=f"Members of {names['project']}").click()
    members = modal(page, f"Members of {names['project']}")
    expect(members).to_contain_text("No members")
    members.get_by_label("Member email").fill("nobody-here@example.com")
    members.get_by_role("button", name="Add member").click()
    expect(members.locator(".ant-form-item-explain-error")).to_be_visible()
    members.get_by_label("Member email").fill(member.email)
    members.get_by_role("button", name="Add member").click()
    expect(members.locator(".ant-table-row").filter(has_text=member.email)).to_be_visible()
    members.get_by_role("button", name="Close").click()
    members_button = project_row.get_by_role("button", name=f"Members of {names['project']}")
    expect(members_button).to_have_text("1")
    project = berth.admin.request("GET", f"/api/projects/{names['project']}")
    assert project["resource_policy"] == names["policy"]
    assert project["members_count"] == 1

    # ---- a resource group open to that project and one more user
    page.goto("/admin/resource-groups")
    page.get_by_role("button", name="New resource group").first.click()
    dialog = modal(page, "New resource group")
    dialog.get_by_label("Name", exact=True).fill(names["group"])
    dialog.get_by_role("radio", name="DRF").check()
    dialog.get_by_role("radio", name=re.compile("^Concentrated")).check()
    dialog.get_by_label("Pending timeout").fill("600")
    dialog.get_by_role("switch", name="Allow sudo in sessions").click()
    pick(page, "Projects allowed", names["project"])
    page.locator('.ant-select[aria-label="Users allowed"] input').fill(admin.email)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    group_row = table_row(page, names["group"])
    expect(group_row).to_contain_text("DRF")
    expect(group_row).to_contain_text(f"project {names['project']}")
    expect(group_row).to_contain_text(admin.email)
    expect(group_row).to_contain_text("10m")
    expect(page.get_by_test_id(f"group-sudo-{names['group']}")).to_have_text("sudo")
    expect(table_row(page, "default")).to_contain_text("everyone")
    expect(page.get_by_test_id("group-sudo-default")).to_have_count(0)
    expect(page.locator(".ant-message-notice")).to_have_count(0, timeout=10_000)
    shot(page, "admin-resource-groups")
    group = berth.admin.request("GET", f"/api/resource-groups/{names['group']}")
    assert group["scheduler"] == "drf"
    assert group["agent_selection"] == "concentrated"
    assert group["pending_timeout"] == 600
    assert group["allow_sudo"] is True
    assert group["projects"] == [names["project"]]
    assert group["users"] == [admin.email]
    # ---- a preset for that group
    page.goto("/admin/presets")
    page.get_by_role("button", name="New preset").first.click()
    dialog = modal(page, "New preset")
    dialog.get_by_label("Name", exact=True).fill(names["preset"])
    pick(page, "Resource group", names["group"])
    dialog.get_by_label("CPU (cores)").fill("2")
    dialog.get_by_label("Memory (GiB)").fill("4")
    dialog.get_by_label("Shared memory (MiB)").fill("256")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    preset_row = table_row(page, names["preset"])
    expect(preset_row).to_contain_text(names["group"])
    expect(preset_row).to_contain_text("2 cores")
    expect(preset_row).to_contain_text("4 GiB")
    expect(preset_row).to_contain_text("256 MiB")
    presets = berth.admin.request("GET", "/api/resource-presets",
                                  params={"resource_group": names["group"]})
    preset = next(p for p in presets if p["name"] == names["preset"])
    assert preset["resource_group"] == names["group"]
    assert {k: int(v) for k, v in preset["slots"].items()} == {
        "cpu": 2, "mem": 4 * GIB, "shmem": 256 * 2**20}

    # the member may now use the group (through the project); the admin's lookup says so
    lookup = berth.admin.request("GET", "/api/users/lookup", params={"email": member.email})
    assert names["group"] in lookup["resource_groups"]
    assert names["project"] in [p["name"] for p in lookup["projects"]]


def test_admin_sees_agents_and_toggles_schedulable(page: Page, berth: Cluster) -> None:
    admin = make_account(berth, role="admin")
    running = admin.client.create_session(image="berth/python:3.11",
                                          resources={"cpu": 1, "mem": "1g"})[0]
    wait_status(admin.client, running["id"], "RUNNING", 120)
    login_as(page, admin, "/admin/agents")
    agent_row = table_row(page, berth.agent_id)
    expect(agent_row).to_contain_text("ALIVE")
    expect(agent_row).to_contain_text("4 cores, 4 GiB")
    expect(agent_row.get_by_test_id("usage-cpu")).to_contain_text("CPU 1 core / 4 cores")
    expect(agent_row.get_by_test_id("usage-mem")).to_contain_text("Memory 1 GiB / 4 GiB")
    expect(agent_row).to_contain_text(re.compile(r"\d+s ago"))
    switch = agent_row.get_by_role("switch", name=f"Schedulable {berth.agent_id}")
    expect(switch).to_be_checked()
    shot(page, "admin-agents")
    try:
        switch.click()
        expect(switch).not_to_be_checked()
        agents = berth.admin.request("GET", "/api/agents")
        assert next(a for a in agents if a["id"] == berth.agent_id)["schedulable"] is False
    finally:
        berth.admin.request("PATCH", f"/api/agents/{berth.agent_id}",
                            json={"schedulable": True})
    page.reload()
    expect(table_row(page, berth.agent_id).get_by_role("switch")).to_be_checked()


def test_non_admin_has_no_admin_pages(page: Page, berth: Cluster) -> None:
    user = make_account(berth, role="user")
    login_as(page, user)
    expect(page.get_by_role("menuitem", name=re.compile("Sessions"))).to_be_visible()
    expect(page.get_by_test_id("admin-menu")).to_have_count(0)
    page.goto("/admin/policies")
    expect(page.get_by_text("Admins only")).to_be_visible()
    expect(page.get_by_role("button", name="New policy")).to_have_count(0)
    for method, path, body in [
        ("GET", "/api/resource-policies", None),
        ("POST", "/api/resource-policies", {"name": "mine"}),
        ("POST", "/api/projects", {"name": "mine"}),
        ("POST", "/api/resource-groups", {"name": "mine"}),
        ("PATCH", f"/api/agents/{berth.agent_id}", {"schedulable": False}),
    ]:
        with pytest.raises(ApiError) as refused:
            user.client.request(method, path, json=body)
        assert refused.value.status == 403, (method, path, refused.value)
