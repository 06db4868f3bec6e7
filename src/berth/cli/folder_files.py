"""The file commands of ``berth folder``: upload, download, mkdir, mv, rm (registered on the
``folder`` app by :mod:`berth.cli.folder`), and what they need: the upload plan for files
and directories, a resume store on disk, a progress bar of bytes on stderr."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from berth.cli.common import bad_option, client, console, err, handle_errors
from berth.files import write_private

FolderArg = Annotated[str, typer.Argument(
    metavar="FOLDER", help="The folder: its name (your own first, then a project's, then "
    "one shared with you) or its id.", show_default=False)]
#: Unfinished uploads are kept this long for a later run to resume (the manager keeps them
#: for a day).
RESUME_FOR = 86400


def human(n: int) -> str:
    """A byte count for people: 512 B, 4.9 KiB, 20.0 MiB."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


@dataclass
class UploadPlan:
    """What ``berth folder upload`` does: empty directories to create, then files with where
    each goes, in the order given; ``total`` bytes in all."""
    dirs: list[str] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)
    total: int = 0


def join(*parts: str) -> str:
    """Folder paths joined with "/" ("" parts and outer slashes dropped)."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def plan_upload(sources: list[Path], to: str) -> UploadPlan:
    """Like ``cp -r SOURCES... TO/``: a file goes to ``TO/<its name>``, a directory to
    ``TO/<its name>/...`` with everything under it (``dirs``: the empty directories, which
    no file brings along). Symbolic links to
    files are followed; links to directories are not (no loops). Raises BadParameter naming
    LOCAL for a source that does not exist or is neither a file nor a directory."""
    plan = UploadPlan()
    for source in sources:
        if source.is_dir():
            base = join(to, source.resolve().name)
            plan.dirs.append(base)
            for root, dirs, files in os.walk(source):
                rel = Path(root).relative_to(source).as_posix()
                here = join(base, "" if rel == "." else rel)
                dirs.sort()
                plan.dirs.extend(join(here, d) for d in dirs
                                 if not (Path(root) / d).is_symlink())
                dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
                for name in sorted(files):
                    if (Path(root) / name).is_file():
                        plan.files.append((Path(root) / name, join(here, name)))
        elif source.is_file():
            plan.files.append((source, join(to, source.name)))
        else:
            what = "does not exist" if not source.exists() else "is not a file or directory"
            raise bad_option("LOCAL", f"{source} {what}")
    # Files bring their parent directories along; only empty ones need creating.
    full = {dest.rsplit("/", n)[0] for _, dest in plan.files for n in range(1, dest.count("/") + 1)}
    plan.dirs = [d for d in dict.fromkeys(plan.dirs) if d not in full]
    plan.total = sum(path.stat().st_size for path, _ in plan.files)
    return plan


class ResumeStore(MutableMapping[str, str]):
    """Unfinished uploads (fingerprint -> upload URL) in a private JSON file, re-read before
    and written after each change, entries older than :data:`RESUME_FOR` dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        now = time.time()
        return {k: v for k, v in data.items()
                if isinstance(v, dict) and now - v.get("at", 0) < RESUME_FOR}

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        write_private(self.path, json.dumps(data))

    def __getitem__(self, key: str) -> str:
        return str(self._load()[key]["url"])

    def __setitem__(self, key: str, url: str) -> None:
        data = self._load()
        data[key] = {"url": url, "at": time.time()}
        self._save(data)

    def __delitem__(self, key: str) -> None:
        data = self._load()
        del data[key]
        self._save(data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def resume_store() -> ResumeStore:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return ResumeStore(base / "berth" / "uploads.json")


@contextmanager
def byte_progress(total: int | None) -> Iterator[tuple[Progress, Any]]:
    """A progress bar of bytes on stderr (stdout stays for data)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=err,
                  transient=False) as bar:
        yield bar, bar.add_task("", total=total)


@handle_errors
def upload(
    folder: FolderArg,
    sources: Annotated[list[Path], typer.Argument(
        metavar="LOCAL", help="Local files and directories (directories with everything "
        "in them).", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="The directory in the folder to put them in "
                                    "(created if missing; default: the folder's root).")] = "",
) -> None:
    """Upload files and whole directories into a folder, with a progress bar.

    Like 'cp -r LOCAL... FOLDER/TO/': 'upload data ./run1 notes.txt --to exp' gives
    exp/run1/... and exp/notes.txt. An existing file is replaced. Uploads resume: after a
    dropped connection by themselves, and after an interruption (Ctrl-C) when the same
    command is run again within a day.
    """
    plan = plan_upload(sources, to)
    store = resume_store()
    with client() as berth:
        target = berth.get_folder(folder)
        fid = target["id"]
        for path in plan.dirs:
            berth.mkdir(fid, path, parents=True)
        with byte_progress(plan.total) as (bar, task):
            finished = 0
            for local, dest in plan.files:
                bar.update(task, description=dest)

                def moved(done: int, _total: int | None, base: int = finished) -> None:
                    bar.update(task, completed=base + done)
                berth.upload(fid, local, dest, progress=moved, resume_store=store)
                finished += local.stat().st_size
    console.print(f"uploaded {len(plan.files)} file(s), {human(plan.total)}, to "
                  f"{target['name']}:/{join(to)}")


@handle_errors
def download(
    folder: FolderArg,
    path: Annotated[str, typer.Argument(metavar="PATH", help="A file or directory in the "
                                        "folder ('' or / for "
                                        "all of it); a directory arrives as a zip.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Where to save it: a file name, an existing directory, or - "
        "for stdout (default: the current directory, under the server's name).")] = None,
    force: Annotated[bool, typer.Option("--force", "-f",
                                        help="Replace an existing file.")] = False,
) -> None:
    """Download a file, or a directory as a zip, with a progress bar (on stderr)."""
    dest: Any = sys.stdout.buffer if output == "-" else Path(output or ".")
    if isinstance(dest, Path) and dest.exists() and not dest.is_dir() and not force:
        raise bad_option("--output", f"{dest} exists; add --force to replace it")
    if isinstance(dest, Path) and not dest.is_dir() and not dest.parent.is_dir():
        raise bad_option("--output", f"no directory {dest.parent}")
    with client() as berth, byte_progress(None) as (bar, task):
        def moved(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)
        got = berth.download(folder, path.strip("/"), dest, progress=moved)
    if got["path"]:
        console.print(f"saved {got['path']} ({human(got['bytes'])})")


@handle_errors
def mkdir(
    folder: FolderArg,
    path: Annotated[str, typer.Argument(metavar="PATH",
                                        help="The new directory, e.g. runs/2024.")],
    parents: Annotated[bool, typer.Option(
        "--parents", "-p", help="Create missing parents too; no error if it exists.")] = False,
) -> None:
    """Create a directory in a folder."""
    with client() as berth:
        entry = berth.mkdir(folder, path, parents=parents)
    console.print(f"created {entry['path']}/")


@handle_errors
def mv(
    folder: FolderArg,
    src: Annotated[str, typer.Argument(metavar="SRC", help="The file or directory to move.")],
    dst: Annotated[str, typer.Argument(metavar="DST",
                                       help="Its new path (must not exist yet).")],
) -> None:
    """Rename or move a file or directory inside a folder."""
    with client() as berth:
        entry = berth.move_file(folder, src, dst)
    console.print(f"moved {src} to {entry['path']}")


@handle_errors
def rm(
    folder: FolderArg,
    paths: Annotated[list[str], typer.Argument(metavar="PATH",
                                               help="Files or directories in the folder.")],
    recursive: Annotated[bool, typer.Option(
        "--recursive", "-r", help="Also directories with everything in them.")] = False,
) -> None:
    """Delete files (and with -r directories) inside a folder, for good.

    To move a whole folder to the trash use 'berth folder delete FOLDER'.
    """
    for path in paths:
        if not path.strip("/"):
            raise bad_option("PATH", "give a path inside the folder; to move the whole folder "
                             "to the trash use 'berth folder delete'")
    with client() as berth:
        for path in paths:
            berth.remove_file(folder, path.strip("/"), recursive=recursive)
            console.print(f"deleted {path.strip('/')}")
