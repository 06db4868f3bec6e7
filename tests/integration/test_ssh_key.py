"""The session's SSH key is in its home from the start, on the real engine: right after the
session is RUNNING, ``/home/work/id_container`` exists (mode 0600, the kernel user's), the API
hands it out before the SSH app was ever opened, and SSH later works with that same key."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, wait_status
from dockerutil import exec_in

pytestmark = pytest.mark.slow
PYTHON_IMAGE = "berth/python:3.11"


@pytest.fixture(scope="module")
def key_cluster(docker_ready: None) -> Iterator[Cluster]:
    c = Cluster(db="sqlite").start()
    try:
        yield c
    finally:
        c.close()


def test_id_container_is_there_from_the_start(key_cluster: Cluster) -> None:
    owner = key_cluster.user()
    [s] = owner.create_session(image=PYTHON_IMAGE, resources={"cpu": 1, "mem": "1g"})
    s = wait_status(owner, s["id"], "RUNNING")
    container = s["kernels"][0]["container_id"]
    # At once, without opening SSH: the key pair, private to the kernel user.
    mode = exec_in(container, "stat", "-c", "%a %u %g", "/home/work/id_container").split()
    assert mode == ["600", "1000", "1000"]
    assert exec_in(container, "sh", "-c", "test -f /home/work/id_container.pub && echo yes") \
        == "yes\n"
    key = owner.ssh_key(s["id"])
    assert "PRIVATE KEY" in key
    assert exec_in(container, "cat", "/home/work/id_container") == key

    # Opening SSH keeps that key (it is not made anew) and SSH logs in with it.
    opened = owner.open_app(s["id"], "sshd")
    ssh = opened["ssh"]
    assert owner.ssh_key(s["id"]) == key
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "id_container"
        key_file.write_text(key)
        key_file.chmod(0o600)
        r = subprocess.run(
            ["ssh", "-i", str(key_file), "-o", "StrictHostKeyChecking=no", "-o",
             "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
             "-p", str(ssh["port"]), f"work@{ssh['host']}", "whoami"],
            capture_output=True, text=True, timeout=60)
        assert r.stdout.split() == ["work"], r.stderr
    key_cluster.end_all_sessions()
