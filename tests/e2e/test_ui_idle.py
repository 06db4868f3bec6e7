"""Idle checks and live usage in Chromium (issue 11) on a cluster of this module's own that
checks every second and samples every second: the detail panel's "Idle checks" (each check's
remaining time in its colour, the utilization check's tooltip of averages against thresholds),
its "Resource usage" figures and sparklines, the sessions list's CPU and Memory figures, and
the warning notification an idle check sends before it reclaims a session.

Each test's user has a resource policy of its own holding the idle settings."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from cluster import Cluster, wait_for, wait_status
from dockerutil import exec_in

from .conftest import ConsoleLog, fresh_page
from .ui import (
    VIEWPORT,
    Account,
    login_admin,
    login_as,
    make_account,
    modal,
    open_session,
    row,
    shot,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

IMAGE = "berth/python:3.11"
SMALL = {"cpu": 1, "mem": "768m"}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: The colours of the remaining times and tooltip lines (webui/src/sessions/idle.ts).
RED = "rgb(207, 19, 34)"
ORANGE = "rgb(212, 107, 8)"
LEVEL_COLOR = {"below": RED, "near": "rgb(173, 139, 0)", "none": "rgb(140, 140, 140)"}


@pytest.fixture(scope="module")
def idle_cluster(docker_ready: None, browser_ready: None) -> Iterator[Cluster]:
    """A manager running its idle checks every second, and an agent sampling every second."""
    c = Cluster(db="sqlite", manager_env={"BERTH_IDLE_CHECK_INTERVAL": "1"},
                agent_env={"BERTH_AGENT_USAGE_INTERVAL": "1", "BERTH_AGENT_CPU": "4"}).start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def idle_page(browser: Browser, idle_cluster: Cluster, console: ConsoleLog) -> Iterator[Page]:
    yield from fresh_page(browser, idle_cluster, console, end_sessions=True)


def account_with(cluster: Cluster, **idle: Any) -> Account:
    """A new user whose resource policy holds the idle settings ``idle``."""
    account = make_account(cluster, role="user")
    policy = f"idle-{secrets.token_hex(4)}"
    cluster.admin.request("POST", "/api/resource-policies", json={"name": policy, **idle})
    cluster.admin.request("PATCH", f"/api/users/{account.client.me()['id']}",
                          json={"resource_policy": policy})
    return account


def color(page: Page, test_id: str) -> str:
    return str(page.get_by_test_id(test_id).evaluate("e => getComputedStyle(e).color"))


def test_idle_checks_usage_and_list_figures(idle_page: Page, idle_cluster: Cluster) -> None:
    page = idle_page
    # Lifetime 3 h (orange), network timeout 30 min (red), utilization over an hour's window.
    me = account_with(idle_cluster, max_session_lifetime=3 * 3600, idle_timeout=1800,
                      utilization_window=3600, grace_period=0,
                      utilization_thresholds={"cpu": 90, "mem": 1})
    name = f"idle-{secrets.token_hex(2)}"
    [created] = me.client.create_session(image=IMAGE, name=name, resources=SMALL)
    session = wait_status(me.client, created["id"], "RUNNING", 120)
    # Some work for the figures and sparklines: a busy core for a while and 150 MiB held.
    exec_in(session["kernels"][0]["container_id"], "sh", "-c",
            "(nohup timeout 25 sh -c 'while :; do :; done' >/dev/null 2>&1 &);"
            " (nohup python3 -c 'import time; b = bytearray(150 * 2**20); time.sleep(600)'"
            " >/dev/null 2>&1 &)")
    wait_for(lambda: len(me.client.session_usage(session["id"])["kernels"][0]["series"]) >= 4,
             30, what="a few usage samples")

    # The sessions list: CPU and memory in use over what was requested.
    login_as(page, me)
    cells = row(page, session["id"])
    expect(cells.get_by_test_id("list-cpu")).to_have_text(re.compile(r"^\d+(\.\d+)?%of 1 core$"),
                                                          timeout=30_000)
    expect(cells.get_by_test_id("list-mem")).to_have_text(
        re.compile(r"^\d+(\.\d+)? [KMG]iBof 768 MiB$"))
    shot(page, "usage-sessions-list")

    # The detail panel: the three checks, coloured by the time left.
    open_session(page, name)
    checks = page.get_by_test_id("idle-checks")
    expect(checks).to_contain_text("Max session lifetime")
    expect(checks).to_contain_text("Network idle timeout")
    expect(checks).to_contain_text("Utilization checker")
    lifetime = page.get_by_test_id("idle-remaining-session-lifetime")
    expect(lifetime).to_have_text(re.compile(r"^[23]h \d\dm$"))
    expect(lifetime).to_have_attribute("data-urgency", "orange")
    assert color(page, "idle-remaining-session-lifetime") == ORANGE
    network = page.get_by_test_id("idle-remaining-network-timeout")
    expect(network).to_have_text(re.compile(r"^(29|30)m \d\ds$"))
    expect(network).to_have_attribute("data-urgency", "red")
    assert color(page, "idle-remaining-network-timeout") == RED
    # It counts down while the panel is open.
    first = network.inner_text()
    expect(network).not_to_have_text(first, timeout=5000)

    # The utilization check's tooltip: each resource's average against its threshold,
    # coloured by how it stands.
    expect(page.get_by_test_id("idle-remaining-utilization")).to_have_text(
        re.compile(r"^\d+[hm] \d\d[ms]$"))
    page.get_by_test_id("idle-utilization-value").hover()
    tip = page.get_by_test_id("idle-utilization-tooltip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("Average utilization / threshold")
    cpu = tip.get_by_test_id("idle-resource-cpu")
    expect(cpu).to_have_text(re.compile(r"^CPU: (\d+(\.\d+)?% / 90%|no data / 90%)"))
    expect(tip.get_by_test_id("idle-resource-mem")).to_have_text(
        re.compile(r"^Memory: (\d+(\.\d+)?%|no data) / 1%"))
    for line in (cpu, tip.get_by_test_id("idle-resource-mem")):
        level = line.get_attribute("data-level") or ""
        shown = str(line.evaluate("e => getComputedStyle(e).color"))
        if level in LEVEL_COLOR:
            assert shown == LEVEL_COLOR[level], (level, shown)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.get_by_test_id("idle-utilization-value").hover()
    expect(tip).to_be_visible()
    shot(page, "idle-checks-tooltip")
    page.mouse.move(5, 5)
    expect(tip).to_be_hidden()

    # Resource usage: the figures and a sparkline each.
    usage = page.get_by_test_id("session-usage")
    expect(usage.get_by_test_id("usage-cpu-value")).to_have_text(re.compile(r"^\d+(\.\d+)?%$"))
    expect(usage.get_by_test_id("usage-mem-value")).to_have_text(
        re.compile(r"^\d+(\.\d+)? [KMG]iB of 768 MiB$"))
    expect(usage.get_by_test_id("usage-net-value")).to_contain_text("B/s")
    expect(usage.get_by_test_id("usage-io-value")).to_contain_text("B/s")
    expect(usage.get_by_test_id("sparkline")).to_have_count(4)
    assert usage.get_by_test_id("sparkline").first.locator("path").first.get_attribute("d")
    checks.evaluate("e => e.scrollIntoView({block: 'center'})")
    shot(page, "idle-checks-desktop")
    usage.evaluate("e => e.parentElement.scrollIntoView({block: 'start'})")  # with its title
    shot(page, "usage-desktop")

    page.set_viewport_size(PHONE)
    page.wait_for_function(  # the panel does not scroll sideways at phone width
        "() => { const b = document.querySelector('.ant-drawer-body');"
        " return b && b.scrollWidth <= b.clientWidth; }", timeout=5000)
    checks.evaluate("e => e.scrollIntoView({block: 'center'})")
    shot(page, "idle-checks-phone")
    usage.evaluate("e => e.scrollIntoView({block: 'center'})")
    shot(page, "usage-phone")
    page.set_viewport_size(VIEWPORT)


def test_idle_warning_notification(idle_page: Page, idle_cluster: Cluster) -> None:
    page = idle_page
    # Reclaimed 30 s after the start without traffic; warned 25 s ahead.
    me = account_with(idle_cluster, idle_timeout=30, warn_before=25)
    name = f"warn-{secrets.token_hex(2)}"
    login_as(page, me)  # the page listens to the event stream before the session exists
    [created] = me.client.create_session(image=IMAGE, name=name, resources=SMALL)
    notice = page.locator(".idle-warning-notice").filter(has_text=f"Session {name}")
    expect(notice).to_be_visible(timeout=90_000)
    expect(notice).to_contain_text(f"Session {name}: Network idle timeout")
    expect(page.get_by_test_id(f"idle-warning-{name}")).to_contain_text(
        re.compile(r"Terminated in \d+s\."))
    shot(page, "idle-warning-notification")
    # It stays until closed: still there once the check has reclaimed the session.
    ended = wait_status(me.client, created["id"], "TERMINATED", 90)
    assert ended["status_info"] == "idle-timeout"
    expect(notice).to_be_visible()
    notice.locator(".ant-notification-notice-close").click()
    expect(notice).to_have_count(0)


def test_group_idle_settings_in_the_admin_dialog(idle_page: Page, idle_cluster: Cluster) -> None:
    page = idle_page
    admin = idle_cluster.admin
    login_admin(page, idle_cluster, "/admin/resource-groups")
    expect(page.get_by_test_id("group-idle-default")).to_have_text("none")
    try:
        page.get_by_role("button", name="Edit default").click()
        dialog = modal(page, "Edit resource group default")
        dialog.get_by_test_id("idle-settings").locator(".ant-collapse-header").click()
        dialog.get_by_label("Network idle timeout (minutes)").fill("45")
        dialog.locator('.ant-select[aria-label="Utilization check"]').click()
        page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(
            has_text="On: thresholds below").click()
        dialog.get_by_label("CPU threshold").fill("5")
        dialog.get_by_label("Grace period (minutes)").fill("10")
        dialog.get_by_label("Warn before (minutes)").fill("5")
        page.set_viewport_size({"width": 1280, "height": 1000})
        dialog.get_by_test_id("idle-settings").evaluate("e => e.scrollIntoView({block: 'start'})")
        shot(page, "idle-settings-group")
        page.set_viewport_size(VIEWPORT)
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(page.get_by_test_id("group-idle-default")).to_have_text(
            "idle 45mutilization cpu 5%grace 10mwarn 5m")
        [group] = [g for g in admin.request("GET", "/api/resource-groups")
                   if g["name"] == "default"]
        assert (group["idle_timeout"], group["utilization_thresholds"], group["grace_period"],
                group["warn_before"]) == (2700, {"cpu": 5}, 600, 300)
        assert group["max_session_lifetime"] is None and group["utilization_window"] is None
    finally:
        admin.request("PATCH", "/api/resource-groups/default", json={
            "idle_timeout": None, "utilization_thresholds": None, "grace_period": None,
            "warn_before": None})
