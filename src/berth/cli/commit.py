"""Commit to image (issue 12) in the CLI: ``berth session commit``, ``berth image rm`` and
``berth image customized`` (registered by :mod:`berth.cli.session` and :mod:`berth.cli.main`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from berth.cli.common import client, console, err, handle_errors, print_json, size


def _describe(task: dict[str, Any]) -> str:
    known = f", {size(task['size'])}" if task.get("size") else ""
    return f"{task['phase']}{known}"


@handle_errors
def commit(
    ref: Annotated[str, typer.Argument(help="Session name or id (RUNNING, interactive).")],
    image_name: Annotated[str, typer.Argument(
        help="The customized image's name: 4 to 32 letters, digits, '-' and '_'.")],
    wait: Annotated[bool, typer.Option(help="Follow the task until it ends.")] = True,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Save a RUNNING interactive session as your customized image. /home/work and mounted
    folders are not included. The session cannot be terminated normally meanwhile."""
    with client() as berth:
        task = berth.commit_session(ref, image_name)
        if wait and json:
            task = berth.wait_commit(task["id"])
        elif wait:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                          TaskProgressColumn(), TextColumn("{task.fields[phase]}"),
                          TimeElapsedColumn(), console=console, transient=False) as bar:
                shown = bar.add_task(f"commit {image_name}", total=100, phase="pending")

                def progress(t: dict[str, Any]) -> None:
                    bar.update(shown, completed=t["progress"], phase=_describe(t))

                task = berth.wait_commit(task["id"], progress=progress)
    if json:
        print_json(task)
        return
    if task["status"] == "done":
        console.print(f"image [bold]{task['image']}[/bold] is ready ({size(task['size'] or 0)})"
                      "; launch it with: berth session create --image "
                      f"{task['image']}", highlight=False, soft_wrap=True)
    elif task["status"] == "failed":
        err.print(f"[red]Commit failed:[/red] {task['reason']}", highlight=False)
        raise typer.Exit(1)
    else:
        console.print(f"commit {task['id']} is {task['status']}; follow it with "
                      f"'berth session commit-status {task['id']}'", highlight=False)


@handle_errors
def commit_status(
    commit_id: Annotated[str, typer.Argument(help="The commit task's id.")],
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Where a commit task stands."""
    with client() as berth:
        task = berth.get_commit(commit_id)
    if json:
        print_json(task)
        return
    reason = f" - {task['reason']}" if task["reason"] else ""
    console.print(f"{task['name']}: {task['status']} ({_describe(task)}, {task['progress']}%)"
                  f"{reason}", highlight=False)


@handle_errors
def image_customized(
    everyone: Annotated[bool, typer.Option("--all", help="Everyone's (admins).")] = False,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Your customized images (made with 'berth session commit')."""
    with client() as berth:
        images = berth.customized_images(everyone=everyone)
    if json:
        print_json(images)
        return
    if not images:
        console.print("No customized images. Make one with 'berth session commit'.")
        return
    table = Table("name", "image (full name)", "made from", "owner", "agents")
    for i in images:
        table.add_row(i["name"], i["ref"], i["base"], i["owner_email"] or i["owner_id"],
                      ", ".join(i["agents"]))
    console.print(table)


@handle_errors
def image_rm(
    refs: Annotated[list[str], typer.Argument(help="Customized images' full names.")],
) -> None:
    """Remove customized images (yours; admins: anyone's)."""
    with client() as berth:
        for ref in refs:
            berth.remove_customized_image(ref)
            console.print(f"removed {ref}", highlight=False)
