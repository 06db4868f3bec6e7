"""Helpers and constants for the end-to-end browser tests (fixtures are in conftest.py).

Import them relatively (``from .ui import login, shot``): ``tests/e2e`` is a package so that
its conftest never shadows ``tests/conftest.py``, which other tests import as ``conftest``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, ViewportSize, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from berth.client import Client
from cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
WEBUI = ROOT / "webui"
#: Where the tests save their screenshots: an ignored folder, so a test run never changes
#: tracked files. scripts/screenshots.sh copies them into docs/screenshots/ on purpose.
SCREENSHOTS = ROOT / "tests" / ".artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 720}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: A fixed, non-UTC timezone, so that tests can check times are shown in the user's timezone.
TIMEZONE = "Asia/Tokyo"
ADMIN_EMAIL = "admin@berth.local"
#: Cores the test agent offers; one container gets at most 2 (what a small machine has).
AGENT_CPU = 4


@dataclass
class Account:
    email: str
    password: str
    client: Client


def make_account(cluster: Cluster, role: str = "admin") -> Account:
    """A new user: each test sees only its own sessions (admins: also those they created)."""
    email = f"ui-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    cluster.admin.request("POST", "/api/users",
                          json={"email": email, "password": password, "role": role})
    client = cluster.client()
    client.login(email, password)
    return Account(email, password, client)


# ---- helpers ----------------------------------------------------------------------------
def shot(page: Page, name: str, **kwargs: Any) -> None:
    """Save a screenshot (tests/.artifacts/screenshots/<name>.png); the user guide's copies in
    docs/screenshots/ are refreshed by scripts/screenshots.sh, never by a test run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)  # let animations (drawers, modals, notifications) settle
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **kwargs)


def login(page: Page, email: str, password: str, path: str = "/sessions") -> None:
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("user-menu")).to_contain_text(email)


def login_admin(page: Page, cluster: Cluster, path: str = "/sessions") -> None:
    login(page, ADMIN_EMAIL, cluster.admin_password, path)


def login_as(page: Page, account: Account, path: str = "/sessions") -> None:
    login(page, account.email, account.password, path)


def row(page: Page, session_id: str) -> Locator:
    """The sessions table row of one session."""
    return page.locator(f'tr[data-row-key="{session_id}"]')


def drawer(page: Page) -> Locator:
    return page.locator(".ant-drawer-content")


def modal(page: Page, title: str | re.Pattern[str]) -> Locator:
    return page.locator(".ant-modal-content").filter(
        has=page.locator(".ant-modal-title", has_text=title))


def open_session(page: Page, name: str) -> None:
    page.get_by_test_id("session-name").filter(has_text=re.compile(f"^{re.escape(name)}$")).click()
    expect(page.get_by_test_id("drawer-name")).to_have_text(name)


def phone_fits(page: Page) -> None:
    """Nothing scrolls sideways at phone width, once the layout has followed the resize (a
    loaded machine may take a moment): waits up to 5 s, then names what sticks out."""
    try:
        page.wait_for_function(f"document.documentElement.scrollWidth <= {PHONE['width']}",
                               timeout=5000)
    except PlaywrightTimeout:
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 2
                         && !e.closest('.ant-table-content, .ant-table-body'))
            .slice(0, 8).map(e => `${e.tagName}.${e.className}`)""")
        raise AssertionError(f"the page is {width}px wide at {PHONE['width']}px: {wide}") from None
