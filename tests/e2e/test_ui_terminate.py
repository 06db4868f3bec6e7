"""Terminate from the detail panel (with confirmation, Force and its warning) and several
sessions at once from the list."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from cluster import Cluster, wait_for, wait_status

from .ui import Account, drawer, login_as, modal, open_session, row, shot

IMAGE = "berth/python:3.11"


def test_terminate_with_confirmation(page: Page, berth: Cluster, me: Account) -> None:
    [s] = me.client.create_session(image=IMAGE, name="to-terminate")
    wait_status(me.client, s["id"], "RUNNING")
    login_as(page, me)
    open_session(page, "to-terminate")
    drawer(page).get_by_role("button", name="Terminate").click()
    dialog = modal(page, "Terminate session")
    expect(dialog).to_contain_text("/home/work")
    expect(dialog).to_contain_text("is lost")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert me.client.get_session(s["id"])["status"] == "RUNNING"

    drawer(page).get_by_role("button", name="Terminate").click()
    dialog.get_by_label("Force").check()
    expect(dialog).to_contain_text("kills the containers at once")
    shot(page, "terminate-dialog")
    dialog.get_by_role("button", name="Terminate").click()
    expect(drawer(page)).to_contain_text("TERMINATED", timeout=40_000)
    assert me.client.get_session(s["id"])["status_info"] == "force-terminated"
    page.keyboard.press("Escape")
    expect(row(page, s["id"])).to_have_count(0)  # gone from the Running list


def test_bulk_terminate(page: Page, berth: Cluster, me: Account) -> None:
    sessions = [me.client.create_session(image=IMAGE, name=f"bulk-{i}")[0] for i in range(3)]
    for s in sessions:
        wait_status(me.client, s["id"], "RUNNING")
    login_as(page, me)
    for s in sessions[:2]:
        row(page, s["id"]).get_by_role("checkbox").check()
    page.get_by_role("button", name="Terminate selected").click()
    dialog = modal(page, "Terminate session")
    expect(dialog).to_contain_text("2 sessions")
    shot(page, "bulk-terminate")
    dialog.get_by_role("button", name="Terminate").click()
    for s in sessions[:2]:
        expect(row(page, s["id"])).to_have_count(0, timeout=40_000)
    expect(row(page, sessions[2]["id"])).to_contain_text("RUNNING")
    wait_for(lambda: all(me.client.get_session(s["id"])["status"] == "TERMINATED"
                         for s in sessions[:2]), 40, what="both sessions to end")
    assert me.client.get_session(sessions[2]["id"])["status"] == "RUNNING"
