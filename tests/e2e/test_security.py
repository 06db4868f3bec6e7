"""No Berth credential reaches a user's app, and no page of an app can act on the manager with
its visitor's login: in Chromium, with the victim logged in to the web UI, against an app
served by the app proxy (another origin on the same host, which browsers send the host's
cookies to), and over plain HTTP.

The "hostile" app is a small Python server in the attacker's session on a preopened port,
opened to public: ``/echo`` answers with the request headers it got, ``/hostile`` is a page
whose script calls the manager with ``credentials: 'include'``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

from cluster import Cluster, wait_for, wait_status
from dockerutil import exec_in

from .ui import TIMEZONE, VIEWPORT, Account, login_as, make_account

PYTHON_IMAGE = "berth/python:3.11"
SERVER = r"""
import http.server, sys
PAGE = open("/tmp/hostile.html", "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/hostile"):
            body, kind = PAGE, "text/html"
        else:
            body, kind = (self.requestline + "\n" + str(self.headers)).encode(), "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"""

#: Each attempt the way a page of another origin gets furthest: GET and POSTs as "simple"
#: requests (no preflight: no body, or text/plain), PATCH as it must (with its preflight).
HOSTILE = """<!doctype html><html><head><title>cat pictures</title></head><body>
<pre id="out">working</pre><script>
const q = new URLSearchParams(location.search);
const m = q.get("manager"), sid = q.get("sid");
const tries = [
  ["whoami", "GET", "/api/users/me", null],
  ["terminate", "POST", "/api/sessions/" + sid + "/terminate", null],
  ["rename", "PATCH", "/api/sessions/" + sid, JSON.stringify({name: "pwned"})],
  ["open-app", "POST", "/api/sessions/" + sid + "/apps/port-8080/open",
   JSON.stringify({public: true})],
  ["create", "POST", "/api/sessions", JSON.stringify({image: "berth/python:3.11",
   name: "planted"})],
  ["logout", "POST", "/api/auth/logout", null],
];
async function attempt(method, path, body) {
  const simple = method !== "PATCH";
  const init = {method, credentials: "include", mode: simple ? "no-cors" : "cors"};
  if (body !== null) {
    init.body = body;
    init.headers = {"Content-Type": simple ? "text/plain" : "application/json"};
  }
  try { const r = await fetch(m + path, init); return "answered " + r.status; }
  catch (e) { return "blocked " + e.name; }
}
(async () => {
  const out = {};
  for (const [name, method, path, body] of tries) out[name] = await attempt(method, path, body);
  document.getElementById("out").textContent = JSON.stringify(out);
  document.title = "done";
})();
</script></body></html>"""


def start_server(session: dict[str, Any], port: int = 8080) -> None:
    """Start the echo/hostile server in the session and wait until it answers."""
    kernel = session["kernels"][0]
    files = {"/tmp/srv.py": SERVER, "/tmp/hostile.html": HOSTILE}
    script = " && ".join(f"echo {base64.b64encode(text.encode()).decode()} | base64 -d > {path}"
                         for path, text in files.items())
    exec_in(kernel["container_id"], "sh", "-c", f"{script} && (nohup python3 /tmp/srv.py "
            f"{port} >/dev/null 2>&1 &)")
    host_port = next(p["host_port"] for p in kernel["app_ports"] if p["protocol"] == "preopen")
    wait_for(lambda: answers(f"http://127.0.0.1:{host_port}/echo"), 30, what="the app server")


def running_session(account: Account, name: str) -> dict[str, Any]:
    [s] = account.client.create_session(image=PYTHON_IMAGE, name=name, preopen_ports=[8080],
                                        resources={"cpu": 1, "mem": "1g"})
    return wait_status(account.client, s["id"], "RUNNING", 120)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def public_app(cluster: Cluster) -> tuple[Account, str]:
    """The attacker's public app serving /echo and /hostile: (attacker, its base URL)."""
    attacker = make_account(cluster, role="user")
    s = running_session(attacker, f"lure-{secrets.token_hex(3)}")
    start_server(s)
    opened = attacker.client.open_app(s["id"], "port-8080", public=True)
    base = opened["url"].split("/__berth__/")[0]
    wait_for(lambda: answers(f"{base}/echo"), 30, what="the hostile app")
    return attacker, base


@pytest.fixture
def context(browser: Browser, berth: Cluster) -> Iterator[BrowserContext]:
    """A fresh browser (no cookies). Console errors are not checked here: the hostile page
    makes the browser log the requests it blocks, which is the point."""
    ctx = browser.new_context(viewport=VIEWPORT, timezone_id=TIMEZONE, locale="en-US",
                              base_url=berth.url)
    yield ctx
    ctx.close()


def cookie_sent(response: Response, name: str) -> bool:
    cookie = response.request.all_headers().get("cookie", "")
    return re.search(rf"(^|;\s*){name}=", cookie) is not None


def test_a_public_app_never_sees_its_visitors_login(berth: Cluster, context: BrowserContext,
                                                     me: Account) -> None:
    _, app = public_app(berth)
    # The victim uses the web UI and has a permit for an app of their own.
    page = context.new_page()
    login_as(page, me)
    own = running_session(me, "victim-own-app")
    start_server(own)
    own_app = me.client.open_app(own["id"], "port-8080")
    page.goto(own_app["url"])
    jar = {c["name"]: c["value"] for c in context.cookies()}
    assert "berth_login" in jar and any(n.startswith("berth_app_") for n in jar)

    response = page.goto(f"{app}/echo")
    assert response is not None and response.status == 200
    assert cookie_sent(response, "berth_login")  # the browser did send it to the app's port
    seen = page.locator("body").inner_text()
    assert seen.startswith("GET /echo")
    for secret in ("berth_", jar["berth_login"], *[v for n, v in jar.items()
                                                    if n.startswith("berth_app_")]):
        assert secret not in seen

    # Plain HTTP: whatever a client sends, the app gets no Berth credential.
    api_key = me.client.http.headers["Authorization"].split()[1]
    basic = base64.b64encode(f"{api_key}:x".encode()).decode()
    for auth in (f"Bearer {api_key}", f"Basic {basic}", api_key):
        r = httpx.get(f"{app}/echo", headers={"Authorization": auth, "Cookie": (
            f"berth_login={jar['berth_login']}; berth_token={api_key}; theme=dark; "
            + "; ".join(f"{n}={v}" for n, v in jar.items() if n.startswith("berth_app_")))})
        assert r.status_code == 200 and "theme=dark" in r.text
        for secret in (jar["berth_login"], api_key, api_key.split(".")[0], basic, "berth_"):
            assert secret not in r.text
        assert "Authorization" not in r.text


def test_a_page_of_an_app_port_cannot_act_on_the_manager(berth: Cluster, me: Account,
                                                         context: BrowserContext) -> None:
    target = running_session(me, "keep-me")
    _, app = public_app(berth)
    page = context.new_page()
    login_as(page, me)
    to_manager: list[Response] = []
    page.on("response", lambda r: to_manager.append(r) if r.url.startswith(
        f"{berth.url}/api/") else None)
    page.goto(f"{app}/hostile?manager={berth.url}&sid={target['id']}")
    expect(page).to_have_title("done")
    results = json.loads(page.locator("#out").inner_text())
    assert set(results) == {"whoami", "terminate", "rename", "open-app", "create", "logout"}

    # The browser does send the victim's login from this page (a read works: the attack is
    # real), yet every state change that reached the manager got 403.
    reached = {(r.request.method, r.url.removeprefix(berth.url)): r for r in to_manager
               if r.request.method != "OPTIONS"}
    assert reached.pop(("GET", "/api/users/me")).status == 200
    sid = target["id"]
    for path in (f"/api/sessions/{sid}/terminate", f"/api/sessions/{sid}/apps/port-8080/open",
                 "/api/sessions", "/api/auth/logout"):
        assert reached[("POST", path)].status == 403, path
    changes = {k: r.status for k, r in reached.items() if k[0] != "GET"}
    assert set(changes.values()) == {403}, changes  # (the PATCH never passed its preflight)

    # And the state shows it: still RUNNING under its name, no route, no new session, and the
    # browser is still logged in.
    after = me.client.get_session(sid)
    assert after["status"] == "RUNNING" and after["name"] == "keep-me"
    assert all(a["route"] is None for a in me.client.apps(sid))
    names = [s["name"] for s in me.client.list_sessions(limit=50)["items"]]
    assert "planted" not in names
    page.goto("/sessions")
    expect(page.get_by_test_id("user-menu")).to_contain_text(me.email)
    # The web UI itself (same origin) still acts with the same cookie.
    assert context.request.post(f"{berth.url}/api/sessions/{sid}/terminate",
                                headers={"Origin": berth.url}).ok


@pytest.fixture
def app_host_cluster(docker_ready: None, browser_ready: None) -> Iterator[Cluster]:
    """A cluster serving apps on a host name of their own: the manager on 127.0.0.1, the
    apps on ``localhost`` (a browser keeps separate cookies for the two names)."""
    c = Cluster(db="sqlite", manager_env={"BERTH_PROXY_PUBLIC_HOST": "localhost"}).start()
    try:
        yield c
    finally:
        c.close()


def test_apps_on_a_host_name_of_their_own_get_no_manager_cookie(
        app_host_cluster: Cluster, browser: Browser) -> None:
    cluster = app_host_cluster
    me = make_account(cluster)
    ctx = browser.new_context(viewport=VIEWPORT, base_url=cluster.url)
    try:
        page = ctx.new_page()
        login_as(page, me)
        s = running_session(me, "own-host")
        start_server(s)
        opened = me.client.open_app(s["id"], "port-8080")
        assert opened["url"].startswith(f"http://localhost:{opened['proxy_port']}/__berth__/permit?")
        # The permit is set by the proxy on the app's host name and works there.
        response = page.goto(opened["url"].replace("next=/", "next=/echo"))
        assert response is not None and response.status == 200
        assert page.url == f"http://localhost:{opened['proxy_port']}/echo"
        by_host = {(c["domain"], c["name"]) for c in ctx.cookies()}
        assert ("127.0.0.1", "berth_login") in by_host
        assert ("localhost", f"berth_app_{opened['proxy_port']}") in by_host
        assert not cookie_sent(response, "berth_login")  # never even sent to the app host
        assert "berth_" not in page.locator("body").inner_text()
        # Without the permit (another browser) the private app stays closed.
        assert httpx.get(f"http://localhost:{opened['proxy_port']}/echo").status_code == 403
    finally:
        ctx.close()
        cluster.end_all_sessions()


def test_the_logins_menu_lists_and_revokes_logins(page: Page, berth: Cluster,
                                                  me: Account) -> None:
    other = httpx.Client(base_url=berth.url, headers={"Origin": berth.url,
                                                      "User-Agent": "OtherDevice/9"})
    assert other.post("/api/auth/login", json={"email": me.email,
                                               "password": me.password}).status_code == 200
    login_as(page, me)
    page.get_by_test_id("user-menu").click()
    page.get_by_role("menuitem", name="Logins").click()
    dialog = page.get_by_test_id("logins-modal")
    rows = dialog.get_by_test_id("login-row")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="This browser")).to_have_count(1)
    theirs = rows.filter(has_text="OtherDevice/9")
    theirs.get_by_role("button", name="Revoke").click()
    page.locator(".ant-popconfirm").get_by_role("button", name="Revoke").click()
    expect(rows).to_have_count(1)
    assert other.get("/api/users/me").status_code == 401
    # Revoking this browser's own login logs it out.
    rows.get_by_role("button", name="Revoke").click()
    page.locator(".ant-popconfirm").get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
