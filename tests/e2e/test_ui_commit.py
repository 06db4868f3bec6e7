"""Commit to image in Chromium (issue 12): "Convert to image" in the detail panel of a RUNNING
interactive session (the name checked as typed, the task's phase and percent until done, the
full image name with a copy button), the refusal to terminate while committing, the disabled
action of a batch session, then the customized image in the launcher (tagged "Customized"
with its name), a session launched from it holding the program written outside /home/work,
and the image deleted from the launcher's "Your customized images" list.

The module's cluster holds each commit in its *committing* phase for a while
(BERTH_AGENT_COMMIT_FAULT=hold=...), so the progress can be seen and terminating refused."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from cluster import Cluster, wait_for, wait_status
from dockerutil import exec_in

from .conftest import ConsoleLog, fresh_page
from .ui import VIEWPORT, drawer, login_as, make_account, modal, open_session, shot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

IMAGE = "berth/python:3.11"
SMALL = {"cpu": 1, "mem": "512m"}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: Seconds each commit stays in its "committing" phase.
HOLD = 12


@pytest.fixture(scope="module")
def commit_cluster(docker_ready: None, browser_ready: None) -> Iterator[Cluster]:
    c = Cluster(db="sqlite", agent_env={"BERTH_AGENT_CPU": "4",
                                        "BERTH_AGENT_COMMIT_FAULT": f"hold={HOLD}"}).start()
    try:
        yield c
    finally:
        try:
            c.end_all_sessions()
            for image in c.admin.customized_images(everyone=True):
                with contextlib.suppress(Exception):
                    c.admin.remove_customized_image(image["ref"])
        finally:
            c.close()


@pytest.fixture
def commit_page(browser: Browser, commit_cluster: Cluster,
                console: ConsoleLog) -> Iterator[Page]:
    yield from fresh_page(browser, commit_cluster, console, end_sessions=False)


def test_commit_from_the_panel_then_launch_from_the_launcher(commit_page: Page,
                                                             commit_cluster: Cluster) -> None:
    page, c = commit_page, commit_cluster
    me = make_account(c, role="user")
    name = f"commit-{secrets.token_hex(2)}"
    image_name = f"e2e-env_{secrets.token_hex(2)}"
    [created] = me.client.create_session(image=IMAGE, name=name, resources=SMALL)
    [batch] = me.client.create_session(image=IMAGE, name=f"{name}-batch", resources=SMALL,
                                       type="batch", startup_command="sleep 300")
    session = wait_status(me.client, created["id"], "RUNNING", 120)
    # A program outside /home/work (the image's environment belongs to the kernel's user).
    exec_in(session["kernels"][0]["container_id"], "sh", "-c",
            "printf '#!/bin/sh\\necho hello from the image\\n' > /opt/berth/venv/bin/berth-hello"
            " && chmod +x /opt/berth/venv/bin/berth-hello")

    login_as(page, me)
    # A batch session: the action is disabled, and its tooltip says why.
    open_session(page, f"{name}-batch")
    button = page.get_by_test_id("commit-button")
    expect(button).to_be_disabled()
    button.locator("xpath=..").hover()
    expect(page.locator(".ant-tooltip:visible")).to_contain_text(
        "Batch sessions cannot be converted to an image")
    drawer(page).locator(".ant-drawer-close").click()
    expect(drawer(page)).to_be_hidden()

    open_session(page, name)
    page.get_by_test_id("commit-button").click()
    dialog = modal(page, "Convert to image")
    field = dialog.get_by_label("Image name")
    help_text = dialog.locator(".ant-form-item-explain")  # the error shows as typed
    field.fill("ab")
    expect(help_text).to_contain_text(
        "4 to 32 characters")
    expect(dialog.get_by_role("button", name="Convert")).to_be_disabled()
    field.fill("my env!")
    expect(help_text).to_contain_text(
        "may contain only letters, digits, '-' and '_'")
    field.fill(image_name)
    expect(dialog.locator(".ant-form-item-has-error")).to_have_count(0)
    dialog.get_by_role("button", name="Convert").click()

    # The task's progress: held in "committing" for HOLD seconds.
    phase = dialog.get_by_test_id("commit-phase")
    expect(phase).to_have_text(re.compile(r"^Saving the container · 20%"))
    expect(dialog.get_by_test_id("commit-bar")).to_be_visible()
    shot(page, "commit-progress-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "commit-progress-phone")
    page.set_viewport_size(VIEWPORT)

    # Closing the dialog leaves the task running; terminating now is refused with the why.
    dialog.locator(".ant-modal-footer").get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    drawer(page).get_by_role("button", name="Terminate").click()
    terminate = modal(page, "Terminate session")
    terminate.get_by_role("button", name="Terminate").click()
    expect(terminate.locator(".ant-alert-error")).to_contain_text("being committed")
    terminate.get_by_role("button", name="Cancel").click()
    assert me.client.get_session(session["id"])["status"] == "RUNNING"

    # Opened again, the dialog follows the running task to its end.
    page.get_by_test_id("commit-button").click()
    dialog = modal(page, "Convert to image")
    expect(dialog.get_by_test_id("commit-phase")).to_have_attribute("data-status", "done",
                                                                    timeout=HOLD * 1000 + 60_000)
    expect(dialog.get_by_test_id("commit-phase")).to_have_text(
        re.compile(r"^Done · 100% · \d+(\.\d+)? [KMG]iB$"))
    [task] = me.client.session_commits(session["id"])[:1]
    ref = task["image"]
    assert ref.endswith(f"-{image_name}")
    expect(dialog.get_by_test_id("commit-image")).to_contain_text(ref)
    expect(dialog.get_by_test_id("commit-image").locator(".ant-typography-copy")).to_be_visible()
    shot(page, "commit-done-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "commit-done-phone")
    page.set_viewport_size(VIEWPORT)
    dialog.locator(".ant-modal-footer").get_by_role("button", name="Close").click()

    # The launcher: the customized image in the environment list, tagged with its name.
    page.goto("/launch")
    launched = f"from-{secrets.token_hex(2)}"
    page.get_by_label("Session name").fill(launched)
    page.get_by_role("button", name="Next").click()
    page.locator(".ant-select").filter(has=page.locator("#launch-environment")).click()
    option = page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(
        has=page.get_by_test_id("customized-option"))
    expect(option).to_have_count(1)
    expect(option).to_contain_text(f"Customized · {image_name}")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, "commit-launcher-list-desktop")
    option.click()
    current = page.get_by_test_id("current-customized")
    expect(current).to_contain_text(ref)
    expect(current.locator(".ant-typography-copy")).to_be_visible()
    page.get_by_test_id("customized-images").locator(".ant-collapse-header").click()
    mine = page.get_by_test_id("customized-image")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text(ref)
    expect(mine.get_by_role("button", name="In use")).to_be_disabled()
    current.scroll_into_view_if_needed()
    shot(page, "commit-launcher-desktop")
    page.set_viewport_size(PHONE)
    current.scroll_into_view_if_needed()
    shot(page, "commit-launcher-phone")
    page.set_viewport_size(VIEWPORT)

    # Launched from it: the program written outside /home/work is there.
    page.get_by_role("button", name="Skip to review").click()
    page.get_by_test_id("launch-button").click()
    modal(page, "No storage folder is mounted").get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/sessions"))

    def found() -> dict[str, Any] | None:
        items = me.client.list_sessions(state="running", limit=50)["items"]
        return next((s for s in items if s["name"] == launched), None)

    again = wait_for(found, 20, what=f"session {launched}")
    assert again["image"] == ref
    again = wait_status(me.client, again["id"], "RUNNING", 120)
    box = again["kernels"][0]["container_id"]
    assert exec_in(box, "berth-hello") == "hello from the image\n"

    # Deleted from the launcher once no session uses it.
    for s in (session, again, batch):
        me.client.terminate_session(s["id"], force=True)
    for s in (session, again, batch):
        wait_for(lambda s=s: me.client.get_session(s["id"])["status"] in (
            "TERMINATED", "CANCELLED", "ERROR"), 60, what="the sessions to end")
    page.goto("/launch?step=2")
    page.get_by_test_id("customized-images").locator(".ant-collapse-header").click()
    page.get_by_role("button", name=f"Delete {image_name}").click()
    page.locator(".ant-popconfirm:visible").get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("customized-images")).to_have_count(0)
    assert me.client.customized_images() == []
