"""Licence credentials (VC-JWT, Ed25519): issue, verify, rotate, retire, status. Pure."""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.uscc import make_uscc
from services.permits.credentials import (
    MANIFEST_FILE,
    IssuerKeyRing,
    KeySource,
    LicenceClaims,
    PublicKeys,
    StatusListUnavailable,
    check_status,
    issue_licence,
    licence_credential,
    sign_status_list,
    verify_licence,
    verify_status_list,
)
from services.permits.domain import ApprovalMode
from services.permits.status_list import (
    StatusList,
    StatusListEntry,
    StatusListError,
    StatusPurpose,
    status_list_credential,
)

CST = timezone(timedelta(hours=8))
ISSUER = "did:web:yjj.qingdao.gov.cn"
STATUS_BASE = "https://yjj.qingdao.gov.cn/licences/status"
REVOCATION_URL = f"{STATUS_BASE}/revocation/1"
SUSPENSION_URL = f"{STATUS_BASE}/suspension/1"
INDEX = 94567
NOW = datetime(2027, 1, 1, 10, 0, tzinfo=CST)
USCC = make_uscc(1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_claims(**changes: Any) -> LicenceClaims:
    claims = LicenceClaims(
        uscc=USCC,
        holder_name="青岛海纳化工贸易有限公司",
        item_code="QD-AJ-001",
        item_name="危险化学品经营许可证核发（新办）",
        licence_number="鲁青危化经字〔2026〕000123",
        scope="汽油、柴油、甲醇（不带储存设施经营）",
        approval_mode=ApprovalMode.instant,
        valid_from=date(2026, 6, 1),
        valid_until=date(2029, 5, 31),
        status=(
            StatusListEntry(REVOCATION_URL, StatusPurpose.revocation, INDEX),
            StatusListEntry(SUSPENSION_URL, StatusPurpose.suspension, INDEX),
        ),
    )
    return replace(claims, **changes) if changes else claims


@pytest.fixture
def ring() -> IssuerKeyRing:
    return IssuerKeyRing(ISSUER, "key-2026-1", {"key-2026-1": Ed25519PrivateKey.generate()})


@pytest.fixture
def token(ring: IssuerKeyRing) -> str:
    return issue_licence(ring, make_claims())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def sign_raw(ring: IssuerKeyRing, payload: Any, **header: Any) -> str:
    """Sign arbitrary content with the ring's active key, as an attacker with no key cannot."""
    kid, key = ring.signing_key()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"kid": kid, "typ": "vc+jwt", **header}
    return jwt.PyJWS().encode(body, key, algorithm="EdDSA", headers=headers)


# ----------------------------------------------------------------- issue and verify


def test_issued_token_has_the_vc_jwt_header(ring: IssuerKeyRing, token: str) -> None:
    header, _, _ = parts(token)
    assert header == {"alg": "EdDSA", "kid": f"{ISSUER}#key-2026-1", "typ": "vc+jwt"}


def test_payload_is_the_credential(ring: IssuerKeyRing, token: str) -> None:
    _, payload, _ = parts(token)
    expected = licence_credential(ISSUER, make_claims())
    assert {k: v for k, v in payload.items() if k not in ("nbf", "exp")} == expected
    assert payload["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert payload["type"] == ["VerifiableCredential", "SafetyLicenceCredential"]
    assert payload["issuer"] == ISSUER
    assert payload["validFrom"] == "2026-06-01T00:00:00+08:00"
    assert payload["validUntil"] == "2029-05-31T23:59:59+08:00"
    assert payload["nbf"] == int(datetime(2026, 6, 1, tzinfo=CST).timestamp())
    assert payload["exp"] == int(datetime(2029, 5, 31, 23, 59, 59, tzinfo=CST).timestamp())
    assert payload["credentialSubject"] == {
        "id": f"urn:uscc:{USCC}",
        "uscc": USCC,
        "holderName": "青岛海纳化工贸易有限公司",
        "itemCode": "QD-AJ-001",
        "itemName": "危险化学品经营许可证核发（新办）",
        "licenceNumber": "鲁青危化经字〔2026〕000123",
        "scope": "汽油、柴油、甲醇（不带储存设施经营）",
        "approvalMode": "instant",
    }
    assert payload["credentialStatus"] == [
        {
            "id": f"{REVOCATION_URL}#{INDEX}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(INDEX),
            "statusListCredential": REVOCATION_URL,
        },
        {
            "id": f"{SUSPENSION_URL}#{INDEX}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "suspension",
            "statusListIndex": str(INDEX),
            "statusListCredential": SUSPENSION_URL,
        },
    ]


def test_payload_is_compact_utf8(token: str) -> None:
    raw = unb64(token.split(".")[1])
    assert "青岛海纳".encode() in raw  # not \\u-escaped: smaller token, smaller QR
    assert b", " not in raw
    assert b": " not in raw


def test_token_size_is_reasonable(ring: IssuerKeyRing, token: str) -> None:
    assert len(token) < 2000
    ascii_token = issue_licence(
        ring,
        make_claims(holder_name="Haina", item_name="Licence", scope="Petrol", licence_number="N1"),
    )
    assert len(ascii_token) < 1600


def test_credential_id_is_optional(ring: IssuerKeyRing) -> None:
    claims = make_claims(credential_id="urn:uuid:7d0b5c9e-7a43-4b52-9f83-1d7e0f0f0a01")
    vc = licence_credential(ISSUER, claims)
    assert vc["id"] == "urn:uuid:7d0b5c9e-7a43-4b52-9f83-1d7e0f0f0a01"
    assert "id" not in licence_credential(ISSUER, make_claims())
    assert verify_licence(issue_licence(ring, claims), ring, NOW).valid


@pytest.mark.parametrize("source", ["ring", "jwks", "jwks_json", "public_keys"])
def test_issue_then_verify(ring: IssuerKeyRing, token: str, source: str) -> None:
    keys: Any = {
        "ring": ring,
        "jwks": ring.public_jwks(),
        "jwks_json": json.loads(json.dumps(ring.public_jwks())),
        "public_keys": ring.public_keys(),
    }[source]
    result = verify_licence(token, keys, NOW)
    assert result.valid
    assert result.reason == "ok"
    assert result.detail == ""
    assert result.kid == f"{ISSUER}#key-2026-1"
    assert result.claims is not None
    assert result.subject is not None
    assert result.subject["licenceNumber"] == "鲁青危化经字〔2026〕000123"
    assert result.status_entries == make_claims().status


def test_whitespace_around_a_scanned_token_is_ignored(ring: IssuerKeyRing, token: str) -> None:
    assert verify_licence(f"  {token}\n", ring, NOW).valid


def test_every_approval_mode_round_trips(ring: IssuerKeyRing) -> None:
    for mode in ApprovalMode:
        result = verify_licence(issue_licence(ring, make_claims(approval_mode=mode)), ring, NOW)
        assert result.subject is not None
        assert result.subject["approvalMode"] == mode.value


def test_a_single_status_entry_is_allowed(ring: IssuerKeyRing) -> None:
    claims = make_claims(status=(StatusListEntry(REVOCATION_URL, StatusPurpose.revocation, 1),))
    result = verify_licence(issue_licence(ring, claims), ring, NOW)
    assert result.valid
    assert len(result.status_entries) == 1


# ----------------------------------------------------------------- validity period


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (datetime(2026, 6, 1, 0, 0, 0, tzinfo=CST), "ok"),
        (datetime(2026, 5, 31, 23, 59, 59, tzinfo=CST), "not_yet_valid"),
        (datetime(2026, 5, 31, 16, 0, 0, tzinfo=UTC), "ok"),  # = 2026-06-01 00:00 CST
        (datetime(2026, 5, 31, 15, 59, 59, tzinfo=UTC), "not_yet_valid"),
        (datetime(2029, 5, 31, 23, 59, 59, tzinfo=CST), "ok"),
        (datetime(2029, 6, 1, 0, 0, 0, tzinfo=CST), "expired"),
        (datetime(2029, 5, 31, 16, 0, 0, tzinfo=UTC), "expired"),
        (datetime(2020, 1, 1, tzinfo=UTC), "not_yet_valid"),
        (datetime(2040, 1, 1, tzinfo=UTC), "expired"),
    ],
)
def test_validity_period(token: str, ring: IssuerKeyRing, now: datetime, reason: str) -> None:
    result = verify_licence(token, ring, now)
    assert result.reason == reason
    assert result.valid is (reason == "ok")
    # The signature was good, so the claims are there even when out of period.
    assert result.claims is not None
    assert result.status_entries == make_claims().status


def test_leeway_widens_the_period(token: str, ring: IssuerKeyRing) -> None:
    just_after = datetime(2029, 6, 1, 0, 0, 30, tzinfo=CST)
    assert verify_licence(token, ring, just_after).reason == "expired"
    assert verify_licence(token, ring, just_after, leeway=timedelta(minutes=1)).valid
    just_before = datetime(2026, 5, 31, 23, 59, 30, tzinfo=CST)
    assert verify_licence(token, ring, just_before, leeway=timedelta(minutes=1)).valid


def test_one_day_licence(ring: IssuerKeyRing) -> None:
    claims = make_claims(valid_from=date(2026, 7, 1), valid_until=date(2026, 7, 1))
    token = issue_licence(ring, claims)
    assert verify_licence(token, ring, datetime(2026, 7, 1, 12, tzinfo=CST)).valid
    assert verify_licence(token, ring, datetime(2026, 7, 2, tzinfo=CST)).reason == "expired"


def test_naive_now_is_a_programming_error(token: str, ring: IssuerKeyRing) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_licence(token, ring, datetime(2027, 1, 1))


# ----------------------------------------------------------------- tampering


def test_tampered_payload_is_a_bad_signature(ring: IssuerKeyRing, token: str) -> None:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["credentialSubject"]["scope"] = "所有危险化学品"
    claims["validUntil"] = "2099-12-31T23:59:59+08:00"
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    result = verify_licence(forged, ring, NOW)
    assert result.reason == "bad_signature"
    assert not result.valid
    assert result.claims is None
    assert result.status_entries == ()


def test_tampered_header_is_a_bad_signature(ring: IssuerKeyRing, token: str) -> None:
    _, payload, signature = token.split(".")
    header = {"alg": "EdDSA", "kid": f"{ISSUER}#key-2026-1", "typ": "JWT"}
    forged = ".".join([b64(json.dumps(header).encode()), payload, signature])
    assert verify_licence(forged, ring, NOW).reason == "bad_signature"


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256", None])
def test_other_algorithms_are_refused(ring: IssuerKeyRing, token: str, alg: str | None) -> None:
    _, payload, signature = token.split(".")
    header: dict[str, Any] = {"kid": f"{ISSUER}#key-2026-1", "typ": "vc+jwt"}
    if alg is not None:
        header["alg"] = alg
    forged = ".".join(
        [b64(json.dumps(header).encode()), payload, "" if alg == "none" else signature]
    )
    result = verify_licence(forged, ring, NOW)
    assert result.reason == "bad_signature"
    assert "alg" in result.detail


def test_hs256_with_the_public_key_as_secret_is_refused(ring: IssuerKeyRing) -> None:
    """The classic algorithm-confusion forgery."""
    public_x = ring.public_jwks()["keys"][0]["x"]
    forged = jwt.encode(
        licence_credential(ISSUER, make_claims()),
        public_x,
        algorithm="HS256",
        headers={"kid": ring.active_kid, "typ": "vc+jwt"},
    )
    assert verify_licence(forged, ring, NOW).reason == "bad_signature"


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "swap"])
def test_tampered_signature(ring: IssuerKeyRing, token: str, damage: str) -> None:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64(signature))
    if damage == "flip":
        raw[10] ^= 0x01
    elif damage == "truncate":
        raw = raw[:-1]
    elif damage == "empty":
        raw = bytearray()
    else:
        other = issue_licence(ring, make_claims(licence_number="N-2"))
        raw = bytearray(unb64(other.split(".")[2]))
    forged = ".".join([header, payload, b64(bytes(raw))])
    assert verify_licence(forged, ring, NOW).reason == "bad_signature"


def test_signature_by_another_key_under_our_kid(ring: IssuerKeyRing) -> None:
    impostor = IssuerKeyRing(ISSUER, "key-2026-1", {"key-2026-1": Ed25519PrivateKey.generate()})
    forged = issue_licence(impostor, make_claims())
    assert verify_licence(forged, ring, NOW).reason == "bad_signature"
    assert verify_licence(forged, ring.public_jwks(), NOW).reason == "bad_signature"


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_no_single_character_change_verifies(data: st.DataObject) -> None:
    ring = _SHARED_RING
    token = _SHARED_TOKEN
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[position]))
    mutated = token[:position] + replacement + token[position + 1 :]
    result = verify_licence(mutated, ring, NOW)
    assert not result.valid
    assert result.reason in {"malformed", "bad_signature", "unknown_key"}


_SHARED_RING = IssuerKeyRing(ISSUER, "key-1", {"key-1": Ed25519PrivateKey.generate()})
_SHARED_TOKEN = issue_licence(_SHARED_RING, make_claims())


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "not-a-token",
        "a.b",
        "a.b.c.d",
        "!!!.###.$$$",
        b64(b"not json") + "." + b64(b"{}") + "." + b64(b"sig"),
        b64(b"[1, 2]") + "." + b64(b"{}") + "." + b64(b"sig"),
        "eyJhbGciOiJFZERTQSJ9." + "A" * 300_000 + ".sig",
    ],
)
def test_malformed_tokens(ring: IssuerKeyRing, bad: str) -> None:
    result = verify_licence(bad, ring, NOW)
    assert result.reason == "malformed"
    assert not result.valid
    assert result.claims is None


def test_non_string_token(ring: IssuerKeyRing, token: str) -> None:
    assert verify_licence(token.encode(), ring, NOW).reason == "malformed"  # type: ignore[arg-type]


def test_header_without_kid_is_malformed(ring: IssuerKeyRing, token: str) -> None:
    _, payload, signature = token.split(".")
    header = b64(json.dumps({"alg": "EdDSA", "typ": "vc+jwt"}).encode())
    assert verify_licence(f"{header}.{payload}.{signature}", ring, NOW).reason == "malformed"


# ----------------------------------------------------------------- signed but not a licence


def _vc(**changes: Any) -> dict[str, Any]:
    vc = licence_credential(ISSUER, make_claims())
    vc["nbf"] = int(datetime(2026, 6, 1, tzinfo=CST).timestamp())
    vc["exp"] = int(datetime(2029, 5, 31, 23, 59, 59, tzinfo=CST).timestamp())
    vc.update(changes)
    return {k: v for k, v in vc.items() if v is not None}


def test_the_raw_signing_helper_makes_valid_licences(ring: IssuerKeyRing) -> None:
    assert verify_licence(sign_raw(ring, _vc()), ring, NOW).valid


@pytest.mark.parametrize(
    ("payload", "header", "reason", "detail"),
    [
        (_vc(), {"typ": "JWT"}, "wrong_type", "typ"),
        (_vc(), {"typ": None}, "wrong_type", "typ"),
        (_vc(), {"typ": "vc+ld+jwt"}, "wrong_type", "typ"),
        (_vc(**{"@context": ["https://www.w3.org/2018/credentials/v1"]}), {}, "wrong_type", "2.0"),
        (_vc(**{"@context": None}), {}, "wrong_type", "@context"),
        (_vc(type=["VerifiableCredential"]), {}, "wrong_type", "SafetyLicenceCredential"),
        (_vc(type=["SafetyLicenceCredential"]), {}, "wrong_type", "VerifiableCredential"),
        (_vc(type="VerifiableCredential"), {}, "wrong_type", "VerifiableCredential"),
        (_vc(credentialSubject="x"), {}, "malformed", "credentialSubject"),
        (_vc(credentialSubject={"id": "urn:uscc:x"}), {}, "malformed", "uscc"),
        (_vc(issuer="did:web:evil.example"), {}, "malformed", "issuer"),
        (_vc(issuer=None), {}, "malformed", "issuer"),
        (_vc(validFrom=None), {}, "malformed", "validity"),
        (_vc(validFrom="2026-06-01"), {}, "malformed", "time zone"),
        (_vc(validFrom="yesterday"), {}, "malformed", "validity"),
        (_vc(validUntil=None, exp=None), {}, "malformed", "validUntil"),
        (_vc(exp=4_102_444_800), {}, "malformed", "nbf/exp"),
        (_vc(nbf=None), {}, "malformed", "nbf/exp"),
        (_vc(credentialStatus="x"), {}, "malformed", "credentialStatus"),
        (_vc(credentialStatus=[{"type": "StatusList2021Entry"}]), {}, "malformed", "type"),
    ],
)
def test_signed_content_that_is_not_a_valid_licence(
    ring: IssuerKeyRing, payload: Any, header: dict[str, Any], reason: str, detail: str
) -> None:
    headers = {k: v for k, v in header.items() if v is not None}
    token = sign_raw(ring, payload, **headers)
    if header.get("typ", "") is None:  # remove typ entirely
        token = _without_typ(ring, payload)
    result = verify_licence(token, ring, NOW)
    assert result.reason == reason
    assert detail in result.detail
    assert not result.valid


def _without_typ(ring: IssuerKeyRing, payload: Any) -> str:
    kid, key = ring.signing_key()
    pyjws = jwt.PyJWS()
    pyjws.header_typ = None  # type: ignore[assignment]
    return pyjws.encode(json.dumps(payload).encode(), key, algorithm="EdDSA", headers={"kid": kid})


def test_a_single_status_object_is_accepted(ring: IssuerKeyRing) -> None:
    single = StatusListEntry(REVOCATION_URL, StatusPurpose.revocation, 3).to_json()
    result = verify_licence(sign_raw(ring, _vc(credentialStatus=single)), ring, NOW)
    assert result.valid
    assert [e.index for e in result.status_entries] == [3]


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2, 3]", b"\xff\xfe"])
def test_signed_payload_that_is_not_a_json_object(ring: IssuerKeyRing, payload: bytes) -> None:
    result = verify_licence(sign_raw(ring, payload), ring, NOW)
    assert result.reason == "malformed"


def test_a_status_list_is_not_a_licence(ring: IssuerKeyRing) -> None:
    token = sign_status_list(ring, _list_body(StatusList(purpose="revocation"), REVOCATION_URL))
    result = verify_licence(token, ring, NOW)
    assert result.reason == "wrong_type"
    assert result.claims is not None


# ----------------------------------------------------------------- keys and rotation


def test_unknown_kid(ring: IssuerKeyRing) -> None:
    other = IssuerKeyRing(ISSUER, "key-2030-9", {"key-2030-9": Ed25519PrivateKey.generate()})
    token = issue_licence(other, make_claims())
    sources: list[KeySource] = [ring, ring.public_jwks(), {"keys": []}]
    for keys in sources:
        result = verify_licence(token, keys, NOW)
        assert result.reason == "unknown_key"
        assert result.kid == f"{ISSUER}#key-2030-9"
        assert result.claims is None


def test_rotation_keeps_old_licences_valid(ring: IssuerKeyRing) -> None:
    old_token = issue_licence(ring, make_claims())
    new_kid = ring.rotate("key-2026-2", Ed25519PrivateKey.generate())
    assert new_kid == f"{ISSUER}#key-2026-2"
    assert ring.active_kid == new_kid
    assert ring.active_key_id == "key-2026-2"
    new_token = issue_licence(ring, make_claims())
    assert parts(new_token)[0]["kid"] == new_kid
    jwks = ring.public_jwks()
    assert [k["kid"] for k in jwks["keys"]] == [f"{ISSUER}#key-2026-1", new_kid]
    for keys in (ring, jwks):
        assert verify_licence(old_token, keys, NOW).valid
        assert verify_licence(new_token, keys, NOW).valid
    assert verify_licence(old_token, keys, NOW).kid == f"{ISSUER}#key-2026-1"


def test_an_old_jwks_cannot_verify_new_licences(ring: IssuerKeyRing) -> None:
    stale_jwks = ring.public_jwks()
    ring.rotate("key-2026-2", Ed25519PrivateKey.generate())
    assert verify_licence(issue_licence(ring, make_claims()), stale_jwks, NOW).reason == (
        "unknown_key"
    )


def test_retired_key(ring: IssuerKeyRing) -> None:
    old_token = issue_licence(ring, make_claims())
    ring.rotate("key-2026-2", Ed25519PrivateKey.generate())
    new_token = issue_licence(ring, make_claims())
    ring.retire("key-2026-1")
    assert ring.retired_key_ids == frozenset({"key-2026-1"})
    jwks = ring.public_jwks()
    assert [k["kid"] for k in jwks["keys"]] == [f"{ISSUER}#key-2026-2"]
    assert jwks["retired"] == [f"{ISSUER}#key-2026-1"]
    for keys in (ring, jwks, PublicKeys.from_jwks(jwks)):
        result = verify_licence(old_token, keys, NOW)
        assert result.reason == "retired_key"
        assert "retired" in result.detail
        assert result.claims is None
        assert verify_licence(new_token, keys, NOW).valid


def test_a_generic_jwks_reader_no_longer_finds_a_retired_key(ring: IssuerKeyRing) -> None:
    ring.rotate("key-2", Ed25519PrivateKey.generate())
    ring.retire("key-2026-1")
    jwks = ring.public_jwks()
    without_extension = {"keys": jwks["keys"]}
    old_kid = f"{ISSUER}#key-2026-1"
    assert PublicKeys.from_jwks(without_extension).lookup(old_kid) is None


def test_the_active_key_cannot_be_retired(ring: IssuerKeyRing) -> None:
    with pytest.raises(ValueError, match="rotate"):
        ring.retire("key-2026-1")
    with pytest.raises(KeyError):
        ring.retire("key-9999")


def test_key_ids_are_never_reused(ring: IssuerKeyRing) -> None:
    with pytest.raises(ValueError, match="already exists"):
        ring.rotate("key-2026-1", Ed25519PrivateKey.generate())
    with pytest.raises(TypeError):
        ring.rotate("key-x", Ed25519PrivateKey.generate().public_key())  # type: ignore[arg-type]


def test_a_public_only_or_retired_key_cannot_be_active() -> None:
    private = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="private"):
        IssuerKeyRing(ISSUER, "k1", {"k1": private.public_key()})
    with pytest.raises(KeyError):
        IssuerKeyRing(ISSUER, "k2", {"k1": private})
    with pytest.raises(ValueError, match="rotate"):
        IssuerKeyRing(ISSUER, "k1", {"k1": private}, retired=["k1"])


def test_ring_with_public_only_old_keys_verifies_them() -> None:
    old = Ed25519PrivateKey.generate()
    old_ring = IssuerKeyRing(ISSUER, "k1", {"k1": old})
    token = issue_licence(old_ring, make_claims())
    ring = IssuerKeyRing(ISSUER, "k2", {"k1": old.public_key(), "k2": Ed25519PrivateKey.generate()})
    assert verify_licence(token, ring, NOW).valid
    assert verify_licence(token, ring.public_jwks(), NOW).valid


@pytest.mark.parametrize(
    "issuer",
    ["", "yjj.qingdao.gov.cn", "did:web:", "https://yjj.qingdao.gov.cn#x", "http://plain.example"],
)
def test_issuer_must_be_a_did_or_https_url(issuer: str) -> None:
    with pytest.raises(ValueError, match="issuer"):
        IssuerKeyRing(issuer, "k1", {"k1": Ed25519PrivateKey.generate()})


def test_https_issuer(ring: IssuerKeyRing) -> None:
    https_ring = IssuerKeyRing(
        "https://yjj.qingdao.gov.cn/issuer", "k1", {"k1": Ed25519PrivateKey.generate()}
    )
    token = issue_licence(https_ring, make_claims())
    assert parts(token)[0]["kid"] == "https://yjj.qingdao.gov.cn/issuer#k1"
    assert verify_licence(token, https_ring.public_jwks(), NOW).valid


@pytest.mark.parametrize("key_id", ["", "-lead", "has space", "a/b", "x" * 65, "k.pub", "é"])
def test_key_id_rules(key_id: str) -> None:
    with pytest.raises(ValueError, match="key id"):
        IssuerKeyRing(ISSUER, key_id, {key_id: Ed25519PrivateKey.generate()})


def test_non_ed25519_key_is_refused() -> None:
    with pytest.raises(TypeError):
        IssuerKeyRing(ISSUER, "k1", {"k1": ec.generate_private_key(ec.SECP256R1())})  # type: ignore[dict-item]


# ----------------------------------------------------------------- JWKS


def test_public_jwks_shape(ring: IssuerKeyRing) -> None:
    jwks = ring.public_jwks()
    assert jwks["retired"] == []
    (jwk,) = jwks["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    _, private = ring.signing_key()
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert unb64(jwk["x"]) == raw_public
    assert all("d" not in jwk for jwk in jwks["keys"])


def test_jwks_is_readable_by_pyjwt(ring: IssuerKeyRing, token: str) -> None:
    """A generic JOSE verifier needs nothing but the published JWKS."""
    key_set = jwt.PyJWKSet.from_dict(ring.public_jwks())
    key = key_set[parts(token)[0]["kid"]]
    payload = jwt.decode(token, key, algorithms=["EdDSA"], options={"verify_exp": False})
    assert payload["credentialSubject"]["uscc"] == USCC


def test_jwks_with_private_material_is_refused(ring: IssuerKeyRing) -> None:
    _, key = ring.signing_key()
    private_jwk = dict(jwt.algorithms.OKPAlgorithm.to_jwk(key, as_dict=True))
    private_jwk["kid"] = ring.active_kid
    with pytest.raises(ValueError, match="private"):
        verify_licence("a.b.c", {"keys": [private_jwk]}, NOW)


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ({}, "keys"),
        ({"keys": "x"}, "keys"),
        ({"keys": ["x"]}, "object"),
        ({"keys": [], "retired": "kid"}, "retired"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "AAAA"}]}, "valid"),
    ],
)
def test_unusable_jwks(jwks: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PublicKeys.from_jwks(jwks)


def test_jwks_with_duplicate_kid(ring: IssuerKeyRing) -> None:
    jwks = ring.public_jwks()
    with pytest.raises(ValueError, match="twice"):
        PublicKeys.from_jwks({"keys": jwks["keys"] * 2})


def test_jwks_reader_skips_keys_it_does_not_use(ring: IssuerKeyRing, token: str) -> None:
    (ours,) = ring.public_jwks()["keys"]
    foreign = [
        {"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "kid": "x-1", "x": ours["x"]},
        {**ours, "kid": "enc-1", "use": "enc"},
        {**ours, "kid": "other-alg", "alg": "Ed448"},
        {k: v for k, v in ours.items() if k != "kid"},
    ]
    keys = PublicKeys.from_jwks({"keys": [*foreign, ours]})
    assert set(keys.keys) == {ours["kid"]}
    assert verify_licence(token, {"keys": [*foreign, ours]}, NOW).valid


# ----------------------------------------------------------------- status


@pytest.mark.parametrize("revoked", [False, True])
@pytest.mark.parametrize("suspended", [False, True])
def test_check_status_combinations(
    ring: IssuerKeyRing, token: str, revoked: bool, suspended: bool
) -> None:
    revocation = StatusList(purpose="revocation")
    suspension = StatusList(purpose="suspension")
    revocation.set(INDEX, revoked)
    suspension.set(INDEX, suspended)
    # Neighbours' bits must not leak into this licence's answer.
    revocation.set(INDEX + 1)
    suspension.set(INDEX - 1)
    result = verify_licence(token, ring, NOW)
    status = check_status(
        result.status_entries, {REVOCATION_URL: revocation, SUSPENSION_URL: suspension}
    )
    assert status == {"revoked": revoked, "suspended": suspended}


def test_lifting_a_suspension(ring: IssuerKeyRing, token: str) -> None:
    entries = verify_licence(token, ring, NOW).status_entries
    suspension = StatusList(purpose="suspension")
    lists = {REVOCATION_URL: StatusList(purpose="revocation"), SUSPENSION_URL: suspension}
    suspension.set(INDEX)
    assert check_status(entries, lists)["suspended"]
    suspension.clear(INDEX)
    assert check_status(entries, lists) == {"revoked": False, "suspended": False}


def test_check_status_without_a_list_is_unknown_not_fine(token: str, ring: IssuerKeyRing) -> None:
    entries = verify_licence(token, ring, NOW).status_entries
    with pytest.raises(StatusListUnavailable, match=SUSPENSION_URL) as info:
        check_status(entries, {REVOCATION_URL: StatusList(purpose="revocation")})
    assert info.value.list_url == SUSPENSION_URL


def test_check_status_with_a_list_of_the_wrong_purpose(token: str, ring: IssuerKeyRing) -> None:
    entries = verify_licence(token, ring, NOW).status_entries
    swapped = {
        REVOCATION_URL: StatusList(purpose="suspension"),
        SUSPENSION_URL: StatusList(purpose="suspension"),
    }
    with pytest.raises(StatusListError) as info:
        check_status(entries, swapped)
    assert info.value.code == "purpose_mismatch"


def test_check_status_index_outside_the_list() -> None:
    entries = [StatusListEntry(REVOCATION_URL, StatusPurpose.revocation, 10**7)]
    with pytest.raises(StatusListError) as info:
        check_status(entries, {REVOCATION_URL: StatusList(purpose="revocation")})
    assert info.value.code == "out_of_range"


def test_check_status_with_no_entries() -> None:
    assert check_status([], {}) == {"revoked": False, "suspended": False}


# ----------------------------------------------------------------- signed status lists


def _list_body(
    status_list: StatusList, url: str, *, valid_until: datetime | None = None
) -> dict[str, Any]:
    return status_list_credential(
        ISSUER,
        url,
        status_list.purpose,
        status_list.encode(),
        datetime(2026, 12, 31, 8, 0, tzinfo=CST),
        valid_until=valid_until,
    )


def test_signed_status_list_verifies(ring: IssuerKeyRing) -> None:
    revocation = StatusList(purpose="revocation")
    revocation.set(INDEX)
    token = sign_status_list(ring, _list_body(revocation, REVOCATION_URL))
    header, payload, _ = parts(token)
    assert header["typ"] == "vc+jwt"
    assert payload["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert "exp" not in payload
    result = verify_status_list(token, ring.public_jwks(), NOW, list_url=REVOCATION_URL)
    assert result.valid
    assert result.reason == "ok"
    assert result.list_url == REVOCATION_URL
    assert result.status_list == revocation
    assert result.valid_until is None
    assert result.kid == ring.active_kid


def test_signed_status_list_checks(ring: IssuerKeyRing) -> None:
    suspension = StatusList(purpose="suspension")
    until = datetime(2027, 1, 2, 8, 0, tzinfo=CST)
    token = sign_status_list(ring, _list_body(suspension, SUSPENSION_URL, valid_until=until))
    checked = verify_status_list(token, ring, NOW, purpose="suspension")
    assert checked.valid
    assert checked.valid_until == until
    wrong_url = verify_status_list(token, ring, NOW, list_url=REVOCATION_URL)
    assert (wrong_url.reason, wrong_url.status_list) == ("wrong_type", None)
    assert verify_status_list(token, ring, NOW, purpose="revocation").reason == "wrong_type"
    later = until + timedelta(seconds=1)
    assert verify_status_list(token, ring, later).reason == "expired"
    earlier = datetime(2026, 12, 31, 7, 59, tzinfo=CST)
    assert verify_status_list(token, ring, earlier).reason == "not_yet_valid"


def test_tampered_status_list_is_refused(ring: IssuerKeyRing) -> None:
    token = sign_status_list(ring, _list_body(StatusList(purpose="revocation"), REVOCATION_URL))
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    emptied = StatusList(purpose="revocation")
    claims["credentialSubject"]["encodedList"] = emptied.encode()
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    assert verify_status_list(forged, ring, NOW).reason == "bad_signature"


def test_a_licence_is_not_a_status_list(ring: IssuerKeyRing, token: str) -> None:
    assert verify_status_list(token, ring, NOW).reason == "wrong_type"


def test_status_list_from_a_retired_key(ring: IssuerKeyRing) -> None:
    token = sign_status_list(ring, _list_body(StatusList(purpose="revocation"), REVOCATION_URL))
    ring.rotate("key-2026-2", Ed25519PrivateKey.generate())
    assert verify_status_list(token, ring, NOW).valid
    ring.retire("key-2026-1")
    assert verify_status_list(token, ring, NOW).reason == "retired_key"


def _list_vc(**subject_changes: Any) -> dict[str, Any]:
    body = _list_body(StatusList(purpose="revocation"), REVOCATION_URL)
    body["credentialSubject"].update(subject_changes)
    body["nbf"] = int(datetime(2026, 12, 31, 8, 0, tzinfo=CST).timestamp())
    return body


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_list_vc(type="StatusList2021"), "wrong_type"),
        (_list_vc(statusPurpose="message"), "malformed"),
        (_list_vc(encodedList="uAAAA"), "malformed"),
        (_list_vc(encodedList=None), "malformed"),
        ({k: v for k, v in _list_vc().items() if k != "id"}, "malformed"),
    ],
)
def test_signed_but_unusable_status_lists(
    ring: IssuerKeyRing, payload: dict[str, Any], reason: str
) -> None:
    assert verify_status_list(sign_raw(ring, payload), ring, NOW).reason == reason


def test_sign_status_list_refuses_foreign_bodies(ring: IssuerKeyRing) -> None:
    body = _list_body(StatusList(purpose="revocation"), REVOCATION_URL)
    with pytest.raises(ValueError, match="issuer"):
        sign_status_list(ring, {**body, "issuer": "did:web:other.example"})
    with pytest.raises(ValueError, match="BitstringStatusListCredential"):
        sign_status_list(ring, licence_credential(ISSUER, make_claims()))


def test_offline_verification_end_to_end(ring: IssuerKeyRing) -> None:
    """A verifier with no network: the published JWKS and list files, as JSON text."""
    token = issue_licence(ring, make_claims())
    revocation = StatusList(purpose="revocation")
    suspension = StatusList(purpose="suspension")
    revocation.set(INDEX)  # pledge breach: revoked
    published = {
        "jwks": json.dumps(ring.public_jwks()),
        REVOCATION_URL: sign_status_list(ring, _list_body(revocation, REVOCATION_URL)),
        SUSPENSION_URL: sign_status_list(ring, _list_body(suspension, SUSPENSION_URL)),
    }
    ring.rotate("key-2027-1", Ed25519PrivateKey.generate())  # rotation changes nothing offline

    jwks = json.loads(published["jwks"])
    licence = verify_licence(token, jwks, NOW)
    assert licence.valid
    lists: dict[str, StatusList] = {}
    for status_entry in licence.status_entries:
        checked = verify_status_list(
            published[status_entry.list_url],
            jwks,
            NOW,
            list_url=status_entry.list_url,
            purpose=status_entry.purpose,
        )
        assert checked.valid
        assert checked.status_list is not None
        lists[status_entry.list_url] = checked.status_list
    assert check_status(licence.status_entries, lists) == {"revoked": True, "suspended": False}


# ----------------------------------------------------------------- claims rules


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"uscc": "91370200MA3C4XXX1X"}, ValueError, "uscc"),
        ({"uscc": USCC.lower()}, ValueError, "canonical"),
        ({"holder_name": "  "}, ValueError, "holder_name"),
        ({"licence_number": ""}, ValueError, "licence_number"),
        ({"approval_mode": "fast"}, ValueError, "fast"),
        ({"valid_until": date(2026, 5, 31)}, ValueError, "valid_until"),
        ({"valid_from": datetime(2026, 6, 1, tzinfo=CST)}, TypeError, "date"),
        ({"status": ()}, ValueError, "revocation"),
        (
            {"status": (StatusListEntry(SUSPENSION_URL, StatusPurpose.suspension, 1),)},
            ValueError,
            "revocation",
        ),
        (
            {
                "status": (
                    StatusListEntry(REVOCATION_URL, StatusPurpose.revocation, 1),
                    StatusListEntry(REVOCATION_URL, StatusPurpose.revocation, 2),
                )
            },
            ValueError,
            "one status entry per purpose",
        ),
        ({"credential_id": "licence-123"}, ValueError, "URL or URN"),
    ],
)
def test_licence_claims_rules(
    changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make_claims(**changes)


def test_licence_claims_accept_approval_mode_text() -> None:
    assert make_claims(approval_mode="pledge").approval_mode is ApprovalMode.pledge


def test_status_given_as_a_list_is_stored_as_a_tuple() -> None:
    claims = make_claims(status=list(make_claims().status))
    assert isinstance(claims.status, tuple)


# ----------------------------------------------------------------- key files


def test_generate_into_writes_a_private_pkcs8_key(tmp_path: Path) -> None:
    key = IssuerKeyRing.generate_into(tmp_path / "keys", "key-2026-1")
    path = tmp_path / "keys" / "key-2026-1.pem"
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    assert loaded.private_bytes_raw() == key.private_bytes_raw()
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["key-2026-1.pem"]  # no temp left


def test_generate_into_never_overwrites(tmp_path: Path) -> None:
    IssuerKeyRing.generate_into(tmp_path, "key-1")
    before = (tmp_path / "key-1.pem").read_bytes()
    with pytest.raises(FileExistsError):
        IssuerKeyRing.generate_into(tmp_path, "key-1")
    assert (tmp_path / "key-1.pem").read_bytes() == before
    (tmp_path / "key-2.pub.pem").write_bytes(b"public only")
    with pytest.raises(FileExistsError, match="already used"):
        IssuerKeyRing.generate_into(tmp_path, "key-2")
    with pytest.raises(ValueError, match="key id"):
        IssuerKeyRing.generate_into(tmp_path, "../escape")


def test_single_key_directory_needs_no_manifest(tmp_path: Path) -> None:
    IssuerKeyRing.generate_into(tmp_path, "key-1")
    ring = IssuerKeyRing.from_directory(tmp_path, ISSUER)
    assert ring.active_kid == f"{ISSUER}#key-1"
    assert verify_licence(issue_licence(ring, make_claims()), ring.public_jwks(), NOW).valid


def test_rotation_on_disk(tmp_path: Path) -> None:
    ring = IssuerKeyRing.open_or_create(tmp_path, ISSUER, "key-2026-1")
    old_token = issue_licence(ring, make_claims())
    rotated = IssuerKeyRing.rotate_directory(tmp_path, ISSUER, "key-2026-2")
    assert rotated.active_key_id == "key-2026-2"
    assert json.loads((tmp_path / MANIFEST_FILE).read_text()) == {
        "active": "key-2026-2",
        "retired": [],
    }
    reloaded = IssuerKeyRing.from_directory(tmp_path, ISSUER)
    assert reloaded.active_key_id == "key-2026-2"
    assert reloaded.key_ids == ("key-2026-1", "key-2026-2")
    assert verify_licence(old_token, reloaded, NOW).valid
    assert parts(issue_licence(reloaded, make_claims()))[0]["kid"] == f"{ISSUER}#key-2026-2"
    # open_or_create on an existing directory loads, never generates.
    again = IssuerKeyRing.open_or_create(tmp_path, ISSUER, "key-ignored")
    assert again.key_ids == ("key-2026-1", "key-2026-2")


def test_retirement_persists(tmp_path: Path) -> None:
    IssuerKeyRing.generate_into(tmp_path, "key-1")
    ring = IssuerKeyRing.from_directory(tmp_path, ISSUER)
    old_token = issue_licence(ring, make_claims())
    ring = IssuerKeyRing.rotate_directory(tmp_path, ISSUER, "key-2")
    ring.retire("key-1")
    ring.save_manifest(tmp_path)
    reloaded = IssuerKeyRing.from_directory(tmp_path, ISSUER)
    assert reloaded.retired_key_ids == frozenset({"key-1"})
    assert verify_licence(old_token, reloaded, NOW).reason == "retired_key"


def test_old_private_key_may_be_replaced_by_its_public_half(tmp_path: Path) -> None:
    old = IssuerKeyRing.generate_into(tmp_path, "key-1")
    token = issue_licence(IssuerKeyRing.from_directory(tmp_path, ISSUER), make_claims())
    IssuerKeyRing.rotate_directory(tmp_path, ISSUER, "key-2")
    (tmp_path / "key-1.pub.pem").write_bytes(
        old.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    os.remove(tmp_path / "key-1.pem")
    ring = IssuerKeyRing.from_directory(tmp_path, ISSUER)
    assert verify_licence(token, ring, NOW).valid
    assert ring.active_key_id == "key-2"


def test_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        IssuerKeyRing.from_directory(tmp_path, ISSUER)
    IssuerKeyRing.generate_into(tmp_path, "key-1")
    IssuerKeyRing.generate_into(tmp_path, "key-2")
    with pytest.raises(ValueError, match="2 private keys"):
        IssuerKeyRing.from_directory(tmp_path, ISSUER)
    (tmp_path / MANIFEST_FILE).write_text('{"retired": []}')
    with pytest.raises(ValueError, match="active"):
        IssuerKeyRing.from_directory(tmp_path, ISSUER)
    (tmp_path / MANIFEST_FILE).write_text('{"active": "key-1", "retired": "key-2"}')
    with pytest.raises(ValueError, match="retired"):
        IssuerKeyRing.from_directory(tmp_path, ISSUER)
    (tmp_path / MANIFEST_FILE).write_text('{"active": "key-2", "retired": ["key-1"]}')
    assert IssuerKeyRing.from_directory(tmp_path, ISSUER).active_key_id == "key-2"


def test_directory_with_a_foreign_key_type(tmp_path: Path) -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "key-1.pem").write_bytes(ec_pem)
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        IssuerKeyRing.from_directory(tmp_path, ISSUER)
    os.remove(tmp_path / "key-1.pem")
    (tmp_path / "key-1.pub.pem").write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        IssuerKeyRing.from_directory(tmp_path, ISSUER)


def test_same_key_id_twice_on_disk(tmp_path: Path) -> None:
    key = IssuerKeyRing.generate_into(tmp_path, "key-1")
    (tmp_path / "key-1.pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(ValueError, match="both"):
        IssuerKeyRing.from_directory(tmp_path, ISSUER)


def test_save_manifest_requires_key_files(tmp_path: Path, ring: IssuerKeyRing) -> None:
    with pytest.raises(FileNotFoundError, match="key-2026-1"):
        ring.save_manifest(tmp_path)
    assert not (tmp_path / MANIFEST_FILE).exists()
