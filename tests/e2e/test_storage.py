"""Storage folders through the browser, end to end: the launcher's Data & storage step creates
a folder with "+" (selected at once), its explorer uploads a file, a session launched with the
folder mounted reads that file in the web terminal and writes a new one, and after the session
ended the Data page shows and downloads what the session wrote. Screenshots of the step and the
Confirm card at desktop and phone widths."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Locator, Page, expect

from cluster import Cluster, wait_for, wait_status

from .ui import VIEWPORT, Account, drawer, login_as, modal, open_session, row, shot

if TYPE_CHECKING:
    from .conftest import ConsoleLog

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PHONE = {"width": 390, "height": 844}
#: Written through the explorer, read in the session.
UPLOADED = b"uploaded through the browser: 3 * 14 = 42\n"


@pytest.fixture
def folders(me: Account) -> Iterator[list[str]]:
    """Names of the folders a test creates; each is moved to the trash and purged afterwards."""
    names: list[str] = []
    yield names
    for f in me.client.request("GET", "/api/folders", params={"trashed": "false"}):
        if f["name"] in names:
            me.client.request("DELETE", f"/api/folders/{f['id']}")
    for f in me.client.request("GET", "/api/folders", params={"trashed": "true"}):
        if f["name"] in names:
            me.client.request("POST", f"/api/folders/{f['id']}/purge")


def step_card(page: Page) -> Locator:
    return page.get_by_test_id("launcher-step")


def folder_row(page: Page, name: str) -> Locator:
    return page.get_by_test_id("folder-table").locator("tr").filter(
        has=page.get_by_test_id("folder-name").filter(has_text=re.compile(f"^{re.escape(name)}$")))


def explorer(page: Page, folder: str) -> Locator:
    return page.locator(".ant-modal-content").filter(
        has=page.get_by_test_id("explorer-title").filter(has_text=folder))


def entry(box: Locator, name: str) -> Locator:
    """A file in the explorer's listing."""
    return box.get_by_test_id("entry-file").filter(has_text=re.compile(f"^{re.escape(name)}$"))


def phone_shot(page: Page, name: str) -> None:
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    shot(page, name, full_page=True)
    page.set_viewport_size(VIEWPORT)


def test_folder_from_launcher_to_session_and_back(page: Page, berth: Cluster, me: Account,
                                                   folders: list[str], console: ConsoleLog,
                                                   tmp_path: Path) -> None:
    folder = f"e2e-{secrets.token_hex(3)}"
    other, dot = f"other-{secrets.token_hex(2)}", ".settings"
    folders.extend([folder, other, dot])
    name = f"stor-{secrets.token_hex(2)}"
    login_as(page, me, "/launch")
    expect(step_card(page)).to_contain_text("1. Session type")
    page.get_by_label("Session name").fill(name)
    page.locator(".ant-steps-item").filter(has_text="Data & storage").click()
    expect(step_card(page)).to_contain_text("3. Data & storage")
    expect(step_card(page)).to_contain_text("deleted when the session ends")
    expect(step_card(page)).to_contain_text("No folders yet — create one with +")

    # Folders made elsewhere show up with the next load: a dot-folder is mounted by itself.
    for extra in (dot, other):
        me.client.request("POST", "/api/folders", json={"name": extra})

    # "+" creates a folder; it is selected at once, with the default mount path.
    page.get_by_role("button", name="Create folder").click()
    dialog = modal(page, "New folder")
    dialog.get_by_label("Name").fill(folder)
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(folder_row(page, folder).get_by_role("checkbox")).to_be_checked()
    path_input = page.get_by_label(f"Mount path of {folder}")
    expect(path_input).to_have_attribute("placeholder", f"/home/work/{folder}")
    expect(page.get_by_test_id("mount-row")).to_contain_text(f"mounted at /home/work/{folder}")
    expect(folder_row(page, other).get_by_role("checkbox")).not_to_be_checked()
    expect(folder_row(page, dot)).to_contain_text("auto-mounted at /home/work/.settings")
    expect(folder_row(page, dot).get_by_role("checkbox")).to_be_disabled()

    # The search box filters the table; the selection stays.
    search = page.get_by_label("Search folders")
    search.fill("OTHER-")
    expect(folder_row(page, other)).to_be_visible()
    expect(folder_row(page, folder)).to_have_count(0)
    search.fill("")
    expect(folder_row(page, folder).get_by_role("checkbox")).to_be_checked()

    # The path rules answer as typed.
    path_input.fill("/etc/data")
    expect(page.get_by_test_id("mount-row")).to_contain_text(
        "cannot mount at or under the system directory /etc")
    path_input.fill("a/../b")
    expect(page.get_by_test_id("mount-row")).to_contain_text(
        "must not contain '.' or '..' as a path component")
    path_input.fill("")
    expect(page.get_by_test_id("mount-row")).to_contain_text(f"mounted at /home/work/{folder}")

    # Browse it (click its name) and upload a file through the explorer.
    folder_row(page, folder).get_by_test_id("folder-name").click()
    box = explorer(page, folder)
    expect(box).to_be_visible()
    box.get_by_test_id("upload-files-input").set_input_files(
        files=[{"name": "hello.txt", "mimeType": "text/plain", "buffer": UPLOADED}])
    # in the listing (the upload list names the file from the start)
    expect(entry(box, "hello.txt")).to_be_visible(timeout=30_000)
    box.get_by_role("button", name="Close").click()
    expect(box).to_be_hidden()
    shot(page, "launcher-3-data-folders", full_page=True)
    phone_shot(page, "launcher-3-data-folders-phone")

    # Confirm: the card lists the mount; no "no folder" warning, no confirmation to launch.
    page.get_by_role("button", name="Skip to review").click()
    card = page.get_by_test_id("confirm-card-3")
    expect(card).to_contain_text(f"{folder} → /home/work/{folder}")
    expect(card).to_contain_text(".settings → /home/work/.settings")
    expect(card).to_have_attribute("data-error", "false")
    expect(card.get_by_test_id("no-folder-warning")).to_have_count(0)
    shot(page, "launcher-5-confirm-mounts", full_page=True)
    phone_shot(page, "launcher-5-confirm-mounts-phone")
    launch = page.get_by_test_id("launch-button")
    expect(launch).to_be_enabled()
    launch.click()
    expect(page).to_have_url(re.compile(r"/sessions"))

    def find() -> dict | None:  # type: ignore[type-arg]
        items = me.client.list_sessions(state="running", limit=200)["items"]
        return next((s for s in items if s["name"] == name), None)
    session = wait_for(find, 20, what=f"session {name}")
    wait_status(me.client, session["id"], "RUNNING", timeout=120)
    mounts = me.client.get_session(session["id"])["mounts"]
    assert [(m["folder"], m["path"], m["mode"]) for m in mounts] == [
        (folder, f"/home/work/{folder}", "rw"), (dot, "/home/work/.settings", "rw")]

    # The detail panel names the mount.
    expect(row(page, session["id"])).to_contain_text("RUNNING", timeout=30_000)
    open_session(page, name)
    listed = drawer(page).get_by_test_id("session-mounts")
    expect(listed).to_contain_text(f"{folder} → /home/work/{folder} rw")
    expect(listed).to_contain_text(".settings → /home/work/.settings rw")
    shot(page, "session-detail-mounts")
    page.keyboard.press("Escape")

    # The web terminal reads the uploaded file and writes a new one into the folder.
    with page.context.expect_page() as opened:
        row(page, session["id"]).get_by_role("button", name="Terminal", exact=True).click()
    term = opened.value
    term.on("console", console.on_console)
    term.on("pageerror", lambda e: console.errors.append(f"terminal page error: {e}"))
    expect(term.get_by_test_id("terminal-status")).to_have_text("connected", timeout=30_000)
    screen = term.locator(".xterm-rows")
    term.get_by_test_id("terminal").click()
    term.keyboard.type(f"cat /home/work/{folder}/hello.txt")
    term.keyboard.press("Enter")
    expect(screen).to_contain_text("3 * 14 = 42", timeout=20_000)
    term.keyboard.type(f"echo written-in-$((6*7)) > /home/work/{folder}/from-session.txt"
                       f" && echo saved-$((40+2))")
    term.keyboard.press("Enter")
    expect(screen).to_contain_text("saved-42", timeout=20_000)
    term.close()

    # The session ends (its scratch home goes); the folder stays.
    me.client.terminate_session(session["id"])
    wait_status(me.client, session["id"], "TERMINATED", timeout=60)

    # The Data page browses the folder: the file the session wrote is there, and downloads.
    page.goto("/data")
    page.get_by_test_id("folder-name").filter(
        has_text=re.compile(f"^{re.escape(folder)}$")).first.click()
    box = explorer(page, folder)
    expect(entry(box, "from-session.txt")).to_be_visible(timeout=20_000)
    expect(entry(box, "hello.txt")).to_be_visible()
    with page.expect_download() as info:
        box.get_by_role("link", name="Download from-session.txt").or_(
            box.get_by_role("button", name="Download from-session.txt")).click()
    download = info.value
    assert download.suggested_filename == "from-session.txt"
    saved = tmp_path / "from-session.txt"
    download.save_as(saved)
    assert saved.read_bytes() == b"written-in-42\n"
