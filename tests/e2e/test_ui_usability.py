"""What a new user tripped over (issue 7, point 9), each checked as the user sees it: underscores
in the web terminal, notifications (success closes itself, failure stays, nothing hides their
buttons), the rename field beside the drawer's actions, a phone-width screen, and the API docs
page without the internet."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, Route, expect

from cluster import Cluster, wait_status

from .ui import AGENT_CPU, Account, drawer, login_as, modal, open_session, row, shot

IMAGE = "berth/python:3.11"
PHONE = {"width": 390, "height": 844}

#: The page box of the `_` in the terminal's output line `a_b` (the DOM renderer's text).
UNDERSCORE_CELL = """() => {
  const row = [...document.querySelectorAll('.xterm-rows > div')]
    .find((r) => r.textContent.trim() === 'a_b');
  if (!row) return null;
  const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const i = n.data.indexOf('_');
    if (i < 0) continue;
    const range = document.createRange();
    range.setStart(n, i);
    range.setEnd(n, i + 1);
    const cell = range.getBoundingClientRect();
    const line = row.getBoundingClientRect();
    return { x: cell.left, y: line.top, width: cell.width, height: line.height };
  }
  return null;
}"""

#: How many pixels of a PNG are bright (the terminal draws light text on a dark background).
BRIGHT_PIXELS = """async (png) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + png;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  let bright = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] + data[i + 1] + data[i + 2] > 3 * 128) bright += 1;
  }
  return bright;
}"""


def page_width(page: Page) -> int:
    """The document's scroll width: more than the viewport means sideways scrolling."""
    return int(page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"))


def assert_usable(locator: Locator, width: int) -> None:
    """Visible, inside the viewport's width, and the topmost element at its centre (nothing
    covers it)."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (box, width)
    on_top = locator.evaluate("""(el) => {
      const r = el.getBoundingClientRect();
      const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return top !== null && (el === top || el.contains(top));
    }""")
    assert on_top, f"something covers {locator}"


def overlaps(a: Locator, b: Locator) -> bool:
    ra, rb = a.bounding_box(), b.bounding_box()
    assert ra is not None and rb is not None
    return not (ra["x"] + ra["width"] <= rb["x"] or rb["x"] + rb["width"] <= ra["x"]
                or ra["y"] + ra["height"] <= rb["y"] or rb["y"] + rb["height"] <= ra["y"])


def launch(page: Page, name: str, *, command: str | None = None, count: int = 1) -> None:
    """Launch from the launcher (what announces a session with a notification), reached from
    the sessions page's Start button: a reload would drop the notices already shown."""
    page.get_by_role("button", name="Start").first.click()
    expect(page).to_have_url(re.compile("/launch"))
    if command is not None:
        page.get_by_text("Batch", exact=True).click()
        page.get_by_label("Startup command").fill(command)
    page.get_by_label("Session name").fill(name)
    if count != 1:
        page.get_by_role("button", name="Next").click()
        page.locator("#launch-count").fill(str(count))
    page.get_by_role("button", name="Skip to review").click()
    page.get_by_test_id("launch-button").click()
    modal(page, "No storage folder is mounted").get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile("/sessions"))


def settled(page: Page) -> None:
    """Wait until nothing slides in or out (drawers, notices): boxes are where they stay."""
    page.wait_for_function("""() => !document.querySelector(
      '[class*="-appear"], [class*="-enter"], [class*="-leave"]')""")


def notice(page: Page, name: str) -> Locator:
    return page.locator(".ant-notification-notice").filter(
        has=page.get_by_text(f"Session {name}", exact=True))


def test_terminal_shows_underscores(page: Page, berth: Cluster, me: Account) -> None:
    [s] = me.client.create_session(image=IMAGE, name="underscores")
    wait_status(me.client, s["id"], "RUNNING", timeout=120)
    login_as(page, me)
    page.goto(f"/terminal/{s['id']}")
    expect(page.get_by_test_id("terminal-status")).to_have_text("connected", timeout=30_000)
    page.get_by_test_id("terminal").click()
    page.keyboard.type("echo a_b")
    page.keyboard.press("Enter")
    page.wait_for_function(f"({UNDERSCORE_CELL})() !== null", timeout=20_000)
    cell = page.evaluate(UNDERSCORE_CELL)
    # The `_` must be drawn inside its own cell: with a line height of 1 the glyph fell below
    # the row and was clipped, so the cell was empty.
    png = page.screenshot(clip=cell)
    bright = page.evaluate(BRIGHT_PIXELS, base64.b64encode(png).decode())
    assert bright > 0, f"the underscore's cell {cell} has no lit pixel"
    shot(page, "terminal-underscores")


def test_api_docs_work_offline(page: Page, berth: Cluster) -> None:
    manager = urlsplit(berth.url).netloc
    elsewhere: list[str] = []

    def only_the_manager(route: Route) -> None:
        if urlsplit(route.request.url).netloc == manager:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_manager)
    page.goto("/api/docs")
    # Swagger UI rendered the operations from /api/openapi.json, every asset from the manager.
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.locator(".swagger-ui")).to_contain_text("/api/sessions")
    assert elsewhere == [], f"the docs page asked other hosts: {elsewhere}"
    shot(page, "api-docs", full_page=False)


def test_notices_stay_usable_when_several_show(page: Page, berth: Cluster, me: Account) -> None:
    # Sessions taking all the agent's cores keep the launched ones waiting, so their notices
    # stay (a waiting session's notice does not close by itself).
    fillers = [me.client.create_session(image=IMAGE, name=f"filler-{i}", resources={"cpu": 2})[0]
               for i in range(AGENT_CPU // 2)]
    for f in fillers:
        wait_status(me.client, f["id"], "RUNNING")
    login_as(page, me)
    launch(page, "stacked", count=5)
    notices = page.locator(".ant-notification-notice")
    expect(notices.first).to_contain_text("PENDING")
    # At most three show, the newest; none is folded under another, every button is usable.
    expect(notices).to_have_count(3)
    viewport = page.viewport_size
    assert viewport is not None
    for i in range(3):
        n = notices.nth(i)
        expect(n).to_have_attribute("data-kind", "progress")
        assert_usable(n.locator(".ant-notification-notice-close"), viewport["width"])
        assert_usable(n.get_by_role("button", name="Terminate"), viewport["width"])
        assert_usable(n.get_by_role("button", name="Logs"), viewport["width"])
        for j in range(i + 1, 3):
            assert not overlaps(n, notices.nth(j)), f"notices {i} and {j} overlap"
    # They keep to a corner: the page's own controls stay reachable.
    assert_usable(page.get_by_role("button", name="Start"), viewport["width"])
    assert_usable(page.get_by_test_id("user-menu"), viewport["width"])
    shot(page, "notifications-stacked")


def test_success_closes_itself_failure_stays(page: Page, berth: Cluster, me: Account) -> None:
    login_as(page, me)
    launch(page, "job-fails", command="echo failing; exit 3")
    failed = notice(page, "job-fails")
    expect(failed).to_have_attribute("data-kind", "failure", timeout=90_000)
    expect(failed).to_have_class(re.compile("ant-notification-notice-error"))
    expect(failed.get_by_test_id("outcome")).to_have_text("Failed · exit 3")

    launch(page, "runs-fine")
    ok = notice(page, "runs-fine")
    expect(ok).to_have_attribute("data-kind", "success", timeout=90_000)
    expect(ok).to_have_class(re.compile("ant-notification-notice-success"))
    expect(ok).to_contain_text("RUNNING")
    shot(page, "notifications-outcomes")
    # The success closes by itself after a few seconds (the pointer away: hovering pauses it) ...
    page.mouse.move(0, 0)
    expect(ok).to_be_hidden(timeout=30_000)
    # ... while the failure, older than it, is still there until its close button is used.
    expect(failed).to_be_visible()
    failed.locator(".ant-notification-notice-close").click()
    expect(failed).to_be_hidden()
    # The bell keeps both.
    page.get_by_role("button", name="Notifications").click()
    listing = page.get_by_test_id("notification-list")
    expect(listing).to_contain_text("job-fails")
    expect(listing).to_contain_text("runs-fine")


def test_rename_field_leaves_the_actions_usable(page: Page, berth: Cluster, me: Account) -> None:
    [s] = me.client.create_session(image=IMAGE, name="a-rather-long-session-name-to-rename")
    wait_status(me.client, s["id"], "RUNNING")
    login_as(page, me)
    open_session(page, "a-rather-long-session-name-to-rename")
    panel = drawer(page)
    panel.get_by_role("button", name="Rename").click()
    field = panel.get_by_label("New session name")
    expect(field).to_be_focused()
    rename_box = panel.locator(".ant-form-item").filter(
        has=page.get_by_label("New session name"))
    viewport = page.viewport_size
    assert viewport is not None
    for name in ("Apps", "Terminal", "Logs", "Terminate"):
        button = panel.get_by_role("button", name=name)
        assert_usable(button, viewport["width"])
        assert not overlaps(rename_box, button), f"the rename field covers {name}"
    assert_usable(field, viewport["width"])
    shot(page, "rename-field")


def test_phone_width_has_no_sideways_scrolling(page: Page, berth: Cluster, me: Account) -> None:
    [s] = me.client.create_session(image=IMAGE, name="on-the-phone")
    [done] = me.client.create_session(type="batch", image=IMAGE, name="phone-batch",
                                      startup_command="true")
    wait_status(me.client, s["id"], "RUNNING")
    wait_status(me.client, done["id"], {"TERMINATED", "ERROR"})
    page.set_viewport_size(PHONE)
    width = PHONE["width"]
    login_as(page, me)

    # Sessions page and header.
    expect(row(page, s["id"])).to_contain_text("RUNNING")
    assert page_width(page) <= width
    for control in (page.get_by_role("button", name="Start"),
                    page.get_by_role("button", name="Notifications"),
                    page.get_by_test_id("user-menu"),
                    page.get_by_test_id("state-switch"),
                    row(page, s["id"]).get_by_test_id("session-name"),
                    # The status is seen without scrolling the table sideways.
                    row(page, s["id"]).get_by_text("RUNNING", exact=True)):
        assert_usable(control, width)
    shot(page, "phone-sessions")

    # Finished sessions show their result.
    page.get_by_test_id("state-switch").get_by_text("Finished").click()
    expect(row(page, done["id"]).get_by_test_id("outcome")).to_have_text("Succeeded · exit 0")
    assert_usable(row(page, done["id"]).get_by_test_id("outcome"), width)
    assert page_width(page) <= width

    # The detail drawer fits, its actions usable.
    page.get_by_test_id("state-switch").get_by_text("Running").click()
    open_session(page, "on-the-phone")
    panel = drawer(page)
    settled(page)
    box = panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5
    for name in ("Logs", "Terminate"):
        assert_usable(panel.get_by_role("button", name=name), width)
    assert page_width(page) <= width
    shot(page, "phone-drawer")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    # The launcher: the form gets the width, its buttons stay on the screen.
    page.goto("/launch")
    expect(page.get_by_label("Session name")).to_be_visible()
    assert_usable(page.get_by_label("Session name"), width)
    assert_usable(page.get_by_role("button", name="Next"), width)
    assert page_width(page) <= width
    shot(page, "phone-launcher")
    page.get_by_role("button", name="Skip to review").click()
    expect(page.get_by_test_id("launch-button")).to_be_visible()
    assert_usable(page.get_by_test_id("launch-button"), width)
    assert page_width(page) <= width
    shot(page, "phone-launcher-review")
