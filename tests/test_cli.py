"""The command line: validating definitions, adding users, loading a calendar year."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import yaml
from sqlmodel import Session
from typer.testing import CliRunner

from banjian.db import CalendarYear, User, make_engine
from services.cli import app
from tests.conftest import json_line

ITEMS = Path(__file__).resolve().parent.parent / "item_definitions"
runner = CliRunner()


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
