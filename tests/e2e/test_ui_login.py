"""Login and logout in the browser: wrong credentials, reload keeps you in, logout."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cluster import Cluster

from .ui import ADMIN_EMAIL, login_admin, shot


def test_wrong_password_shows_a_clear_message(page: Page, berth: Cluster) -> None:
    page.goto("/sessions")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsessions$"))
    shot(page, "login")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("Wrong email or password")
    expect(page).to_have_url(re.compile("/login"))
    shot(page, "login-wrong-password")


def test_login_survives_reload_and_logout_ends_it(page: Page, berth: Cluster) -> None:
    login_admin(page, berth)
    expect(page).to_have_url(re.compile(r"/sessions$"))
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()

    page.reload()
    expect(page.get_by_test_id("user-menu")).to_contain_text(ADMIN_EMAIL)
    expect(page).to_have_url(re.compile(r"/sessions$"))

    page.get_by_test_id("user-menu").click()
    page.get_by_role("menuitem", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    # The cookie's key was revoked: a reload or a direct visit does not get back in.
    page.goto("/sessions")
    expect(page).to_have_url(re.compile("/login"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert page.request.get("/api/users/me").status == 401
