"""End-to-end browser tests: Playwright (sync API) driving Debian's Chromium against a real
cluster (manager + agent on the Docker engine) that serves the built web UI (webui/dist).

A missing browser, a missing or stale bundle, or a missing engine is a failure, never a skip:
run scripts/setup.sh. Every console error on a page fails the test. Tests save screenshots
into the ignored tests/.artifacts/screenshots/ (a test run writes no tracked file);
scripts/screenshots.sh copies the ones the user guide shows into docs/screenshots/. Helpers for
the tests are in ui.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from cluster import Cluster

from .ui import AGENT_CPU, CHROMIUM, CHROMIUM_ARGS, TIMEZONE, VIEWPORT, WEBUI, Account, make_account

expect.set_options(timeout=20_000)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end browser test (Chromium + real cluster)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


def _bundle_problem() -> str | None:
    index = WEBUI / "dist" / "index.html"
    if not index.is_file():
        return "webui/dist is missing"
    sources = [p for d in ("src", "public") for p in (WEBUI / d).rglob("*") if p.is_file()]
    sources += [WEBUI / n for n in ("package.json", "package-lock.json", "index.html",
                                    "vite.config.ts", "tsconfig.json")]
    newest = max(p.stat().st_mtime for p in sources if p.exists())
    if index.stat().st_mtime < newest:
        return "webui/dist is older than its sources in webui/"
    return None


@pytest.fixture(scope="package")
def browser_ready() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/setup.sh (scripts/ensure-browser.sh)")
    problem = _bundle_problem()
    if problem:
        pytest.fail(f"{problem}; run scripts/setup.sh (or `npm run build` in webui/)")


@pytest.fixture(scope="package")
def ui_cluster(docker_ready: None, browser_ready: None) -> Iterator[Cluster]:
    """One cluster for the whole e2e run (SQLite); the manager serves webui/dist at /. The
    agent offers AGENT_CPU cores and 4 GiB."""
    c = Cluster(db="sqlite", agent_env={"BERTH_AGENT_CPU": str(AGENT_CPU)}).start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def berth(ui_cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, with every session a test left behind force-ended afterwards."""
    yield ui_cluster
    ui_cluster.end_all_sessions()


@pytest.fixture(scope="package")
def playwright(ui_cluster: Cluster) -> Iterator[Playwright]:
    # Playwright's sync API keeps an event loop running in this thread while it is open: the
    # fixtures are package-scoped so it ends with the e2e tests, before any other test runs
    # (the harness's own async helpers run in a thread of their own anyway).
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright, browser_ready: None) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                   headless=True)
    yield b
    b.close()


@dataclass
class ConsoleLog:
    errors: list[str] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        url = msg.location.get("url", "") if msg.location else ""
        # The browser logs every non-2xx answer; API refusals (401, 409, 422) are expected in
        # these tests and shown by the app. Failed assets or script errors are not.
        if msg.text.startswith("Failed to load resource") and "/api/" in url:
            return
        self.errors.append(f"{msg.text} ({url})")


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


def fresh_page(browser: Browser, cluster: Cluster, console: ConsoleLog,
               end_sessions: bool = False) -> Iterator[Page]:
    """For a fixture to ``yield from``: a page in a fresh browser context (no cookies) at
    1280x720 on ``cluster``; console errors fail the test; with ``end_sessions`` the sessions
    the test left are ended afterwards."""
    context = browser.new_context(viewport=VIEWPORT, timezone_id=TIMEZONE, locale="en-US",
                                  accept_downloads=True, base_url=cluster.url)
    p = context.new_page()
    p.on("console", console.on_console)
    p.on("pageerror", lambda e: console.errors.append(f"page error: {e}"))
    try:
        yield p
    finally:
        context.close()
        if end_sessions:
            cluster.end_all_sessions()
    assert not console.errors, "console errors:\n" + "\n".join(console.errors)


@pytest.fixture
def page(browser: Browser, berth: Cluster, console: ConsoleLog) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280x720; fails the test on console errors."""
    yield from fresh_page(browser, berth, console)


@pytest.fixture
def me(berth: Cluster) -> Account:
    """A fresh admin-role account for this test (sees the owner column)."""
    return make_account(berth)
