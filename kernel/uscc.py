"""Unified Social Credit Code (统一社会信用代码) validation per GB 32100-2015."""

from __future__ import annotations

import string
import unicodedata
from typing import Annotated, Final

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

__all__ = [
    "ALPHABET",
    "MAKE_USCC_SEED_LIMIT",
    "USCC",
    "USCC_LENGTH",
    "USCC_PATTERN",
    "InvalidUSCC",
    "compute_check_character",
    "compute_organisation_check_character",
    "make_uscc",
    "validate_uscc",
]

USCC_LENGTH: Final = 18

# GB 32100-2015 table 1: digits plus the capital letters except I, O, S, V and Z, which are
# dropped because they are easily confused with 1, 0, 5, U/Y and 2 on printed licences.
ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE: Final = {char: value for value, char in enumerate(ALPHABET)}
_MODULUS: Final = len(ALPHABET)

# W_i = 3^(i-1) mod 31; 31 is prime and 3 is a primitive root, so every weight is a unit mod 31
# and any single substitution or adjacent transposition in positions 1-17 changes the remainder.
_WEIGHTS: Final = tuple(pow(3, i, _MODULUS) for i in range(USCC_LENGTH - 1))

# GB 11714-1997: the organisation code body is weighted by these factors, modulus 11.
_ORGANISATION_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
_ORGANISATION_ALPHABET: Final = frozenset(string.digits + string.ascii_uppercase)

USCC_PATTERN: Final = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"

_ALPHABET_DESCRIPTION: Final = "0-9 and A-Z except I, O, S, V, Z"

_PART_NAMES: Final = (
    ((1, 1), "registration authority code"),
    ((2, 2), "entity type code"),
    ((3, 8), "administrative division code"),
    ((9, 17), "organisation code"),
    ((18, 18), "check character"),
)

# Qingdao enterprises (9 = market regulation authority, 1 = enterprise, 370200 = Qingdao).
_DEMO_PREFIX: Final = "91370200"
MAKE_USCC_SEED_LIMIT: Final = _MODULUS**8
# Multiplying by a unit modulo 31^8 is a bijection, so distinct seeds still give distinct codes
# while consecutive seeds do not produce visibly consecutive demo codes.
_SEED_MULTIPLIER: Final = 387_420_489  # 3^18, coprime to 31
_SEED_OFFSET: Final = 104_729


class InvalidUSCC(ValueError):
    """A string that is not a well-formed Unified Social Credit Code."""

    code = "uscc_invalid"

    def __init__(
        self,
        message: str,
        *,
        rule: str,
        position: int | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.position = position
        self.expected = expected


def _part_name(position: int) -> str:
    """Name of the GB 32100 part that holds a 1-based position."""
    for (first, last), name in _PART_NAMES:
        if first <= position <= last:
            return name
    raise AssertionError(position)  # pragma: no cover - positions come from an 18-char string


def _normalise(value: str) -> str:
    """Canonical form: NFKC, surrounding whitespace removed, upper case."""
    # NFKC turns full-width input (common with Chinese input methods) into ASCII.
    return unicodedata.normalize("NFKC", value).strip().upper()


def _check_value(first17: str) -> int:
    """GB 32100 check value for 17 characters already known to be in the alphabet."""
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return (_MODULUS - total % _MODULUS) % _MODULUS


def _check_characters(value: str, start: int) -> None:
    """Raise InvalidUSCC for the first character outside the alphabet or the digit-only part."""
    for offset, char in enumerate(value):
        position = start + offset
        if 3 <= position <= 8:
            if not ("0" <= char <= "9"):
                raise InvalidUSCC(
                    f"character {char!r} at position {position} is not allowed: positions 3-8 "
                    "(administrative division code) must be digits",
                    rule="division_code",
                    position=position,
                )
        elif char not in _VALUE:
            raise InvalidUSCC(
                f"character {char!r} at position {position} ({_part_name(position)}) is not "
                f"allowed: a USCC uses only {_ALPHABET_DESCRIPTION}",
                rule="character",
                position=position,
            )


def compute_check_character(first17: str) -> str:
    """GB 32100-2015 check character (position 18) for the first 17 characters of a code."""
    body = _normalise(first17)
    if len(body) != USCC_LENGTH - 1:
        raise InvalidUSCC(
            f"the check character is computed from 17 characters, got {len(body)}",
            rule="length",
        )
    _check_characters(body, start=1)
    return ALPHABET[_check_value(body)]


def compute_organisation_check_character(body8: str) -> str:
    """GB 11714-1997 check character (USCC position 17) for an 8-character organisation body."""
    if len(body8) != len(_ORGANISATION_WEIGHTS):
        raise InvalidUSCC(
            f"the organisation check character is computed from 8 characters, got {len(body8)}",
            rule="length",
        )
    total = 0
    for char, weight in zip(body8, _ORGANISATION_WEIGHTS, strict=True):
        if char not in _ORGANISATION_ALPHABET:
            raise InvalidUSCC(
                f"character {char!r} is not allowed in an organisation code (0-9, A-Z)",
                rule="character",
            )
        # GB 11714 values letters by their place in the full Latin alphabet (A=10 ... Z=35),
        # not by their place in the USCC alphabet.
        total += int(char, 36) * weight
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def validate_uscc(value: str, *, check_organisation_code: bool = False) -> str:
    """Normalised code if value is a valid USCC, else InvalidUSCC naming the broken rule."""
    # The organisation code's own GB 11714 check (position 17) is opt-in: GB 32100 makes only
    # position 18 mandatory for validators, and rejecting a code printed on a genuine licence
    # would block a real enterprise, whereas an unchecked position 17 only admits typos that
    # position 18 already catches.
    if not isinstance(value, str):
        raise InvalidUSCC(f"a USCC must be a string, got {type(value).__name__}", rule="type")
    code = _normalise(value)
    if len(code) != USCC_LENGTH:
        raise InvalidUSCC(
            f"a USCC must be exactly {USCC_LENGTH} characters long, got {len(code)}",
            rule="length",
        )
    _check_characters(code, start=1)
    expected = ALPHABET[_check_value(code[:-1])]
    if code[-1] != expected:
        raise InvalidUSCC(
            f"check character (position 18) is {code[-1]!r} but GB 32100-2015 gives {expected!r} "
            "for the first 17 characters",
            rule="check_character",
            position=USCC_LENGTH,
            expected=expected,
        )
    if check_organisation_code:
        expected_org = compute_organisation_check_character(code[8:16])
        if code[16] != expected_org:
            raise InvalidUSCC(
                f"organisation code check character (position 17) is {code[16]!r} but "
                f"GB 11714-1997 gives {expected_org!r} for positions 9-16",
                rule="organisation_check_character",
                position=17,
                expected=expected_org,
            )
    return code


def _validate_for_pydantic(value: str) -> str:
    """Pydantic adapter: InvalidUSCC becomes an error of type uscc_invalid with the rule."""
    try:
        return validate_uscc(value)
    except InvalidUSCC as exc:
        # The message goes in through the context, so braces in it could never be read as
        # template placeholders.
        raise PydanticCustomError(
            InvalidUSCC.code, "{reason}", {"reason": exc.message, "rule": exc.rule}
        ) from exc


def make_uscc(seed: int, *, prefix: str = _DEMO_PREFIX) -> str:
    """Deterministic valid USCC for tests and demo data; distinct seeds give distinct codes."""
    if not 0 <= seed < MAKE_USCC_SEED_LIMIT:
        raise ValueError(f"seed must be in [0, {MAKE_USCC_SEED_LIMIT}), got {seed}")
    head = _normalise(prefix)
    if len(head) != 8:
        raise ValueError(f"prefix must be 8 characters (positions 1-8), got {len(head)}")
    _check_characters(head, start=1)
    mixed = (seed * _SEED_MULTIPLIER + _SEED_OFFSET) % MAKE_USCC_SEED_LIMIT
    digits = []
    for _ in range(8):
        mixed, remainder = divmod(mixed, _MODULUS)
        digits.append(ALPHABET[remainder])
    body = "".join(reversed(digits))
    # Demo codes also satisfy the optional GB 11714 check so they pass the strictest validator.
    first17 = head + body + compute_organisation_check_character(body)
    return first17 + ALPHABET[_check_value(first17)]


_EXAMPLE: Final = "91350100M000100Y43"

# Reusable field type: a validated, normalised USCC. The JSON schema advertises the canonical
# form; input is normalised before the rules are applied.
USCC = Annotated[
    str,
    AfterValidator(_validate_for_pydantic),
    Field(
        description=(
            "Unified Social Credit Code of a legal person or other organisation, 18 characters "
            "per GB 32100-2015 (check character verified); lower case and surrounding "
            "whitespace are accepted and normalised."
        ),
        examples=[_EXAMPLE],
        json_schema_extra={
            "pattern": USCC_PATTERN,
            "minLength": USCC_LENGTH,
            "maxLength": USCC_LENGTH,
        },
    ),
]
