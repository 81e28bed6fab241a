"""W3C Bitstring Status List v1.0: bit order, encoding, limits, entries. Pure, no I/O."""

from __future__ import annotations

import base64
import gzip
import itertools
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.permits.status_list import (
    DEFAULT_MAX_BITS,
    MIN_BITS,
    StatusList,
    StatusListEntry,
    StatusListError,
    StatusListFull,
    StatusPurpose,
    allocate_index,
    entry,
    status_list_credential,
)

CST = timezone(timedelta(hours=8))
LIST_URL = "https://yjj.qingdao.gov.cn/licences/status/revocation/1"
ISSUER = "did:web:yjj.qingdao.gov.cn"

# The spec's own example `encodedList` (an empty 16 KB list, Multibase 'u' prefix).
SPEC_EMPTY_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"


def _encode_raw(raw: bytes, *, prefix: str = "u") -> str:
    return prefix + base64.urlsafe_b64encode(gzip.compress(raw)).rstrip(b"=").decode()


# ----------------------------------------------------------------- bit order


def test_index_zero_is_the_most_significant_bit_of_the_first_byte() -> None:
    status_list = StatusList(MIN_BITS, "revocation")
    for index in (0, 7, 8, 13, MIN_BITS - 1):
        status_list.set(index)
    raw = status_list.to_bytes()
    # Hand-computed: indices 0 and 7 → 1000_0001; 8 and 13 → 1000_0100; last → 0000_0001.
    assert raw[0] == 0b1000_0001
    assert raw[1] == 0b1000_0100
    assert raw[-1] == 0b0000_0001
    assert raw[2:-1] == bytes(len(raw) - 3)


def test_a_hand_built_bitstring_reads_big_endian_within_bytes() -> None:
    raw = bytearray(MIN_BITS // 8)
    raw[0] = 0x40  # 0100_0000 → index 1
    raw[2] = 0x01  # 0000_0001 → index 23
    raw[3] = 0xA0  # 1010_0000 → indices 24 and 26
    decoded = StatusList.decode(_encode_raw(bytes(raw)), "suspension")
    assert list(decoded.set_indices()) == [1, 23, 24, 26]
    assert decoded.get(1)
    assert not decoded.get(0)
    assert not decoded.get(6)


def test_the_spec_example_decodes_to_an_empty_16kb_list() -> None:
    decoded = StatusList.decode(SPEC_EMPTY_LIST, "revocation")
    assert decoded.size == MIN_BITS
    assert list(decoded.set_indices()) == []


def test_encoded_list_is_multibase_base64url_of_gzip() -> None:
    status_list = StatusList(MIN_BITS, "revocation")
    status_list.set(94567)
    encoded = status_list.encode()
    assert encoded.startswith("uH4sI")  # 'u' + base64url of the GZIP magic 1f 8b 08
    body = encoded[1:]
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    raw = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert raw == status_list.to_bytes()
    assert raw[94567 // 8] == 0x80 >> (94567 % 8)


def test_encoding_is_deterministic() -> None:
    first, second = StatusList(), StatusList()
    first.set(5)
    second.set(5)
    assert first.encode() == second.encode()


def test_set_clear_get() -> None:
    status_list = StatusList()
    assert not status_list.get(42)
    status_list.set(42)
    assert status_list.get(42)
    status_list.set(42)  # idempotent
    assert list(status_list.set_indices()) == [42]
    status_list.clear(42)
    assert not status_list.get(42)
    status_list.set(43, True)
    status_list.set(43, False)
    assert list(status_list.set_indices()) == []


def test_clearing_one_bit_leaves_its_byte_neighbours() -> None:
    status_list = StatusList()
    for index in range(8, 16):
        status_list.set(index)
    status_list.clear(11)
    assert status_list.to_bytes()[1] == 0b1110_1111


# ----------------------------------------------------------------- round trip


@settings(max_examples=60, deadline=None)
@given(
    indices=st.sets(st.integers(min_value=0, max_value=MIN_BITS * 2 - 1), max_size=300),
    purpose=st.sampled_from(list(StatusPurpose)),
    size=st.sampled_from([MIN_BITS, MIN_BITS * 2]),
)
def test_encode_decode_round_trip(indices: set[int], purpose: StatusPurpose, size: int) -> None:
    in_range = {i for i in indices if i < size}
    status_list = StatusList(size, purpose)
    for index in in_range:
        status_list.set(index)
    decoded = StatusList.decode(status_list.encode(), purpose)
    assert decoded == status_list
    assert decoded.size == size
    assert decoded.purpose is purpose
    assert set(decoded.set_indices()) == in_range


@settings(max_examples=30, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=MIN_BITS - 1), max_size=100))
def test_decode_accepts_the_bare_base64url_of_earlier_drafts(indices: set[int]) -> None:
    status_list = StatusList()
    for index in indices:
        status_list.set(index)
    bare = status_list.encode().removeprefix("u")
    assert StatusList.decode(bare, "revocation") == status_list


def test_copy_is_independent() -> None:
    original = StatusList()
    original.set(1)
    duplicate = original.copy()
    duplicate.set(2)
    assert not original.get(2)
    assert duplicate != original
    assert original != "not a list"


def test_lists_differ_by_purpose() -> None:
    assert StatusList(purpose="revocation") != StatusList(purpose="suspension")


# ----------------------------------------------------------------- sizes and purposes


@pytest.mark.parametrize("size", [0, 8, MIN_BITS - 8])
def test_a_list_below_16kb_is_refused(size: int) -> None:
    with pytest.raises(StatusListError, match="at least 131072") as info:
        StatusList(size, "revocation")
    assert info.value.code == "too_small"


def test_size_must_be_whole_bytes() -> None:
    with pytest.raises(StatusListError) as info:
        StatusList(MIN_BITS + 3, "revocation")
    assert info.value.code == "not_whole_bytes"


def test_size_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        StatusList(float(MIN_BITS), "revocation")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StatusList(True, "revocation")


def test_unknown_purpose_is_refused() -> None:
    with pytest.raises(StatusListError, match="refresh"):
        StatusList(MIN_BITS, "refresh")


@pytest.mark.parametrize("index", [-1, MIN_BITS, MIN_BITS + 100])
def test_index_out_of_range(index: int) -> None:
    status_list = StatusList()
    with pytest.raises(StatusListError) as info:
        status_list.get(index)
    assert info.value.code == "out_of_range"
    with pytest.raises(StatusListError):
        status_list.set(index)


def test_index_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        StatusList().get("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StatusList().get(True)


def test_decoded_list_below_minimum_is_refused() -> None:
    with pytest.raises(StatusListError, match="at least") as info:
        StatusList.decode(_encode_raw(bytes(1024)), "revocation")
    assert info.value.code == "too_small"


def test_decoded_list_must_be_nonempty() -> None:
    with pytest.raises(StatusListError) as info:
        StatusList.decode(_encode_raw(b""), "revocation")
    assert info.value.code == "too_small"


def test_decode_bounds_inflation() -> None:
    bomb = _encode_raw(bytes(MIN_BITS // 8 * 4))  # 64 KB of zeros compresses to ~100 bytes
    with pytest.raises(StatusListError) as info:
        StatusList.decode(bomb, "revocation", max_bits=MIN_BITS * 2)
    assert info.value.code == "too_large"
    assert StatusList.decode(bomb, "revocation", max_bits=DEFAULT_MAX_BITS).size == MIN_BITS * 4


def test_from_bytes() -> None:
    raw = bytes([0x80]) + bytes(MIN_BITS // 8 - 1)
    assert list(StatusList.from_bytes(raw, "revocation").set_indices()) == [0]
    with pytest.raises(StatusListError):
        StatusList.from_bytes(b"\x00", "revocation")


# ----------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("", "empty"),
        ("u", "empty"),
        ("uH4sI AAAA", "only A-Z"),
        ("uH4sI+AAA", "only A-Z"),
        ("uH4sIAA==", "only A-Z"),
        ("uH4sIA", "impossible"),
        ("u" + base64.urlsafe_b64encode(b"plain text, not gzip").decode().rstrip("="), "GZIP"),
        (
            "u" + base64.urlsafe_b64encode(zlib.compress(bytes(16384))).decode().rstrip("="),
            "GZIP",
        ),
    ],
)
def test_malformed_encoded_list(encoded: str, message: str) -> None:
    with pytest.raises(StatusListError, match=message) as info:
        StatusList.decode(encoded, "revocation")
    assert info.value.code == "malformed"
    assert isinstance(info.value, ValueError)


def test_truncated_gzip_is_refused() -> None:
    compressed = gzip.compress(bytes(MIN_BITS // 8))
    encoded = "u" + base64.urlsafe_b64encode(compressed[:-10]).decode().rstrip("=")
    with pytest.raises(StatusListError, match="truncated"):
        StatusList.decode(encoded, "revocation")


def test_corrupt_gzip_is_refused() -> None:
    compressed = bytearray(gzip.compress(bytes(range(256)) * 64))
    compressed[20] ^= 0xFF
    compressed[21] ^= 0xFF
    encoded = "u" + base64.urlsafe_b64encode(bytes(compressed)).decode().rstrip("=")
    with pytest.raises(StatusListError, match=r"GZIP|truncated") as info:
        StatusList.decode(encoded, "revocation")
    assert info.value.code == "malformed"


def test_trailing_data_after_gzip_is_refused() -> None:
    compressed = gzip.compress(bytes(MIN_BITS // 8)) + b"extra"
    encoded = "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")
    with pytest.raises(StatusListError, match="after the GZIP"):
        StatusList.decode(encoded, "revocation")


def test_non_string_encoded_list() -> None:
    with pytest.raises(StatusListError, match="string"):
        StatusList.decode(b"uH4sI", "revocation")  # type: ignore[arg-type]


# ----------------------------------------------------------------- index allocation


def test_allocate_index_avoids_used_indices() -> None:
    draws = iter([5, 5, 9, 12])
    assert allocate_index({5, 9}, randbelow=lambda n: next(draws)) == 12


def test_allocate_index_uses_the_csprng_by_default() -> None:
    picks = {allocate_index(set()) for _ in range(20)}
    assert all(0 <= p < MIN_BITS for p in picks)
    assert len(picks) > 1  # 20 draws from 131,072 colliding into one value: ~0 probability


@settings(max_examples=50, deadline=None)
@given(
    st.sets(st.integers(min_value=0, max_value=MIN_BITS - 1), max_size=50),
    st.randoms(use_true_random=False),
)
def test_allocate_index_never_returns_a_used_one(used: set[int], rnd: object) -> None:
    randbelow = rnd.randrange  # type: ignore[attr-defined]
    index = allocate_index(used, randbelow=randbelow)
    assert 0 <= index < MIN_BITS
    assert index not in used


def test_allocate_index_in_a_dense_list_draws_from_the_free_ones() -> None:
    free = {3, 70_000, MIN_BITS - 1}
    used = set(range(MIN_BITS)) - free
    calls: list[int] = []

    def randbelow(n: int) -> int:
        calls.append(n)
        return 1

    assert allocate_index(used, randbelow=randbelow) == 70_000  # the 2nd free index
    assert calls == [3]  # one draw among the 3 free indices, no retries


def test_allocate_index_ignores_indices_outside_the_list() -> None:
    assert allocate_index({-1, MIN_BITS + 5}, randbelow=lambda n: 0) == 0


def test_allocate_index_full_list() -> None:
    with pytest.raises(StatusListFull, match="all 131072"):
        allocate_index(range(MIN_BITS))


def test_allocate_index_refuses_small_lists() -> None:
    with pytest.raises(StatusListError):
        allocate_index(set(), 1024)


# ----------------------------------------------------------------- entries


def test_entry_json() -> None:
    assert entry(LIST_URL, "revocation", 94567) == {
        "id": f"{LIST_URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": LIST_URL,
    }


@pytest.mark.parametrize("purpose", list(StatusPurpose))
def test_entry_round_trip(purpose: StatusPurpose) -> None:
    parsed = StatusListEntry.from_json(entry(LIST_URL, purpose, 7))
    assert parsed == StatusListEntry(LIST_URL, purpose, 7)
    assert parsed.purpose is purpose


def test_entry_accepts_purpose_as_string() -> None:
    assert StatusListEntry(LIST_URL, "suspension", 1).purpose is StatusPurpose.suspension  # type: ignore[arg-type]


def test_entry_without_id_is_accepted() -> None:
    value = entry(LIST_URL, "revocation", 3)
    del value["id"]
    assert StatusListEntry.from_json(value).index == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "StatusList2021Entry"}, "type"),
        ({"statusListIndex": 5}, "statusListIndex"),
        ({"statusListIndex": "-1"}, "statusListIndex"),
        ({"statusListIndex": "007"}, "statusListIndex"),
        ({"statusListIndex": "1e3"}, "statusListIndex"),
        ({"statusListIndex": ""}, "statusListIndex"),
        ({"statusPurpose": "refresh"}, "refresh"),
        ({"statusPurpose": None}, "statusPurpose"),
        ({"statusListCredential": None}, "statusListCredential"),
        ({"statusListCredential": "ftp://x/list"}, "http"),
        ({"statusListCredential": LIST_URL + "#frag"}, "fragment"),
        ({"id": 5}, "id"),
    ],
)
def test_malformed_entries(change: dict[str, object], message: str) -> None:
    value: dict[str, object] = {**entry(LIST_URL, "revocation", 5), **change}
    with pytest.raises(StatusListError, match=message) as info:
        StatusListEntry.from_json(value)
    assert info.value.code == "malformed"


def test_entry_must_be_an_object() -> None:
    with pytest.raises(StatusListError, match="object"):
        StatusListEntry.from_json(["not", "an", "object"])


def test_entry_index_must_be_non_negative_int() -> None:
    with pytest.raises(StatusListError):
        StatusListEntry(LIST_URL, StatusPurpose.revocation, -1)
    with pytest.raises(StatusListError):
        StatusListEntry(LIST_URL, StatusPurpose.revocation, True)


# ----------------------------------------------------------------- the list credential


def test_status_list_credential_body() -> None:
    status_list = StatusList(MIN_BITS, "suspension")
    status_list.set(3)
    encoded = status_list.encode()
    body = status_list_credential(
        ISSUER, LIST_URL, "suspension", encoded, datetime(2026, 6, 1, 8, 0, tzinfo=CST)
    )
    assert body == {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": LIST_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": ISSUER,
        "validFrom": "2026-06-01T08:00:00+08:00",
        "credentialSubject": {
            "id": f"{LIST_URL}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "suspension",
            "encodedList": encoded,
        },
    }


def test_status_list_credential_optional_members() -> None:
    start = datetime(2026, 6, 1, tzinfo=CST)
    body = status_list_credential(
        ISSUER,
        LIST_URL,
        StatusPurpose.revocation,
        StatusList().encode(),
        start,
        valid_until=start + timedelta(days=1),
        ttl_ms=300_000,
    )
    assert body["validUntil"] == "2026-06-02T00:00:00+08:00"
    assert body["credentialSubject"]["ttl"] == 300_000


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"valid_from": datetime(2026, 6, 1)}, ValueError),  # naive
        ({"valid_until": datetime(2026, 5, 1, tzinfo=CST)}, ValueError),
        ({"ttl_ms": 0}, ValueError),
        ({"encoded": "not-a-list"}, StatusListError),
        ({"encoded": _encode_raw(bytes(10))}, StatusListError),
        ({"list_url": "urn:x:1"}, StatusListError),
        ({"purpose": "message"}, StatusListError),
    ],
)
def test_status_list_credential_refuses_bad_input(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    arguments: dict[str, object] = {
        "issuer": ISSUER,
        "list_url": LIST_URL,
        "purpose": "revocation",
        "encoded": StatusList().encode(),
        "valid_from": datetime(2026, 6, 1, tzinfo=CST),
        **kwargs,
    }
    with pytest.raises(error):
        status_list_credential(**arguments)  # type: ignore[arg-type]


def test_herd_many_indices() -> None:
    """A list with a realistic number of licences (5,237 hazardous-chemical licences)."""
    status_list = StatusList()
    used: set[int] = set()
    for _ in range(5237):
        used.add(allocate_index(used))
    for index in itertools.islice(sorted(used), 0, None, 3):
        status_list.set(index)
    decoded = StatusList.decode(status_list.encode(), "revocation")
    assert decoded == status_list
    assert len(used) == 5237
