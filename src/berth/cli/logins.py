"""``berth logins``: your browser logins (web UI), listed and revoked from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from berth.cli.common import ago, client, console, handle_errors, print_json

app = typer.Typer(help="Your browser logins (the web UI's), to review and revoke.",
                  no_args_is_help=True)


@app.command("list")
@handle_errors
def list_logins(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Your browser logins that have not expired, newest first."""
    with client() as berth:
        logins = berth.logins()
    if json:
        print_json(logins)
        return
    if not logins:
        console.print("No browser logins.")
        return
    table = Table("id", "created", "last used", "expires", "address", "browser")
    for item in logins:
        table.add_row(item["id"], ago(item["created_at"]) + " ago",
                      ago(item["last_used_at"]) + " ago", item["expires_at"][:16],
                      item["client_ip"] or "-", item["user_agent"][:40] or "-")
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(login_id: Annotated[str, typer.Argument(help="The login's id (see 'list').")]
           ) -> None:
    """End one of your browser logins: that browser is logged out at its next request."""
    with client() as berth:
        berth.revoke_login(login_id)
    console.print(f"revoked login {login_id}")
