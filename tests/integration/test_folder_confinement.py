"""No file operation leaves its folder, whatever a session plants in it.

The manager runs as root and serves files that containers wrote. Here a hostile session
plants symbolic links (to /etc/shadow, to /, to the data directory, to another user's folder,
relative ones climbing out) and a FIFO inside its mounted folder, from inside a real container;
then its owner tries every explorer operation through them: list, download, zip, move, delete,
mkdir and upload. Each is refused (or acts on the link itself), nothing outside changes, and
nothing hangs.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tusutil
from berth.client import ApiError, Client
from cluster import Cluster, wait_status
from dockerutil import exec_in

pytestmark = pytest.mark.slow
PYTHON_IMAGE = "berth/python:3.11"


@pytest.fixture(scope="module")
def attack(docker_ready: None) -> Iterator[dict[str, Any]]:
    c = Cluster(db="sqlite").start()
    try:
        victim, attacker = c.user(), c.user()
        private = victim.request("POST", "/api/folders", json={"name": "private"})
        r = tusutil.upload(victim.http, private["id"], "secret.txt", b"victim's secret\n")
        assert r.status_code == 204, r.text
        evil = attacker.request("POST", "/api/folders", json={"name": "evil"})
        [s] = attacker.request("POST", "/api/sessions", json={
            "image": PYTHON_IMAGE, "mounts": [{"folder": "evil", "path": "/mnt/evil"}]})
        s = wait_status(attacker, s["id"], "RUNNING")
        victim_dir = c.root / "storage" / "folders" / private["id"]
        plant = (f"cd /mnt/evil && ln -s /etc/shadow shadow && ln -s / rootlink && "
                 f"ln -s {c.root} datadir && ln -s {victim_dir} victim && "
                 f"ln -s ../../../../../.. up && mkfifo fifo && mkdir d && echo mine > d/f && "
                 f"ln -s {victim_dir}/secret.txt d/inner && touch \"d/$(printf 'bad\\377')\" && "
                 f"echo planted")
        out = exec_in(s["kernels"][0]["container_id"], "sh", "-c", plant)
        assert out.strip() == "planted", out
        yield {"cluster": c, "attacker": attacker, "evil": evil, "victim_dir": victim_dir,
               "victim": victim, "private": private}
    finally:
        c.end_all_sessions()
        c.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(c: Client, method: str, path: str, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as e:
        c.request(method, path, **kwargs)
    assert 400 <= e.value.status < 500, e.value
    return e.value


def test_listing_shows_links_as_links_and_never_lists_through_them(attack: dict[str, Any]
                                                                   ) -> None:
    me, f = attack["attacker"], attack["evil"]
    base = f"/api/folders/{f['id']}"
    entries = {e["name"]: e["type"] for e in me.request("GET", f"{base}/files")["entries"]}
    assert entries == {"shadow": "symlink", "rootlink": "symlink", "datadir": "symlink",
                       "victim": "symlink", "up": "symlink", "fifo": "other", "d": "dir"}
    # A name that is not UTF-8 is listed (shown with U+FFFD), not a server error.
    inside = me.request("GET", f"{base}/files", params={"path": "d"})["entries"]
    assert sorted(e["name"] for e in inside) == ["bad\ufffd", "f", "inner"]
    for through in ("rootlink", "rootlink/etc", "victim", "datadir", "up", "d/inner"):
        e = refused(me, "GET", f"{base}/files", params={"path": through})
        assert "secret" not in str(e.detail) and "shadow:" not in str(e.detail)


def test_downloads_never_read_through_a_link_and_a_fifo_does_not_hang(
        attack: dict[str, Any]) -> None:
    me, f = attack["attacker"], attack["evil"]
    url = f"/api/folders/{f['id']}/download"
    for path in ("shadow", "victim/secret.txt", "d/inner", "rootlink/etc/shadow",
                 "up/etc/shadow", "datadir/berth.db", "fifo"):
        r = me.http.get(url, params={"path": path}, timeout=10)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert b"victim's secret" not in r.content and b"root:" not in r.content
    r = me.http.get(url, timeout=30)  # the whole folder as a zip
    assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(archive.namelist()) == ["d/", "d/bad\ufffd", "d/f"]
    assert archive.read("d/f") == b"mine\n"


def test_moves_deletes_and_new_dirs_stay_inside(attack: dict[str, Any]) -> None:
    me, f, victim_dir = attack["attacker"], attack["evil"], attack["victim_dir"]
    base = f"/api/folders/{f['id']}"
    before = digest(victim_dir / "secret.txt")
    refused(me, "POST", f"{base}/move", json={"src": "victim/secret.txt", "dst": "stolen"})
    refused(me, "POST", f"{base}/move", json={"src": "d", "dst": "victim/d"})
    refused(me, "POST", f"{base}/move", json={"src": "d/f", "dst": "rootlink/tmp/f"})
    refused(me, "DELETE", f"{base}/files", params={"path": "victim/secret.txt"})
    refused(me, "DELETE", f"{base}/files", params={"path": "rootlink/etc/hostname"})
    refused(me, "POST", f"{base}/mkdir", json={"path": "victim/new"})
    refused(me, "POST", f"{base}/mkdir", json={"path": "up/tmp/berth-escape", "parents": True})
    assert sorted(p.name for p in victim_dir.iterdir()) == ["secret.txt"]
    assert digest(victim_dir / "secret.txt") == before
    assert not Path("/tmp/berth-escape").exists() and not Path("/tmp/f").exists()
    assert Path("/etc/hostname").exists()
    # A link can be renamed and deleted as a link: its target is untouched.
    me.request("POST", f"{base}/move", json={"src": "victim", "dst": "victim-link"})
    me.request("DELETE", f"{base}/files", params={"path": "victim-link", "recursive": True})
    assert digest(victim_dir / "secret.txt") == before


def test_uploads_never_write_through_a_link(attack: dict[str, Any]) -> None:
    me, f = attack["attacker"], attack["evil"]
    shadow = digest(Path("/etc/shadow"))
    for path in ("rootlink/tmp/berth-pwned", "up/tmp/berth-pwned", "datadir/pwned"):
        r = tusutil.upload(me.http, f["id"], path, b"pwned")
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert not Path("/tmp/berth-pwned").exists()
    assert not (attack["cluster"].root / "pwned").exists()
    # Onto a link as the last component: the link is replaced by the file, never followed.
    r = tusutil.upload(me.http, f["id"], "shadow", b"not a shadow file")
    assert r.status_code == 204, r.text
    assert digest(Path("/etc/shadow")) == shadow
    assert me.http.get(f"/api/folders/{f['id']}/download",
                       params={"path": "shadow"}).content == b"not a shadow file"
