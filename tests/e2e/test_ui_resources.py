"""The launcher's resource step in Chromium on the real cluster: a project picked in step 1, a
preset that turns into "custom" when a value is edited, the sliders' "remaining" mark, a warning
(not a block) when the request is over what is remaining now, a policy total as an error on the
Confirm card, and a launch with a chosen agent and a cluster size whose session has those
values through the API; a session that waits shows its queue position in the sessions list."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from cluster import Cluster, wait_for, wait_status

from .ui import TIMEZONE, Account, login_as, make_account, modal, phone_fits, row, shot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PYTHON_IMAGE = "berth/python:3.11"
GIB = 2**30
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class Setup:
    user: Account
    project: str
    policy: str
    preset: dict  # type: ignore[type-arg]


@pytest.fixture
def setup(berth: Cluster) -> Iterator[Setup]:
    """A user in a project whose policy allows 6 cores in total, and a preset of the default
    group (1 core, 1 GiB); all removed afterwards."""
    tag = secrets.token_hex(3)
    admin = berth.admin
    user = make_account(berth, role="user")
    policy = f"six-{tag}"
    project = f"res-{tag}"
    admin.request("POST", "/api/resource-policies",
                  json={"name": policy, "total_slots": {"cpu": "6"}})
    admin.request("POST", "/api/projects", json={"name": project, "resource_policy": policy})
    admin.request("POST", f"/api/projects/{project}/members", json={"email": user.email})
    preset = admin.request("POST", "/api/resource-presets", json={
        "name": f"tiny-{tag}", "resource_group": "default",
        "slots": {"cpu": "1", "mem": str(GIB)}})
    try:
        yield Setup(user, project, policy, preset)
    finally:
        berth.end_all_sessions()
        admin.request("DELETE", f"/api/resource-presets/{preset['id']}")
        # the project keeps its ended sessions: it cannot be deleted, only its policy removed
        admin.request("PATCH", f"/api/projects/{project}", json={"resource_policy": None})
        admin.request("DELETE", f"/api/resource-policies/{policy}")


def step_card(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("launcher-step")


def next_step(page: Page, title: str) -> None:
    page.get_by_role("button", name="Next").click()
    expect(step_card(page)).to_contain_text(title)


def pick(page: Page, label: str, option: str | re.Pattern[str]) -> None:
    """Choose the option of an Ant Design Select (by its label) whose text has `option`."""
    page.locator(f'.ant-select[aria-label="{label}"]').click()
    page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(
        has_text=option).first.click()


def test_resource_step_preset_custom_warning_and_launch(page: Page, berth: Cluster,
                                                         setup: Setup) -> None:
    name = f"res-{secrets.token_hex(2)}"
    login_as(page, setup.user, "/launch")
    expect(step_card(page)).to_contain_text("1. Session type")
    page.get_by_label("Session name").fill(name)
    pick(page, "Project", re.compile(f"^{setup.project}$"))
    expect(page.locator('.ant-select[aria-label="Project"]')).to_contain_text(setup.project)

    next_step(page, "2. Environment & resources")
    expect(page.locator('.ant-select[aria-label="Resource group"]')).to_contain_text("default")
    limits = page.get_by_test_id("launch-limits")
    expect(limits).to_contain_text("Largest agent: 4 cores")
    # the least left over the user, the project (6 cores) and the group (the agent's 4 free)
    expect(limits).to_contain_text("Remaining now: 4 cores, 4 GiB (the resource group 'default')")

    # a preset sets the values; editing one makes it custom
    preset = setup.preset["name"]
    pick(page, "Preset", preset)
    preset_select = page.locator('.ant-select[aria-label="Preset"]')
    expect(preset_select).to_contain_text(preset)
    expect(page.get_by_label("CPU (cores)")).to_have_value(re.compile(r"^1(\.0)?$"))
    expect(page.locator("#launch-mem")).to_have_value("1")
    page.get_by_label("CPU (cores)").fill("2")
    expect(preset_select).to_contain_text("Custom")

    # the sliders: from the image's minimum to the largest agent, with what is left marked
    expect(page.get_by_test_id("cpu-min")).to_have_text("1")
    expect(page.get_by_test_id("cpu-max")).to_have_text("4")

    # over what is remaining now (the agent's 4 free cores) but within the policy's 6: a
    # warning, and Launch stays possible
    page.get_by_label("CPU (cores)").fill("3")
    page.locator("#launch-count").fill("2")
    cpu_help = page.locator(".ant-form-item").filter(has=page.locator("#launch-cpu")).locator(
        ".ant-form-item-explain")
    expect(cpu_help).to_contain_text("the session will wait in the queue")
    expect(page.get_by_test_id("cpu-remaining")).to_have_text(re.compile(r"▲ 2 left"))
    page.set_viewport_size({"width": 1280, "height": 1400})
    shot(page, "launcher-2-resources")
    page.set_viewport_size(PHONE)
    # on a phone the sliders and their fields stack: nothing scrolls sideways
    phone_fits(page)
    page.evaluate("document.querySelector('#launch-cpu').closest('.ant-form-item')"
                  ".scrollIntoView({block: 'center'})")
    shot(page, "launcher-2-resources-phone")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.get_by_role("button", name="Skip to review").click()
    card = page.get_by_test_id("confirm-card-2")
    expect(card).to_have_attribute("data-error", "false")
    expect(card).to_contain_text("the session will wait in the queue")

    # over the project policy's total: an error on the Confirm card, Launch disabled
    card.get_by_role("button", name=re.compile("Edit")).click()
    page.get_by_label("CPU (cores)").fill("4")
    page.get_by_role("button", name="Skip to review").click()
    expect(card).to_have_attribute("data-error", "true")
    expect(card).to_contain_text(f"project policy '{setup.policy}' allows 6 cores in total; "
                                 "this asks 8 cores (2 sessions × 4 cores)")
    expect(page.get_by_test_id("launch-button")).to_be_disabled()
    shot(page, "launcher-5-policy-error")

    # a launch on the chosen agent, as a single-node cluster of 2
    card.get_by_role("button", name=re.compile("Edit")).click()
    page.get_by_label("CPU (cores)").fill("1")
    page.locator("#launch-count").fill("1")
    pick(page, "Agent", berth.agent_id)
    expect(page.locator('.ant-select[aria-label="Agent"]')).to_contain_text(berth.agent_id)
    expect(page.get_by_text("Multi-node", exact=True)).to_be_visible()
    expect(page.get_by_role("radio", name="Multi-node")).to_be_disabled()
    page.get_by_label("Cluster size").fill("2")
    expect(page.get_by_text("2 containers (main1, sub1…) on one agent")).to_be_visible()
    page.get_by_role("button", name="Skip to review").click()
    expect(card).to_have_attribute("data-error", "false")
    expect(card).to_contain_text("single-node, 2 containers")
    expect(card).to_contain_text(berth.agent_id)
    expect(page.get_by_test_id("confirm-card-1")).to_contain_text(setup.project)
    launch = page.get_by_test_id("launch-button")
    expect(launch).to_be_enabled()
    launch.click()
    modal(page, "No storage folder is mounted").get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/sessions"))

    client = setup.user.client

    def created() -> dict | None:  # type: ignore[type-arg]
        items = client.list_sessions(state="running", limit=50)["items"]
        return next((s for s in items if s["name"] == name), None)

    session = wait_for(created, 20, what=f"session {name}")
    assert session["project"] == setup.project
    assert session["resource_group"] == "default"
    assert session["cluster_mode"] == "single-node"
    assert session["cluster_size"] == 2
    assert float(session["requested"]["cpu"]) == 1
    launches = client.request("GET", "/api/launches")
    params = next(x["params"] for x in launches if x["params"].get("name") == name)
    assert params["agent"] == berth.agent_id
    assert params["project"] == setup.project
    running = wait_status(client, session["id"], "RUNNING", 120)
    assert running["agent_id"] == berth.agent_id
    assert len(running["kernels"]) == 2


def test_waiting_session_shows_its_queue_position(browser: Browser, berth: Cluster,
                                                  setup: Setup) -> None:
    """Two sessions that each take 3 of the agent's 4 GiB: the second waits, and the list says
    where it is in the queue and why."""
    client = setup.user.client
    first = client.create_session(image=PYTHON_IMAGE, name=f"big1-{secrets.token_hex(2)}",
                                  resources={"cpu": 1, "mem": "3g"})[0]
    wait_status(client, first["id"], "RUNNING", 120)
    second = client.create_session(image=PYTHON_IMAGE, name=f"big2-{secrets.token_hex(2)}",
                                   resources={"cpu": 1, "mem": "3g"})[0]

    def queued() -> dict | None:  # type: ignore[type-arg]
        s = client.get_session(second["id"])
        return s if s["status"] == "PENDING" and s.get("queue_position") else None

    waiting = wait_for(queued, 30, what="a queue position")
    context = browser.new_context(viewport={"width": 1280, "height": 720},
                                  timezone_id=TIMEZONE, locale="en-US", base_url=berth.url)
    try:
        page = context.new_page()
        login_as(page, setup.user)
        r = row(page, second["id"])
        expect(r.get_by_test_id("queue-position")).to_have_text(
            f"#{waiting['queue_position']} in queue")
        r.get_by_test_id("pending-status").hover()
        reason = waiting["status_data"]["scheduler"]["message"]
        expect(page.locator(".ant-tooltip:visible")).to_contain_text(reason[:40])
        shot(page, "sessions-queue-position")
    finally:
        context.close()


def test_admin_launching_for_a_user_picks_their_project(page: Page, berth: Cluster,
                                                        setup: Setup) -> None:
    """After the owner's email is looked up, the Project select offers that user's projects
    (and step 2 that user's resource groups); the session is theirs, in that project."""
    admin = make_account(berth, role="admin")
    name = f"for-{secrets.token_hex(2)}"
    login_as(page, admin, "/launch")
    page.get_by_label("Session name").fill(name)
    page.get_by_label("Assign the owner").click()
    page.get_by_label("Owner email").fill(setup.user.email)
    expect(page.get_by_text(f"The projects of {setup.user.email}")).to_be_visible()
    pick(page, "Project", re.compile(f"^{setup.project}$"))
    next_step(page, "2. Environment & resources")
    page.locator('.ant-select[aria-label="Resource group"]').click()
    expect(page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(
        has_text=re.compile("^default$"))).to_have_count(1)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Skip to review").click()
    card = page.get_by_test_id("confirm-card-1")
    expect(card).to_contain_text(setup.user.email)
    expect(card).to_contain_text(setup.project)
    launch = page.get_by_test_id("launch-button")
    expect(launch).to_be_enabled()
    launch.click()
    modal(page, "No storage folder is mounted").get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/sessions"))

    def created() -> dict | None:  # type: ignore[type-arg]
        items = setup.user.client.list_sessions(state="running", limit=50)["items"]
        return next((s for s in items if s["name"] == name), None)

    session = wait_for(created, 20, what=f"session {name}")
    assert session["owner_email"] == setup.user.email
    assert session["project"] == setup.project
