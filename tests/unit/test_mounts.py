"""Folder names and mount paths (berth.domain.mounts): PRODUCT.md §2 step 3 and §9."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_launch import CTX, IMAGE  # noqa: I001

from berth.domain.launch import LaunchPlan, LaunchRequest, validate_launch
from berth.domain.mounts import (
    Mount,
    MountWish,
    folder_name_problem,
    overlaps,
    plan_mounts,
    resolve_mount_path,
)
from berth.domain.rules import RuleError


@pytest.mark.parametrize("name", ["data", "a", "my-data_1.v2", ".config", "A" * 64, "..x"])
def test_good_folder_names(name: str) -> None:
    assert folder_name_problem(name) is None


@pytest.mark.parametrize(("name", "rule"), [
    ("", "1 to 64"), ("A" * 65, "1 to 64"), (".", "'.' or '..'"), ("..", "'.' or '..'"),
    ("a b", "only letters"), ("a/b", "only letters"), ("dätä", "only letters"),
    ("x\x00", "only letters"),
])
def test_bad_folder_names_name_the_rule(name: str, rule: str) -> None:
    assert rule in (folder_name_problem(name) or "")


@pytest.mark.parametrize(("path", "want"), [
    (None, "/home/work/data"), ("", "/home/work/data"), ("  ", "/home/work/data"),
    ("sub/dir", "/home/work/sub/dir"), ("/data", "/data"), ("/mnt/x/", "/mnt/x"),
    ("//mnt//y", "/mnt/y"), ("/tmp/data", "/tmp/data"), ("/home/other", "/home/other"),
])
def test_mount_paths_resolve_like_the_launcher_says(path: str | None, want: str) -> None:
    assert resolve_mount_path(path, "data") == want


@pytest.mark.parametrize(("path", "rule"), [
    ("/etc", "system directory /etc"), ("/usr/local/x", "system directory /usr"),
    ("/proc", "system directory /proc"), ("/opt/berth/bin", "/opt/berth"),
    ("/", "cannot mount over /"), ("/home", "cannot mount over /home"),
    ("/home/work", "cannot mount over /home/work"), ("/home/work/", "over /home/work"),
    ("a/../../etc", "'.' or '..'"), ("./x", "'.' or '..'"), ("a b", "only letters"),
    ("$HOME", "only letters"), ("x" * 256, "at most 255"),
])
def test_bad_mount_paths_name_the_rule(path: str, rule: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        resolve_mount_path(path, "data")
    assert rule in str(caught.value)


def test_overlap_is_by_path_component() -> None:
    assert overlaps("/data", "/data/sub") and overlaps("/data/sub", "/data")
    assert overlaps("/data", "/data")
    assert not overlaps("/data", "/data2")


def wish(i: int, name: str, path: str | None = None, mode: str | None = None,
         allowed: str = "rw") -> MountWish:
    return MountWish(i, f"id-{name}", name, path, mode, allowed)


def test_plan_gives_each_mount_its_path_and_mode() -> None:
    mounts = plan_mounts([wish(0, "a"), wish(1, "b", "/data", "ro")], [])
    assert mounts == [Mount("id-a", "a", "/home/work/a", "rw"),
                      Mount("id-b", "b", "/data", "ro")]


def test_a_read_only_folder_mounts_read_only_and_refuses_rw() -> None:
    assert plan_mounts([wish(0, "a", allowed="ro")], []) == [
        Mount("id-a", "a", "/home/work/a", "ro")]
    errors = plan_mounts([wish(3, "a", mode="rw", allowed="ro")], [])
    assert errors == [RuleError("mounts[3].mode", "folder 'a' can only be mounted read-only "
                                "(ro) by you")]


def test_every_broken_rule_is_reported_with_its_index() -> None:
    errors = plan_mounts([wish(0, "a", "/data"), wish(1, "b", "/data/b"), wish(2, "c", "/etc"),
                          wish(3, "a")], [])
    assert isinstance(errors, list)
    fields = {e.field: e.message for e in errors if isinstance(e, RuleError)}
    assert "overlaps the mount of 'a' at /data" in fields["mounts[1].path"]
    assert "system directory /etc" in fields["mounts[2].path"]
    assert "already mounted (mounts[0])" in fields["mounts[3].folder"]


def test_dot_folders_are_added_unless_mounted_explicitly() -> None:
    mounts = plan_mounts([wish(0, ".cfg", "/cfg")], [("id-.cfg", ".cfg", "rw"),
                                                     ("id-.ssh", ".ssh", "ro")])
    assert mounts == [Mount("id-.cfg", ".cfg", "/cfg", "rw"),
                      Mount("id-.ssh", ".ssh", "/home/work/.ssh", "ro")]


def test_too_many_mounts() -> None:
    errors = plan_mounts([wish(i, f"f{i}") for i in range(33)], [])
    assert [e.field for e in errors if isinstance(e, RuleError)] == ["mounts"]


def test_the_launch_check_carries_mounts_and_their_errors() -> None:
    req = LaunchRequest(image=IMAGE.ref)
    mounts = [Mount("id-a", "a", "/home/work/a", "rw")]
    plan = validate_launch(req, replace(CTX, mounts=mounts))
    assert isinstance(plan, LaunchPlan) and plan.mounts == mounts
    bad = validate_launch(replace(req, name="x"),
                          replace(CTX, mounts=[RuleError("mounts[0].folder", "no folder 'z'")]))
    assert isinstance(bad, list)
    assert {e.field for e in bad} == {"name", "mounts[0].folder"}
