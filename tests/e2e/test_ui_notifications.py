"""Notifications after a launch: a bottom-left notice with the live status and Logs /
Terminate buttons that closes a few seconds after the session is running or ended well
(hovering pauses it), and the header's Notifications list that keeps it. Failures and
several notices at once: test_ui_usability.py."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cluster import Cluster, wait_for

from .ui import Account, login_as, modal, shot


def test_launch_notification_live_status_logs_terminate(page: Page, berth: Cluster,
                                                        me: Account) -> None:
    login_as(page, me, "/launch")
    page.get_by_label("Session name").fill("notified-one")
    page.get_by_role("button", name="Skip to review").click()
    page.get_by_test_id("launch-button").click()
    modal(page, "No storage folder is mounted").get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile("/sessions"))

    notice = page.locator(".ant-notification-notice").filter(has_text="Session notified-one")
    expect(notice).to_be_visible()
    # A running session's notice closes by itself after a few seconds; the pointer on it
    # pauses that, as it would for a user reaching for its buttons.
    notice.hover()
    expect(notice.get_by_test_id("notice-notified-one")).to_contain_text("RUNNING",
                                                                        timeout=60_000)
    expect(notice).to_have_attribute("data-kind", "success")
    shot(page, "notification")

    notice.get_by_role("button", name="Logs").click()
    logs = modal(page, "Logs of notified-one")
    expect(logs.get_by_test_id("log-text")).to_be_visible()
    logs.get_by_role("button", name="Close").click()
    expect(logs).to_be_hidden()

    notice.get_by_role("button", name="Terminate").click()
    modal(page, "Terminate session").get_by_role("button", name="Terminate").click()
    expect(notice).to_contain_text(re.compile("TERMINAT"))
    # Ended on request is a success: it closes by itself a few seconds after the end.
    page.mouse.move(0, 0)
    expect(notice).to_be_hidden(timeout=40_000)
    [s] = me.client.list_sessions(state="all")["items"]
    wait_for(lambda: me.client.get_session(s["id"])["status"] == "TERMINATED", 30,
             what="the session to end")

    # The bell keeps the notification.
    bell = page.get_by_role("button", name="Notifications")
    bell.click()
    listing = page.get_by_test_id("notification-list")
    expect(listing).to_contain_text("notified-one")
    expect(listing).to_contain_text("TERMINATED")
    shot(page, "notification-list")
    page.keyboard.press("Escape")
    bell.click()  # the popover closes by a second click too
    expect(listing).to_be_hidden()
