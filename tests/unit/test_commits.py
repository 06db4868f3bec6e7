"""The pure rules of commit to image (berth.domain.commits): names, task status transitions,
image reference and labels, what a commit resets, the policy's count."""

from __future__ import annotations

import pytest

from berth.agent.backends.docker_commit import final_config, scrub_config
from berth.domain import commits as cm

S = cm.CommitStatus


@pytest.mark.parametrize(("name", "ok"), [
    ("abcd", True), ("a" * 32, True), ("My-env_2", True), ("____", True),
    ("abc", False), ("a" * 33, False), ("", False), ("has space", False), ("dot.ted", False),
    ("ünï-code", False), ("slash/es", False), ("colon:x", False),
])
def test_name_rule(name: str, ok: bool) -> None:
    problem = cm.name_problem(name)
    assert (problem is None) is ok, problem
    if not ok:
        assert "letters, digits" in (problem or "")


#: Every (old, new) pair: allowed or not. A repeat of the same status is always allowed.
TABLE = {
    (S.PENDING, S.RUNNING): True, (S.PENDING, S.DONE): False, (S.PENDING, S.FAILED): True,
    (S.RUNNING, S.PENDING): False, (S.RUNNING, S.DONE): True, (S.RUNNING, S.FAILED): True,
    (S.DONE, S.PENDING): False, (S.DONE, S.RUNNING): False, (S.DONE, S.FAILED): False,
    (S.FAILED, S.PENDING): False, (S.FAILED, S.RUNNING): False, (S.FAILED, S.DONE): False,
}


def test_transition_table_is_complete() -> None:
    assert set(TABLE) == {(a, b) for a in S for b in S if a != b}


@pytest.mark.parametrize(("old", "new"), sorted(TABLE))
def test_transitions(old: S, new: S) -> None:
    assert cm.can_move(old, new) is TABLE[(old, new)]
    assert cm.can_move(old, old)


def test_phases_map_to_statuses_and_progress_grows() -> None:
    assert cm.status_of_phase("preparing") is S.RUNNING
    assert cm.status_of_phase("scrubbing") is S.RUNNING
    assert cm.status_of_phase("done") is S.DONE
    assert cm.status_of_phase("failed") is S.FAILED
    order = [cm.Phase.PREPARING, cm.Phase.COMMITTING, cm.Phase.SCRUBBING, cm.Phase.DONE]
    assert [cm.PROGRESS[p] for p in order] == sorted(cm.PROGRESS[p] for p in order)
    assert cm.PROGRESS[cm.Phase.DONE] == 100


def test_ref_is_per_owner_and_name_and_a_valid_tag() -> None:
    a, b = cm.ref_of("u-1", "env1"), cm.ref_of("u-2", "env1")
    assert a != b and a.startswith("berth/customized:")
    tag = a.partition(":")[2]
    assert len(tag) <= 128 and tag[0].isalnum()
    assert cm.ref_of("we!rd id", "env1").partition(":")[2] == "we_rd_id-env1"


def test_env_reset_keeps_the_image_and_empties_the_rest() -> None:
    image = ["PATH=/usr/bin", "LANG=C.UTF-8"]
    container = ["PATH=/usr/bin", "LANG=C.UTF-8", "HOME=/home/work", "MY_TOKEN=s3cret",
                 "BERTH_SESSION_ID=abc", "EMPTY="]
    got = cm.reset_env(container, image)
    assert got == ["PATH=/usr/bin", "LANG=C.UTF-8", "HOME=", "MY_TOKEN=", "BERTH_SESSION_ID=",
                   "EMPTY="]
    assert "s3cret" not in str(got)
    # An image variable the session overrode goes back to the image's value.
    assert cm.reset_env(["LANG=fr"], ["LANG=C.UTF-8"]) == ["LANG=C.UTF-8"]


def test_labels_blank_the_kernel_and_keep_the_image() -> None:
    labels = cm.reset_labels(
        {"berth.kernel-id": "k1", "berth.agent-id": "a1", "berth.apps": "x"},
        {"berth.apps": "jupyter:http:8888", "berth.kind": "environment"},
        cm.image_labels("u1", "mine", "berth/python:3.11", "Python"))
    assert labels["berth.kernel-id"] == "" and labels["berth.agent-id"] == ""
    assert labels["berth.apps"] == "jupyter:http:8888"
    assert labels[cm.LABEL_OWNER] == "u1" and labels[cm.LABEL_NAME] == "mine"
    assert labels["berth.version"] == "Customized<mine>"


def test_final_and_scrub_configs() -> None:
    container = {"Config": {"Env": ["A=1", "PATH=/bin"], "Labels": {"berth.kernel-id": "k"},
                            "User": "1000:1000", "Cmd": ["sleep", "infinity"]}}
    base = {"Config": {"Env": ["PATH=/bin"], "User": "work", "Cmd": None,
                       "WorkingDir": "/home/work", "Labels": {"berth.kind": "environment"}}}
    config = final_config(container, base, {"berth.customized-owner": "u"})
    assert config["User"] == "work" and config["Cmd"] == ["sh"]
    assert config["Env"] == ["PATH=/bin", "A="]
    assert config["Labels"]["berth.kernel-id"] == ""
    scrub = scrub_config("sha256:x", "agent-1")
    assert scrub["HostConfig"]["NetworkMode"] == "none"
    assert scrub["HostConfig"]["CapAdd"] == ["DAC_OVERRIDE", "FOWNER"]
    assert set(cm.SCRUB_PATHS) <= set(scrub["Cmd"])
    assert scrub["Labels"]["berth.agent-id"] == ""  # never taken for a kernel


@pytest.mark.parametrize(("limit", "images", "active", "refused"), [
    (None, 99, 9, False), (1, 0, 0, False), (1, 1, 0, True), (1, 0, 1, True),
    (3, 1, 1, False), (0, 0, 0, True),
])
def test_policy_count(limit: int | None, images: int, active: int, refused: bool) -> None:
    problem = cm.limit_problem(limit, images, active)
    assert (problem is not None) is refused
    if problem:
        assert "berth image rm" in problem
