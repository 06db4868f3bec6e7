"""The logs viewer: output, search with highlighted matches, auto-refresh, download."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from cluster import Cluster, wait_status

from .ui import Account, drawer, login_as, modal, open_session, shot

IMAGE = "berth/python:3.11"


def test_logs_search_and_download(page: Page, berth: Cluster, me: Account,
                                  tmp_path: Path) -> None:
    command = "for i in $(seq 1 60); do echo \"line $i\"; done; echo 'needle here'; echo done"
    [s] = me.client.create_session(type="batch", image=IMAGE, name="chatty-job",
                                   startup_command=command)
    wait_status(me.client, s["id"], "TERMINATED")
    login_as(page, me, "/sessions?state=finished")
    open_session(page, "chatty-job")
    drawer(page).get_by_test_id("kernel-log-main1").click()
    logs = modal(page, "Logs of chatty-job")
    text = logs.get_by_test_id("log-text")
    expect(text).to_contain_text("line 60")
    expect(text).to_contain_text("needle here")

    logs.get_by_label("Search the logs").fill("line 1")
    # "line 1", "line 10".."line 19": 11 matches, all marked.
    expect(logs.get_by_test_id("match-count")).to_have_text("1 of 11")
    expect(text.locator("mark")).to_have_count(11)
    logs.get_by_label("Search the logs").press("Enter")
    expect(logs.get_by_test_id("match-count")).to_have_text("2 of 11")
    expect(text.locator("mark.current")).to_have_text("line 1")
    shot(page, "logs")

    with page.expect_download() as info:
        logs.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename == "chatty-job-main1-logs.txt"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    content = saved.read_text()
    assert "line 1\n" in content and "line 60\n" in content and content.endswith("done\n")


def test_logs_auto_refresh_follows_a_running_job(page: Page, berth: Cluster,
                                                 me: Account) -> None:
    command = "for i in $(seq 1 300); do echo \"tick $i\"; sleep 0.5; done"
    [s] = me.client.create_session(type="batch", image=IMAGE, name="ticking-job",
                                   startup_command=command)
    wait_status(me.client, s["id"], "RUNNING")
    login_as(page, me)
    open_session(page, "ticking-job")
    drawer(page).get_by_role("button", name="Logs").click()
    logs = modal(page, "Logs of ticking-job")
    text = logs.get_by_test_id("log-text")
    expect(text).to_contain_text("tick 1")
    logs.locator(".ant-select", has=page.get_by_role("combobox", name="Refresh interval")).click()
    page.locator(".ant-select-item-option", has_text="2 s").click()
    logs.get_by_role("switch", name="Auto-refresh").click()
    # New lines arrive without pressing Refresh, and the view stays at the end (follow tail).
    expect(text).to_contain_text("tick 12", timeout=30_000)
    at_end = text.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight < 4")
    assert at_end
    shot(page, "logs-follow")
