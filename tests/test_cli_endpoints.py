"""The commands that reach Temporal (`items simulate|migrate`, `calendar load`, `audit replay|verify`)
find the Temporal server of the `banjian up` serving their data dir, not the default port."""
from __future__ import annotations

import pytest

from banjian.ops.datadir import DataDirLock
from services.cli_common import settings_for

UP = {"temporal_port": 17999, "temporal_address": None, "namespace": "default"}


@pytest.fixture(autouse=True)
def _no_temporal_env(monkeypatch):
    for name in ("BANJIAN_TEMPORAL_PORT", "BANJIAN_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS", "BANJIAN_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)


def test_a_command_reaches_the_temporal_of_the_running_up(tmp_path):
    assert settings_for(tmp_path).temporal_target == "127.0.0.1:7233"  # nothing runs: the default
    with DataDirLock(tmp_path, UP):
        assert settings_for(tmp_path).temporal_target == "127.0.0.1:17999"
    # stopped: the record is gone, and one left by a process that died is ignored (the lock is free)
    assert settings_for(tmp_path).temporal_target == "127.0.0.1:7233"
    (tmp_path / "banjian.endpoints.json").write_text('{"temporal_port": 17999}')
    assert settings_for(tmp_path).temporal_target == "127.0.0.1:7233"


def test_a_temporal_the_caller_names_wins(tmp_path, monkeypatch):
    with DataDirLock(tmp_path, UP):
        assert settings_for(tmp_path, temporal_port=7300).temporal_port == 7300  # `up --temporal-port`
        monkeypatch.setenv("BANJIAN_TEMPORAL_PORT", "7400")
        assert settings_for(tmp_path).temporal_port == 7400


def test_an_up_on_a_temporal_cluster_is_followed_there(tmp_path):
    with DataDirLock(tmp_path, {**UP, "temporal_address": "temporal.example:7233", "namespace": "zwfw"}):
        s = settings_for(tmp_path)
        assert s.temporal_target == "temporal.example:7233" and s.namespace == "zwfw"


def test_no_temporal_is_one_line_naming_where_it_was_looked_for(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from services.cli import app

    monkeypatch.setenv("BANJIAN_TEMPORAL_PORT", "1")  # nothing listens there
    result = CliRunner().invoke(app, ["items", "simulate", "food-business-licence", "nodraft", "--cases", "1",
                                      "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot reach Temporal at 127.0.0.1:1" in result.output and "Traceback" not in result.output
