"""The agent finds the manager's token however the data directories are set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.settings import (
    AgentSettings,
    AgentTokenMissing,
    ManagerSettings,
    read_or_create_secret,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("BERTH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no real ~/.local/share/berth
    monkeypatch.setenv("BERTH_CONFIG", str(tmp_path / "none.toml"))


def manager_token() -> str:
    return ManagerSettings().resolved_agent_token()


def test_agent_data_dir_differs_from_the_managers(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("BERTH_DATA_DIR", str(tmp_path / "manager"))
    token = manager_token()
    monkeypatch.setenv("BERTH_AGENT_DATA_DIR", str(tmp_path / "agent"))
    assert AgentSettings().resolved_token() == token
    assert not (tmp_path / "agent" / "agent-token").exists()  # no secret of its own made up


def test_manager_data_dir_from_the_config_file(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    config = tmp_path / "berth.toml"
    config.write_text(f'[manager]\ndata_dir = "{tmp_path / "m"}"\n')
    monkeypatch.setenv("BERTH_CONFIG", str(config))
    token = manager_token()
    assert (tmp_path / "m" / "agent-token").is_file()
    assert AgentSettings().data_dir != tmp_path / "m"
    assert AgentSettings().resolved_token() == token


def test_the_environment_wins_over_the_config_file(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    config = tmp_path / "berth.toml"
    config.write_text(f'[manager]\ndata_dir = "{tmp_path / "stale"}"\n')
    (tmp_path / "stale").mkdir()
    (tmp_path / "stale" / "agent-token").write_text("stale")
    monkeypatch.setenv("BERTH_CONFIG", str(config))
    monkeypatch.setenv("BERTH_DATA_DIR", str(tmp_path / "m"))
    token = manager_token()
    assert AgentSettings().resolved_token() == token != "stale"


def test_token_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "copy").write_text("s3cret\n")
    monkeypatch.setenv("BERTH_AGENT_TOKEN_FILE", str(tmp_path / "copy"))
    assert AgentSettings().resolved_token() == "s3cret"


def test_token_setting_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BERTH_AGENT_TOKEN", "direct")
    monkeypatch.setenv("BERTH_AGENT_TOKEN_FILE", str(tmp_path / "missing"))
    assert AgentSettings().resolved_token() == "direct"


def test_missing_token_names_every_place(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setenv("BERTH_DATA_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("BERTH_AGENT_DATA_DIR", str(tmp_path / "a"))
    with pytest.raises(AgentTokenMissing) as e:
        AgentSettings().resolved_token()
    assert f"{tmp_path / 'm' / 'agent-token'} (the manager's data dir)" in str(e.value)
    assert f"{tmp_path / 'a' / 'agent-token'} (this agent's data dir)" in str(e.value)
    assert "BERTH_AGENT_TOKEN_FILE" in str(e.value)


def test_missing_token_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BERTH_AGENT_TOKEN_FILE", str(tmp_path / "nope"))
    with pytest.raises(AgentTokenMissing, match="nope \\(BERTH_AGENT_TOKEN_FILE\\)"):
        AgentSettings().resolved_token()


def _create_in_process(args: tuple[str, int]) -> str:
    path, _ = args
    return read_or_create_secret(Path(path))


def test_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    """A manager and its agents started at once each read or create the token: all of them
    get the one secret in the file, whole, and no draft file is left behind."""
    import multiprocessing

    for round_ in range(5):
        path = tmp_path / f"r{round_}" / "agent-token"
        with multiprocessing.get_context("fork").Pool(6) as pool:
            got = pool.map(_create_in_process, [(str(path), n) for n in range(12)])
        assert len(set(got)) == 1 and len(got[0]) >= 32
        assert path.read_text() == got[0]
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert [p.name for p in path.parent.iterdir()] == ["agent-token"]
