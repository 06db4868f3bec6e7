"""The launcher (/launch): five steps, rules at their fields, Confirm cards, URL state, recent
history; interactive and batch sessions launched through the UI on a real cluster."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from berth.client import Client
from cluster import Cluster, wait_for

from .ui import login, login_admin, modal, shot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PYTHON_IMAGE = "berth/python:3.11"


def new_user(berth: Cluster) -> tuple[str, str, Client]:
    """A fresh user (own recent history, own session names) and an API client for it."""
    email = f"l-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    berth.admin.request("POST", "/api/users", json={"email": email, "password": password})
    c = berth.client()
    c.login(email, password)
    return email, password, c


def open_launcher(page: Page, berth: Cluster) -> Client:
    email, password, client = new_user(berth)
    login(page, email, password, "/launch")
    expect(step_card(page)).to_contain_text("1. Session type")
    return client


def step_card(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("launcher-step")


def next_step(page: Page, title: str) -> None:
    page.get_by_role("button", name="Next").click()
    expect(step_card(page)).to_contain_text(title)


def pick(page: Page, label: str, option: str) -> None:
    """Choose an option of an Ant Design Select by its accessible label."""
    page.locator(f'.ant-select[aria-label="{label}"]').click()
    page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(
        has_text=re.compile(f"^{re.escape(option)}$")).click()


def launch_and_confirm(page: Page) -> None:
    launch = page.get_by_test_id("launch-button")
    expect(launch).to_be_enabled()
    launch.click()
    dialog = modal(page, "No storage folder is mounted")
    expect(dialog).to_contain_text("/home/work")
    dialog.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/sessions"))


def session_by_name(client: Client, name: str) -> dict:  # type: ignore[type-arg]
    def find() -> dict | None:  # type: ignore[type-arg]
        for state in ("running", "finished"):
            for s in client.list_sessions(state=state, limit=200)["items"]:
                if s["name"] == name:
                    return s  # type: ignore[no-any-return]
        return None
    return wait_for(find, 20, what=f"session {name}")  # type: ignore[no-any-return]


def test_interactive_launch_through_all_steps(page: Page, berth: Cluster) -> None:
    client = open_launcher(page, berth)
    name = f"inter-{secrets.token_hex(2)}"
    expect(page.get_by_text("Interactive", exact=True)).to_be_visible()
    page.get_by_label("Session name").fill(name)
    shot(page, "launcher-1-type")

    next_step(page, "2. Environment & resources")
    expect(page.get_by_test_id("launch-limits")).to_contain_text("Image minimum")
    expect(page.get_by_test_id("launch-limits")).to_contain_text(berth.agent_id)
    page.get_by_role("button", name="Add variable").click()
    page.get_by_label("Variable name 1").fill("GREETING")
    page.get_by_label("Variable value 1").fill("hello")
    page.get_by_label("CPU (cores)").fill("0.5")
    expect(page.get_by_text("the image needs at least 1 core", exact=True)).to_be_visible()
    page.get_by_label("CPU (cores)").fill("2")
    shot(page, "launcher-2-environment")

    next_step(page, "3. Data & storage")
    expect(step_card(page)).to_contain_text("deleted when the session ends")
    shot(page, "launcher-3-data")

    next_step(page, "4. Network")
    page.get_by_label("Preopen ports").fill("8080, 9000:9001")
    expect(page.get_by_test_id("launch-port-tags")).to_contain_text("9001")
    shot(page, "launcher-4-network")

    next_step(page, "5. Confirm & launch")
    expect(page.get_by_test_id("confirm-card-1")).to_contain_text(name)
    expect(page.get_by_test_id("confirm-card-2")).to_contain_text("GREETING=hello")
    expect(page.get_by_test_id("confirm-card-4")).to_contain_text("8080, 9000, 9001")
    for i in range(1, 5):
        expect(page.get_by_test_id(f"confirm-card-{i}")).to_have_attribute("data-error", "false")
    shot(page, "launcher-5-confirm")
    page.get_by_test_id("launch-button").click()
    shot(page, "launcher-no-folder-dialog")
    modal(page, "No storage folder is mounted").get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/sessions"))

    # the launch is announced bottom-left (the notification follows the session's status)
    expect(page.locator(".ant-notification-notice").filter(has_text=name)).to_be_visible()
    session = session_by_name(client, name)
    expect(page.locator(f'tr[data-row-key="{session["id"]}"]')).to_contain_text(
        "RUNNING", timeout=90_000)
    detail = client.get_session(session["id"])
    assert detail["environ"]["GREETING"] == "hello"
    assert detail["preopen_ports"] == [8080, 9000, 9001]
    assert float(detail["requested"]["cpu"]) == 2


def test_batch_launch_ends_terminated(page: Page, berth: Cluster) -> None:
    client = open_launcher(page, berth)
    name = f"batch-{secrets.token_hex(2)}"
    page.get_by_text("Batch", exact=True).click()
    expect(page.get_by_text("a batch session needs a startup command")).to_be_visible()
    page.get_by_label("Session name").fill(name)
    page.get_by_label("Startup command").fill("echo hi")
    page.locator("#launch-timeout").fill("10")
    pick(page, "Timeout unit", "minutes")
    shot(page, "launcher-1-batch")
    next_step(page, "2. Environment & resources")
    next_step(page, "3. Data & storage")
    next_step(page, "4. Network")
    next_step(page, "5. Confirm & launch")
    expect(page.get_by_test_id("confirm-card-1")).to_contain_text("echo hi")
    expect(page.get_by_test_id("confirm-card-1")).to_contain_text("10m")
    launch_and_confirm(page)

    session = session_by_name(client, name)
    assert session["type"] == "batch"
    page.goto("/sessions?state=finished")
    expect(page.locator(f'tr[data-row-key="{session["id"]}"]')).to_contain_text(
        "TERMINATED", timeout=120_000)
    assert client.get_session(session["id"])["timeout_seconds"] == 600


def test_rules_show_at_their_fields_and_block_launch(page: Page, berth: Cluster) -> None:
    client = open_launcher(page, berth)
    name_field = page.get_by_label("Session name")
    name_field.fill("ab")
    expect(page.get_by_text("must be 4 to 64 characters long")).to_be_visible()
    name_field.fill("my session")
    expect(page.get_by_text("must not contain spaces")).to_be_visible()
    name_field.fill("-bad-")
    expect(page.get_by_text("must start and end with a letter, digit or '_'")).to_be_visible()
    name_field.fill("good.name_1")
    expect(page.locator(".ant-form-item-explain-error")).to_have_count(0)

    next_step(page, "2. Environment & resources")
    page.get_by_role("button", name="Add variable").click()
    page.get_by_label("Variable name 1").fill("1BAD")
    expect(page.get_by_text("variable name must start with a letter or '_'")).to_be_visible()
    expect(page.get_by_text("a value is required")).to_be_visible()
    page.get_by_label("Variable name 1").fill("GOOD")
    page.get_by_label("Variable value 1").fill("x")
    page.get_by_role("button", name="Add variable").click()
    page.get_by_label("Variable name 2").fill("GOOD")
    page.get_by_label("Variable value 2").fill("y")
    expect(page.get_by_text("variable names must not repeat")).to_be_visible()
    page.get_by_label("Remove variable 2").click()
    expect(page.get_by_text("variable names must not repeat")).to_have_count(0)

    # shared memory: a warning when memory < 2x shmem, an error when shmem > memory
    pick(page, "Shared memory mode", "set")
    page.get_by_label("Shared memory", exact=True).fill("600")
    expect(page.get_by_text("memory is less than twice the shared memory")).to_be_visible()
    page.get_by_label("Shared memory", exact=True).fill("2")
    pick(page, "Shared memory unit", "GiB")
    expect(page.get_by_text("must not be larger than memory")).to_be_visible()
    # more than the largest agent is an error; threads 1..1000
    page.get_by_label("CPU (cores)").fill("64")
    expect(page.get_by_text("exceeds the largest agent's capacity")).to_be_visible()
    page.get_by_label("CPU (cores)").fill("1")
    page.get_by_label("HPC: automatic thread count").click()
    page.get_by_label("OMP_NUM_THREADS").fill("0")
    expect(page.get_by_text("must be between 1 and 1000")).to_be_visible()
    page.get_by_label("OMP_NUM_THREADS").fill("2")
    shot(page, "launcher-2-errors")

    next_step(page, "3. Data & storage")
    next_step(page, "4. Network")
    ports = page.get_by_label("Preopen ports")
    for text, msg in [
        ("80", "port 80 is outside 1024-65535"),
        ("8080 8080", "port 8080 is given twice"),
        ("8888", "port 8888 is reserved for an app of the environment"),
        ("abc", "'abc' is not a port number"),
        ("9000:8000", "'9000:8000' is not a range a:b with a <= b"),
        ("2000:2010", "at most 10 ports may be opened"),
    ]:
        ports.fill(text)
        expect(page.get_by_text(msg, exact=True)).to_be_visible()
    shot(page, "launcher-4-errors")
    ports.fill("8080,8081")

    page.get_by_role("button", name="Next").click()
    card = page.get_by_test_id("confirm-card-2")
    expect(card).to_have_attribute("data-error", "true")
    expect(card).to_contain_text("Shared memory: must not be larger than memory")
    expect(page.get_by_test_id("confirm-card-4")).to_have_attribute("data-error", "false")
    expect(page.get_by_test_id("launch-button")).to_be_disabled()
    shot(page, "launcher-5-error-card")

    # Edit leads back to the step; fixing the value enables Launch
    card.get_by_role("button", name=re.compile("Edit")).click()
    expect(step_card(page)).to_contain_text("2. Environment & resources")
    pick(page, "Shared memory mode", "auto")
    page.get_by_role("button", name="Skip to review").click()
    expect(page.get_by_test_id("confirm-card-2")).to_have_attribute("data-error", "false")
    expect(page.get_by_test_id("launch-button")).to_be_enabled()

    # What only the server knows (a name in use) comes from its dry run, at the right card.
    client.create_session(image=PYTHON_IMAGE, name="taken-name", resources={"cpu": 1})
    page.get_by_role("button", name="Edit Session type").click()
    page.get_by_label("Session name").fill("taken-name")
    expect(page.get_by_text("another active session is already named 'taken-name'")).to_be_visible()
    page.get_by_role("button", name="Skip to review").click()
    expect(page.get_by_test_id("confirm-card-1")).to_have_attribute("data-error", "true")
    expect(page.get_by_test_id("launch-button")).to_be_disabled()


def test_skip_to_review_reload_and_back(page: Page, berth: Cluster) -> None:
    open_launcher(page, berth)
    page.get_by_label("Session name").fill("kept-in-url")
    page.get_by_role("button", name="Skip to review").click()
    expect(step_card(page)).to_contain_text("5. Confirm & launch")
    expect(page).to_have_url(re.compile(r"step=5.*s=|s=.*step=5"))
    expect(page.get_by_test_id("confirm-card-1")).to_contain_text("kept-in-url")
    page.reload()
    expect(step_card(page)).to_contain_text("5. Confirm & launch")
    expect(page.get_by_test_id("confirm-card-1")).to_contain_text("kept-in-url")
    page.go_back()
    expect(step_card(page)).to_contain_text("1. Session type")
    expect(page.get_by_label("Session name")).to_have_value("kept-in-url")
    page.go_forward()
    expect(step_card(page)).to_contain_text("5. Confirm & launch")
    # the step list is clickable, and the keyboard reaches the name field
    page.locator(".ant-steps-item").filter(has_text="Network").click()
    expect(step_card(page)).to_contain_text("4. Network")
    page.get_by_label("Preopen ports").focus()
    page.keyboard.type("8080")
    expect(page.get_by_label("Preopen ports")).to_have_value("8080")


def test_recent_history(page: Page, berth: Cluster) -> None:
    client = open_launcher(page, berth)
    history = page.get_by_test_id("recent-history")
    expect(history).to_contain_text("Your launches appear here")
    client.create_session(image=PYTHON_IMAGE, name="hist-one", resources={"cpu": 1},
                          environ={"FOO": "bar"}, preopen_ports=[8123])
    page.reload()
    item = history.get_by_test_id("recent-item").filter(has_text="hist-one")
    expect(item).to_have_count(1)

    item.get_by_role("button", name="Pin hist-one").click()
    expect(item.get_by_role("button", name="Unpin hist-one")).to_have_attribute(
        "aria-pressed", "true")
    item.get_by_role("button", name="Rename hist-one").click()
    history.get_by_label("New label").fill("my favourite")
    history.get_by_label("New label").press("Enter")
    item = history.get_by_test_id("recent-item").filter(has_text="my favourite")
    expect(item).to_have_count(1)
    launches = client.request("GET", "/api/launches")
    assert [(x["label"], x["pinned"]) for x in launches] == [("my favourite", True)]
    shot(page, "launcher-recent-history")

    item.get_by_text("my favourite").click()
    expect(step_card(page)).to_contain_text("5. Confirm & launch")
    card = page.get_by_test_id("confirm-card-1")
    expect(card).to_contain_text(re.compile(r"hist-one-[a-z]{4}"))
    expect(page.get_by_test_id("confirm-card-2")).to_contain_text("FOO=bar")
    expect(page.get_by_test_id("confirm-card-4")).to_contain_text("8123")
    expect(page.get_by_test_id("launch-button")).to_be_enabled()


def test_admin_assigns_the_owner(page: Page, berth: Cluster) -> None:
    email, _, client = new_user(berth)
    login_admin(page, berth, "/launch")
    expect(step_card(page)).to_contain_text("1. Session type")
    page.get_by_label("Assign the owner").click()
    owner = page.get_by_label("Owner email")
    owner.fill("not-an-email")
    expect(page.get_by_text("is not an email address")).to_be_visible()
    owner.fill("nobody@example.com")  # only the server knows: its dry run answers at the field
    expect(page.get_by_text("no active user with email nobody@example.com")).to_be_visible()
    owner.fill(email)
    name = f"owned-{secrets.token_hex(2)}"
    page.get_by_label("Session name").fill(name)
    shot(page, "launcher-1-admin-owner")
    page.get_by_role("button", name="Skip to review").click()
    expect(page.get_by_test_id("confirm-card-1")).to_contain_text(email)
    launch_and_confirm(page)
    session = session_by_name(client, name)
    assert session["owner_email"] == email
