"""Accelerators in Chromium on a real cluster whose agent has two MOCK GPUs: the launcher's "AI
accelerator" row offers the group's slots (whole devices, a fraction of one device in the
group's step), a session launched with half of one device runs with its device shown in the
detail panel, and the admins' agents page lists the mock devices with their use.

The cluster is this module's own (the shared e2e cluster's agent has no accelerators)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from cluster import Cluster, wait_for, wait_status

from .conftest import ConsoleLog, fresh_page
from .ui import (
    VIEWPORT,
    Account,
    login_as,
    make_account,
    modal,
    open_session,
    phone_fits,
    shot,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MOCK_GPUS = "0:16g:MockA100,1:16g:MockA100"
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gpu_cluster(docker_ready: None, browser_ready: None) -> Iterator[Cluster]:
    """A manager and one agent with 4 cores, 4 GiB and two 16 GiB MOCK GPUs (SQLite)."""
    c = Cluster(db="sqlite", agent_env={"BERTH_AGENT_CPU": "4",
                                        "BERTH_AGENT_MOCK_GPUS": MOCK_GPUS}).start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def gpu_page(browser: Browser, gpu_cluster: Cluster, console: ConsoleLog) -> Iterator[Page]:
    """A fresh browser context on the GPU cluster; console errors fail the test; the sessions
    a test left are ended afterwards."""
    yield from fresh_page(browser, gpu_cluster, console, end_sessions=True)


def pick(page: Page, label: str, option: str | re.Pattern[str]) -> None:
    """Choose the option of an Ant Design Select (by its label) whose text has `option`."""
    page.locator(f'.ant-select[aria-label="{label}"]').click()
    page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(
        has_text=option).first.click()


def test_launch_with_half_a_mock_gpu_and_see_its_device(gpu_page: Page,
                                                        gpu_cluster: Cluster) -> None:
    page = gpu_page
    me: Account = make_account(gpu_cluster)
    name = f"gpu-{secrets.token_hex(2)}"
    login_as(page, me, "/launch")
    page.get_by_label("Session name").fill(name)
    page.get_by_role("button", name="Next").click()
    step = page.get_by_test_id("launcher-step")
    expect(step).to_contain_text("2. Environment & resources")

    # The group offers the mock's two slots: whole devices (step 1) and shares (step 0.1).
    field = page.get_by_test_id("accelerator-field")
    expect(field).to_be_visible()
    expect(page.get_by_text("AI accelerator", exact=True)).to_be_visible()
    expect(page.get_by_test_id("launch-limits")).to_contain_text("2 mock-gpu devices")
    page.locator('.ant-select[aria-label="Accelerator type"]').click()
    options = page.locator(".ant-select-dropdown:visible .ant-select-item-option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("Whole mock GPU")
    expect(options.nth(1)).to_contain_text("Fraction of one mock GPU")
    expect(options.nth(1)).to_contain_text("step 0.1")
    expect(options.nth(1)).to_contain_text("mock")
    options.nth(1).click()
    expect(page.get_by_test_id("accelerator-max")).to_have_text("1")
    amount = page.get_by_label("Accelerator amount")
    expect(amount).to_have_value("0")
    amount.fill("0.5")
    expect(page.get_by_test_id("accelerator-hint")).to_contain_text(
        "A fraction of one device, in steps of 0.1")
    expect(page.locator('.ant-select[aria-label="Preset"]')).to_contain_text("Custom")
    field.scroll_into_view_if_needed()
    page.set_viewport_size({"width": 1280, "height": 1200})
    shot(page, "launcher-2-accelerator")
    page.set_viewport_size(PHONE)
    phone_fits(page)
    page.evaluate("document.querySelector('[data-testid=accelerator-field]')"
                  ".scrollIntoView({block: 'center'})")
    shot(page, "launcher-2-accelerator-phone")
    page.set_viewport_size(VIEWPORT)

    # Review and launch: the card has no error; the session asks for half of one device.
    page.get_by_role("button", name="Skip to review").click()
    expect(page.get_by_test_id("confirm-card-2")).to_have_attribute("data-error", "false")
    launch = page.get_by_test_id("launch-button")
    expect(launch).to_be_enabled()
    launch.click()
    modal(page, "No storage folder is mounted").get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/sessions"))

    def created() -> dict[str, Any] | None:
        items = me.client.list_sessions(state="running", limit=50)["items"]
        return next((s for s in items if s["name"] == name), None)

    session = wait_for(created, 20, what=f"session {name}")
    assert float(session["requested"]["mock-gpu.shares"]) == 0.5
    running = wait_status(me.client, session["id"], "RUNNING", 120)
    [allocation] = running["kernels"][0]["accelerators"]
    assert allocation["slot_prefix"] == "mock-gpu" and allocation["mode"] == "shares"
    [(device, share)] = allocation["devices"].items()
    assert float(share) == 0.5

    # The detail panel: the amount asked and the device it got.
    open_session(page, name)
    panel = page.locator(".ant-drawer-content")
    expect(panel).to_contain_text("RUNNING")
    expect(panel.get_by_test_id("requested-accelerator")).to_have_text(
        "Accelerator 0.5 of a mock-gpu device")
    expect(panel.get_by_test_id("session-devices")).to_contain_text(
        f"mock-gpu: 0.5 of device {device}")
    expect(panel.locator(".ant-table").get_by_test_id("kernel-devices-main1")).to_contain_text(
        f"mock-gpu: 0.5 of device {device}")
    # The launch's notification (bottom right) stays open: close it so it covers nothing.
    page.locator(".ant-notification-notice-close").first.click()
    expect(page.locator(".ant-notification-notice")).to_have_count(0)
    page.set_viewport_size({"width": 1280, "height": 1100})
    shot(page, "session-detail-accelerator")
    page.set_viewport_size(PHONE)
    phone_fits(page)
    page.wait_for_function(  # the panel does not scroll sideways either
        "() => { const b = document.querySelector('.ant-drawer-body');"
        " return b.scrollWidth <= b.clientWidth; }", timeout=5000)
    panel.get_by_test_id("session-devices").evaluate(
        "e => e.scrollIntoView({block: 'center'})")
    shot(page, "session-detail-accelerator-phone")
    page.set_viewport_size(VIEWPORT)

    # The admins' agents page: the mock plugin, both devices, the half held on one of them.
    page.goto("/admin/agents")
    devices = page.get_by_test_id(f"agent-devices-{gpu_cluster.agent_id}")
    expect(devices).to_contain_text("mock-gpu")
    expect(devices.get_by_text("MOCK", exact=True)).to_be_visible()
    rows = devices.get_by_test_id("agent-device")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("MockA100")
    expect(rows.nth(0)).to_contain_text("16 GiB")
    held = rows.filter(has=page.locator("code", has_text=re.compile(f"^{device}$")))
    expect(held).to_contain_text("shared: 0.5 used")
    expect(devices).to_contain_text("1 of 2 free whole")
    shot(page, "admin-agents-devices")
    page.set_viewport_size(PHONE)
    phone_fits(page)
    devices.scroll_into_view_if_needed()
    shot(page, "admin-agents-devices-phone")
    page.set_viewport_size(VIEWPORT)

    # The group's accelerator settings: in the table, and in its dialog.
    page.goto("/admin/resource-groups")
    expect(page.get_by_test_id("group-accelerators-default")).to_have_text("step 0.1fill")
    page.get_by_role("button", name="Edit default").click()
    dialog = modal(page, "Edit resource group default")
    expect(dialog.get_by_label("Accelerator shares step")).to_have_value("0.1")
    expect(dialog.locator('.ant-select[aria-label="Accelerator shares policy"]')).to_contain_text(
        "Fill")
    dialog.get_by_label("Accelerator shares step").scroll_into_view_if_needed()
    shot(page, "admin-group-accelerators")
    dialog.get_by_role("button", name="Cancel").click()
