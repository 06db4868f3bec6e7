"""``berth app ...`` and ``berth ssh``: open a session's apps from the command line."""

from __future__ import annotations

import os
import shutil
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from berth.cli.common import client, console, err, handle_errors, print_json
from berth.client import config_path
from berth.files import write_private

app = typer.Typer(help="List and open the apps of a session (Jupyter, TensorBoard, ports...).",
                  no_args_is_help=True)
SessionArg = Annotated[str, typer.Argument(help="Session name or id.")]


@app.command("list")
@handle_errors
def list_apps(
    ref: SessionArg,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the session's apps and, for open ones, the proxy port serving them."""
    with client() as berth:
        apps = berth.apps(ref)
    if json:
        print_json(apps)
        return
    table = Table("app", "title", "kind", "container port", "open at", "public", "last traffic")
    for a in apps:
        route = a["route"]
        table.add_row(
            a["name"], a["title"], a["protocol"], str(a["container_port"] or "-"),
            route["url"] if route else "-", ("yes" if route["public"] else "no") if route else "-",
            (route["last_traffic_at"] or "-") if route else "-",
        )
    console.print(table)


@app.command("open")
@handle_errors
def open_app(
    ref: SessionArg,
    name: Annotated[str, typer.Argument(help="App: jupyter, tensorboard, sshd, port-<N>...")],
    public: Annotated[bool, typer.Option(
        "--public", help="Anyone with the URL may use it (not only your browser).")] = False,
    allow_ip: Annotated[list[str] | None, typer.Option(
        "--allow-ip", help="Only this client IP or CIDR may use it; repeat.")] = None,
    port: Annotated[int | None, typer.Option(
        "--port", help="Preferred proxy port; a free one is used if it is taken.")] = None,
    logdir: Annotated[str | None, typer.Option(
        help="TensorBoard: log directory (default /home/work/logs).")] = None,
    browser: Annotated[bool, typer.Option(
        "--browser/--no-browser", help="Also open the URL in this machine's browser.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Start the app if needed and print its URL. The URL works once: it gives the browser
    that opens it a permit for this app (unless --public)."""
    with console.status(f"starting {name}..."), client() as berth:
        opened = berth.open_app(ref, name, public=public, allowed_ips=allow_ip,
                                preferred_port=port, logdir=logdir)
    if json:
        print_json(opened)
        return
    if opened.get("ssh"):
        s = opened["ssh"]
        console.print(f"SSH/SFTP: host {s['host']}, port {s['port']}, user {s['user']}")
        console.print(f"Connect with: berth ssh {ref}")
        return
    url = opened["url"]
    if url.startswith("/"):  # the terminal lives in the web UI
        url = berth.endpoint + url
    if opened.get("message"):
        err.print(opened["message"])
    console.print(url, soft_wrap=True)
    if browser:
        webbrowser.open(url)


def key_path(session_id: str) -> Path:
    return config_path().parent / "ssh" / f"{session_id}.key"


@handle_errors
def ssh(
    ref: SessionArg,
    command: Annotated[list[str] | None, typer.Argument(
        help="A command to run instead of a shell (put it after --).")] = None,
    print_only: Annotated[bool, typer.Option(
        "--print", help="Only print the ssh command line; do not run it.")] = False,
) -> None:
    """Log in to a session over SSH as 'work' (starts its SSH app and fetches its key)."""
    with console.status("starting sshd..."), client() as berth:
        session = berth.get_session(ref)
        opened = berth.open_app(session["id"], "sshd")
        key = berth.ssh_key(session["id"])
    path = key_path(session["id"])
    write_private(path, key)
    known = path.with_suffix(".known_hosts")
    s = opened["ssh"]
    argv = ["ssh", "-i", str(path), "-p", str(s["port"]), "-o", f"UserKnownHostsFile={known}",
            "-o", "StrictHostKeyChecking=accept-new", f"{s['user']}@{s['host']}", *(command or [])]
    if print_only:
        console.print(" ".join(argv), soft_wrap=True)
        return
    if shutil.which("ssh") is None:
        err.print("[red]Error:[/red] no 'ssh' client on this machine; use --print for the "
                  "command line and the key at " + str(path))
        raise typer.Exit(1)
    os.execvp("ssh", argv)
