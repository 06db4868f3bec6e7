"""Commit to image (issue 12) end to end on the real engine: a RUNNING interactive session is
saved as its owner's customized image, listed only to them (admins: everyone's), launched
again with what was installed outside /home/work and a fresh scratch home; what Berth put in
(the SSH key, the session's variables, app files) is not in the image; the rules (name,
batch, owner only, the policy's count); termination while committing; the engine failing,
the agent and the manager restarting mid-commit.

Kernels run as uid 1000 without new privileges unless their resource group allows sudo:
the first test installs into the image's Python environment (/opt/berth/venv, owned by the
kernel's user, as ``pip install`` lands); ``test_apt_package_with_sudo`` installs a Debian
package with ``sudo apt-get install`` in a group that allows it (and shows that sudo refuses
where the group does not)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from berth.client import ApiError, Client
from cluster import Cluster, wait_for, wait_status
from dockerutil import exec_in

pytestmark = pytest.mark.slow
PYTHON_IMAGE = "berth/python:3.11"
SMALL = {"cpu": 1, "mem": "512m"}


@pytest.fixture(scope="module")
def commit_cluster(docker_ready: None) -> Iterator[Cluster]:
    # SQLite by default (the restarts make this module slow); BERTH_TEST_COMMIT_DB=postgres
    # runs it on PostgreSQL.
    c = Cluster(db=os.environ.get("BERTH_TEST_COMMIT_DB", "sqlite")).start()
    try:
        yield c
    finally:
        try:
            c.end_all_sessions()
            for image in c.admin.customized_images(everyone=True):
                c.admin.remove_customized_image(image["ref"])
        finally:
            c.close()


def _running(owner: Client, **fields: Any) -> dict[str, Any]:
    [s] = owner.create_session(**{"image": PYTHON_IMAGE, "resources": SMALL, **fields})
    return wait_status(owner, s["id"], "RUNNING", timeout=120)


def _container(s: dict[str, Any]) -> str:
    container: str = s["kernels"][0]["container_id"]
    return container


def _finished(owner: Client, task_id: str, timeout: float = 180) -> dict[str, Any]:
    return owner.wait_commit(task_id, timeout=timeout, interval=0.2)


def _with_agent_env(c: Cluster, value: str | None) -> None:
    """Restart the agent with the commit test seam set to ``value`` (None: unset)."""
    env = c.node().env
    if value is None:
        env.pop("BERTH_AGENT_COMMIT_FAULT", None)
    else:
        env["BERTH_AGENT_COMMIT_FAULT"] = value
    c.restart_agent()


def test_commit_then_launch_from_it(commit_cluster: Cluster) -> None:
    c = commit_cluster
    owner, other = c.user(), c.user()
    token = secrets.token_hex(8)
    s = _running(owner, environ={"MY_TOKEN": token})
    box = _container(s)
    old_key = owner.ssh_key(s["id"])
    exec_in(box, "sh", "-c",
            "printf '#!/bin/sh\\necho hello from the image\\n' > /opt/berth/venv/bin/berth-hello"
            " && chmod +x /opt/berth/venv/bin/berth-hello && echo kept > /tmp/kept.txt"
            " && echo mine > /home/work/scratch.txt")
    task = owner.commit_session(s["name"], "my-env_1")
    assert task["status"] in ("pending", "running") and task["name"] == "my-env_1"
    seen: list[str] = []
    done = owner.wait_commit(task["id"], progress=lambda t: seen.append(t["phase"]),
                             interval=0.1)
    assert done["status"] == "done", done
    assert done["progress"] == 100 and done["size"] > 0 and done["reason"] == ""
    assert "done" in seen
    ref = done["image"]
    assert owner.session_commits(s["id"])[0]["id"] == task["id"]
    # The session runs on, untouched.
    assert owner.get_session(s["id"])["status"] == "RUNNING"

    # Listed to its owner only (launcher list and the customized list); admins see all.
    # Listed as soon as the task is done (not only at the agent's next heartbeat).
    mine = [i for i in owner.images() if i["ref"] == ref]
    assert mine, "the image is not in the owner's list"
    assert mine[0]["labels"]["berth.customized-name"] == "my-env_1"
    assert [i["ref"] for i in owner.customized_images()] == [ref]
    assert ref not in [i["ref"] for i in other.images()]
    assert other.customized_images() == []
    assert ref in [i["ref"] for i in c.admin.customized_images(everyone=True)]
    with pytest.raises(ApiError) as refused:
        other.customized_images(everyone=True)
    assert refused.value.status == 403
    with pytest.raises(ApiError) as unknown:
        other.create_session(image=ref, resources=SMALL)
    assert unknown.value.status == 422 and "unknown image" in str(unknown.value)

    # Launched from it: the program and the file outside /home/work are there, the scratch
    # home is fresh (with a new SSH key), nothing of the first session's secrets.
    again = _running(owner, image=ref)
    box2 = _container(again)
    assert exec_in(box2, "berth-hello") == "hello from the image\n"
    assert exec_in(box2, "cat", "/tmp/kept.txt") == "kept\n"
    assert "scratch.txt" not in exec_in(box2, "ls", "-A", "/home/work")
    assert owner.ssh_key(again["id"]) != old_key
    env = exec_in(box2, "env")
    assert token not in env and s["id"] not in env
    assert exec_in(box2, "sh", "-c", f"grep -rls {token} /etc /opt /tmp /usr/local || true") == ""

    # Removing it while a session uses it is refused; afterwards it goes.
    with pytest.raises(ApiError) as busy:
        owner.remove_customized_image(ref)
    assert busy.value.status == 409
    owner.terminate_session(again["id"], force=True)
    wait_status(owner, again["id"], "TERMINATED")
    with pytest.raises(ApiError) as not_yours:
        other.remove_customized_image(ref)
    assert not_yours.value.status == 404
    owner.remove_customized_image(ref)
    assert owner.customized_images() == []
    assert ref not in [i["ref"] for i in owner.images()]
    owner.terminate_session(s["id"], force=True)


#: Builds a Debian package (no network needed: apt installs it from the file).
HELLO_DEB = """set -e
mkdir -p /tmp/pkg/DEBIAN /tmp/pkg/usr/bin
{ echo 'Package: berth-hello'; echo 'Version: 1.0'; echo 'Architecture: all'
  echo 'Maintainer: Berth tests <tests@berth.invalid>'; echo 'Description: test'
} > /tmp/pkg/DEBIAN/control
printf '#!/bin/sh\\necho hello from apt\\n' > /tmp/pkg/usr/bin/berth-hello
chmod 0755 /tmp/pkg/usr/bin/berth-hello
dpkg-deb --root-owner-group --build /tmp/pkg /tmp/berth-hello.deb >/dev/null
"""


def test_apt_package_with_sudo(commit_cluster: Cluster) -> None:
    c = commit_cluster
    owner = c.user()
    # Sudo refuses in a group that does not allow it (the default).
    assert c.admin.update_resource_group("default")["allow_sudo"] is False
    plain = _running(owner)
    refused = exec_in(_container(plain), "sudo", "-n", "true")
    assert "no new privileges" in refused, refused
    owner.terminate_session(plain["id"], force=True)
    try:
        assert c.admin.update_resource_group("default", allow_sudo=True)["allow_sudo"] is True
        s = _running(owner)
        box = _container(s)
        assert exec_in(box, "id", "-u") == "1000\n"  # the kernel still starts unprivileged
        assert exec_in(box, "sudo", "-n", "id", "-u") == "0\n"
        exec_in(box, "sh", "-c", HELLO_DEB)
        out = exec_in(box, "sh", "-c", "sudo -n apt-get install -y /tmp/berth-hello.deb 2>&1;"
                      " echo rc=$?")
        assert out.endswith("rc=0\n"), out
        exec_in(box, "sh", "-c", "echo outside | sudo -n tee /etc/berth-outside.txt >/dev/null"
                " && rm -rf /tmp/pkg /tmp/berth-hello.deb && echo mine > /home/work/scratch.txt")
        done = _finished(owner, owner.commit_session(s["name"], "apt-env")["id"])
        assert done["status"] == "done", done
        again = _running(owner, image=done["image"])
        box2 = _container(again)
        assert exec_in(box2, "berth-hello") == "hello from apt\n"
        assert "Status: install ok installed" in exec_in(box2, "dpkg", "-s", "berth-hello")
        assert exec_in(box2, "cat", "/etc/berth-outside.txt") == "outside\n"
        assert "scratch.txt" not in exec_in(box2, "ls", "-A", "/home/work")
        owner.terminate_session(again["id"], force=True)
        owner.terminate_session(s["id"], force=True)
        wait_status(owner, again["id"], "TERMINATED")
        owner.remove_customized_image(done["image"])
    finally:
        c.admin.update_resource_group("default", allow_sudo=False)


def test_rules(commit_cluster: Cluster) -> None:
    c = commit_cluster
    owner = c.user()
    s = _running(owner)
    for bad in ("abc", "x" * 33, "no spaces", "dots.no"):
        with pytest.raises(ApiError) as e:
            owner.commit_session(s["id"], bad)
        assert e.value.status == 422 and "name" in e.value.fields, (bad, e.value)
    # Only the owner: an admin who sees the session is refused.
    with pytest.raises(ApiError) as e:
        c.admin.commit_session(s["id"], "admins-try")
    assert e.value.status in (403, 404)
    [batch] = owner.create_session(image=PYTHON_IMAGE, resources=SMALL, type="batch",
                                   startup_command="sleep 60")
    wait_status(owner, batch["id"], "RUNNING", timeout=120)
    with pytest.raises(ApiError) as e:
        owner.commit_session(batch["id"], "batch-env")
    assert e.value.status == 409 and "batch" in str(e.value)

    # The resource policy's count, with a message saying how to free one.
    policy = c.admin.create_policy(f"one-image-{secrets.token_hex(3)}",
                                   max_customized_images=1)["name"]
    c.admin.update_user(owner.me()["id"], resource_policy=policy)
    first = _finished(owner, owner.commit_session(s["id"], "first-one")["id"])
    assert first["status"] == "done"
    wait_for(lambda: owner.customized_images(), 30, what="the first image listed")
    with pytest.raises(ApiError) as e:
        owner.commit_session(s["id"], "second-one")
    assert e.value.status == 409 and "berth image rm" in str(e.value)
    # The same name twice is refused too (after freeing the count).
    c.admin.update_user(owner.me()["id"], resource_policy=None)
    with pytest.raises(ApiError) as e:
        owner.commit_session(s["id"], "first-one")
    assert e.value.status == 409 and "already" in str(e.value)
    owner.remove_customized_image(first["image"])
    for ref in (s["id"], batch["id"]):
        owner.terminate_session(ref, force=True)


def test_terminate_while_committing(commit_cluster: Cluster) -> None:
    c = commit_cluster
    _with_agent_env(c, "hold=6")
    try:
        owner = c.user()
        s = _running(owner)
        task = owner.commit_session(s["id"], "held-one")
        wait_for(lambda: owner.get_commit(task["id"])["phase"] == "committing", 30,
                 what="the commit to run")
        with pytest.raises(ApiError) as e:
            owner.terminate_session(s["id"])
        assert e.value.status == 409 and "committed" in str(e.value)
        assert owner.get_session(s["id"])["status"] == "RUNNING"
        owner.terminate_session(s["id"], force=True)
        wait_status(owner, s["id"], "TERMINATED")
        ended = _finished(owner, task["id"])
        assert ended["status"] == "failed" and "force-terminated" in ended["reason"]
        # The agent's task ends too, and no image is left listed.
        wait_for(lambda: not any(i["name"] == "held-one" for i in owner.customized_images()),
                 30, what="no image")
    finally:
        _with_agent_env(c, None)


def test_engine_failure_keeps_the_session(commit_cluster: Cluster) -> None:
    c = commit_cluster
    _with_agent_env(c, "fail")
    try:
        owner = c.user()
        s = _running(owner)
        ended = _finished(owner, owner.commit_session(s["id"], "doomed")["id"])
        assert ended["status"] == "failed" and "could not commit" in ended["reason"], ended
        assert ended["phase"] == "failed"
        assert owner.get_session(s["id"])["status"] == "RUNNING"
        assert owner.customized_images() == []
        owner.terminate_session(s["id"])  # not held by the failed task
        wait_status(owner, s["id"], "TERMINATED")
    finally:
        _with_agent_env(c, None)


def test_restarts_during_a_commit(commit_cluster: Cluster) -> None:
    c = commit_cluster
    _with_agent_env(c, "hold=8")
    owner = c.user()
    s = _running(owner)
    # The manager restarts: the task is followed again and finishes.
    task = owner.commit_session(s["id"], "survives")
    wait_for(lambda: owner.get_commit(task["id"])["phase"] == "committing", 30,
             what="the commit to run")
    c.stop_manager()
    c.start_manager()
    done = _finished(owner, task["id"])
    assert done["status"] == "done", done
    owner.remove_customized_image(done["image"])
    # The agent restarts: the task fails with that reason, no image, the session not held.
    task = owner.commit_session(s["id"], "lost-one")
    wait_for(lambda: owner.get_commit(task["id"])["phase"] == "committing", 30,
             what="the commit to run")
    _with_agent_env(c, None)
    ended = _finished(owner, task["id"])
    assert ended["status"] == "failed" and "agent restarted" in ended["reason"], ended
    assert owner.customized_images() == []
    assert owner.get_session(s["id"])["status"] == "RUNNING"
    owner.terminate_session(s["id"])
    wait_status(owner, s["id"], "TERMINATED")


def _cli(c: Cluster, user: Client, *args: str) -> subprocess.CompletedProcess[str]:
    token = user.http.headers["Authorization"].split(" ", 1)[1]
    env = {**os.environ, "BERTH_ENDPOINT": c.url, "BERTH_API_KEY": token, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli(commit_cluster: Cluster) -> None:
    c = commit_cluster
    owner = c.user()
    s = _running(owner)
    r = _cli(c, owner, "session", "commit", s["name"], "cli-made")
    assert r.returncode == 0, r.stderr
    assert "100%" in r.stdout and "is ready" in r.stdout
    ref = owner.customized_images()[0]["ref"] if wait_for(
        owner.customized_images, 30, what="the image listed") else ""
    assert ref in r.stdout.replace("\n", "")
    listed = _cli(c, owner, "image", "list")
    assert "(customized)" in listed.stdout and "Customized<cli-made>" in listed.stdout
    assert "cli-made" in _cli(c, owner, "image", "customized").stdout
    bad = _cli(c, owner, "session", "commit", s["name"], "x")
    assert bad.returncode == 1 and "name" in bad.stderr and "4 to 32" in bad.stderr
    removed = _cli(c, owner, "image", "rm", ref)
    assert removed.returncode == 0 and f"removed {ref}" in removed.stdout.replace("\n", "")
    assert owner.customized_images() == []
    owner.terminate_session(s["id"], force=True)
