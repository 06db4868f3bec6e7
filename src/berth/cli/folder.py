"""``berth folder ...``: storage folders (create, list, share, trash) and their files (the
file commands are in :mod:`berth.cli.folder_files`)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from berth.cli import folder_files as files
from berth.cli.common import bad_option, client, console, err, handle_errors, print_json
from berth.cli.folder_files import FolderArg, human

app = typer.Typer(
    help="Storage folders: your data, kept across sessions. Create and share folders, move "
    "them to the trash and back, and manage their files (ls, upload, download, mkdir, mv, "
    "rm). FOLDER is a folder's name or id. Mount folders into a session with "
    "'berth session create --mount NAME[:PATH][:ro]'.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
UsageOpt = Annotated[str | None, typer.Option(
    "--usage-mode", help="general, data or model: what it holds (shown in lists and the "
    "launcher).")]
PermissionOpt = Annotated[str | None, typer.Option(
    "--permission", help="rw or ro: the most any mount of it gets (ro: sessions only read it).")]
NAME_HELP = ("1-64 chars: letters, digits, . _ -; a name starting with '.' is mounted into "
             "every session of yours at /home/work/.NAME.")

def _usage(f: dict[str, Any]) -> str:
    if f.get("usage_bytes") is None:
        return "-"
    return ("≥ " if not f.get("usage_complete", True) else "") + human(f["usage_bytes"])


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def _owner(f: dict[str, Any]) -> str:
    if f["is_owner"] and f["owner_kind"] == "user":
        return "you"
    tag = " (project)" if f["owner_kind"] == "project" else " (shared)" if f[
        "shared_with_me"] else ""
    return str(f["owner_name"]) + tag


def _folders_table(folders: list[dict[str, Any]], trashed: bool = False) -> Table:
    table = Table("name", "owner", "mode", "permission", "size",
                  "trashed" if trashed else "created", "id")
    for f in folders:
        table.add_row(escape(f["name"]), escape(_owner(f)), f["usage_mode"], f["my_permission"],
                      _usage(f), _when(f["trashed_at"] if trashed else f["created_at"]),
                      f["id"][:8])
    return table


def _files_table(page: dict[str, Any]) -> Table:
    shown = len(page["entries"])
    title = f"/{page['path']}: {page['total']} entr{'y' if page['total'] == 1 else 'ies'}"
    if shown < page["total"]:
        title += f" (showing {page['offset'] + 1}-{page['offset'] + shown})"
    table = Table("type", "size", "modified", "name", title=title)
    for e in page["entries"]:
        name = escape(e["name"]) + ("/" if e["type"] == "dir" else "")
        table.add_row(e["type"], "-" if e["type"] == "dir" else human(e["size"]),
                      _when(e["modified"]), name)
    return table


@app.command("ls")
@handle_errors
def ls(
    folder: Annotated[str | None, typer.Argument(
        metavar="FOLDER", help="A folder's name or id; without it, list your folders.",
        show_default=False)
    ] = None,
    path: Annotated[str, typer.Argument(
        metavar="PATH", help="A directory in the folder (default: its root).")] = "",
    sort: Annotated[str, typer.Option(help="name, size, modified or type (directories "
                                      "first for name and type).")] = "name",
    reverse: Annotated[bool, typer.Option("--reverse", "-r", help="Descending order.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many entries (≤ 1000).")] = 100,
    offset: Annotated[int, typer.Option(help="Skip this many entries first.")] = 0,
    json: JsonOpt = False,
) -> None:
    """List your folders (with their owner, usage mode, your permission and size), or the
    files in a directory of FOLDER."""
    with client() as berth:
        if folder is None:
            folders = berth.list_folders()
        else:
            page = berth.list_files(folder, path.strip("/"), sort=sort,
                                    order="desc" if reverse else "asc",
                                    offset=offset, limit=limit)
    if folder is None:
        if json:
            print_json(folders)
        elif not folders:
            console.print("No folders yet. Create one with 'berth folder create NAME'.")
        else:
            console.print(_folders_table(folders))
        return
    if json:
        print_json(page)
        return
    console.print(_files_table(page))
    if page["offset"] + len(page["entries"]) < page["total"]:
        err.print(f"more with --offset {page['offset'] + len(page['entries'])}")


app.command("upload")(files.upload)
app.command("download")(files.download)
app.command("mkdir")(files.mkdir)
app.command("mv")(files.mv)
app.command("rm")(files.rm)


@app.command("create")
@handle_errors
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help=NAME_HELP, show_default=False)],
    usage_mode: UsageOpt = None,
    permission: PermissionOpt = None,
    project: Annotated[str | None, typer.Option(
        help="Make it a folder of this project (you must be a member).")] = None,
    host: Annotated[str | None, typer.Option(
        help="The folder host to keep it on (see 'berth folder hosts'; default: the "
        "configured default).")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a folder."""
    with client() as berth:
        f = berth.create_folder(name, host=host, usage_mode=usage_mode, permission=permission,
                                project=project)
    if json:
        print_json(f)
        return
    console.print(f"created folder {escape(f['name'])} ({f['id']}) on host {f['host']}")
    if f["auto_mount"]:
        console.print(f"it is mounted into every session of yours at /home/work/{f['name']}")


@app.command("info")
@handle_errors
def info(folder: FolderArg, json: JsonOpt = False) -> None:
    """Show a folder: owner, usage mode, permissions, size, and who it is shared with."""
    with client() as berth:
        f = berth.get_folder(folder)
        shares = berth.list_folder_shares(f["id"]) if f["is_owner"] else []
    if json:
        print_json({**f, "shares": shares})
        return
    rows = [
        ("id", f["id"]), ("name", escape(f["name"])), ("owner", escape(_owner(f))),
        ("status", f["status"] + (f" since {_when(f['trashed_at'])}" if f["trashed_at"] else "")),
        ("usage mode", f["usage_mode"]), ("permission", f"{f['permission']} (mounts at most)"),
        ("yours", f["my_permission"]), ("host", f["host"]),
        ("size", _usage(f) + (f", {f['usage_files']} files" if f["usage_files"] is not None
                             else "")),
        ("created", _when(f["created_at"])),
    ]
    if f["auto_mount"]:
        rows.append(("auto-mount", f"/home/work/{escape(f['name'])} in every session"))
    for key, value in rows:
        console.print(f"[bold]{key:>12}[/bold]  {value}")
    if shares:
        console.print("[bold]      shared[/bold]")
        for s in shares:
            console.print(f"              {escape(s['email'])} ({s['permission']})")


@app.command("rename")
@handle_errors
def rename(
    folder: FolderArg,
    new_name: Annotated[str, typer.Argument(metavar="NEW_NAME", help=NAME_HELP,
                                            show_default=False)],
) -> None:
    """Rename a folder (owner only). Sessions that mount it keep it at its old path."""
    with client() as berth:
        f = berth.update_folder(folder, name=new_name)
    console.print(f"renamed to {escape(f['name'])}")


@app.command("update")
@handle_errors
def update(folder: FolderArg, usage_mode: UsageOpt = None,
           permission: PermissionOpt = None) -> None:
    """Change a folder's usage mode or permission (owner only)."""
    if usage_mode is None and permission is None:
        raise bad_option("--usage-mode/--permission", "give at least one of them")
    with client() as berth:
        f = berth.update_folder(folder, usage_mode=usage_mode, permission=permission)
    console.print(f"{escape(f['name'])}: usage mode {f['usage_mode']}, "
                  f"permission {f['permission']}")


@app.command("delete")
@handle_errors
def delete(folder: FolderArg) -> None:
    """Move a folder to the trash (owner only). Its files stay until it is purged."""
    with client() as berth:
        f = berth.trash_folder(folder)
    name = escape(f["name"])
    console.print(f"moved {name} to the trash; bring it back with 'berth folder restore "
                  f"{name}' or delete it for good with 'berth folder purge {name}'")


@app.command("trash")
@handle_errors
def trash(json: JsonOpt = False) -> None:
    """List your folders in the trash."""
    with client() as berth:
        folders = berth.list_folders(trashed=True)
    if json:
        print_json(folders)
    elif not folders:
        console.print("The trash is empty.")
    else:
        console.print(_folders_table(folders, trashed=True))


@app.command("restore")
@handle_errors
def restore(
    folder: Annotated[str, typer.Argument(
        metavar="FOLDER", help="A folder in your trash: its name or id.", show_default=False)],
    new_name: Annotated[str | None, typer.Option(
        "--as", help="Restore under this name (when its old one is taken again).")] = None,
) -> None:
    """Bring a folder back from the trash."""
    with client() as berth:
        f = berth.restore_folder(folder, name=new_name)
    console.print(f"restored {escape(f['name'])}")


@app.command("purge")
@handle_errors
def purge(
    folder: Annotated[str, typer.Argument(
        metavar="FOLDER", help="A folder in your trash: its name or id.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a folder in the trash for good, with all its files. Asks first unless --yes."""
    if not yes:
        if not sys.stdin.isatty():
            raise bad_option("--yes", "needed to purge without a terminal to confirm on")
        typer.confirm(f"Delete folder {folder} and all its files for good?", abort=True)
    with client() as berth:
        berth.purge_folder(folder)
    console.print(f"purged {escape(folder)}")


@app.command("share")
@handle_errors
def share(
    folder: FolderArg,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email.",
                                         show_default=False)],
    rw: Annotated[bool, typer.Option("--rw/--ro", help="Read-write, or read-only.")] = False,
) -> None:
    """Share a folder with a user (owner only); again to change their permission."""
    with client() as berth:
        s = berth.share_folder(folder, email, "rw" if rw else "ro")
    console.print(f"shared with {escape(s['email'])} "
                  f"({'read-write' if s['permission'] == 'rw' else 'read-only'})")


@app.command("unshare")
@handle_errors
def unshare(
    folder: FolderArg,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email.",
                                         show_default=False)],
) -> None:
    """Stop sharing a folder with a user (owner only)."""
    with client() as berth:
        f = berth.get_folder(folder)
        shares = berth.list_folder_shares(f["id"])
        found = [s for s in shares if s["email"].lower() == email.lower()]
        if not found:
            raise bad_option("EMAIL", f"{f['name']} is not shared with {email}")
        berth.unshare_folder(f["id"], found[0]["user_id"])
    console.print(f"{escape(f['name'])} is no longer shared with {escape(found[0]['email'])}")


@app.command("leave")
@handle_errors
def leave(folder: FolderArg) -> None:
    """Leave a folder shared with you (you lose access to it)."""
    with client() as berth:
        f = berth.get_folder(folder)
        berth.unshare_folder(f["id"], berth.me()["id"])
    console.print(f"left {escape(f['name'])}")


@app.command("hosts")
@handle_errors
def hosts(json: JsonOpt = False) -> None:
    """Folder hosts with their disk space (superadmins)."""
    with client() as berth:
        found = berth.list_storage_hosts()
    if json:
        print_json(found)
        return
    table = Table("host", "path", "capabilities", "total", "used", "free", "folders")
    for h in found:
        table.add_row(h["name"], h["path"], ", ".join(h["capabilities"]), human(h["total_bytes"]),
                      human(h["used_bytes"]), human(h["free_bytes"]), str(h["folders"]))
    console.print(table)
