"""Access to a session by id and by name, for everyone who stands in some relation to it:
its owner, the admin who launched it for the owner, another admin, the superadmin and a
stranger. Every route answers the same for an id and for a name (manager/access.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from berth.client import ApiError, Client
from cluster import Cluster, wait_status
from conftest import PYTHON_IMAGE

pytestmark = pytest.mark.slow


def _status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiError as e:
        return e.status
    return 200


def _launch(c: Cluster) -> dict[str, Any]:
    """A RUNNING session an admin launched for a user, and everyone around it."""
    owner, creator, other_admin, stranger = (c.user(), c.user(role="admin"),
                                             c.user(role="admin"), c.user())
    name = f"for-user-{secrets.token_hex(3)}"
    [s] = creator.create_session(image=PYTHON_IMAGE, name=name,
                                 owner_email=owner.email)  # type: ignore[attr-defined]
    wait_status(owner, s["id"], "RUNNING")
    return {"session": s, "owner": owner, "creator": creator, "other_admin": other_admin,
            "superadmin": c.admin, "stranger": stranger}


@pytest.fixture(scope="module")
def launched(cluster: Cluster) -> Iterator[dict[str, Any]]:
    """One launch shared by the tests that only look (nothing here changes it)."""
    world = _launch(cluster)
    yield world
    cluster.admin.terminate_session(world["session"]["id"], force=True)


@pytest.fixture
def fresh(cluster: Cluster) -> Iterator[dict[str, Any]]:
    """A launch of its own for a test that changes it; everything it made is ended after."""
    world = _launch(cluster)
    yield world
    for s in world["creator"].list_sessions(state="running", limit=200)["items"]:
        cluster.admin.terminate_session(s["id"], force=True)


#: who -> answers to (get, logs, list apps, rename to its own name, open a missing app,
#: close an app that is not open, SSH key); terminating is tested apart. The owner is allowed
#: everything (a missing app is a 422: the request is wrong, not the caller); the owner's SSH
#: key depends on the image, so only the others' refusals are compared.
EXPECTED = {
    "owner": (200, 200, 200, 200, 422, 200, None),
    "creator": (200, 200, 200, 403, 403, 403, 403),
    "superadmin": (200, 200, 200, 403, 403, 403, 403),
    "other_admin": (404, 404, 404, 404, 404, 404, 404),
    "stranger": (404, 404, 404, 404, 404, 404, 404),
}


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize("by", ["id", "name"])
def test_same_answers_by_id_and_by_name(launched: dict[str, Any], who: str, by: str) -> None:
    s = launched["session"]
    c: Client = launched[who]
    ref = s["id"] if by == "id" else s["name"]
    got = (
        _status(lambda: c.get_session(ref)),
        _status(lambda: b"".join(c.logs(ref, tail=5))),
        _status(lambda: c.apps(ref)),
        _status(lambda: c.rename_session(ref, s["name"])),
        _status(lambda: c.open_app(ref, "no-such-app")),
        _status(lambda: c.close_app(ref, "jupyter")),
        None if who == "owner" else _status(lambda: c.ssh_key(ref)),
    )
    assert got == EXPECTED[who], f"{who} by {by}"


@pytest.mark.parametrize("by", ["id", "name"])
def test_who_may_terminate(fresh: dict[str, Any], by: str) -> None:
    launched = fresh
    s = launched["session"]
    ref = s["id"] if by == "id" else s["name"]
    for who in ("other_admin", "stranger"):
        c: Client = launched[who]
        assert _status(lambda c=c: c.terminate_session(ref)) == 404, who  # type: ignore[misc]
    assert _status(lambda: launched["creator"].terminate_session(ref)) == 200
    assert wait_status(launched["owner"], s["id"], {"TERMINATED"})["status"] == "TERMINATED"


def test_lists_hold_what_each_may_see(launched: dict[str, Any]) -> None:
    sid = launched["session"]["id"]
    for who, expected in [("owner", True), ("creator", True), ("superadmin", True),
                          ("other_admin", False), ("stranger", False)]:
        ids = [x["id"] for x in launched[who].list_sessions(state="all", limit=200)["items"]]
        assert (sid in ids) is expected, who


def test_by_name_prefers_the_callers_own_session(fresh: dict[str, Any]) -> None:
    """An admin whose own session has the name of one they launched for a user gets their
    own by that name; the user's stays reachable by id."""
    s, creator = fresh["session"], fresh["creator"]
    [own] = creator.create_session(image=PYTHON_IMAGE, name=s["name"])
    assert creator.get_session(s["name"])["id"] == own["id"]
    assert creator.get_session(s["id"])["owner_id"] == s["owner_id"]
