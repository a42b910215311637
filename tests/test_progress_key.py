"""The progress code printed on a case's notices and in their QR code (办件进度查询) has its own key,
apart from the login-token key: rotating either leaves the other alone."""
from __future__ import annotations

from api.case_documents import code_matches, progress_code, progress_url
from banjian.auth import Tokens
from banjian.production import refusal
from banjian.settings import Settings
from tests.test_security import _good_production

CASE_NO = "330100-20261204-000001"


def test_rotating_the_token_key_keeps_every_printed_progress_code(tmp_path):
    before = Settings(data_dir=tmp_path, token_secret="a" * 40, progress_secret="p" * 40)
    after = Settings(data_dir=tmp_path, token_secret="b" * 40, progress_secret="p" * 40)
    printed = progress_code(before, CASE_NO)
    assert code_matches(after, CASE_NO, printed)
    assert progress_url(after, CASE_NO).endswith(f"?code={printed}")


def test_rotating_the_progress_key_keeps_every_login(tmp_path):
    before = Settings(data_dir=tmp_path, token_secret="a" * 40, progress_secret="p" * 40)
    after = Settings(data_dir=tmp_path, token_secret="a" * 40, progress_secret="q" * 40)
    assert not code_matches(after, CASE_NO, progress_code(before, CASE_NO))
    token = Tokens(before.secret_key(), 60).issue("zhangsan")
    assert Tokens(after.secret_key(), 60).verify(token)[0] == "zhangsan"


def test_the_data_dir_keeps_a_progress_key_of_its_own(tmp_path):
    fresh = Settings(data_dir=tmp_path / "fresh")
    code = progress_code(fresh, CASE_NO)
    key = tmp_path / "fresh" / "progress.key"
    assert key.is_file() and key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().strip() != fresh.secret_key()
    (tmp_path / "fresh" / "secret.key").write_text("c" * 64)  # the token key rotated
    assert code_matches(Settings(data_dir=tmp_path / "fresh"), CASE_NO, code)


def test_an_existing_data_dir_keeps_the_codes_it_printed_before_and_then_rotates_apart(tmp_path):
    (tmp_path / "secret.key").write_text("d" * 64)  # a data dir from before progress.key existed
    legacy = Settings(data_dir=tmp_path, progress_secret="d" * 64)  # what its codes were keyed with
    printed = progress_code(legacy, CASE_NO)
    upgraded = Settings(data_dir=tmp_path)
    assert code_matches(upgraded, CASE_NO, printed)
    (tmp_path / "secret.key").write_text("e" * 64)
    assert code_matches(Settings(data_dir=tmp_path), CASE_NO, printed)


def test_production_wants_a_progress_key_apart_from_the_token_key(tmp_path):
    good = _good_production(tmp_path)
    assert refusal(Settings(**good)) is None
    missing = refusal(Settings(**{**good, "progress_secret": None}))
    assert missing is not None and "BANJIAN_PROGRESS_SECRET is not set" in missing
    weak = refusal(Settings(**{**good, "progress_secret": "changeme"}))
    assert weak is not None and "BANJIAN_PROGRESS_SECRET" in weak
    same = refusal(Settings(**{**good, "progress_secret": good["token_secret"]}))
    assert same is not None and "equals BANJIAN_TOKEN_SECRET" in same
