"""The ``berth`` command."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from berth.cli import admin, agents, apps, commit, folder, logins, resources, session
from berth.cli.common import client, console, err, handle_errors, print_json, size
from berth.client import Client, save_config

if TYPE_CHECKING:
    from berth.settings import ManagerSettings

app = typer.Typer(
    help="Berth: compute sessions in containers on your own servers.",
    no_args_is_help=True,
)
app.add_typer(session.app, name="session")
app.add_typer(apps.app, name="app")
app.add_typer(logins.app, name="logins")
app.add_typer(folder.app, name="folder")
app.add_typer(admin.app, name="admin")
app.add_typer(resources.resources_app, name="resources")
app.command("ssh")(apps.ssh)
app.command("run")(session.run)
app.command("agents")(agents.list_agents)
user_app = typer.Typer(help="Users (admins).", no_args_is_help=True)
key_app = typer.Typer(help="Your API keys for the CLI and SDK.", no_args_is_help=True)
image_app = typer.Typer(help="Environment images.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="key")
app.add_typer(image_app, name="image")
# Commit to image (issue 12): berth/cli/commit.py.
session.app.command("commit")(commit.commit)
session.app.command("commit-status")(commit.commit_status)
image_app.command("customized")(commit.image_customized)
image_app.command("rm")(commit.image_rm)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )


@app.command()
def manager(log_level: Annotated[str, typer.Option(help="Log level.")] = "info") -> None:
    """Run the manager alone (API, scheduler, watchdog). Applies database migrations first."""
    import uvicorn

    from berth.manager.app import create_app
    from berth.manager.db.engine import upgrade_sync
    from berth.settings import ManagerSettings

    _logging(log_level)
    settings = ManagerSettings()
    upgrade_sync(settings.resolved_database_url())
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )


@app.command()
def agent(log_level: Annotated[str, typer.Option(help="Log level.")] = "info") -> None:
    """Run an agent alone: it runs kernels on this node's Docker Engine."""
    import uvicorn

    from berth.agent.server import create_agent_app
    from berth.settings import AgentSettings, AgentTokenMissing

    _logging(log_level)
    try:
        settings = AgentSettings()
    except ValueError as e:  # pydantic's ValidationError: e.g. a cpuset naming missing cores
        err.print(f"[red]invalid agent settings: {e}[/red]", highlight=False)
        raise typer.Exit(2) from None
    try:
        agent_app = create_agent_app(settings)
    except AgentTokenMissing as e:
        err.print(f"[red]{e}[/red]", highlight=False)
        raise typer.Exit(2) from None
    uvicorn.run(
        agent_app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )


def _first_admin() -> None:
    from berth.manager.db.engine import make_engine, make_sessionmaker, upgrade_sync
    from berth.manager.services.users import FIRST_ADMIN_EMAIL, ensure_defaults, ensure_first_admin
    from berth.settings import ManagerSettings

    settings = ManagerSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # the database holds password hashes and the agent token
    url = settings.resolved_database_url()
    upgrade_sync(url)

    async def go() -> str | None:
        engine = make_engine(url)
        try:
            maker = make_sessionmaker(engine)
            await ensure_defaults(maker)
            return await ensure_first_admin(maker, settings.data_dir / "initial-credentials")
        finally:
            await engine.dispose()

    password = asyncio.run(go())
    if password:
        console.print("[bold]First superadmin created (shown once):[/bold]")
        console.print(f"  email:    {FIRST_ADMIN_EMAIL}\n  password: {password}")
        console.print(f"  (also kept in {settings.data_dir / 'initial-credentials'}, mode 0600)")


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    with console.status("starting the manager..."):
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    proc.terminate()
    err.print(f"[red]The manager did not answer at {url}; see the log above.[/red]")
    raise typer.Exit(1)


def _agent_env(settings: ManagerSettings) -> dict[str, str]:
    """The agent's environment under ``berth up``: unless told otherwise (environment or the
    config file's ``[agent] manager_url``), it reports to this very manager, whatever port
    and address the manager was given."""
    from berth.settings import AgentSettings

    env = dict(os.environ)
    if AgentSettings().manager_url == AgentSettings.model_fields["manager_url"].default:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        host = f"[{host}]" if ":" in host else host
        env["BERTH_AGENT_MANAGER_URL"] = f"http://{host}:{settings.port}"
    return env


@app.command()
def up(log_level: Annotated[str, typer.Option(help="Log level.")] = "warning") -> None:
    """Run Berth on this machine: the manager and an agent, with an embedded database.

    Either of them that stops is restarted (after 1 s, doubling up to 30 s while it keeps
    failing); the other keeps serving. Stopping Berth (Ctrl-C) leaves running sessions running;
    the next 'berth up' picks them up.
    """
    from berth.cli.supervise import supervise
    from berth.settings import ManagerSettings

    settings = ManagerSettings()
    _first_admin()
    cmd = [sys.executable, "-m", "berth.cli.main"]
    url = f"http://{settings.host}:{settings.port}"

    agent_env = _agent_env(settings)

    def spawn(what: str) -> subprocess.Popen[bytes]:
        env = agent_env if what == "agent" else None
        return subprocess.Popen([*cmd, what, "--log-level", log_level], env=env)

    procs = {"manager": spawn("manager")}
    _wait_healthy(url, procs["manager"])
    procs["agent"] = spawn("agent")
    console.print(
        f"Berth is up at [bold]{url}[/bold] (API docs: {url}/api/docs). "
        "Ctrl-C stops Berth; sessions keep running."
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        supervise(spawn, procs, lambda: stopping,  # type: ignore[arg-type]
                  lambda line: err.print(f"berth up: {line}", markup=False, highlight=False,
                                            soft_wrap=True))
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


@app.command()
@handle_errors
def login(
    email: Annotated[str | None, typer.Option(help="Your email.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Manager URL.")] = None,
) -> None:
    """Log in with email and password; saves an API key for the CLI (mode 0600)."""
    email = email or typer.prompt("Email")
    password = os.environ.get("BERTH_PASSWORD") or getpass.getpass("Password: ")
    with Client(endpoint=endpoint, api_key="") as berth:
        data = berth.login(email, password, label=f"berth login on {socket.gethostname()}"[:64])
        path = save_config(berth.endpoint, data["token"])
    console.print(
        f"Logged in as {data['user']['email']} ({data['user']['role']}); key saved in {path}"
    )


@user_app.command("create")
@handle_errors
def user_create(
    email: Annotated[str, typer.Argument(help="The new user's email.")],
    role: Annotated[str, typer.Option(help="user, admin or superadmin.")] = "user",
    full_name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None, typer.Option(help="Password (default: prompt, or BERTH_NEW_PASSWORD).")
    ] = None,
) -> None:
    """Create a user (admins; only a superadmin may create admins)."""
    password = (
        password
        or os.environ.get("BERTH_NEW_PASSWORD")
        or getpass.getpass("Password for the new user: ")
    )
    with client() as berth:
        u = berth.request(
            "POST",
            "/api/users",
            json={"email": email, "password": password, "role": role, "full_name": full_name},
        )
    console.print(f"created {u['email']} ({u['role']}) id {u['id']}")


@user_app.command("list")
@handle_errors
def user_list(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users (admins)."""
    with client() as berth:
        users = berth.request("GET", "/api/users")
    if json:
        print_json(users)
        return
    table = Table("email", "role", "name", "id")
    for u in users:
        table.add_row(u["email"], u["role"], u["full_name"], u["id"])
    console.print(table)


@key_app.command("create")
@handle_errors
def key_create(label: Annotated[str, typer.Option(help="What the key is for.")] = "") -> None:
    """Create an API key; the token is printed once."""
    with client() as berth:
        k = berth.request("POST", "/api/keys", json={"label": label})
    console.print(f"access key {k['access_key']}\ntoken (shown once): {k['token']}")


@key_app.command("list")
@handle_errors
def key_list() -> None:
    """List your API keys."""
    with client() as berth:
        keys = berth.request("GET", "/api/keys")
    table = Table("access key", "label", "created", "last used")
    for k in keys:
        table.add_row(k["access_key"], k["label"], k["created_at"], k["last_used_at"] or "-")
    console.print(table)


@key_app.command("delete")
@handle_errors
def key_delete(access_key: str) -> None:
    """Revoke one of your API keys."""
    with client() as berth:
        berth.request("DELETE", f"/api/keys/{access_key}")
    console.print(f"revoked {access_key}")


@image_app.command("list")
@handle_errors
def image_list(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Environment images you can launch."""
    with client() as berth:
        images = berth.images()
    if json:
        print_json(images)
        return
    if not images:
        console.print("No images yet. Build them with 'berth image build'.")
        return
    table = Table("environment", "version", "image", "apps", "min cpu", "min mem")
    for i in images:
        customized = (i["labels"] or {}).get("berth.customized-name")
        table.add_row(
            i["display_name"] + (" (customized)" if customized else ""),
            i["version"],
            i["ref"],
            ", ".join(a["name"] for a in i["apps"]),
            i["min_slots"].get("cpu", "0"),
            size(i["min_slots"].get("mem", "0") or 0),
        )
    console.print(table)


@image_app.command("build")
def image_build(
    force: Annotated[bool, typer.Option(help="Rebuild even if cached.")] = False,
) -> None:
    """Build the bundled environment images from images/ (cached by recipe hash)."""
    from pathlib import Path

    from berth.images.build import build_all

    images_dir = Path(os.environ.get("BERTH_IMAGES_DIR", Path.cwd() / "images"))
    asyncio.run(build_all(images_dir, force=force))


if __name__ == "__main__":
    app()
