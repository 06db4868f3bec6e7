"""The detail panel: fields, Info for an ended batch session, inline rename with the name
rules and the server's refusals at the field, rename only for the owner."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from cluster import Cluster, wait_status

from .ui import (
    TIMEZONE,
    Account,
    drawer,
    login_admin,
    login_as,
    make_account,
    modal,
    open_session,
    row,
    shot,
)

IMAGE = "berth/python:3.11"


def test_detail_panel_and_inline_rename(page: Page, berth: Cluster, me: Account) -> None:
    [s] = me.client.create_session(image=IMAGE, name="detail-demo", environ={"SEED": "7"},
                                   resources={"cpu": 1, "mem": "1536m"})
    [other] = me.client.create_session(image=IMAGE, name="taken-name")
    wait_status(me.client, s["id"], "RUNNING")
    wait_status(me.client, other["id"], "RUNNING")
    login_as(page, me)
    open_session(page, "detail-demo")
    panel = drawer(page)
    for text in (s["id"], me.email, "RUNNING", "Interactive", IMAGE, "CPU 1 core",
                 "Memory 1.5 GiB", "SEED=7", "main1"):
        expect(panel).to_contain_text(text)
    created = datetime.fromisoformat(s["created_at"].replace("Z", "+00:00"))
    expect(panel).to_contain_text(
        created.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M:%S"))
    shot(page, "session-detail")

    # Rename: a bad name shows the rule at the field; Esc cancels.
    panel.get_by_role("button", name="Rename").click()
    field = page.get_by_label("New session name")
    field.fill("bad name")
    field.press("Enter")
    expect(panel).to_contain_text("must not contain spaces")
    shot(page, "rename-error")
    field.fill("x")
    field.press("Enter")
    expect(panel).to_contain_text("must be 4 to 64 characters long")
    field.press("Escape")
    expect(page.get_by_test_id("drawer-name")).to_have_text("detail-demo")

    # The server refuses a name another active session has: its message shows at the field.
    panel.get_by_role("button", name="Rename").click()
    field.fill("taken-name")
    field.press("Enter")
    expect(panel).to_contain_text("another active session is already named")

    field.fill("renamed-demo")
    field.press("Enter")
    expect(page.get_by_test_id("drawer-name")).to_have_text("renamed-demo")
    expect(row(page, s["id"])).to_contain_text("renamed-demo")  # the list follows live
    assert me.client.get_session(s["id"])["name"] == "renamed-demo"


def test_rename_is_for_the_owner_only(page: Page, berth: Cluster) -> None:
    owner = make_account(berth, role="user")
    [s] = owner.client.create_session(image=IMAGE, name="someone-elses")
    wait_status(owner.client, s["id"], "RUNNING")
    login_admin(page, berth)  # the superadmin sees every session but may not rename it
    page.goto(f"/sessions?session={s['id']}")
    expect(page.get_by_test_id("drawer-name")).to_have_text("someone-elses")
    expect(drawer(page).get_by_role("button", name="Rename")).to_be_disabled()


def test_info_shows_the_exit_code_of_a_failed_batch(page: Page, berth: Cluster,
                                                    me: Account) -> None:
    [s] = me.client.create_session(type="batch", image=IMAGE, name="failing-job",
                                   startup_command="echo about to fail; exit 3")
    wait_status(me.client, s["id"], {"TERMINATED", "ERROR"})
    login_as(page, me, "/sessions?state=finished")
    # At a glance in the list: a red Failed tag with the exit code.
    outcome = row(page, s["id"]).get_by_test_id("outcome")
    expect(outcome).to_have_text("Failed · exit 3")
    expect(outcome).to_have_attribute("data-outcome", "failure")
    expect(outcome).to_have_class(re.compile("ant-tag-error"))
    open_session(page, "failing-job")
    panel = drawer(page)
    expect(panel.get_by_test_id("outcome")).to_have_text("Failed · exit 3")
    expect(panel.get_by_test_id("startup-command")).to_contain_text("exit 3")
    panel.get_by_role("button", name="Info").click()
    info = modal(page, "Status of failing-job")
    expect(info).to_contain_text("task-failed")
    expect(info.locator(".ant-descriptions-row", has_text="Exit code")).to_contain_text(
        re.compile(r"Exit code\s*3"))
    shot(page, "status-info-exit-code")
