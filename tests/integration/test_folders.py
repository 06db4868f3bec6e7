"""Storage folders on the real engine, with SQLite and PostgreSQL: create, list, rename,
trash, restore, purge, share; mounts at launch (paths, read-only, ownership); data that
outlives its session; resumable uploads; downloads with Range."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from typing import Any

import httpx
import pytest

import tusutil
from berth.client import ApiError, Client
from cluster import Cluster, wait_for, wait_status
from dockerutil import exec_in

pytestmark = pytest.mark.slow
PYTHON_IMAGE = "berth/python:3.11"
SMALL = {"cpu": 1, "mem": "512m"}


def folder(c: Client, name: str | None = None, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = c.request("POST", "/api/folders",
                                       json={"name": name or f"f-{secrets.token_hex(3)}", **body})
    return result


def put(c: Client, folder_id: str, path: str, data: bytes) -> None:
    r = tusutil.upload(c.http, folder_id, path, data)
    assert r.status_code == 204, r.text


def fields(e: pytest.ExceptionInfo[ApiError]) -> dict[str, str]:
    return e.value.fields


def launch(c: Client, mounts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    [s] = c.request("POST", "/api/sessions", json={"image": PYTHON_IMAGE, "resources": SMALL,
                                                    "mounts": mounts, **extra})
    return wait_status(c, s["id"], "RUNNING")


def sh(session: dict[str, Any], script: str) -> str:
    return exec_in(session["kernels"][0]["container_id"], "sh", "-c", script)


def test_folder_lifecycle_and_name_rules(berth: Cluster) -> None:
    me = berth.user()
    f = folder(me, "data-1", usage_mode="data", permission="ro")
    assert (f["owner_kind"], f["owner_name"], f["usage_mode"], f["permission"],
            f["my_permission"], f["is_owner"], f["status"]) == (
        "user", me.email, "data", "ro", "rw", True, "ready")  # type: ignore[attr-defined]
    assert [x["name"] for x in me.request("GET", "/api/folders")] == ["data-1"]
    assert me.request("GET", "/api/folders/data-1")["id"] == f["id"]

    with pytest.raises(ApiError) as e:
        folder(me, "data-1")
    assert e.value.status == 422 and "already have a folder named 'data-1'" in fields(e)["name"]
    for bad, rule in (("a b", "only letters"), ("..", "'.' or '..'"), ("x" * 65, "64")):
        with pytest.raises(ApiError) as e:
            folder(me, bad)
        assert rule in str(e.value), bad

    renamed = me.request("PATCH", f"/api/folders/{f['id']}", json={"name": "data-2"})
    assert renamed["name"] == "data-2"
    trashed = me.request("DELETE", "/api/folders/data-2")
    assert trashed["status"] == "trashed" and trashed["trashed_at"]
    assert me.request("GET", "/api/folders") == []
    assert [x["id"] for x in me.request("GET", "/api/folders", params={"trashed": True})] \
        == [f["id"]]
    # Its name is free again while it is in the trash; restoring then needs a new one.
    folder(me, "data-2")
    with pytest.raises(ApiError) as e:
        me.request("POST", f"/api/folders/{f['id']}/restore")
    assert "already named 'data-2'" in fields(e)["name"]
    restored = me.request("POST", f"/api/folders/{f['id']}/restore", json={"name": "data-3"})
    assert (restored["name"], restored["status"]) == ("data-3", "ready")

    # Purge: only from the trash, and then the directory is gone too.
    with pytest.raises(ApiError) as e:
        me.request("POST", f"/api/folders/{f['id']}/purge")
    assert e.value.status == 404
    me.request("DELETE", f"/api/folders/{f['id']}")
    directory = berth.root / "storage" / "folders" / f["id"]
    assert directory.is_dir()
    me.request("POST", f"/api/folders/{f['id']}/purge")
    assert not directory.exists()
    assert me.request("GET", "/api/folders", params={"trashed": True}) == []


def test_other_users_never_see_a_folder_until_it_is_shared(berth: Cluster) -> None:
    owner, guest, stranger = berth.user(), berth.user(), berth.user()
    f = folder(owner)
    put(owner, f["id"], "readme.txt", b"hello")
    for c in (guest, stranger):
        for method, path in (("GET", f"/api/folders/{f['id']}"),
                             ("GET", f"/api/folders/{f['id']}/files"),
                             ("GET", f"/api/folders/{f['id']}/download?path=readme.txt"),
                             ("DELETE", f"/api/folders/{f['id']}")):
            with pytest.raises(ApiError) as e:
                c.request(method, path)
            assert e.value.status == 404, (method, path)
            assert "readme" not in str(e.value.detail)

    share = owner.request("POST", f"/api/folders/{f['id']}/shares",
                          json={"email": guest.email, "permission": "ro"})  # type: ignore
    assert share["permission"] == "ro"
    [seen] = guest.request("GET", "/api/folders")
    assert (seen["id"], seen["shared_with_me"], seen["my_permission"], seen["is_owner"]) == (
        f["id"], True, "ro", False)
    assert guest.http.get(f"/api/folders/{f['id']}/download",
                          params={"path": "readme.txt"}).content == b"hello"
    # Read-only: no upload, no delete, no rename of the folder.
    r = tusutil.create(guest.http, f["id"], "x.txt", 1)
    assert r.status_code == 403, r.text
    with pytest.raises(ApiError) as e:
        guest.request("DELETE", f"/api/folders/{f['id']}/files", params={"path": "readme.txt"})
    assert e.value.status == 403
    with pytest.raises(ApiError) as e:
        guest.request("PATCH", f"/api/folders/{f['id']}", json={"name": "mine"})
    assert e.value.status == 403
    # A read-only share mounts read-only; asking rw is refused naming the field.
    with pytest.raises(ApiError) as e:
        guest.request("POST", "/api/sessions", json={
            "image": PYTHON_IMAGE, "mounts": [{"folder": f["id"], "mode": "rw"}]})
    assert "read-only" in fields(e)["mounts.0.mode"]
    assert stranger.request("GET", "/api/folders") == []

    owner.request("DELETE", f"/api/folders/{f['id']}/shares/{share['user_id']}")
    assert guest.request("GET", "/api/folders") == []

    # A folder still shared can be trashed (the guest loses it) and purged.
    g = folder(owner)
    owner.request("POST", f"/api/folders/{g['id']}/shares", json={"email": guest.email})  # type: ignore
    owner.request("DELETE", f"/api/folders/{g['id']}")
    assert guest.request("GET", "/api/folders") == []
    owner.request("POST", f"/api/folders/{g['id']}/purge")
    with pytest.raises(ApiError) as e:
        owner.request("GET", f"/api/folders/{g['id']}")
    assert e.value.status == 404


def test_bad_mounts_are_refused_naming_the_field_and_nothing_is_made(berth: Cluster) -> None:
    me, other = berth.user(), berth.user()
    mine, theirs, gone = folder(me), folder(other), folder(me)
    me.request("DELETE", f"/api/folders/{gone['id']}")
    cases = [
        ([{"folder": theirs["id"]}], "mounts.0.folder", "no folder"),
        ([{"folder": gone["name"]}], "mounts.0.folder", "no folder"),
        ([{"folder": mine["id"], "path": "/etc/x"}], "mounts.0.path", "system directory /etc"),
        ([{"folder": mine["id"], "path": "../x"}], "mounts.0.path", "'..'"),
        ([{"folder": mine["id"], "path": "/data"}, {"folder": mine["name"], "path": "/d2"}],
         "mounts.1.folder", "already mounted"),
    ]
    for mounts, field, rule in cases:
        with pytest.raises(ApiError) as e:
            me.request("POST", "/api/sessions", json={"image": PYTHON_IMAGE, "mounts": mounts})
        assert e.value.status == 422 and rule in fields(e).get(field, ""), (mounts, e.value)
    assert me.request("GET", "/api/sessions")["total"] == 0


def test_data_in_a_mounted_folder_outlives_the_session(berth: Cluster) -> None:
    me = berth.user()
    data, ro = folder(me, "data"), folder(me, "ref")
    folder(me, ".cfg")  # a dot-folder: mounted without being asked for
    put(me, data["id"], "in/hello.txt", b"from the explorer\n")
    put(me, ro["id"], "keep.txt", b"do not touch\n")
    s = launch(me, [{"folder": "data"}, {"folder": ro["id"], "path": "/mnt/ref", "mode": "ro"}])
    assert sorted((m["folder"], m["path"], m["mode"]) for m in s["mounts"]) == [
        (".cfg", "/home/work/.cfg", "rw"), ("data", "/home/work/data", "rw"),
        ("ref", "/mnt/ref", "ro")]
    assert me.request("GET", f"/api/sessions/{s['id']}")["mounts"] == s["mounts"]

    # Uploaded files belong to the kernel's user: the session can edit them.
    assert sh(s, "cat /home/work/data/in/hello.txt") == "from the explorer\n"
    assert sh(s, "stat -c '%u %g' /home/work/data/in/hello.txt").split() == ["1000", "1000"]
    sh(s, "echo edited >> /home/work/data/in/hello.txt && echo new > /home/work/data/made.txt"
          " && echo dot > /home/work/.cfg/x && echo lost > /home/work/scratch.txt")
    # Read-only is read-only inside the container.
    out = sh(s, "echo x > /mnt/ref/keep.txt; echo x > /mnt/ref/new.txt; ls /mnt/ref")
    assert out.count("Read-only file system") == 2 and "new.txt" not in out.replace(
        "/mnt/ref/new.txt", "")
    assert sh(s, "cat /mnt/ref/keep.txt") == "do not touch\n"

    me.terminate_session(s["id"])
    wait_status(me, s["id"], "TERMINATED")
    listing = me.request("GET", f"/api/folders/{data['id']}/files")
    assert {(e["name"], e["type"]) for e in listing["entries"]} == {("in", "dir"),
                                                                   ("made.txt", "file")}
    assert me.http.get(f"/api/folders/{data['id']}/download",
                       params={"path": "in/hello.txt"}).content == b"from the explorer\nedited\n"
    assert me.request("GET", f"/api/folders/{ro['id']}/files")["total"] == 1
    # What the session wrote is the explorer's to change, and the next session's to read.
    me.request("POST", f"/api/folders/{data['id']}/move", json={"src": "made.txt",
                                                               "dst": "in/made.txt"})

    again = launch(me, [{"folder": "data", "path": "elsewhere"}])
    assert sh(again, "cat /home/work/elsewhere/in/made.txt /home/work/.cfg/x") == "new\ndot\n"
    assert "No such file" in sh(again, "cat /home/work/scratch.txt")
    # A folder a session mounts cannot be purged; it can be trashed (the session keeps it).
    me.request("DELETE", f"/api/folders/{data['id']}")
    with pytest.raises(ApiError) as e:
        me.request("POST", f"/api/folders/{data['id']}/purge")
    assert e.value.status == 409 and again["name"] in str(e.value)
    assert sh(again, "cat /home/work/elsewhere/in/made.txt") == "new\n"


def test_an_interrupted_upload_resumes_where_it_stopped(berth: Cluster) -> None:
    me = berth.user()
    f = folder(me)
    data = os.urandom(3 * 2**20 + 123)
    r = tusutil.create(me.http, f["id"], "big/blob.bin", len(data))
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    token = me.http.headers["Authorization"]
    tusutil.dropped_patch(berth.url, location, {"Authorization": token}, 0, data, 2**20 + 7)
    got = wait_for(lambda: tusutil.offset(me.http, location) or None, 20,
                   what="the server to keep the bytes it got")
    assert 0 < got <= 2**20 + 7
    r = tusutil.append(me.http, location, got, data[got:])
    assert r.status_code == 204, r.text
    down = me.http.get(f"/api/folders/{f['id']}/download", params={"path": "big/blob.bin"})
    assert hashlib.sha256(down.content).digest() == hashlib.sha256(data).digest()
    # The staging area keeps none of a finished upload's bytes; asking for the offset again
    # (a client whose answer to the last chunk was lost) says it is complete, and sending
    # the last chunk again changes nothing.
    staged = [p for p in (berth.root / "storage" / "uploads").rglob("*")
              if p.is_file() and p.suffix not in (".info", ".done")]
    assert staged and all(p.stat().st_size == 0 for p in staged)
    assert tusutil.offset(me.http, location) == len(data)
    r = tusutil.append(me.http, location, len(data), b"")
    down = me.http.get(f"/api/folders/{f['id']}/download", params={"path": "big/blob.bin"})
    assert hashlib.sha256(down.content).digest() == hashlib.sha256(data).digest()


def test_uploads_are_checked_when_they_are_created(berth: Cluster) -> None:
    me, other = berth.user(), berth.user()
    f, theirs = folder(me), folder(other)
    assert tusutil.create(me.http, theirs["id"], "x", 1).status_code == 404
    assert tusutil.create(me.http, f["id"], "../x", 1).status_code == 400
    assert tusutil.create(me.http, f["id"], "/etc/x", 1).status_code == 400
    r = me.http.post("/api/uploads", headers={**tusutil.TUS, "Upload-Defer-Length": "1",
                                              "Upload-Metadata": tusutil.metadata(
                                                  folder=f["id"], path="x")})
    assert r.status_code == 400 and "Upload-Length" in r.text
    r = tusutil.create(me.http, f["id"], "huge", 2**41)
    assert r.status_code == 413 and "Upload-Length" in r.text
    # A negative Content-Length is refused at once rather than waited on.
    with socket.create_connection(("127.0.0.1", berth.port), timeout=10) as conn:
        conn.sendall(b"PATCH /api/uploads/x HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                     b"Content-Length: -895957123\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 400")
    anonymous = httpx.Client(base_url=berth.url)
    assert tusutil.create(anonymous, f["id"], "x", 1).status_code == 401
    anonymous.close()
    # A directory where the file should go: the upload fails with 409, the dir is kept.
    me.request("POST", f"/api/folders/{f['id']}/mkdir", json={"path": "d"})
    r = tusutil.upload(me.http, f["id"], "d", b"abc")
    assert r.status_code == 409, r.text
    assert me.request("GET", f"/api/folders/{f['id']}/files")["entries"][0]["type"] == "dir"


def test_download_with_range_and_directories_as_zip(berth: Cluster) -> None:
    import io
    import zipfile

    me = berth.user()
    f = folder(me, "zipme")
    payload = bytes(range(256)) * 40
    put(me, f["id"], "a/b/data.bin", payload)
    put(me, f["id"], "top.txt", b"top")
    r = me.http.get(f"/api/folders/{f['id']}/download",
                    params={"path": "a/b/data.bin"}, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == payload[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(payload)}"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["content-type"] == "application/octet-stream"
    r = me.http.get(f"/api/folders/{f['id']}/download",
                    params={"path": "top.txt"}, headers={"Range": "bytes=999-"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */3"
    r = me.http.get(f"/api/folders/{f['id']}/download")
    assert r.status_code == 200 and 'filename="zipme.zip"' in r.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.read("top.txt") == b"top" and archive.read("a/b/data.bin") == payload


def test_explorer_operations(berth: Cluster) -> None:
    me = berth.user()
    f = folder(me)
    base = f"/api/folders/{f['id']}"
    me.request("POST", f"{base}/mkdir", json={"path": "x/y/z", "parents": True})
    put(me, f["id"], "x/y/z/file.txt", b"1")
    moved = me.request("POST", f"{base}/move", json={"src": "x/y", "dst": "moved"})
    assert (moved["path"], moved["type"]) == ("moved", "dir")
    with pytest.raises(ApiError) as e:
        me.request("POST", f"{base}/move", json={"src": "x", "dst": "moved"})
    assert e.value.status == 409
    with pytest.raises(ApiError) as e:
        me.request("DELETE", f"{base}/files", params={"path": "moved"})
    assert e.value.status == 409
    me.request("DELETE", f"{base}/files", params={"path": "moved", "recursive": True})
    names = [e["name"] for e in me.request("GET", f"{base}/files")["entries"]]
    assert names == ["x"]
    for i in range(5):
        put(me, f["id"], f"x/n{i}.txt", b"." * (i + 1))
    page = me.request("GET", f"{base}/files", params={
        "path": "x", "sort": "size", "order": "desc", "offset": 1, "limit": 2})
    assert page["total"] == 5 and [e["name"] for e in page["entries"]] == ["n3.txt", "n2.txt"]
    with pytest.raises(ApiError) as e:
        me.request("GET", f"{base}/files", params={"path": "nope"})
    assert e.value.status == 404


def test_project_folders_are_used_by_the_projects_members(berth: Cluster) -> None:
    creator, member = berth.user(), berth.user()  # every user is in the project "default"
    f = folder(creator, project="default")
    assert (f["owner_kind"], f["owner_name"], f["is_owner"]) == ("project", "default", True)
    seen = {x["id"]: x for x in member.request("GET", "/api/folders")}[f["id"]]
    assert (seen["my_permission"], seen["is_owner"], seen["shared_with_me"]) == ("rw", False,
                                                                                 False)
    put(member, f["id"], "from-member.txt", b"hi")
    with pytest.raises(ApiError) as e:
        member.request("DELETE", f"/api/folders/{f['id']}")
    assert e.value.status == 403
    with pytest.raises(ApiError) as e:
        folder(creator, project="no-such-project")
    assert "not a member of a project named 'no-such-project'" in fields(e)["project"]


def test_sizes_are_measured_from_the_filesystem(berth: Cluster) -> None:
    me = berth.user()
    f = folder(me)
    put(me, f["id"], "a.bin", b"x" * 100_000)

    def measured() -> dict[str, Any] | None:
        got: dict[str, Any] = me.request("GET", f"/api/folders/{f['id']}")
        return got if got["usage_files"] == 1 else None
    got = wait_for(measured, 30, what="the folder's size to be measured")
    assert got["usage_bytes"] >= 100_000 and got["usage_complete"] is True


def test_hosts_are_listed_for_superadmins_only(berth: Cluster) -> None:
    [local] = berth.admin.request("GET", "/api/storage/hosts")
    assert local["name"] == "local" and local["path"] == str(berth.root / "storage")
    assert local["total_bytes"] >= local["free_bytes"] > 0 and "mount" in local["capabilities"]
    assert local["folders"] >= 1
    with pytest.raises(ApiError) as e:
        berth.user().request("GET", "/api/storage/hosts")
    assert e.value.status == 403


def test_folder_count_is_limited_per_user(docker_ready: None) -> None:
    c = Cluster(db="sqlite", manager_env={"BERTH_MAX_FOLDERS_PER_USER": "2"}).start()
    try:
        me = c.user()
        folder(me, "one")
        second = folder(me, "two")
        with pytest.raises(ApiError) as e:
            folder(me, "three")
        assert "the most allowed is 2" in fields(e)["name"]
        me.request("DELETE", f"/api/folders/{second['id']}")  # the trash still counts ...
        with pytest.raises(ApiError):
            folder(me, "three")
        me.request("POST", f"/api/folders/{second['id']}/purge")  # ... a purge frees one
        folder(me, "three")
    finally:
        c.close()
