"""Apps of a session: the app launcher (from the sessions list), Jupyter through the app proxy,
the browser terminal (xterm on tmux) seeing what Jupyter wrote, a second tmux window,
reconnecting to the same tmux session; SSH/SFTP details with the key download, and the
launcher's client-side checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

from cluster import Cluster, wait_status

from .ui import Account, login_as, modal, row, shot

if TYPE_CHECKING:
    from .conftest import ConsoleLog

IMAGE = "berth/python:3.11"
#: Starting JupyterLab (and its first kernel) in a fresh container takes a while.
APP_START_MS = 90_000


def launcher_dialog(page: Page, session_id: str, name: str):  # type: ignore[no-untyped-def]
    """Open the app launcher from the session's row in the sessions list."""
    row(page, session_id).get_by_role("button", name="Apps", exact=True).click()
    dialog = modal(page, f"Apps of {name}")
    expect(dialog.get_by_test_id("app-tile-jupyter")).to_be_visible()
    return dialog


def test_jupyter_and_terminal_share_the_kernel(page: Page, berth: Cluster, me: Account,
                                                console: ConsoleLog) -> None:
    [s] = me.client.create_session(image=IMAGE, name="apps-demo", preopen_ports=[8080])
    wait_status(me.client, s["id"], "RUNNING", timeout=120)
    login_as(page, me)
    expect(row(page, s["id"])).to_contain_text("RUNNING")

    dialog = launcher_dialog(page, s["id"], "apps-demo")
    for tile, title in [("jupyter", "Jupyter"), ("terminal", "Terminal"),
                        ("tensorboard", "TensorBoard"), ("sshd", "SSH/SFTP"),
                        ("port-8080", "Port 8080")]:
        expect(dialog.get_by_test_id(f"app-tile-{tile}")).to_contain_text(title)
    expect(dialog.get_by_text("Open to public")).to_be_visible()
    expect(dialog.get_by_text("Try preferred port")).to_be_visible()
    shot(page, "apps-launcher")

    # Jupyter: a blank window opens at the click and is sent through the proxy into JupyterLab.
    with page.context.expect_page() as opened:
        dialog.get_by_test_id("app-tile-jupyter").get_by_role("button").click()
    jupyter = opened.value
    # The one-time link (/__berth__/permit?token=...&next=/lab) sets a permit and redirects.
    expect(jupyter).to_have_url(re.compile(r"^http://[^/]+/lab"), timeout=APP_START_MS)
    expect(jupyter.locator(".jp-Launcher")).to_be_visible(timeout=APP_START_MS)
    jupyter.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    cell = jupyter.locator(".jp-Notebook .jp-Cell").first
    editor = cell.locator(".cm-content")
    expect(editor).to_be_visible(timeout=APP_START_MS)
    # Type only once the kernel is up: JupyterLab's toolbar says so.
    expect(jupyter.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=APP_START_MS)
    editor.click()
    jupyter.keyboard.type("open('/home/work/from-jupyter.txt', 'w').write('hi')")
    expect(editor).to_contain_text("from-jupyter.txt")
    # Through the menu rather than Shift+Enter at once: the editor hands its text to the
    # notebook's model a moment after the keystrokes, and an empty cell does not run. Should
    # the model still have been empty, the second "Run All" runs the text.
    prompt = cell.locator(".jp-InputPrompt")
    ran = re.compile(r"\[\d+\]")  # the execution count, once the kernel ran the cell
    for attempt in range(2):
        jupyter.locator(".lm-MenuBar-itemLabel").get_by_text("Run", exact=True).click()
        jupyter.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
        try:
            expect(prompt).to_have_text(ran, timeout=30_000 if attempt == 0 else APP_START_MS)
            break
        except AssertionError:
            if attempt:
                raise
    expect(cell.locator(".jp-OutputArea")).to_contain_text("2")  # write() returned 2
    shot(jupyter, "apps-jupyter")

    # The route shows in the launcher; the Terminal button opens the terminal window.
    page.bring_to_front()
    expect(dialog.get_by_test_id("app-tile-jupyter")).to_contain_text("port")
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden()
    with page.context.expect_page() as opened:
        row(page, s["id"]).get_by_role("button", name="Terminal", exact=True).click()
    term = opened.value
    term.on("console", console.on_console)
    term.on("pageerror", lambda e: console.errors.append(f"terminal page error: {e}"))
    expect(term).to_have_url(re.compile(f"/terminal/{s['id']}$"))
    expect(term.get_by_test_id("terminal")).to_be_visible()
    expect(term.get_by_test_id("terminal-status")).to_have_text("connected", timeout=30_000)
    expect(term).to_have_title("Terminal — apps-demo")
    expect(term.get_by_test_id("terminal-help")).to_contain_text("Ctrl-B c new shell")
    screen = term.locator(".xterm-rows")

    # What Jupyter wrote is there: both apps run in the same kernel.
    term.get_by_test_id("terminal").click()
    term.keyboard.type("ls /home/work")
    term.keyboard.press("Enter")
    expect(screen).to_contain_text("from-jupyter.txt", timeout=20_000)

    # tmux: Ctrl-B c opens a second shell.
    term.keyboard.press("Control+b")
    term.keyboard.press("c")
    expect(screen).to_contain_text("1:bash*", timeout=20_000)  # tmux's status line: window 1
    expect(screen).to_contain_text("work@main1:~$", timeout=20_000)
    term.keyboard.type("echo second-$((6*7))")
    term.keyboard.press("Enter")
    expect(screen).to_contain_text("second-42", timeout=20_000)
    shot(term, "apps-terminal")

    # Detaching ends this connection; Reconnect attaches to the same tmux session again.
    term.keyboard.press("Control+b")
    term.keyboard.press("d")
    banner = term.get_by_test_id("terminal-disconnected")
    expect(banner).to_contain_text("Disconnected:", timeout=20_000)
    banner.get_by_role("button", name="Reconnect").click()
    expect(term.get_by_test_id("terminal-status")).to_have_text("connected", timeout=30_000)
    expect(banner).to_be_hidden()
    expect(screen).to_contain_text("second-42", timeout=20_000)


def test_ssh_details_key_download_and_option_checks(page: Page, berth: Cluster, me: Account,
                                                    tmp_path: Path) -> None:
    [s] = me.client.create_session(image=IMAGE, name="apps-ssh")
    wait_status(me.client, s["id"], "RUNNING", timeout=120)
    login_as(page, me)
    dialog = launcher_dialog(page, s["id"], "apps-ssh")

    # Client-side checks at their fields: nothing is opened while one fails.
    dialog.get_by_text("Open to public").click()
    ips = dialog.get_by_label("Allowed client IPs")
    ips.fill("127.0.0.1, 10.0.0.300")
    expect(dialog).to_contain_text('"10.0.0.300" is not an IPv4/IPv6 address or network (CIDR)')
    ips.fill("127.0.0.1 10.0.0.0/33")
    expect(dialog).to_contain_text('"10.0.0.0/33": the prefix length must be 0 to 32')
    ips.fill("127.0.0.1, ::1, 10.0.0.0/8 2001:db8::/32")
    expect(dialog.locator(".ant-form-item-explain-error")).to_have_count(0)
    dialog.get_by_text("Open to public").click()
    dialog.get_by_text("Try preferred port").click()
    expect(dialog.get_by_label("Preferred port", exact=True)).to_be_visible()
    dialog.get_by_test_id("app-tile-sshd").get_by_role("button").click()
    expect(dialog).to_contain_text("enter a port number")
    expect(dialog.get_by_test_id("ssh-panel")).to_have_count(0)
    dialog.get_by_text("Try preferred port").click()
    expect(dialog).not_to_contain_text("enter a port number")

    # TensorBoard asks for its log directory first (default /home/work/logs).
    dialog.get_by_test_id("app-tile-tensorboard").get_by_role("button").click()
    logdir = dialog.get_by_label("TensorBoard log directory")
    expect(logdir).to_have_value("/home/work/logs")
    logdir.fill("logs")
    dialog.get_by_role("button", name="Open TensorBoard").click()
    expect(dialog).to_contain_text("must be an absolute path inside the session")
    dialog.get_by_role("button", name="Cancel").click()
    expect(logdir).to_be_hidden()

    # SSH/SFTP: no window; host, port, user, example commands and the private key.
    dialog.get_by_test_id("app-tile-sshd").get_by_role("button").click()
    panel = dialog.get_by_test_id("ssh-panel")
    expect(panel).to_be_visible(timeout=30_000)
    command = panel.get_by_test_id("ssh-command")
    expect(command).to_have_text(re.compile(r"^ssh -i id_container -p \d+ work@\S+$"))
    ssh_port = re.search(r"-p (\d+)", command.inner_text()).group(1)  # type: ignore[union-attr]
    expect(panel.get_by_test_id("sftp-command")).to_have_text(
        re.compile(rf"^sftp -i id_container -P {ssh_port} work@\S+$"))
    expect(panel).to_contain_text("/home/work/id_container")
    shot(page, "apps-ssh")
    with page.expect_download() as info:
        panel.get_by_role("button", name="Download key").click()
    download = info.value
    assert download.suggested_filename == "id_container"
    saved = tmp_path / "id_container"
    download.save_as(saved)
    assert "PRIVATE KEY" in saved.read_text()
    panel.get_by_role("button", name="Back to apps").click()
    expect(dialog.get_by_test_id("app-tile-jupyter")).to_be_visible()
