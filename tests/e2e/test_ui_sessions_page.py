"""The sessions page: live updates from the event stream, tabs with counts, filter, sorting,
Running vs Finished, times in the user's timezone."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

from cluster import Cluster, wait_status

from .ui import AGENT_CPU, TIMEZONE, Account, drawer, login_as, modal, open_session, row, shot

IMAGE = "berth/python:3.11"


def header(page: Page, title: str) -> Locator:
    return page.locator("thead th").filter(has_text=re.compile(f"^{title}$"))


def test_new_session_appears_and_turns_running_live(page: Page, berth: Cluster, me: Account
                                                     ) -> None:
    # Sessions taking all the agent's cores make the next one wait in the queue.
    fillers = [me.client.create_session(image=IMAGE, name=f"big-{i}", resources={"cpu": 2})[0]
               for i in range(AGENT_CPU // 2)]
    for s in fillers:
        wait_status(me.client, s["id"], "RUNNING")
    big = fillers[0]
    login_as(page, me)
    expect(row(page, big["id"])).to_contain_text("RUNNING")

    [waiting] = me.client.create_session(image=IMAGE, name="waiting-one", resources={"cpu": 1})
    # No reload: the event stream brings the new session in, and it says why it waits.
    expect(row(page, waiting["id"])).to_contain_text("PENDING")
    shot(page, "sessions-pending")

    open_session(page, "waiting-one")
    expect(drawer(page)).to_contain_text("PENDING")
    drawer(page).get_by_role("button", name="Info").click()
    info = modal(page, "Status of waiting-one")
    expect(info).to_contain_text("no-available-resources")
    expect(info).to_contain_text("failed")
    expect(info).to_contain_text("Scheduling tries")
    shot(page, "status-info-pending")
    info.get_by_role("button", name="Close").click()
    page.keyboard.press("Escape")

    me.client.terminate_session(big["id"])
    expect(row(page, waiting["id"])).to_contain_text("RUNNING", timeout=40_000)
    expect(row(page, big["id"])).to_have_count(0, timeout=40_000)  # it left the Running list


def test_tabs_counts_filter_sort_and_finished(page: Page, berth: Cluster, me: Account) -> None:
    admin = me.client
    [a] = admin.create_session(image=IMAGE, name="alpha-notebook", resources={"cpu": 1})
    [b] = admin.create_session(image=IMAGE, name="beta-notebook", resources={"cpu": 1.5})
    [c] = admin.create_session(type="batch", image=IMAGE, name="gamma-train",
                               startup_command="sleep 600", resources={"cpu": 1})
    for s in (a, b, c):
        wait_status(admin, s["id"], "RUNNING")
    login_as(page, me)

    expect(page.get_by_test_id("count-all")).to_have_text("3")
    expect(page.get_by_test_id("count-interactive")).to_have_text("2")
    expect(page.get_by_test_id("count-batch")).to_have_text("1")
    expect(row(page, a["id"])).to_contain_text(me.email)  # the owner column (admins)
    expect(row(page, b["id"])).to_contain_text("1.5 cores")
    shot(page, "sessions")
    # Times are shown in the browser's timezone.
    created = datetime.fromisoformat(a["created_at"].replace("Z", "+00:00"))
    local = created.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M:%S")
    row(page, a["id"]).locator(".tabular").hover()
    expect(page.locator(".ant-tooltip")).to_contain_text(f"Created {local}")

    page.get_by_test_id("tab-batch").click()
    expect(row(page, c["id"])).to_be_visible()
    expect(row(page, a["id"])).to_have_count(0)
    page.get_by_test_id("tab-all").click()

    page.get_by_label("Filter by name").fill("notebook")
    expect(row(page, c["id"])).to_have_count(0)
    expect(page.get_by_test_id("count-all")).to_have_text("2")
    expect(page.get_by_test_id("count-batch")).to_have_text("0")
    page.get_by_label("Filter by name").fill("")
    expect(row(page, c["id"])).to_be_visible()

    # Sort by name: ascending, then descending (server-side).
    names = page.get_by_test_id("session-name")
    header(page, "Name").click()
    expect(names).to_have_text(["alpha-notebook", "beta-notebook", "gamma-train"])
    header(page, "Name").click()
    expect(names).to_have_text(["gamma-train", "beta-notebook", "alpha-notebook"])
    # Sort by CPU (within the page).
    header(page, "CPU").click()
    expect(names.first).not_to_have_text("beta-notebook")
    header(page, "CPU").click()
    expect(names.first).to_have_text("beta-notebook")
    # Elapsed time ticks.
    elapsed = row(page, a["id"]).locator(".tabular")
    before = elapsed.inner_text()
    expect(elapsed).not_to_have_text(before, timeout=5000)

    # The view lives in the URL: a reload keeps the sort.
    page.reload()
    expect(names.first).to_have_text("beta-notebook")

    page.get_by_test_id("state-switch").get_by_text("Finished").click()
    expect(page.get_by_text("No finished sessions yet")).to_be_visible()
    admin.terminate_session(a["id"])
    expect(row(page, a["id"])).to_contain_text("TERMINATED", timeout=40_000)
