"""W3C Bitstring Status List v1.0 for licence revocation and suspension. Pure, no I/O.

A status list is a bitstring published inside a BitstringStatusListCredential; each licence
carries, per purpose, a `BitstringStatusListEntry` naming the list's URL and its own index.
A set bit means the purpose applies (revoked, suspended); a clear bit means it does not.

Spec points this module follows (https://www.w3.org/TR/vc-bitstring-status-list/):

- The uncompressed bitstring is at least 16 KB (131,072 entries), so that one licence's
  lookup hides in a herd of others. Lengths are whole bytes.
- Index 0 is the left-most bit of the first byte: bit `i` is `byte[i // 8] & (0x80 >> i % 8)`
  (big-endian bit order within each byte).
- `encodedList` is the *Multibase* base64url form, no padding, of the GZIP-compressed
  bitstring: a leading `u` (the Multibase prefix for base64url-no-pad) followed by the
  base64url text, e.g. `uH4sI...`. `decode` also accepts the bare base64url text written by
  pre-Recommendation drafts (StatusList2021); it cannot be confused with the prefixed form
  because GZIP's magic bytes always encode as `H4sI`.
- `statusListIndex` is a string of decimal digits in the entry.
- Indices are assigned at random (`allocate_index`), never sequentially, so that the index
  reveals nothing about issue order and neighbouring licences are not correlated.

Encoding is deterministic (GZIP header mtime 0), so the same bits always give the same
`encodedList` and a published list can be cached and compared byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "DEFAULT_MAX_BITS",
    "MIN_BITS",
    "STATUS_LIST_CREDENTIAL_TYPE",
    "STATUS_LIST_ENTRY_TYPE",
    "STATUS_LIST_TYPE",
    "VC_V2_CONTEXT",
    "StatusList",
    "StatusListEntry",
    "StatusListError",
    "StatusListFull",
    "StatusPurpose",
    "allocate_index",
    "entry",
    "status_list_credential",
]

VC_V2_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
STATUS_LIST_ENTRY_TYPE: Final = "BitstringStatusListEntry"
STATUS_LIST_CREDENTIAL_TYPE: Final = "BitstringStatusListCredential"
STATUS_LIST_TYPE: Final = "BitstringStatusList"

# Spec minimum: 16 KB uncompressed = 131,072 one-bit entries.
MIN_BITS: Final = 16 * 1024 * 8
# Largest list `decode` will inflate (16 MiB uncompressed): a bound against GZIP bombs in a
# list fetched by an offline verifier, and far above any list this regulator will publish.
DEFAULT_MAX_BITS: Final = 16 * 1024 * 1024 * 8

_MULTIBASE_BASE64URL: Final = "u"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BASE64URL_TEXT: Final = re.compile(r"[A-Za-z0-9_-]*")
_INDEX_TEXT: Final = re.compile(r"(0|[1-9][0-9]*)")
# Below this share of used indices, rejection sampling finds a free one in a few draws;
# above it the free indices are enumerated and one is drawn from them.
_DENSE_SHARE: Final = 0.5


class StatusPurpose(StrEnum):
    """The status purposes this regulator publishes (the spec also has refresh, message)."""

    revocation = "revocation"  # permanent: the licence is withdrawn
    suspension = "suspension"  # temporary: the licence may be reinstated by clearing the bit


class StatusListError(ValueError):
    """A status list or entry that cannot be used; `code` names the broken rule.

    Codes: `malformed` (not base64url / not GZIP / truncated / not a valid entry),
    `too_small` (below the spec's 16 KB minimum), `too_large` (above the decode limit),
    `not_whole_bytes` (length not a multiple of 8), `out_of_range` (index outside the list),
    `purpose_mismatch` (entry and list disagree on the purpose).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StatusListFull(StatusListError):
    """Every index of the list is in use: open a new list."""

    def __init__(self, size: int) -> None:
        super().__init__("full", f"all {size} indices of the status list are in use")


def _purpose(value: StatusPurpose | str) -> StatusPurpose:
    try:
        return StatusPurpose(value)
    except ValueError:
        allowed = ", ".join(p.value for p in StatusPurpose)
        raise StatusListError(
            "malformed", f"status purpose {value!r} is not supported (allowed: {allowed})"
        ) from None


def _check_size(size: int, *, max_bits: int | None = None) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"status list size must be an int, got {type(size).__name__}")
    if size < MIN_BITS:
        raise StatusListError(
            "too_small",
            f"a status list must hold at least {MIN_BITS} entries (16 KB) for herd privacy, "
            f"got {size}",
        )
    if size % 8:
        raise StatusListError(
            "not_whole_bytes", f"a status list's length must be a multiple of 8, got {size}"
        )
    if max_bits is not None and size > max_bits:
        raise StatusListError(
            "too_large", f"the status list holds {size} entries, more than the limit {max_bits}"
        )


class StatusList:
    """A mutable bitstring of `size` one-bit statuses for one purpose."""

    __slots__ = ("_bits", "_purpose", "_size")

    def __init__(self, size: int = MIN_BITS, purpose: StatusPurpose | str = "revocation") -> None:
        _check_size(size)
        self._size = size
        self._purpose = _purpose(purpose)
        self._bits = bytearray(size // 8)

    @property
    def size(self) -> int:
        """Number of entries (bits)."""
        return self._size

    @property
    def purpose(self) -> StatusPurpose:
        return self._purpose

    def _locate(self, index: int) -> tuple[int, int]:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"a status list index must be an int, got {type(index).__name__}")
        if not 0 <= index < self._size:
            raise StatusListError(
                "out_of_range", f"index {index} is outside the status list [0, {self._size})"
            )
        return index >> 3, 0x80 >> (index & 7)

    def get(self, index: int) -> bool:
        """True when the purpose applies to the licence at `index` (revoked / suspended)."""
        byte, mask = self._locate(index)
        return bool(self._bits[byte] & mask)

    def set(self, index: int, value: bool = True) -> None:
        """Set (or, with value=False, clear) the status at `index`."""
        byte, mask = self._locate(index)
        if value:
            self._bits[byte] |= mask
        else:
            self._bits[byte] &= ~mask & 0xFF

    def clear(self, index: int) -> None:
        """Clear the status at `index` (e.g. lift a suspension)."""
        self.set(index, False)

    def set_indices(self) -> Iterator[int]:
        """Indices whose bit is set, ascending."""
        for byte_index, byte in enumerate(self._bits):
            if byte:
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        yield byte_index * 8 + bit

    def to_bytes(self) -> bytes:
        """The raw (uncompressed) bitstring."""
        return bytes(self._bits)

    @classmethod
    def from_bytes(cls, raw: bytes, purpose: StatusPurpose | str) -> StatusList:
        """A list over an uncompressed bitstring; its length gives the size."""
        _check_size(len(raw) * 8)
        status_list = cls(len(raw) * 8, purpose)
        status_list._bits[:] = raw
        return status_list

    def encode(self) -> str:
        """`encodedList`: Multibase base64url (no padding) of the GZIP-compressed bitstring."""
        # compresslevel 9 and mtime 0: smallest and reproducible output.
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        compressed = compressor.compress(bytes(self._bits)) + compressor.flush()
        text = base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")
        return _MULTIBASE_BASE64URL + text

    @classmethod
    def decode(
        cls,
        encoded: str,
        purpose: StatusPurpose | str,
        *,
        max_bits: int = DEFAULT_MAX_BITS,
    ) -> StatusList:
        """Parse an `encodedList`; StatusListError with a clear message when it is unusable."""
        if not isinstance(encoded, str):
            raise StatusListError(
                "malformed", f"encodedList must be a string, got {type(encoded).__name__}"
            )
        text = encoded.removeprefix(_MULTIBASE_BASE64URL)
        if not text:
            raise StatusListError("malformed", "encodedList is empty")
        if _BASE64URL_TEXT.fullmatch(text) is None:
            raise StatusListError(
                "malformed",
                "encodedList is not Multibase base64url: only A-Z a-z 0-9 - _ may follow the "
                "'u' prefix (no padding, no whitespace)",
            )
        if len(text) % 4 == 1:
            raise StatusListError("malformed", "encodedList has an impossible base64url length")
        try:
            compressed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex guards this
            raise StatusListError("malformed", f"encodedList is not base64url: {exc}") from exc
        if not compressed.startswith(_GZIP_MAGIC):
            raise StatusListError(
                "malformed", "encodedList is not GZIP-compressed (missing the 1f 8b magic bytes)"
            )
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        limit = max_bits // 8
        try:
            raw = decompressor.decompress(compressed, limit + 1)
        except zlib.error as exc:
            raise StatusListError("malformed", f"encodedList is not valid GZIP: {exc}") from exc
        if len(raw) > limit:
            raise StatusListError(
                "too_large",
                f"encodedList inflates to more than {limit} bytes ({max_bits} entries)",
            )
        if not decompressor.eof:
            raise StatusListError("malformed", "encodedList is truncated GZIP data")
        if decompressor.unused_data:
            raise StatusListError("malformed", "encodedList has data after the GZIP stream")
        _check_size(len(raw) * 8, max_bits=max_bits)
        return cls.from_bytes(raw, purpose)

    def copy(self) -> StatusList:
        return StatusList.from_bytes(bytes(self._bits), self._purpose)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return self._purpose == other._purpose and self._bits == other._bits

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"StatusList(size={self._size}, purpose={self._purpose.value!r})"


def allocate_index(
    used: Collection[int],
    size: int = MIN_BITS,
    *,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> int:
    """A uniformly random index in [0, size) that is not in `used`.

    The spec recommends random assignment so that an index says nothing about when a licence
    was issued or which licences were issued together. `randbelow` defaults to the CSPRNG;
    tests may pass a deterministic one. Raises StatusListFull when no index is free.
    """
    _check_size(size)
    used_in_range = {i for i in used if 0 <= i < size}
    free_count = size - len(used_in_range)
    if free_count <= 0:
        raise StatusListFull(size)
    if len(used_in_range) <= size * _DENSE_SHARE:
        # Each draw succeeds with probability >= 1/2: expected <= 2 draws.
        while True:
            candidate = randbelow(size)
            if candidate not in used_in_range:
                return candidate
    # Dense list: draw the k-th free index directly, no unbounded retries.
    k = randbelow(free_count)
    for candidate in range(size):
        if candidate not in used_in_range:
            if k == 0:
                return candidate
            k -= 1
    raise AssertionError("unreachable: free_count was positive")  # pragma: no cover


@dataclass(frozen=True)
class StatusListEntry:
    """One `BitstringStatusListEntry` of a credential's `credentialStatus`."""

    list_url: str
    purpose: StatusPurpose
    index: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "purpose", _purpose(self.purpose))
        if not isinstance(self.list_url, str) or not self.list_url.startswith(
            ("https://", "http://")
        ):
            raise StatusListError(
                "malformed", f"statusListCredential must be an http(s) URL, got {self.list_url!r}"
            )
        if "#" in self.list_url:
            raise StatusListError(
                "malformed", f"statusListCredential must not carry a fragment: {self.list_url!r}"
            )
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise StatusListError(
                "malformed", f"statusListIndex must be a non-negative int, got {self.index!r}"
            )

    @property
    def id(self) -> str:
        """The entry's own id: the list URL with the index as fragment (spec examples)."""
        return f"{self.list_url}#{self.index}"

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "type": STATUS_LIST_ENTRY_TYPE,
            "statusPurpose": self.purpose.value,
            "statusListIndex": str(self.index),
            "statusListCredential": self.list_url,
        }

    @classmethod
    def from_json(cls, value: object) -> StatusListEntry:
        """Parse an entry; StatusListError(code='malformed') names the offending member."""
        if not isinstance(value, Mapping):
            raise StatusListError("malformed", "a credentialStatus entry must be a JSON object")
        if value.get("type") != STATUS_LIST_ENTRY_TYPE:
            raise StatusListError(
                "malformed",
                f"credentialStatus type must be {STATUS_LIST_ENTRY_TYPE!r}, "
                f"got {value.get('type')!r}",
            )
        index_text = value.get("statusListIndex")
        # The spec types the index as a string of digits; a JSON number is not accepted.
        if not isinstance(index_text, str) or _INDEX_TEXT.fullmatch(index_text) is None:
            raise StatusListError(
                "malformed",
                f"statusListIndex must be a string of decimal digits, got {index_text!r}",
            )
        purpose = value.get("statusPurpose")
        if not isinstance(purpose, str):
            raise StatusListError("malformed", f"statusPurpose must be a string, got {purpose!r}")
        list_url = value.get("statusListCredential")
        if not isinstance(list_url, str):
            raise StatusListError(
                "malformed", f"statusListCredential must be a string, got {list_url!r}"
            )
        parsed = cls(list_url, _purpose(purpose), int(index_text))
        entry_id = value.get("id")
        if entry_id is not None and not isinstance(entry_id, str):
            raise StatusListError(
                "malformed", f"credentialStatus id must be a URL, got {entry_id!r}"
            )
        return parsed


def entry(list_url: str, purpose: StatusPurpose | str, index: int) -> dict[str, str]:
    """The JSON of a `BitstringStatusListEntry` for a credential's `credentialStatus`."""
    return StatusListEntry(list_url, _purpose(purpose), index).to_json()


def _timestamp(value: datetime, name: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.isoformat(timespec="seconds")


def status_list_credential(
    issuer: str,
    list_url: str,
    purpose: StatusPurpose | str,
    encoded: str,
    valid_from: datetime,
    *,
    valid_until: datetime | None = None,
    ttl_ms: int | None = None,
) -> dict[str, Any]:
    """The unsigned JSON body of a BitstringStatusListCredential (credentials.py signs it).

    `list_url` is both the credential's `id` and the URL every entry's
    `statusListCredential` names; the subject's id is `<list_url>#list` as in the spec.
    `valid_until` bounds how long a verifier may rely on this copy; `ttl_ms` (spec: time to
    live in milliseconds) tells caches when to fetch again. Both are optional.
    """
    purpose_value = _purpose(purpose)
    # Validates the URL the same way an entry would.
    StatusListEntry(list_url, purpose_value, 0)
    # Refuse to publish a list that verifiers would reject.
    StatusList.decode(encoded, purpose_value)
    subject: dict[str, Any] = {
        "id": f"{list_url}#list",
        "type": STATUS_LIST_TYPE,
        "statusPurpose": purpose_value.value,
        "encodedList": encoded,
    }
    if ttl_ms is not None:
        if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be a positive int, got {ttl_ms!r}")
        subject["ttl"] = ttl_ms
    body: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", STATUS_LIST_CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": _timestamp(valid_from, "valid_from"),
    }
    if valid_until is not None:
        if valid_until < valid_from:
            raise ValueError("valid_until must not be before valid_from")
        body["validUntil"] = _timestamp(valid_until, "valid_until")
    body["credentialSubject"] = subject
    return body
