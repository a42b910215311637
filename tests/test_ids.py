"""Tests for banjian.ids: citizen id numbers (GB 11643) and credit codes (GB 32100)."""

from datetime import UTC, date, datetime

import pytest

from banjian.ids import (
    IdError,
    citizen_check_char,
    credit_check_char,
    make_citizen_id,
    make_credit_code,
    org_code_check_char,
    validate_citizen_id,
    validate_credit_code,
    validate_id,
)

TODAY = date(2025, 6, 1)

# Public codes of registered organisations; each passes both the GB 11714 check on
# positions 9-17 and the GB 32100 check on position 18, which a wrong code does with
# probability 1/341.
REAL_CREDIT_CODES = [
    "91350100M000100Y43",
    "91110000600037341L",  # python-stdnum's doctest example
    "914403001922038216",
    "91330100799655058B",
    "91440300708461136T",
    "9144030071526726XG",
    "12100000400000624D",
]


def rule_of(kind: str, value: str) -> IdError:
    with pytest.raises(IdError) as info:
        validate_id(kind, value)
    return info.value


# --- citizen id --------------------------------------------------------------------------------
def test_standard_example_citizen_id_is_valid() -> None:
    # The worked example of GB 11643-1999 (appendix): 11010519491231002X.
    assert validate_citizen_id("11010519491231002X", today=TODAY) == "11010519491231002X"


def test_lower_case_x_is_normalised_to_upper_case() -> None:
    assert validate_citizen_id("11010519491231002x", today=TODAY) == "11010519491231002X"


def test_blanks_and_full_width_characters_are_normalised() -> None:
    assert validate_citizen_id(" １１０１０５１９４９１２３１００２ｘ ", today=TODAY) == "11010519491231002X"


def test_generated_citizen_ids_are_valid() -> None:
    for seq in range(0, 1000, 37):
        idn = make_citizen_id("440305", date(1985, 2, 28), seq)
        assert validate_citizen_id(idn, today=TODAY) == idn
    assert make_citizen_id() == "110101199001010015"


@pytest.mark.parametrize("value", ["", "1101051949123100", "11010519491231002X1", "110105194912312"])
def test_citizen_id_of_wrong_length_is_rejected(value: str) -> None:
    err = rule_of("citizen", value)
    assert (err.code, err.rule) == ("invalid_citizen_id", "length")
    assert "18" in err.message and "18" in err.message_en


@pytest.mark.parametrize("value", ["1101051949123100XX", "A1010519491231002X", "11010519491231002Y"])
def test_citizen_id_with_wrong_characters_is_rejected(value: str) -> None:
    assert rule_of("citizen", value).rule == "characters"


@pytest.mark.parametrize("birth", ["19490230", "19491301", "18991231", "20991231", "00000000"])
def test_citizen_id_with_impossible_birth_date_is_rejected(birth: str) -> None:
    body = "110105" + birth + "002"
    err = rule_of("citizen", body + citizen_check_char(body))
    assert err.rule == "birth_date"
    assert birth in err.message and birth in err.message_en


def test_citizen_id_born_tomorrow_is_rejected_born_today_is_accepted() -> None:
    assert validate_citizen_id(make_citizen_id(birth=TODAY), today=TODAY)
    with pytest.raises(IdError) as info:
        validate_citizen_id(make_citizen_id(birth=date(2025, 6, 2)), today=TODAY)
    assert info.value.rule == "birth_date"


def test_citizen_id_with_wrong_check_char_names_the_expected_one() -> None:
    with pytest.raises(IdError) as info:
        validate_citizen_id("110105194912310021", today=TODAY)
    err = info.value
    assert (err.code, err.rule, err.expected) == ("invalid_citizen_id", "check_char", "X")
    assert "X" in err.message and "'X'" in err.message_en


# --- unified social credit code -----------------------------------------------------------------
@pytest.mark.parametrize("code", REAL_CREDIT_CODES)
def test_real_credit_codes_are_valid(code: str) -> None:
    assert validate_credit_code(code) == code
    assert validate_id("organisation", code.lower()) == code


def test_make_credit_code_computes_both_check_chars() -> None:
    assert make_credit_code("91350100M000100Y") == "91350100M000100Y43"
    assert make_credit_code("91350100M000100Y4") == "91350100M000100Y43"
    for base in ("91110108MA01ABCD", "52100000500012345", "Y1440300A1B2C3D4", "N2330100000012345"):
        code = make_credit_code(base[:16])
        assert validate_credit_code(code) == code


def test_make_credit_code_refuses_a_wrong_org_code_check_char() -> None:
    with pytest.raises(IdError) as info:
        make_credit_code("91350100M000100Y5")
    assert (info.value.rule, info.value.expected) == ("org_code_check_char", "4")


def test_org_code_check_char_maps_ten_to_x_and_eleven_to_zero() -> None:
    assert org_code_check_char("71526726") == "X"
    assert org_code_check_char("00000000") == "0"


@pytest.mark.parametrize("letter", list("IOSVZ"))
def test_credit_code_with_excluded_letters_is_rejected(letter: str) -> None:
    code = "91350100M000100Y43"
    err = rule_of("organisation", code[:10] + letter + code[11:])
    assert (err.code, err.rule) == ("invalid_credit_code", "characters")
    assert f"：{letter}（" in err.message and f"allowed: {letter} " in err.message_en


@pytest.mark.parametrize("value", ["", "91350100M000100Y4", "91350100M000100Y433"])
def test_credit_code_of_wrong_length_is_rejected(value: str) -> None:
    assert rule_of("organisation", value).rule == "length"


def test_credit_code_with_unknown_registration_authority_is_rejected() -> None:
    base = "B1350100M000100Y4"  # B is in the alphabet but names no authority
    err = rule_of("organisation", base + credit_check_char(base))
    assert err.rule == "registration_authority"


def test_credit_code_with_letters_in_region_is_rejected() -> None:
    err = rule_of("organisation", "913501A0M000100Y43")
    assert err.rule == "region"


def test_credit_code_with_wrong_org_code_check_char_names_the_expected_one() -> None:
    err = rule_of("organisation", "91350100M000100Y53")
    assert (err.rule, err.expected) == ("org_code_check_char", "4")
    assert "4" in err.message
    # The org-code check can be switched off; the MOD 31 check still applies.
    with pytest.raises(IdError) as info:
        validate_credit_code("91350100M000100Y53", check_org_code=False)
    assert info.value.rule == "check_char"


def test_credit_code_with_wrong_check_char_names_the_expected_one() -> None:
    err = rule_of("organisation", "91350100M000100Y44")
    assert (err.code, err.rule, err.expected) == ("invalid_credit_code", "check_char", "3")
    assert "“3”" in err.message and "'3'" in err.message_en


def test_unknown_id_kind_is_rejected() -> None:
    err = rule_of("passport", "E12345678")
    assert (err.code, err.rule) == ("invalid_id_kind", "kind")


def test_a_birth_date_is_checked_against_chinas_date_not_the_servers(monkeypatch) -> None:
    """At 01:00 in Beijing the UTC date is still yesterday: a baby born today may already be registered."""
    import banjian.ids as ids

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2031, 3, 3, 17, 0, tzinfo=UTC).astimezone(tz)  # 2031-03-04 01:00 in China

    monkeypatch.setattr(ids, "datetime", Frozen)
    born_today = make_citizen_id("110105", date(2031, 3, 4), 1)
    assert validate_citizen_id(born_today) == born_today
    with pytest.raises(IdError):
        validate_citizen_id(make_citizen_id("110105", date(2031, 3, 5), 1))
