"""The Data page (/data) in the browser against a real cluster: "New folder" with its name rules
checked as typed, the file explorer (a whole directory and a single file uploaded through the
pickers, sorting, breadcrumbs, rename, new folder, deleting a directory, downloading a file and
a directory as a zip), sharing read-only with a second user in a browser of their own, and the
trash (restore, restore under a new name, purge). Every effect is checked on the page and
through the API. Screenshots at desktop (1280) and phone (390) widths for docs/user-guide.md."""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, FilePayload, Locator, Page, expect

from berth.client import ApiError, Client
from cluster import Cluster, wait_for

from .ui import TIMEZONE, VIEWPORT, Account, login_as, make_account, modal, shot

if TYPE_CHECKING:
    from .conftest import ConsoleLog

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PHONE = {"width": 390, "height": 844}


# ---- fixtures and helpers -------------------------------------------------------------------
def purge_all(client: Client) -> None:
    """Stop sharing, move every folder the account owns to the trash, then purge its trash."""
    for f in client.list_folders():
        if f["is_owner"]:
            for share in client.list_folder_shares(f["id"]):
                client.unshare_folder(f["id"], share["user_id"])
            client.trash_folder(f["id"])
    for f in client.list_folders(trashed=True):
        client.purge_folder(f["id"])


@pytest.fixture
def owners(me: Account) -> Iterator[list[Account]]:
    """Accounts whose folders (and trash) are purged after the test; ``me`` is the first."""
    accounts = [me]
    yield accounts
    for a in accounts:
        purge_all(a.client)


def exact(name: str) -> re.Pattern[str]:
    return re.compile(f"^{re.escape(name)}$")


def folder_row(page: Page, name: str) -> Locator:
    """A row of the Folders tab."""
    return page.locator("tr").filter(has=page.get_by_test_id("folder-name").filter(
        has_text=exact(name)))


def explorer(page: Page, folder: str) -> Locator:
    return page.locator(".ant-modal-content").filter(
        has=page.get_by_test_id("explorer-title").filter(has_text=exact(folder)))


def open_explorer(page: Page, folder: str) -> Locator:
    page.get_by_test_id("folder-name").filter(has_text=exact(folder)).click()
    box = explorer(page, folder)
    expect(box).to_be_visible()
    return box


def file_entry(box: Locator, name: str) -> Locator:
    return box.get_by_test_id("entry-file").filter(has_text=exact(name))


def dir_entry(box: Locator, name: str) -> Locator:
    return box.get_by_test_id("entry-dir").filter(has_text=exact(name))


def confirm(page: Page, title: str) -> Locator:
    """An antd confirmation (modal.confirm) by its title."""
    return page.locator(".ant-modal-content").filter(has_text=title)


def folder_action(page: Page, folder: str, action: str) -> None:
    page.get_by_role("button", name=f"Actions for {folder}").click()
    page.locator(".ant-dropdown:visible").get_by_role("menuitem", name=action).click()


def field_errors(box: Locator) -> Locator:
    """The rule messages under a form's fields (not those fading out)."""
    return box.locator('.ant-form-item-explain-error:not([class*="-leave"])')


def no_toasts(page: Page) -> None:
    """Wait until the short success notices have gone (they would cover a screenshot)."""
    expect(page.locator(".ant-message-notice")).to_have_count(0, timeout=15_000)


def phone_shot(page: Page, name: str) -> None:
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    shot(page, name, full_page=True)
    page.set_viewport_size(VIEWPORT)


def names(listing: dict[str, Any]) -> dict[str, str]:
    """name -> type of a directory listing from the API."""
    return {e["name"]: e["type"] for e in listing["entries"]}


def folder_id(client: Client, name: str, trashed: bool = False) -> str:
    [f] = [f for f in client.list_folders(trashed=trashed) if f["name"] == name]
    return str(f["id"])


def upload_bytes(client: Client, fid: str, path: str, data: bytes, tmp_path: Path) -> None:
    local = tmp_path / f"up-{secrets.token_hex(3)}"
    local.write_bytes(data)
    client.upload(fid, local, path)


# ---- New folder -----------------------------------------------------------------------------
def test_new_folder_checks_the_name_as_typed(page: Page, berth: Cluster, me: Account,
                                            owners: list[Account], tmp_path: Path) -> None:
    login_as(page, me, "/data")
    expect(page.get_by_text("No folders yet. Create one to keep data across sessions.")
           ).to_be_visible()

    page.get_by_role("button", name="New folder").first.click()
    dialog = modal(page, "New folder")
    name = dialog.get_by_label("Name")
    errors = field_errors(dialog)

    # A bad name is refused as it is typed, and Create sends nothing.
    name.fill("my data")
    expect(errors).to_have_text(
        "The name may use only ASCII letters, digits, '.', '_' and '-' (no spaces or slashes)")
    shot(page, "data-create")
    phone_shot(page, "data-create-phone")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_visible()
    expect(errors).to_have_count(1)
    assert me.client.list_folders() == []
    name.fill("..")
    expect(errors).to_have_text('The name ".." is not a folder name')
    name.fill("x" * 65)
    expect(errors).to_have_text("The name must be at most 64 characters long")
    # A dot-name says where it is mounted.
    name.fill(".cfg")
    expect(errors).to_have_count(0)
    expect(dialog).to_contain_text("mounted into every session of yours at /home/work/.cfg")

    # A good name with the Data usage mode, mounted read-only by default.
    name.fill("datasets")
    expect(errors).to_have_count(0)
    dialog.get_by_role("radio", name=re.compile("^Data")).check()
    dialog.get_by_text("Read-only", exact=True).click()
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    row = folder_row(page, "datasets")
    expect(row).to_contain_text("you")
    expect(row).to_contain_text("Data")
    [made] = me.client.list_folders()
    assert (made["name"], made["usage_mode"], made["permission"], made["is_owner"]) == (
        "datasets", "data", "ro", True)

    # The server's rule (one name per owner) lands at the field.
    page.get_by_role("button", name="New folder").first.click()
    dialog.get_by_label("Name").fill("datasets")
    dialog.get_by_role("button", name="Create").click()
    expect(errors).to_have_text("you already have a folder named 'datasets'")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert len(me.client.list_folders()) == 1

    # A fuller page for the screenshot: a dot-folder, a folder with files (its size measured)
    # and one another user shares with me.
    me.client.create_folder(".config")
    exp = me.client.create_folder("experiments", usage_mode="model")
    upload_bytes(me.client, exp["id"], "run1/weights.bin", secrets.token_bytes(300_000), tmp_path)
    other = make_account(berth, role="user")
    owners.append(other)
    team = other.client.create_folder("team-results")
    other.client.share_folder(team["id"], me.email, "rw")

    def measured() -> bool:
        return all(f["usage_bytes"] is not None for f in me.client.list_folders())
    wait_for(measured, 30, what="folder sizes measured")
    page.reload()
    expect(folder_row(page, ".config")).to_contain_text("auto-mounted at /home/work/.config")
    shared = folder_row(page, "team-results")
    expect(shared).to_contain_text("shared with you")
    expect(shared).to_contain_text(other.email)
    expect(folder_row(page, "experiments").get_by_test_id("folder-size")).to_contain_text("KiB")
    shot(page, "data-folders")
    phone_shot(page, "data-folders-phone")


# ---- the explorer ---------------------------------------------------------------------------
def test_explorer_upload_browse_rename_delete_download(page: Page, me: Account,
                                                       owners: list[Account],
                                                       tmp_path: Path) -> None:
    fid = me.client.create_folder("project-x")["id"]
    run = tmp_path / "pick" / "run1"
    (run / "sub").mkdir(parents=True)
    small, middle, big = b"tiny file\n", b"m" * 1500, secrets.token_bytes(300_000)
    (run / "a.txt").write_bytes(small)
    (run / "z.txt").write_bytes(middle)
    (run / "big.bin").write_bytes(big)
    (run / "sub" / "c.txt").write_bytes(b"deep down\n")

    login_as(page, me, "/data")
    box = open_explorer(page, "project-x")
    expect(box).to_contain_text("This folder is empty — upload files or create a folder")

    # A whole directory through "Upload folder", then one file through "Upload files".
    box.get_by_test_id("upload-folder-input").set_input_files(run)
    summary = box.get_by_test_id("upload-summary")
    expect(summary).to_have_text("Uploaded 4 of 4 files", timeout=30_000)
    box.get_by_test_id("upload-files-input").set_input_files(
        files=[FilePayload(name="notes.md", mimeType="text/markdown", buffer=b"# Notes\n")])
    expect(summary).to_have_text("Uploaded 5 of 5 files", timeout=30_000)
    expect(box.get_by_test_id("upload-item")).to_have_count(5)
    expect(box.get_by_test_id("upload-item").filter(has_text="run1/sub/c.txt")
           ).to_contain_text("100%")
    expect(dir_entry(box, "run1")).to_be_visible()
    expect(file_entry(box, "notes.md")).to_be_visible()
    assert names(me.client.list_files(fid)) == {"run1": "dir", "notes.md": "file"}
    assert names(me.client.list_files(fid, "run1")) == {
        "a.txt": "file", "z.txt": "file", "big.bin": "file", "sub": "dir"}
    no_toasts(page)
    shot(page, "data-explorer", full_page=True)
    phone_shot(page, "data-explorer-phone")

    # Into run1; sorting by size asks the server again, smallest first, then largest first.
    dir_entry(box, "run1").click()
    crumbs = box.locator(".ant-breadcrumb")
    expect(crumbs).to_contain_text("run1")
    files = box.get_by_test_id("entry-file")
    expect(files).to_have_text(["a.txt", "big.bin", "z.txt"])
    size_header = box.locator("th").filter(has_text=exact("Size"))
    size_header.click()
    expect(files).to_have_text(["a.txt", "z.txt", "big.bin"])
    size_header.click()
    expect(files).to_have_text(["big.bin", "z.txt", "a.txt"])

    # Down into sub and back up with the breadcrumbs.
    dir_entry(box, "sub").click()
    expect(file_entry(box, "c.txt")).to_be_visible()
    expect(crumbs).to_contain_text("sub")
    crumbs.get_by_text("run1", exact=True).click()
    expect(file_entry(box, "big.bin")).to_be_visible()
    expect(crumbs).not_to_contain_text("sub")
    crumbs.get_by_label("Folder root").click()
    expect(file_entry(box, "notes.md")).to_be_visible()
    dir_entry(box, "run1").click()
    expect(file_entry(box, "a.txt")).to_be_visible()

    # Rename a file; the path rule answers as typed.
    box.get_by_role("button", name="Rename a.txt").click()
    move = modal(page, 'Rename or move "a.txt"')
    path = move.get_by_label("New path")
    expect(path).to_have_value("run1/a.txt")
    path.fill("run1/../a.txt")
    expect(field_errors(move)).to_have_text(
        "The path must not contain '.' or '..' parts")
    path.fill("run1/renamed.txt")
    move.get_by_role("button", name="Move").click()
    expect(move).to_be_hidden()
    expect(file_entry(box, "renamed.txt")).to_be_visible()
    expect(file_entry(box, "a.txt")).to_have_count(0)

    # A new folder inside run1.
    box.get_by_role("button", name="New folder").click()
    mkdir = modal(page, "New folder")
    expect(mkdir).to_contain_text('Created in "run1"')
    mkdir.get_by_label("Name").fill("results")
    mkdir.get_by_role("button", name="Create").click()
    expect(mkdir).to_be_hidden()
    expect(dir_entry(box, "results")).to_be_visible()

    # Deleting a directory warns that everything inside goes too.
    box.get_by_role("button", name="Delete sub").click()
    sure = confirm(page, 'Delete the directory "sub"?')
    expect(sure).to_contain_text("This deletes everything inside it, too.")
    sure.get_by_role("button", name="Delete").click()
    expect(sure).to_be_hidden()
    expect(dir_entry(box, "sub")).to_have_count(0)
    assert names(me.client.list_files(fid, "run1")) == {
        "renamed.txt": "file", "z.txt": "file", "big.bin": "file", "results": "dir"}

    # Download a file (the same bytes) and the directory as a zip.
    with page.expect_download() as info:
        box.get_by_role("link", name="Download big.bin").click()
    assert info.value.suggested_filename == "big.bin"
    assert Path(info.value.path()).read_bytes() == big
    with page.expect_download() as info:
        box.get_by_role("link", name="Download as zip").click()
    assert info.value.suggested_filename == "run1.zip"
    with zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())) as z:
        members = {n.rstrip("/") for n in z.namelist()}
        assert {"renamed.txt", "z.txt", "big.bin"} <= {m.split("/")[-1] for m in members}
        assert not any("c.txt" in m for m in members)
        [renamed] = [n for n in z.namelist() if n.endswith("renamed.txt")]
        assert z.read(renamed) == small

    page.mouse.move(5, 710)  # off the toolbar: its tooltip covers the close button
    box.get_by_role("button", name="Close").click()
    expect(box).to_be_hidden()


# ---- sharing --------------------------------------------------------------------------------
def test_share_read_only_with_another_user(page: Page, browser: Browser, berth: Cluster,
                                           me: Account, owners: list[Account],
                                           console: ConsoleLog, tmp_path: Path) -> None:
    fid = me.client.create_folder("shared-results")["id"]
    report = b"accuracy: 0.93\n"
    upload_bytes(me.client, fid, "report.txt", report, tmp_path)
    other = make_account(berth, role="user")
    owners.append(other)

    login_as(page, me, "/data")
    folder_action(page, "shared-results", "Share")
    dialog = modal(page, 'Share "shared-results"')
    expect(dialog).to_contain_text("Not shared with anyone yet")
    # "loading Share" while the request is out, "Share" otherwise.
    share_button = dialog.get_by_role("button", name=re.compile(r"\bShare$"))
    # Someone who is not a user: the server's answer at the field.
    dialog.get_by_label("Email").fill("nobody-here@example.com")
    share_button.click()
    expect(field_errors(dialog)).to_have_text(
        "no active user with email nobody-here@example.com")
    # The answer is in, so the button is idle again. (Once, on a busy machine, antd left its
    # invisible spinner in the button for good: "loading Share", and the next click timed out.)
    expect(share_button).to_have_accessible_name("Share")
    # The other user, read-only (the default).
    dialog.get_by_label("Email").fill(other.email)
    share_button.click()
    share = dialog.get_by_test_id("share-row")
    expect(share).to_have_count(1)
    expect(share).to_contain_text(other.email)
    expect(share).to_contain_text("Read-only")
    assert [(s["email"], s["permission"]) for s in me.client.list_folder_shares(fid)] == [
        (other.email, "ro")]
    no_toasts(page)
    page.mouse.move(5, 710)  # off the Share button (no hover colour in the screenshot)
    shot(page, "data-share")
    phone_shot(page, "data-share-phone")

    # The other user, in a browser of their own: the folder is shared with them, read-only.
    context = browser.new_context(viewport=VIEWPORT, timezone_id=TIMEZONE, locale="en-US",
                                  accept_downloads=True, base_url=berth.url)
    try:
        theirs = context.new_page()
        theirs.on("console", console.on_console)
        theirs.on("pageerror", lambda e: console.errors.append(f"invitee page error: {e}"))
        login_as(theirs, other, "/data")
        row = folder_row(theirs, "shared-results")
        expect(row).to_contain_text("shared with you")
        expect(row).to_contain_text(me.email)
        expect(row).to_contain_text("Read-only")
        theirs.get_by_role("button", name="Actions for shared-results").click()
        expect(theirs.locator(".ant-dropdown:visible").get_by_role("menuitem")).to_have_text(
            ["Leave"])
        theirs.keyboard.press("Escape")
        box = open_explorer(theirs, "shared-results")
        expect(box).to_contain_text("read-only")
        expect(box).to_contain_text("You may read this folder but not change it.")
        expect(file_entry(box, "report.txt")).to_be_visible()
        for action in ("Upload files", "Upload folder", "New folder", "Rename report.txt",
                       "Delete report.txt"):
            expect(box.get_by_role("button", name=action)).to_have_count(0)
        shot(theirs, "data-explorer-read-only")
        with theirs.expect_download() as info:
            box.get_by_role("link", name="Download report.txt").click()
        assert Path(info.value.path()).read_bytes() == report
        [seen] = other.client.list_folders()
        assert (seen["shared_with_me"], seen["my_permission"], seen["is_owner"]) == (
            True, "ro", False)
        with pytest.raises(ApiError) as refused:
            other.client.mkdir(fid, "mine")
        assert refused.value.status == 403

        # The owner removes the share; the folder is gone from the other user's page.
        share.get_by_role("button", name="Remove").click()
        page.locator(".ant-popover").get_by_role("button", name="Remove").click()
        expect(share).to_have_count(0)
        expect(dialog).to_contain_text("Not shared with anyone yet")
        assert me.client.list_folder_shares(fid) == []
        assert other.client.list_folders() == []
        box.get_by_role("button", name="Close").click()
        expect(box).to_be_hidden()
        theirs.get_by_role("button", name="Refresh").click()
        expect(folder_row(theirs, "shared-results")).to_have_count(0)
        expect(theirs.get_by_text("No folders yet.")).to_be_visible()
    finally:
        context.close()


# ---- the trash ------------------------------------------------------------------------------
def test_trash_restore_and_purge(page: Page, me: Account, owners: list[Account],
                                 tmp_path: Path) -> None:
    login_as(page, me, "/data")
    expect(page.get_by_text("No folders yet. Create one to keep data across sessions.")
           ).to_be_visible()
    trash_tab = page.get_by_role("tab", name="Trash")
    folders_tab = page.get_by_role("tab", name="Folders")
    trash_tab.click()
    expect(page).to_have_url(re.compile(r"/data\?tab=trash"))
    expect(page.get_by_text("The trash is empty")).to_be_visible()
    expect(page.get_by_text("Deleted folders keep their files here")).to_be_visible()
    folders_tab.click()

    fid = me.client.create_folder("old-results")["id"]
    upload_bytes(me.client, fid, "keep.txt", b"still here\n", tmp_path)
    page.get_by_role("button", name="Refresh").click()

    # Delete: the folder moves to the trash, its files with it.
    folder_action(page, "old-results", "Delete")
    sure = confirm(page, 'Delete the folder "old-results"?')
    expect(sure).to_contain_text("restore it from the Trash tab")
    sure.get_by_role("button", name="Move to trash").click()
    expect(folder_row(page, "old-results")).to_have_count(0)
    expect(page.get_by_text("No folders yet.")).to_be_visible()
    assert folder_id(me.client, "old-results", trashed=True) == fid
    assert me.client.list_folders() == []
    trash_tab.click()
    trashed = page.get_by_test_id("trash-name").filter(has_text=exact("old-results"))
    expect(trashed).to_be_visible()
    no_toasts(page)
    shot(page, "data-trash")
    phone_shot(page, "data-trash-phone")

    # Restore: back in Folders with its files.
    page.get_by_role("button", name="Restore old-results").click()
    expect(trashed).to_have_count(0)
    expect(page.get_by_text("The trash is empty")).to_be_visible()
    folders_tab.click()
    expect(folder_row(page, "old-results")).to_be_visible()
    assert me.client.get_folder(fid)["status"] == "ready"
    assert names(me.client.list_files(fid)) == {"keep.txt": "file"}

    # Deleted again while a new folder takes its name: restoring asks for another name.
    folder_action(page, "old-results", "Delete")
    confirm(page, 'Delete the folder "old-results"?').get_by_role(
        "button", name="Move to trash").click()
    expect(folder_row(page, "old-results")).to_have_count(0)
    me.client.create_folder("old-results")
    trash_tab.click()
    page.get_by_role("button", name="Restore old-results").click()
    again = modal(page, 'Restore "old-results" under a new name')
    expect(again).to_contain_text("another folder is already named 'old-results'")
    expect(again.get_by_label("New name")).to_have_value("old-results-restored")
    again.get_by_role("button", name="Restore").click()
    expect(again).to_be_hidden()
    expect(page.get_by_text("The trash is empty")).to_be_visible()
    restored = me.client.get_folder(fid)
    assert (restored["name"], restored["status"]) == ("old-results-restored", "ready")

    # Delete it again, then for good from the trash (with a confirmation).
    folders_tab.click()
    folder_action(page, "old-results-restored", "Delete")
    confirm(page, 'Delete the folder "old-results-restored"?').get_by_role(
        "button", name="Move to trash").click()
    expect(folder_row(page, "old-results-restored")).to_have_count(0)
    trash_tab.click()
    page.get_by_role("button", name="Delete old-results-restored for good").click()
    purge = confirm(page, 'Delete "old-results-restored" for good?')
    expect(purge).to_contain_text("Every file in it is deleted. This cannot be undone.")
    purge.get_by_role("button", name="Delete for good").click()
    expect(purge).to_be_hidden()
    expect(page.get_by_text("The trash is empty")).to_be_visible()
    assert me.client.list_folders(trashed=True) == []
    with pytest.raises(ApiError) as gone:
        me.client.get_folder(fid)
    assert gone.value.status == 404
