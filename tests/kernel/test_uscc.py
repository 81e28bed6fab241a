"""Unified Social Credit Code validation, generation and the Pydantic field type."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from kernel.uscc import (
    ALPHABET,
    MAKE_USCC_SEED_LIMIT,
    USCC,
    USCC_PATTERN,
    InvalidUSCC,
    compute_check_character,
    compute_organisation_check_character,
    make_uscc,
    validate_uscc,
)

# Codes checked by hand against GB 32100-2015 (position 18) and GB 11714-1997 (position 17).
VALID_CODES = [
    "91350100M000100Y43",  # the example printed in GB 32100-2015
    "91110000600037341L",
    "91370200163562681G",
    "91440300708461136T",
    "913702000A17MLHA20",  # check value 31 - 0 = 31, written as 0
    "Y1110000031NKRE81G",  # registration authority Y (other)
    "N2370200031NKRE816",  # registration authority N (agriculture)
    "A1100000031NKRE811",
    "51100000031NKRE816",  # civil affairs, social organisation
]
FORBIDDEN_LETTERS = "IOSVZ"
SAMPLE = "91350100M000100Y43"


class Licence(BaseModel):
    holder_uscc: USCC


class TestAlphabet:
    def test_alphabet_is_the_31_characters_of_gb_32100(self) -> None:
        assert ALPHABET == "0123456789ABCDEFGHJKLMNPQRTUWXY"
        assert len(set(ALPHABET)) == 31
        assert not set(FORBIDDEN_LETTERS) & set(ALPHABET)


class TestValidCodes:
    @pytest.mark.parametrize("code", VALID_CODES)
    def test_valid_code_is_returned_unchanged(self, code: str) -> None:
        assert validate_uscc(code) == code

    @pytest.mark.parametrize("code", VALID_CODES)
    def test_valid_codes_also_pass_the_organisation_check(self, code: str) -> None:
        assert validate_uscc(code, check_organisation_code=True) == code

    @pytest.mark.parametrize("code", VALID_CODES)
    def test_compute_check_character_reproduces_position_18(self, code: str) -> None:
        assert compute_check_character(code[:17]) == code[17]

    @pytest.mark.parametrize("code", VALID_CODES)
    def test_valid_codes_match_the_published_pattern(self, code: str) -> None:
        assert re.fullmatch(USCC_PATTERN, code)


class TestNormalisation:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("91350100m000100y43", "91350100M000100Y43"),
            ("  91350100M000100Y43\n", "91350100M000100Y43"),
            ("\t91110000600037341l ", "91110000600037341L"),
            # Full-width input, as typed with a Chinese input method.
            ("９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43"),
            ("\u300091350100M000100Y43\u3000", "91350100M000100Y43"),  # ideographic spaces
        ],
    )
    def test_input_is_normalised(self, raw: str, expected: str) -> None:
        assert validate_uscc(raw) == expected

    def test_compute_check_character_normalises_too(self) -> None:
        assert compute_check_character(" 91350100m000100y4 ") == "3"


class TestLength:
    @pytest.mark.parametrize(
        ("raw", "length"),
        [("", 0), ("   ", 0), (SAMPLE[:17], 17), (SAMPLE + "0", 19), (SAMPLE[:1], 1)],
    )
    def test_wrong_length_names_the_rule_and_the_length(self, raw: str, length: int) -> None:
        with pytest.raises(InvalidUSCC, match=f"exactly 18 characters long, got {length}$") as e:
            validate_uscc(raw)
        assert e.value.rule == "length"

    def test_internal_space_is_not_silently_removed(self) -> None:
        with pytest.raises(InvalidUSCC, match="got 19"):
            validate_uscc("91350100 M000100Y43")

    def test_non_string_is_rejected(self) -> None:
        with pytest.raises(InvalidUSCC, match="must be a string, got int") as e:
            validate_uscc(913501001000100143)  # type: ignore[arg-type]
        assert e.value.rule == "type"


class TestCharacters:
    @pytest.mark.parametrize("letter", FORBIDDEN_LETTERS)
    @pytest.mark.parametrize("position", [1, 2, *range(9, 19)])
    def test_forbidden_letter_is_reported_with_its_position(
        self, letter: str, position: int
    ) -> None:
        code = SAMPLE[: position - 1] + letter + SAMPLE[position:]
        with pytest.raises(InvalidUSCC) as e:
            validate_uscc(code)
        assert e.value.rule == "character"
        assert e.value.position == position
        assert f"character '{letter}' at position {position}" in str(e.value)
        assert "except I, O, S, V, Z" in str(e.value)

    @pytest.mark.parametrize("letter", FORBIDDEN_LETTERS.lower())
    def test_forbidden_letter_in_lower_case_is_still_forbidden(self, letter: str) -> None:
        with pytest.raises(InvalidUSCC, match=f"character '{letter.upper()}' at position 10"):
            validate_uscc(SAMPLE[:9] + letter + SAMPLE[10:])

    @pytest.mark.parametrize(
        ("position", "part"),
        [
            (1, "registration authority code"),
            (2, "entity type code"),
            (9, "organisation code"),
            (17, "organisation code"),
            (18, "check character"),
        ],
    )
    def test_message_names_the_part_of_the_code(self, position: int, part: str) -> None:
        code = SAMPLE[: position - 1] + "Z" + SAMPLE[position:]
        with pytest.raises(InvalidUSCC, match=f"position {position} \\({part}\\)"):
            validate_uscc(code)

    @pytest.mark.parametrize("char", ["-", "_", "中", "é", " "])
    def test_other_characters_are_rejected(self, char: str) -> None:
        with pytest.raises(InvalidUSCC, match="at position 12") as e:
            validate_uscc(SAMPLE[:11] + char + SAMPLE[12:])
        assert e.value.rule == "character"

    @pytest.mark.parametrize("position", range(3, 9))
    @pytest.mark.parametrize("letter", ["A", "M", "Y", "I"])
    def test_division_code_must_be_digits(self, position: int, letter: str) -> None:
        code = SAMPLE[: position - 1] + letter + SAMPLE[position:]
        with pytest.raises(InvalidUSCC, match="administrative division code\\) must be digits"):
            validate_uscc(code)
        with pytest.raises(InvalidUSCC) as e:
            validate_uscc(code)
        assert e.value.rule == "division_code"
        assert e.value.position == position

    def test_first_offending_character_is_reported(self) -> None:
        with pytest.raises(InvalidUSCC, match="'I' at position 9"):
            validate_uscc("91350100IO00100Y4Z")


class TestCheckCharacter:
    @pytest.mark.parametrize("wrong", [c for c in ALPHABET if c != SAMPLE[-1]])
    def test_wrong_check_character_reports_the_expected_one(self, wrong: str) -> None:
        with pytest.raises(InvalidUSCC) as e:
            validate_uscc(SAMPLE[:17] + wrong)
        assert e.value.rule == "check_character"
        assert e.value.position == 18
        assert e.value.expected == "3"
        assert str(e.value) == (
            f"check character (position 18) is '{wrong}' but GB 32100-2015 gives '3' "
            "for the first 17 characters"
        )

    def test_every_single_substitution_of_a_valid_code_is_detected(self) -> None:
        # 31 is prime and every weight is non-zero mod 31, so no substitution can cancel out.
        for code in VALID_CODES:
            for position in range(18):
                for char in ALPHABET + FORBIDDEN_LETTERS:
                    if char == code[position]:
                        continue
                    changed = code[:position] + char + code[position + 1 :]
                    with pytest.raises(InvalidUSCC):
                        validate_uscc(changed)

    @pytest.mark.parametrize(
        ("first17", "message"),
        [
            ("9135010", "computed from 17 characters, got 7"),
            (SAMPLE, "computed from 17 characters, got 18"),
            ("91350100M000100I4", "'I' at position 16"),
            ("913501X0M000100Y4", "positions 3-8"),
        ],
    )
    def test_compute_check_character_rejects_bad_input(self, first17: str, message: str) -> None:
        with pytest.raises(InvalidUSCC, match=re.escape(message)):
            compute_check_character(first17)


class TestOrganisationCode:
    @pytest.mark.parametrize(
        ("body", "check"),
        [
            ("D2143569", "X"),  # the example printed in GB 11714-1997
            ("M000100Y", "4"),
            ("60003734", "1"),
            ("00000000", "0"),  # 11 - 0 = 11, written as 0
            ("20000003", "X"),  # 11 - 1 = 10, written as X
            ("10000004", "0"),
            ("12345678", "8"),
        ],
    )
    def test_gb_11714_check_character(self, body: str, check: str) -> None:
        assert compute_organisation_check_character(body) == check

    @pytest.mark.parametrize(
        ("body", "message"),
        [("1234567", "computed from 8 characters, got 7"), ("1234567a", "'a' is not allowed")],
    )
    def test_gb_11714_rejects_bad_input(self, body: str, message: str) -> None:
        with pytest.raises(InvalidUSCC, match=message):
            compute_organisation_check_character(body)

    def test_organisation_check_is_opt_in(self) -> None:
        # Position 17 changed from 4 to 5 and position 18 recomputed: valid under GB 32100,
        # inconsistent under GB 11714.
        first17 = "91350100M000100Y5"
        code = first17 + compute_check_character(first17)
        assert validate_uscc(code) == code
        with pytest.raises(InvalidUSCC) as e:
            validate_uscc(code, check_organisation_code=True)
        assert e.value.rule == "organisation_check_character"
        assert e.value.position == 17
        assert e.value.expected == "4"
        assert "position 17) is '5' but GB 11714-1997 gives '4'" in str(e.value)


class TestPydanticType:
    def test_valid_code_is_normalised(self) -> None:
        assert Licence(holder_uscc=" 91350100m000100y43 ").holder_uscc == SAMPLE

    @pytest.mark.parametrize(
        ("raw", "rule", "fragment"),
        [
            (SAMPLE[:17] + "4", "check_character", "GB 32100-2015 gives '3'"),
            (SAMPLE[:17], "length", "exactly 18 characters long, got 17"),
            ("9O350100M000100Y43", "character", "character 'O' at position 2"),
            ("91350A00M000100Y43", "division_code", "must be digits"),
        ],
    )
    def test_invalid_code_error_names_the_rule(self, raw: str, rule: str, fragment: str) -> None:
        with pytest.raises(ValidationError) as e:
            Licence(holder_uscc=raw)
        [error] = e.value.errors()
        assert error["type"] == "uscc_invalid"
        assert error["loc"] == ("holder_uscc",)
        assert fragment in error["msg"]
        assert error["ctx"]["rule"] == rule
        assert fragment in str(e.value)

    def test_non_string_is_a_type_error(self) -> None:
        with pytest.raises(ValidationError) as e:
            Licence(holder_uscc=913501001000100143)
        assert e.value.errors()[0]["type"] == "string_type"

    def test_json_input_is_validated(self) -> None:
        assert Licence.model_validate_json('{"holder_uscc": "91350100m000100y43"}').holder_uscc == (
            SAMPLE
        )
        with pytest.raises(ValidationError, match="position 18"):
            Licence.model_validate_json('{"holder_uscc": "91350100M000100Y44"}')

    def test_json_schema_describes_the_code(self) -> None:
        schema = Licence.model_json_schema()["properties"]["holder_uscc"]
        assert schema["type"] == "string"
        assert schema["pattern"] == r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"
        assert schema["minLength"] == 18
        assert schema["maxLength"] == 18
        assert "GB 32100-2015" in schema["description"]
        [example] = schema["examples"]
        assert validate_uscc(example) == example
        assert re.fullmatch(schema["pattern"], example)


class TestMakeUscc:
    def test_is_deterministic(self) -> None:
        assert make_uscc(42) == make_uscc(42)

    def test_default_prefix_is_a_qingdao_enterprise(self) -> None:
        assert make_uscc(0).startswith("91370200")

    def test_custom_prefix(self) -> None:
        code = make_uscc(7, prefix="52370200")
        assert code.startswith("52370200")
        assert validate_uscc(code, check_organisation_code=True) == code

    def test_consecutive_seeds_give_distinct_codes(self) -> None:
        codes = {make_uscc(seed) for seed in range(5000)}
        assert len(codes) == 5000

    @pytest.mark.parametrize("seed", [-1, MAKE_USCC_SEED_LIMIT])
    def test_seed_out_of_range(self, seed: int) -> None:
        with pytest.raises(ValueError, match="seed must be in"):
            make_uscc(seed)

    @pytest.mark.parametrize(
        ("prefix", "message"),
        [("9137020", "prefix must be 8 characters"), ("9137O200", "must be digits")],
    )
    def test_bad_prefix(self, prefix: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            make_uscc(1, prefix=prefix)


seeds = st.integers(min_value=0, max_value=MAKE_USCC_SEED_LIMIT - 1)


@given(seeds)
def test_make_uscc_is_always_valid(seed: int) -> None:
    code = make_uscc(seed)
    assert validate_uscc(code, check_organisation_code=True) == code
    assert re.fullmatch(USCC_PATTERN, code)


@given(st.tuples(seeds, seeds).filter(lambda pair: pair[0] != pair[1]))
def test_make_uscc_is_injective(pair: tuple[int, int]) -> None:
    assert make_uscc(pair[0]) != make_uscc(pair[1])


@given(
    seeds,
    st.integers(min_value=0, max_value=17),
    st.sampled_from(ALPHABET + FORBIDDEN_LETTERS),
)
def test_any_single_substitution_is_detected(seed: int, position: int, char: str) -> None:
    code = make_uscc(seed)
    if code[position] == char:
        return
    with pytest.raises(InvalidUSCC):
        validate_uscc(code[:position] + char + code[position + 1 :])


@given(seeds, st.integers(min_value=0, max_value=15))
def test_any_adjacent_transposition_in_positions_1_to_17_is_detected(
    seed: int, position: int
) -> None:
    # Swapping a and b changes the sum by (a - b)(w_i - 3 w_i), non-zero mod 31 when a != b.
    code = make_uscc(seed)
    a, b = code[position], code[position + 1]
    if a == b:
        return
    with pytest.raises(InvalidUSCC):
        validate_uscc(code[:position] + b + a + code[position + 2 :])
