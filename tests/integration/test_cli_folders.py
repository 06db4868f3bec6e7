"""``berth folder ...`` and ``--mount`` against a real cluster: what a user types and sees,
and the bytes that arrive."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.client import tus
from cluster import Cluster
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow


def token_of(c: Any) -> str:
    return str(c.http.headers["Authorization"].split(" ", 1)[1])


@pytest.fixture
def cli(berth: Cluster, tmp_path: Path) -> Iterator[Any]:
    """``cli(*args, user=None, input=None)``: run ``berth`` as the admin (or ``user``); every
    folder the admin and the users made is purged afterwards."""
    users: list[Any] = []

    def run(*args: str, user: Any = None, text: bool = True, timeout: float = 120
            ) -> subprocess.CompletedProcess[Any]:
        if user is not None and user not in users:
            users.append(user)
        env = {**os.environ, "BERTH_ENDPOINT": berth.url,
               "BERTH_API_KEY": token_of(user or berth.admin), "COLUMNS": "200",
               "XDG_CACHE_HOME": str(tmp_path / "cache")}
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env,
                              capture_output=True, text=text, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    yield run
    for c in [berth.admin, *users]:
        for f in c.list_folders():
            if f["is_owner"]:
                c.trash_folder(f["id"])
        for f in c.list_folders(trashed=True):
            c.purge_folder(f["id"])


def name() -> str:
    return f"f-{secrets.token_hex(3)}"


def ok(r: subprocess.CompletedProcess[Any]) -> subprocess.CompletedProcess[Any]:
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r


def refused(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """A one-line message with these words on stderr, the exit code, never a traceback."""
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Error" in r.stderr
    for word in words:
        assert word in r.stderr, r.stderr
    return r.stderr


def test_create_list_rename_trash_restore_purge(berth: Cluster, cli: Any) -> None:
    data = name()
    created = ok(cli("folder", "create", data, "--usage-mode", "model", "--json"))
    f = json.loads(created.stdout)
    assert f["name"] == data and f["usage_mode"] == "model" and f["permission"] == "rw"
    table = ok(cli("folder", "ls")).stdout
    assert data in table and "model" in table and "you" in table
    assert ok(cli("folder", "info", data)).stdout.count(f["id"]) == 1
    ok(cli("folder", "update", data, "--permission", "ro"))
    assert berth.admin.get_folder(f["id"])["permission"] == "ro"
    renamed = data + "-v2"
    assert f"renamed to {renamed}" in ok(cli("folder", "rename", data, renamed)).stdout

    out = ok(cli("folder", "delete", renamed)).stdout
    assert "trash" in out and f"berth folder restore {renamed}" in out
    assert renamed not in ok(cli("folder", "ls")).stdout
    assert renamed in ok(cli("folder", "trash")).stdout
    # Its name is free again while it is in the trash: restoring then needs a new one.
    ok(cli("folder", "create", renamed))
    refused(cli("folder", "restore", f["id"]), 1, "name")
    assert "restored " + data in ok(cli("folder", "restore", f["id"], "--as", data)).stdout
    assert berth.admin.get_folder(data)["status"] == "ready"

    ok(cli("folder", "delete", data))
    refused(cli("folder", "purge", data), 2, "--yes")  # no terminal to confirm on
    assert data in ok(cli("folder", "trash")).stdout
    assert f"purged {data}" in ok(cli("folder", "purge", data, "--yes")).stdout
    assert data not in ok(cli("folder", "trash")).stdout
    assert not [x for x in berth.admin.list_folders(trashed=True) if x["id"] == f["id"]]


def test_upload_files_and_directories_then_download(berth: Cluster, cli: Any,
                                                    tmp_path: Path) -> None:
    data = name()
    ok(cli("folder", "create", data))
    big = os.urandom(9 * 2**20 + 12345)  # more than one 8 MiB chunk
    (tmp_path / "weights.bin").write_bytes(big)
    run = tmp_path / "run1"
    (run / "logs" / "deep").mkdir(parents=True)
    (run / "empty").mkdir()
    (run / "a.txt").write_text("alpha\n")
    (run / "logs" / "deep" / "b.log").write_bytes(b"\x00bin\xff" * 1000)

    r = ok(cli("folder", "upload", data, str(tmp_path / "weights.bin"), str(run), "--to", "exp"))
    assert "uploaded 3 file(s)" in r.stdout
    listing = json.loads(ok(cli("folder", "ls", data, "exp", "--json")).stdout)
    assert [(e["name"], e["type"]) for e in listing["entries"]] == [
        ("run1", "dir"), ("weights.bin", "file")]
    table = ok(cli("folder", "ls", data, "exp/run1")).stdout
    assert "empty/" in table and "logs/" in table and "a.txt" in table
    assert ok(cli("folder", "ls", data, "exp", "--sort", "size", "-r", "--json")).stdout.index(
        "weights.bin") < ok(cli("folder", "ls", data, "exp", "--sort", "size", "-r",
                                "--json")).stdout.index("run1")

    out = tmp_path / "out"
    out.mkdir()
    r = ok(cli("folder", "download", data, "exp/weights.bin", "-o", str(out)))
    assert (out / "weights.bin").read_bytes() == big and "saved" in r.stdout
    refused(cli("folder", "download", data, "exp/weights.bin", "-o", str(out / "weights.bin")),
            2, "--output", "--force")
    ok(cli("folder", "download", data, "exp/run1/a.txt", "-o", str(out / "weights.bin"), "-f"))
    assert (out / "weights.bin").read_text() == "alpha\n"
    r = cli("folder", "download", data, "exp/run1/logs/deep/b.log", "-o", "-", text=False)
    assert r.returncode == 0 and r.stdout == b"\x00bin\xff" * 1000

    ok(cli("folder", "download", data, "exp/run1", "-o", str(out)))
    with zipfile.ZipFile(out / "run1.zip") as z:
        names = set(z.namelist())
        assert {"a.txt", "logs/deep/b.log"} <= {n.removeprefix("run1/") for n in names}
        a_name = next(n for n in names if n.endswith("a.txt"))
        assert z.read(a_name) == b"alpha\n"
    whole = cli("folder", "download", data, "/", "-o", "-", text=False)
    assert whole.returncode == 0
    with zipfile.ZipFile(io.BytesIO(whole.stdout)) as z:
        assert any(n.endswith("exp/weights.bin") for n in z.namelist())

    # Uploading again replaces the file.
    (run / "a.txt").write_text("beta\n")
    ok(cli("folder", "upload", data, str(run / "a.txt"), "--to", "exp/run1"))
    r = cli("folder", "download", data, "exp/run1/a.txt", "-o", "-")
    assert r.stdout == "beta\n"


def test_mkdir_mv_rm(berth: Cluster, cli: Any, tmp_path: Path) -> None:
    data = name()
    ok(cli("folder", "create", data))
    refused(cli("folder", "mkdir", data, "a/b"), 1)  # no parent a
    ok(cli("folder", "mkdir", data, "a/b", "-p"))
    (tmp_path / "x.txt").write_text("x")
    ok(cli("folder", "upload", data, str(tmp_path / "x.txt"), "--to", "a/b"))
    assert "moved a/b to a/c" in ok(cli("folder", "mv", data, "a/b", "a/c")).stdout
    refused(cli("folder", "mv", data, "a/c/x.txt", "a/c"), 1)  # the destination exists
    ok(cli("folder", "mv", data, "a/c/x.txt", "y.txt"))
    names = [e["name"] for e in berth.admin.list_files(data)["entries"]]
    assert names == ["a", "y.txt"]
    refused(cli("folder", "rm", data, "a"), 1)  # not empty without -r
    ok(cli("folder", "rm", data, "a", "y.txt", "-r"))
    assert berth.admin.list_files(data)["entries"] == []
    refused(cli("folder", "rm", data, "/"), 2, "PATH", "berth folder delete")
    refused(cli("folder", "rm", data, "nothing"), 1, "404")


def test_share_read_only_then_read_write(berth: Cluster, cli: Any, tmp_path: Path) -> None:
    data = name()
    ok(cli("folder", "create", data))
    guest = berth.user()
    (tmp_path / "g.txt").write_text("from the guest")
    assert "read-only" in ok(cli("folder", "share", data, guest.email)).stdout
    shown = ok(cli("folder", "ls", user=guest)).stdout
    assert data in shown and "(shared)" in shown
    assert guest.email in ok(cli("folder", "info", data)).stdout
    refused(cli("folder", "upload", data, str(tmp_path / "g.txt"), user=guest), 1, "read-only")
    assert "read-write" in ok(cli("folder", "share", data, guest.email, "--rw")).stdout
    ok(cli("folder", "upload", data, str(tmp_path / "g.txt"), user=guest))
    assert berth.admin.list_files(data)["entries"][0]["name"] == "g.txt"
    refused(cli("folder", "delete", data, user=guest), 1)  # only its owner
    ok(cli("folder", "unshare", data, guest.email))
    assert data not in ok(cli("folder", "ls", user=guest)).stdout
    refused(cli("folder", "unshare", data, guest.email), 2, "EMAIL", "not shared")
    ok(cli("folder", "share", data, guest.email))
    assert "left" in ok(cli("folder", "leave", data, user=guest)).stdout
    assert berth.admin.list_folder_shares(data) == []


def test_bad_input_is_a_clear_message(berth: Cluster, cli: Any, tmp_path: Path) -> None:
    refused(cli("folder", "create", "has space"), 1, "name")
    refused(cli("folder", "create", name(), "--usage-mode", "music"), 1, "usage_mode")
    refused(cli("folder", "ls", "no-such-folder"), 1, "no-such-folder")
    data = name()
    ok(cli("folder", "create", data))
    refused(cli("folder", "ls", data, "../etc"), 1, "path")
    refused(cli("folder", "download", data, "missing.txt", "-o", str(tmp_path)), 1, "404")
    assert list(tmp_path.iterdir()) == []  # no partial file left behind
    refused(cli("folder", "upload", data, str(tmp_path / "nope")), 2, "LOCAL", "does not exist")
    (tmp_path / "f").write_text("f")
    refused(cli("folder", "upload", data, str(tmp_path / "f"), "--to", "../up"), 1, "path")
    refused(cli("folder", "update", data), 2, "--usage-mode")
    refused(cli("folder", "hosts", user=berth.user()), 1, "superadmin")
    hosts = json.loads(ok(cli("folder", "hosts", "--json")).stdout)
    assert hosts and {"name", "free_bytes", "folders"} <= set(hosts[0])
    sessions = berth.admin.list_sessions(state="all")["total"]
    refused(cli("session", "create", "-i", PYTHON_IMAGE, "--mount", "data:/x:maybe"), 2,
            "--mount", "ro or rw")
    refused(cli("session", "create", "-i", PYTHON_IMAGE, "--mount", "no-such-folder"), 2,
            "--mount", "'no-such-folder'")
    refused(cli("session", "create", "-i", PYTHON_IMAGE, "--mount", f"{data}:/etc/x"), 2,
            "--mount", "path")
    assert berth.admin.list_sessions(state="all")["total"] == sessions  # none was made


def test_mounted_folder_in_a_session(berth: Cluster, cli: Any, tmp_path: Path) -> None:
    data = name()
    ok(cli("folder", "create", data))
    (tmp_path / "hello.txt").write_text("hello from a folder\n")
    ok(cli("folder", "upload", data, str(tmp_path / "hello.txt")))
    r = cli("run", "-i", PYTHON_IMAGE, "--mount", f"{data}:/mnt/in:ro", "--", "sh", "-c",
            "cat /mnt/in/hello.txt && ! touch /mnt/in/new 2>/dev/null", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "hello from a folder" in r.stdout
    [s] = berth.admin.list_sessions(state="all", limit=1)["items"]
    info = ok(cli("session", "info", s["id"])).stdout
    assert "mounts" in info and f"{data} -> /mnt/in (ro)" in info
    assert berth.admin.list_files(data)["total"] == 1  # the read-only mount wrote nothing


class LosingAnswers(httpx.HTTPTransport):
    """The real connection, except that the answer to the n-th PATCH is lost on the way back
    (the manager did take the chunk)."""

    def __init__(self, lose: set[int]) -> None:
        super().__init__()
        self.lose, self.patches = lose, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "PATCH":
            self.patches += 1
            if self.patches in self.lose:
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_uploads_resume_against_the_manager(berth: Cluster, cli: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tus, "CHUNK_SIZE", 2**20)
    monkeypatch.setattr(tus, "BACKOFF", 0.0)
    data = name()
    ok(cli("folder", "create", data))
    blob = os.urandom(5 * 2**20 + 7)
    (tmp_path / "blob").write_bytes(blob)
    c = berth.client(token_of(berth.admin))
    c.http = httpx.Client(base_url=berth.url, headers=dict(c.http.headers),
                          transport=LosingAnswers({2, 4, 6}))  # 6: the last chunk's
    c.upload(data, tmp_path / "blob", "lost-answers.bin")
    r = cli("folder", "download", data, "lost-answers.bin", "-o", "-", text=False)
    assert r.stdout == blob

    # Interrupted after two chunks, then the same upload again: it goes on from the offset.
    store: dict[str, str] = {}
    seen: list[int] = []

    def stop_at_2_mib(done: int, total: int | None) -> None:
        seen.append(done)
        if done >= 2 * 2**20:
            raise KeyboardInterrupt

    plain = berth.client(token_of(berth.admin))
    with pytest.raises(KeyboardInterrupt):
        plain.upload(data, tmp_path / "blob", "resumed.bin", progress=stop_at_2_mib,
                     resume_store=store)
    assert len(store) == 1
    seen.clear()
    plain.upload(data, tmp_path / "blob", "resumed.bin", progress=lambda d, t: seen.append(d),
                 resume_store=store)
    assert seen[0] == 2 * 2**20 and seen[-1] == len(blob) and store == {}
    r = cli("folder", "download", data, "resumed.bin", "-o", "-", text=False)
    assert r.stdout == blob
