"""The command line: validating definitions, adding users, loading a calendar year."""
from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session
from typer.testing import CliRunner

from banjian.db import CalendarYear, User, make_engine
from services.cli import app
from tests.conftest import json_line

ITEMS = Path(__file__).resolve().parent.parent / "item_definitions"
runner = CliRunner()


@pytest.fixture(autouse=True)
def logging_as_a_fresh_process():
    """A command's output as an operator sees it: without the log handler another test of this
    process installed (`banjian.logs`, writing to whatever `sys.stderr` is, the runner's capture too)."""
    root = logging.getLogger()
    installed = [h for h in root.handlers if getattr(h, "_banjian", False)]
    for h in installed:
        root.removeHandler(h)
    yield
    for h in installed:
        root.addHandler(h)


def test_items_validate_accepts_the_shipped_definitions():
    result = runner.invoke(app, ["items", "validate", str(ITEMS)])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == len(list(ITEMS.glob("*.yaml")))


def test_items_validate_names_every_problem_with_its_path(tmp_path):
    data = yaml.safe_load((ITEMS / "food-business-licence.yaml").read_text(encoding="utf-8"))
    data["promised_limit"] = {"value": 30, "unit": "working_days"}  # above the statutory 20
    data["department"] = "nowhere"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["items", "validate", str(bad)])
    assert result.exit_code == 1
    assert "promised_limit" in result.output and "department" in result.output


def test_users_add_stores_a_hashed_password_and_checks_the_id_number(tmp_path):
    ok = runner.invoke(app, ["users", "add", "wangwu", "--password", "long-enough-1", "--role", "applicant",
                             "--id-number", "11010519491231002X", "--name", "王五", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    with Session(make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")) as session:
        user = session.get(User, "wangwu")
        assert user.roles == ["applicant"] and user.id_kind == "citizen" and user.display_name == "王五"
        assert "long-enough-1" not in user.password_hash and user.password_hash.startswith("$argon2")
    bad = runner.invoke(app, ["users", "add", "zhaoliu", "--password", "long-enough-1", "--role", "applicant",
                              "--id-number", "110105194912310021", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1
    staff = runner.invoke(app, ["users", "add", "clerk9", "--password", "long-enough-1", "--role", "clerk",
                                "--data-dir", str(tmp_path)])
    assert staff.exit_code == 1 and "department" in staff.output


def test_calendar_load_stores_the_year(tmp_path):
    schedule = tmp_path / "2027.yaml"
    schedule.write_text(yaml.safe_dump({"year": 2027, "official": True,
                                        "holidays": [date(2027, 1, 1)], "workdays": [date(2027, 2, 6)]}))
    result = runner.invoke(app, ["calendar", "load", "2027", str(schedule), "--data-dir", str(tmp_path)],
                           env={"BANJIAN_TEMPORAL_PORT": "1"})
    assert result.exit_code == 0, result.output
    assert json.loads(json_line(result.stdout))["year"] == 2027
    with Session(make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")) as session:
        row = session.get(CalendarYear, 2027)
        assert row.schedule["workdays"] == ["2027-02-06"] and row.loaded_by == "cli"
    wrong = tmp_path / "bad.yaml"
    wrong.write_text(yaml.safe_dump({"year": 2027, "workdays": [date(2027, 2, 3)]}))  # a Wednesday
    result = runner.invoke(app, ["calendar", "load", "2027", str(wrong), "--data-dir", str(tmp_path)],
                           env={"BANJIAN_TEMPORAL_PORT": "1"})
    assert result.exit_code == 1


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read {file}: No such file or directory"),
    ("holidays: [2027-01-01\nworkdays: [", "is not a YAML or JSON schedule (line 2)"),
    ("- 2027-01-01\n", "holds no schedule: expected {holidays: [...], workdays: [...]}"),
    ("", "holds no schedule"),
    ("holidays: [2027-01-01]\n", "workdays: 缺少 workdays（日期列表，没有时写 []） / workdays is required"),
])
def test_calendar_load_of_a_bad_file_is_one_line(tmp_path, content, says):
    """A missing or malformed schedule file printed a page of traceback (FileNotFoundError,
    yaml.ScannerError); a missing list was named in Chinese only."""
    file = tmp_path / "2027.yaml"
    if content is not None:
        file.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["calendar", "load", "2027", str(file), "--data-dir", str(tmp_path)],
                           env={"BANJIAN_TEMPORAL_PORT": "1"})
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("banjian calendar load: "), result.output
    assert says.replace("{file}", str(file)) in lines[0], lines[0]


@pytest.mark.parametrize("command", [["audit", "replay", "--all"], ["items", "migrate", "food-business-licence",
                                                                    "--from", "1", "--to", "2"]])
def test_no_temporal_is_one_short_line_saying_what_to_check(tmp_path, command):
    """`banjian audit replay` without a reachable Temporal printed the SDK's nested transport error
    (`tonic::transport::Error(Transport, ConnectError(…))`) as a note, then `cannot replay without
    Temporal`, and never said which setting points it at the running system."""
    result = runner.invoke(app, [*command, "--data-dir", str(tmp_path)], env={"BANJIAN_TEMPORAL_PORT": "1"})
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip() and "not adopted" not in line]
    assert len(lines) == 1, result.output
    assert lines[0].endswith("cannot reach Temporal at 127.0.0.1:1 (connection refused): is `banjian up` running "
                             "on this data dir? (or set BANJIAN_TEMPORAL_PORT / TEMPORAL_ADDRESS)"), lines[0]
    assert "tonic" not in result.output
