"""``berth folder upload`` without a manager: which files go where (like ``cp -r``), and the
private file that remembers unfinished uploads for a later run."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
import typer

from berth.cli import folder_files
from berth.cli.folder_files import ResumeStore, join, plan_upload


def tree(root: Path) -> Path:
    (root / "run1" / "logs" / "deep").mkdir(parents=True)
    (root / "run1" / "empty" / "inner").mkdir(parents=True)
    (root / "run1" / "a.txt").write_text("aaa")
    (root / "run1" / "logs" / "deep" / "b.log").write_text("bb")
    (root / "notes.md").write_text("n")
    return root


def test_files_and_directories_go_like_cp_r(tmp_path: Path) -> None:
    tree(tmp_path)
    plan = plan_upload([tmp_path / "run1", tmp_path / "notes.md"], "/exp/")
    assert [(p.relative_to(tmp_path).as_posix(), d) for p, d in plan.files] == [
        ("run1/a.txt", "exp/run1/a.txt"),
        ("run1/logs/deep/b.log", "exp/run1/logs/deep/b.log"),
        ("notes.md", "exp/notes.md")]
    assert plan.dirs == ["exp/run1/empty", "exp/run1/empty/inner"]  # only what no file brings
    assert plan.total == 6


def test_to_the_root_and_a_trailing_slash(tmp_path: Path) -> None:
    tree(tmp_path)
    plan = plan_upload([tmp_path / "run1" / "logs/"], "")
    assert [d for _, d in plan.files] == ["logs/deep/b.log"] and plan.dirs == []
    assert plan_upload([tmp_path / "run1" / "empty"], "").dirs == ["empty", "empty/inner"]


def test_links_to_directories_are_not_followed(tmp_path: Path) -> None:
    tree(tmp_path)
    (tmp_path / "run1" / "loop").symlink_to(tmp_path / "run1")
    (tmp_path / "run1" / "alias.txt").symlink_to(tmp_path / "notes.md")
    (tmp_path / "run1" / "dangling").symlink_to(tmp_path / "nowhere")
    dests = [d for _, d in plan_upload([tmp_path / "run1"], "").files]
    assert dests == ["run1/a.txt", "run1/alias.txt", "run1/logs/deep/b.log"]


def test_a_missing_source_names_local(tmp_path: Path) -> None:
    with pytest.raises(typer.BadParameter) as bad:
        plan_upload([tmp_path / "nope"], "")
    assert bad.value.param_hint == "LOCAL" and "does not exist" in bad.value.message


def test_join() -> None:
    assert join("", "a") == "a" and join("/x/", "/y", "") == "x/y" and join("") == ""


def test_the_resume_store_is_private_and_forgets_old_uploads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResumeStore(tmp_path / "berth" / "uploads.json")
    assert dict(store) == {}
    store["k1"] = "http://m/api/uploads/1"
    store["k2"] = "http://m/api/uploads/2"
    assert store["k1"].endswith("/1") and len(store) == 2
    assert stat.S_IMODE((tmp_path / "berth" / "uploads.json").stat().st_mode) == 0o600
    del store["k1"]
    assert list(store) == ["k2"] and store.pop("k1", None) is None
    later = time.time() + folder_files.RESUME_FOR + 1
    monkeypatch.setattr(folder_files.time, "time", lambda: later)
    assert dict(store) == {}
    (tmp_path / "berth" / "uploads.json").write_text("not json")
    assert dict(store) == {}
    store["k3"] = "u"
    assert json.loads((tmp_path / "berth" / "uploads.json").read_text())["k3"]["url"] == "u"
