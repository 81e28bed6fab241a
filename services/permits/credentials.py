"""Electronic licences (电子证照) as W3C Verifiable Credentials secured with JOSE. Pure module.

Format: VC Data Model 2.0 secured as a compact JWS per "Securing Verifiable Credentials using
JOSE and COSE" (VC-JWT):

- protected header `{"alg": "EdDSA", "kid": <DID URL>, "typ": "vc+jwt"}`, Ed25519 signature;
- payload: the credential itself (`@context`, `type`, `issuer`, `validFrom`, `validUntil`,
  `credentialSubject`, `credentialStatus`), plus the JWT claims `nbf` / `exp` mirroring
  `validFrom` / `validUntil` so that generic JWT tooling also refuses an expired licence.
  The JSON is compact UTF-8 (Chinese names are not \\u-escaped), which keeps tokens, and so
  QR codes, small.

Keys. The issuer is a DID (e.g. `did:web:yjj.qingdao.gov.cn`) or an https URL; every key has
a short *key id* (`key-2026-1`), and the header's `kid` is the absolute DID URL
`<issuer>#<key id>` (for an https issuer, that URL with the key id as fragment). It is also
the `kid` in the published JWKS and can name a verification method in a did:web document.
An `IssuerKeyRing` signs with its one active key and keeps the public half of every earlier
key, so rotation never invalidates licences already issued. A *retired* key is one that must
no longer be trusted (compromise): tokens under it fail with `retired_key`; the published
JWKS drops its public key and lists its kid under the extension member `"retired"`, so an
offline verifier with a fresh JWKS learns it too.

Verification (`verify_licence`) checks signature, type and validity period only and works
offline from the JWKS alone. Revocation and suspension are a separate step
(`check_status`) against status lists, which are themselves signed VC-JWTs
(`sign_status_list` / `verify_status_list`).

Validity dates are calendar dates in China Standard Time (UTC+8, no DST since 1991): a
licence is valid from 00:00:00 on `valid_from` through 23:59:59 on `valid_until`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Literal, TypedDict

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from jwt.exceptions import InvalidSignatureError, InvalidTokenError, PyJWTError

from kernel.uscc import InvalidUSCC, validate_uscc
from services.permits.domain import ApprovalMode
from services.permits.status_list import (
    STATUS_LIST_CREDENTIAL_TYPE,
    STATUS_LIST_TYPE,
    VC_V2_CONTEXT,
    StatusList,
    StatusListEntry,
    StatusListError,
    StatusPurpose,
)

__all__ = [
    "CHINA_TZ",
    "JWT_TYP",
    "LICENCE_TYPE",
    "MANIFEST_FILE",
    "IssuerKeyRing",
    "KeySource",
    "LicenceClaims",
    "PublicKeys",
    "Reason",
    "StatusCheck",
    "StatusListUnavailable",
    "StatusListVerification",
    "VerificationResult",
    "check_status",
    "issue_licence",
    "licence_credential",
    "sign_status_list",
    "verify_licence",
    "verify_status_list",
]

LICENCE_TYPE: Final = "SafetyLicenceCredential"
JWT_TYP: Final = "vc+jwt"
ALG: Final = "EdDSA"
CHINA_TZ: Final = timezone(timedelta(hours=8), "CST")
MANIFEST_FILE: Final = "keyring.json"
PRIVATE_SUFFIX: Final = ".pem"
PUBLIC_SUFFIX: Final = ".pub.pem"
# A token longer than this is refused unread (a licence is ~1-2 KB, a status list ~ 1 KB
# compressed for a sparse list, more as it fills).
MAX_TOKEN_CHARS: Final = 256 * 1024

_KEY_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ISSUER: Final = re.compile(r"(did:[a-z0-9]+:[A-Za-z0-9._:%-]+|https://[^\s#?]+)")

Reason = Literal[
    "ok",
    "malformed",
    "bad_signature",
    "unknown_key",
    "expired",
    "not_yet_valid",
    "wrong_type",
    "retired_key",
]


# --------------------------------------------------------------------------- keys


def _check_key_id(key_id: str) -> str:
    if not isinstance(key_id, str) or _KEY_ID.fullmatch(key_id) is None:
        raise ValueError(
            f"key id {key_id!r} must be 1-64 characters of A-Z a-z 0-9 . _ - "
            "(it is also the key's file name)"
        )
    if key_id.endswith(".pub"):
        raise ValueError(f"key id {key_id!r} must not end in '.pub'")
    return key_id


def _check_issuer(issuer: str) -> str:
    if not isinstance(issuer, str) or _ISSUER.fullmatch(issuer) is None:
        raise ValueError(
            f"issuer {issuer!r} must be a DID (did:web:example.gov.cn) or an https URL "
            "without query or fragment"
        )
    return issuer


@dataclass(frozen=True)
class PublicKeys:
    """Verification keys by absolute `kid`, plus the kids that must no longer be trusted.

    Build it from a published JWKS (`from_jwks`) for offline verification, or from a ring.
    """

    keys: Mapping[str, Ed25519PublicKey]
    retired: frozenset[str] = frozenset()

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> PublicKeys:
        """Parse a JWKS. Non-Ed25519 and kid-less keys are skipped (RFC 7517 lets a set hold
        other keys); private key material, duplicate kids or a bad structure raise ValueError.
        """
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise ValueError('a JWKS must be a JSON object with a "keys" array')
        keys: dict[str, Ed25519PublicKey] = {}
        for jwk in jwks["keys"]:
            if not isinstance(jwk, Mapping):
                raise ValueError("every JWKS entry must be a JSON object")
            if "d" in jwk:
                raise ValueError("the JWKS holds private key material ('d'): refusing it")
            kid = jwk.get("kid")
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(kid, str):
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALG) != ALG:
                continue
            if kid in keys:
                raise ValueError(f"the JWKS lists kid {kid!r} twice")
            try:
                key = OKPAlgorithm.from_jwk(dict(jwk))
            except (PyJWTError, ValueError, TypeError) as exc:
                raise ValueError(f"JWKS key {kid!r} is not a valid Ed25519 key: {exc}") from exc
            if not isinstance(key, Ed25519PublicKey):  # pragma: no cover - 'd' refused above
                raise ValueError(f"JWKS key {kid!r} is not an Ed25519 public key")
            keys[kid] = key
        retired = jwks.get("retired", [])
        if not isinstance(retired, list) or not all(isinstance(k, str) for k in retired):
            raise ValueError('the JWKS "retired" member must be an array of kid strings')
        return cls(keys, frozenset(retired))

    def lookup(self, kid: str) -> Ed25519PublicKey | None:
        return None if kid in self.retired else self.keys.get(kid)


class IssuerKeyRing:
    """The issuer's Ed25519 keys: one active for signing, earlier ones kept for verification.

    `keys` maps key ids (`key-2026-1`) to private keys, or to public keys when the private half
    of an old key has been destroyed after rotation (only the active key needs it).
    """

    def __init__(
        self,
        issuer: str,
        active_key_id: str,
        keys: Mapping[str, Ed25519PrivateKey | Ed25519PublicKey],
        retired: Iterable[str] = (),
    ) -> None:
        self._issuer = _check_issuer(issuer)
        self._keys: dict[str, Ed25519PrivateKey | Ed25519PublicKey] = {}
        for key_id, key in keys.items():
            if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
                raise TypeError(f"key {key_id!r} is not an Ed25519 key")
            self._keys[_check_key_id(key_id)] = key
        self._retired: set[str] = set()
        self._active = ""
        self._activate(active_key_id)
        for key_id in retired:
            self.retire(key_id)

    def _activate(self, key_id: str) -> None:
        key = self._keys.get(key_id)
        if key is None:
            raise KeyError(f"no key {key_id!r} in the ring")
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"key {key_id!r} has no private half and cannot sign")
        if key_id in self._retired:
            raise ValueError(f"key {key_id!r} is retired and must not sign again")
        self._active = key_id

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def active_kid(self) -> str:
        """The `kid` header of tokens signed now."""
        return self.kid(self._active)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    @property
    def retired_key_ids(self) -> frozenset[str]:
        return frozenset(self._retired)

    def kid(self, key_id: str) -> str:
        """Absolute `kid` (DID URL) of a key id: `<issuer>#<key id>`."""
        return f"{self._issuer}#{key_id}"

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """(kid, private key) of the active key."""
        key = self._keys[self._active]
        assert isinstance(key, Ed25519PrivateKey)  # guaranteed by _activate
        return self.kid(self._active), key

    def rotate(self, new_key_id: str, new_key: Ed25519PrivateKey) -> str:
        """Add `new_key` and sign with it from now on; returns its kid.

        Earlier keys stay in the ring and in the JWKS, so every licence already issued keeps
        verifying. A key id is never reused, even with the same key.
        """
        _check_key_id(new_key_id)
        if new_key_id in self._keys:
            raise ValueError(f"key id {new_key_id!r} already exists in the ring")
        if not isinstance(new_key, Ed25519PrivateKey):
            raise TypeError("the new active key must be an Ed25519 private key")
        self._keys[new_key_id] = new_key
        self._activate(new_key_id)
        return self.kid(new_key_id)

    def retire(self, key_id: str) -> None:
        """Stop trusting `key_id` (a compromised key): its tokens fail with `retired_key`.

        Rotation does not need this; retire only a key that may be in other hands. The
        active key cannot be retired: rotate to a new key first.
        """
        if key_id not in self._keys:
            raise KeyError(f"no key {key_id!r} in the ring")
        if key_id == self._active:
            raise ValueError(f"key {key_id!r} is active: rotate to a new key before retiring it")
        self._retired.add(key_id)

    def public_keys(self) -> PublicKeys:
        keys = {
            self.kid(key_id): _public(key)
            for key_id, key in self._keys.items()
            if key_id not in self._retired
        }
        return PublicKeys(keys, frozenset(self.kid(k) for k in self._retired))

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS to publish: every trusted public key, and the kids of retired keys."""
        jwks_keys: list[dict[str, Any]] = []
        for key_id in self.key_ids:
            if key_id in self._retired:
                continue
            jwk: dict[str, Any] = dict(OKPAlgorithm.to_jwk(_public(self._keys[key_id]), True))
            jwk.update({"kid": self.kid(key_id), "alg": ALG, "use": "sig"})
            jwks_keys.append(jwk)
        return {"keys": jwks_keys, "retired": sorted(self.kid(k) for k in self._retired)}

    # ----------------------------------------------------------------- files

    @staticmethod
    def generate_into(path: Path | str, key_id: str) -> Ed25519PrivateKey:
        """Create a new key as `<path>/<key_id>.pem` (PKCS#8, mode 0600) and return it.

        Never overwrites: FileExistsError if a key with that id exists, public or private.
        The directory is created (mode 0700) if missing. The ring's manifest is not touched.
        """
        directory = Path(path)
        _check_key_id(key_id)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        public_path = directory / f"{key_id}{PUBLIC_SUFFIX}"
        if public_path.exists():
            raise FileExistsError(f"{public_path} exists: key id {key_id!r} was already used")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_new(directory / f"{key_id}{PRIVATE_SUFFIX}", pem)
        return key

    @classmethod
    def from_directory(cls, path: Path | str, issuer: str) -> IssuerKeyRing:
        """Load `<key id>.pem` (private) and `<key id>.pub.pem` (public-only) keys.

        `keyring.json` names the active key and the retired ones; without it, a directory
        holding exactly one private key uses that key.
        """
        directory = Path(path)
        keys: dict[str, Ed25519PrivateKey | Ed25519PublicKey] = {}
        for file in sorted(directory.glob(f"*{PRIVATE_SUFFIX}")):
            loaded: Ed25519PrivateKey | Ed25519PublicKey
            if file.name.endswith(PUBLIC_SUFFIX):
                key_id = file.name.removesuffix(PUBLIC_SUFFIX)
                public_key = serialization.load_pem_public_key(file.read_bytes())
                if not isinstance(public_key, Ed25519PublicKey):
                    raise ValueError(f"{file} is not an Ed25519 public key")
                loaded = public_key
            else:
                key_id = file.name.removesuffix(PRIVATE_SUFFIX)
                private_key = serialization.load_pem_private_key(file.read_bytes(), password=None)
                if not isinstance(private_key, Ed25519PrivateKey):
                    raise ValueError(f"{file} is not an Ed25519 private key")
                loaded = private_key
            if key_id in keys:
                raise ValueError(f"key {key_id!r} exists both as private and public-only file")
            keys[_check_key_id(key_id)] = loaded
        if not keys:
            raise FileNotFoundError(f"no issuer keys (*.pem) in {directory}")
        manifest_path = directory / MANIFEST_FILE
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text("utf-8"))
            if not isinstance(manifest, dict) or not isinstance(manifest.get("active"), str):
                raise ValueError(f'{manifest_path} must be an object with an "active" key id')
            retired = manifest.get("retired", [])
            if not isinstance(retired, list) or not all(isinstance(k, str) for k in retired):
                raise ValueError(f'{manifest_path}: "retired" must be a list of key ids')
            return cls(issuer, manifest["active"], keys, retired)
        private = [k for k, v in keys.items() if isinstance(v, Ed25519PrivateKey)]
        if len(private) != 1:
            raise ValueError(
                f"{directory} holds {len(private)} private keys and no {MANIFEST_FILE} "
                "naming the active one"
            )
        return cls(issuer, private[0], keys)

    def save_manifest(self, path: Path | str) -> None:
        """Write `keyring.json` (active and retired key ids) atomically."""
        directory = Path(path)
        missing = [
            k
            for k in self._keys
            if not (directory / f"{k}{PRIVATE_SUFFIX}").exists()
            and not (directory / f"{k}{PUBLIC_SUFFIX}").exists()
        ]
        if missing:
            raise FileNotFoundError(f"keys {sorted(missing)} have no file in {directory}")
        doc = {"active": self._active, "retired": sorted(self._retired)}
        tmp = directory / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
        os.replace(tmp, directory / MANIFEST_FILE)

    @classmethod
    def open_or_create(cls, path: Path | str, issuer: str, initial_key_id: str) -> IssuerKeyRing:
        """Load the ring, creating its first key when the directory holds none.

        Safe when several processes start at once: key files are created exclusively, and a
        process that loses the race loads the winner's key.
        """
        directory = Path(path)
        if not any(directory.glob(f"*{PRIVATE_SUFFIX}")):
            with contextlib.suppress(FileExistsError):
                cls.generate_into(directory, initial_key_id)
        return cls.from_directory(directory, issuer)

    @classmethod
    def rotate_directory(cls, path: Path | str, issuer: str, new_key_id: str) -> IssuerKeyRing:
        """Operator action: new key file, make it active, persist the manifest."""
        ring = cls.from_directory(path, issuer)
        key = cls.generate_into(path, new_key_id)
        ring.rotate(new_key_id, key)
        ring.save_manifest(path)
        return ring


def _public(key: Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def _write_new(path: Path, data: bytes) -> None:
    """Create `path` with `data`, mode 0600; FileExistsError if it exists (never overwrite)."""
    # Write a temporary file and hard-link it into place: the link fails if the name exists,
    # and no reader ever sees a half-written key.
    # Unique per call, not per process: threads of one process may race here too.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


KeySource = IssuerKeyRing | PublicKeys | Mapping[str, Any]


def _public_keys(keys: KeySource) -> PublicKeys:
    if isinstance(keys, IssuerKeyRing):
        return keys.public_keys()
    if isinstance(keys, PublicKeys):
        return keys
    return PublicKeys.from_jwks(keys)


# --------------------------------------------------------------------------- licences


@dataclass(frozen=True)
class LicenceClaims:
    """What a licence credential states. `status` holds its status list entries: a
    revocation entry is required, a suspension entry is usual; one entry per purpose."""

    uscc: str
    holder_name: str
    item_code: str
    item_name: str
    licence_number: str
    scope: str
    approval_mode: ApprovalMode
    valid_from: date
    valid_until: date
    status: tuple[StatusListEntry, ...]
    credential_id: str | None = None  # optional VC `id` (a URL or URN)

    def __post_init__(self) -> None:
        try:
            normalised = validate_uscc(self.uscc)
        except InvalidUSCC as exc:
            raise ValueError(f"uscc: {exc.message}") from exc
        if normalised != self.uscc:
            raise ValueError(f"uscc must be in canonical form {normalised!r}")
        for name in ("holder_name", "item_code", "item_name", "licence_number", "scope"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        object.__setattr__(self, "approval_mode", ApprovalMode(self.approval_mode))
        for name in ("valid_from", "valid_until"):
            value = getattr(self, name)
            if not isinstance(value, date) or isinstance(value, datetime):
                raise TypeError(f"{name} must be a date")
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        object.__setattr__(self, "status", tuple(self.status))
        purposes = [e.purpose for e in self.status]
        if len(set(purposes)) != len(purposes):
            raise ValueError("at most one status entry per purpose")
        if StatusPurpose.revocation not in purposes:
            raise ValueError("a licence needs a revocation status entry")
        if self.credential_id is not None and ":" not in self.credential_id:
            raise ValueError("credential_id must be a URL or URN")

    @property
    def subject_id(self) -> str:
        return f"urn:uscc:{self.uscc}"


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0, 0), CHINA_TZ)


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), CHINA_TZ)


def licence_credential(issuer: str, claims: LicenceClaims) -> dict[str, Any]:
    """The unsigned licence credential (VC Data Model 2.0)."""
    vc: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "type": ["VerifiableCredential", LICENCE_TYPE],
    }
    if claims.credential_id is not None:
        vc["id"] = claims.credential_id
    vc.update(
        {
            "issuer": _check_issuer(issuer),
            "validFrom": _start_of_day(claims.valid_from).isoformat(),
            "validUntil": _end_of_day(claims.valid_until).isoformat(),
            "credentialSubject": {
                "id": claims.subject_id,
                "uscc": claims.uscc,
                "holderName": claims.holder_name,
                "itemCode": claims.item_code,
                "itemName": claims.item_name,
                "licenceNumber": claims.licence_number,
                "scope": claims.scope,
                "approvalMode": claims.approval_mode.value,
            },
            "credentialStatus": [e.to_json() for e in claims.status],
        }
    )
    return vc


def _sign(ring: IssuerKeyRing, vc: Mapping[str, Any]) -> str:
    payload = dict(vc)
    valid_from = _parse_time(vc.get("validFrom"))
    payload["nbf"] = int(valid_from.timestamp())
    if "validUntil" in vc:
        payload["exp"] = int(_parse_time(vc["validUntil"]).timestamp())
    kid, key = ring.signing_key()
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return jwt.PyJWS().encode(body, key, algorithm=ALG, headers={"kid": kid, "typ": JWT_TYP})


def issue_licence(ring: IssuerKeyRing, claims: LicenceClaims) -> str:
    """The licence as a compact VC-JWT signed with the ring's active key."""
    return _sign(ring, licence_credential(ring.issuer, claims))


def sign_status_list(ring: IssuerKeyRing, body: Mapping[str, Any]) -> str:
    """Sign a BitstringStatusListCredential body (status_list.status_list_credential) as a
    VC-JWT, so offline verifiers can trust the list they hold."""
    types = body.get("type")
    if not isinstance(types, list) or STATUS_LIST_CREDENTIAL_TYPE not in types:
        raise ValueError(f"body is not a {STATUS_LIST_CREDENTIAL_TYPE}")
    if body.get("issuer") != ring.issuer:
        raise ValueError(f"body issuer {body.get('issuer')!r} is not the ring's {ring.issuer!r}")
    return _sign(ring, body)


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of `verify_licence`.

    `claims` is the decoded payload whenever the signature checked out (also when the
    licence is expired or of the wrong type), None otherwise. `status_entries` are the
    licence's status list entries, for `check_status`. `detail` is a human-readable reason.
    """

    valid: bool
    reason: Reason
    kid: str | None = None
    claims: dict[str, Any] | None = None
    status_entries: tuple[StatusListEntry, ...] = ()
    detail: str = ""

    @property
    def subject(self) -> dict[str, Any] | None:
        """The credentialSubject, when claims are present."""
        if self.claims is None:
            return None
        subject = self.claims.get("credentialSubject")
        return subject if isinstance(subject, dict) else None


@dataclass(frozen=True)
class _Checked:
    reason: Reason
    detail: str
    kid: str | None = None
    header: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"a date-time must be a string, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"date-time {value!r} has no time zone")
    return parsed


def _verify_jws(token: str, keys: KeySource, expected_type: str) -> _Checked:
    """Signature, header and structure checks shared by licences and status lists."""
    # Keys first: an unusable JWKS is the caller's error whatever the token looks like.
    public = _public_keys(keys)
    if not isinstance(token, str):
        return _Checked("malformed", "the token must be a string")
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS:
        return _Checked("malformed", f"the token is longer than {MAX_TOKEN_CHARS} characters")
    if token.count(".") != 2:
        return _Checked("malformed", "not a compact JWS (three dot-separated parts)")
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError as exc:
        return _Checked("malformed", f"unreadable token: {exc}")
    kid = header.get("kid")
    if header.get("alg") != ALG:
        # This issuer signs only with Ed25519; any other alg (including "none") is a forgery.
        return _Checked("bad_signature", f"alg {header.get('alg')!r} is not accepted")
    if not isinstance(kid, str) or not kid:
        return _Checked("malformed", "the header has no kid")
    if kid in public.retired:
        return _Checked("retired_key", f"key {kid} is retired and no longer trusted", kid)
    key = public.lookup(kid)
    if key is None:
        return _Checked("unknown_key", f"no published key {kid}", kid)
    try:
        decoded = jwt.PyJWS().decode_complete(token, key, algorithms=[ALG])
    except InvalidSignatureError:
        return _Checked("bad_signature", "the signature does not match", kid)
    except InvalidTokenError as exc:
        return _Checked("malformed", f"unreadable token: {exc}", kid)
    try:
        claims = json.loads(decoded["payload"])
    except (ValueError, UnicodeDecodeError):
        return _Checked("malformed", "the payload is not JSON", kid)
    if not isinstance(claims, dict):
        return _Checked("malformed", "the payload is not a JSON object", kid)

    def fail(reason: Reason, detail: str) -> _Checked:
        return _Checked(reason, detail, kid, header, claims)

    if header.get("typ") != JWT_TYP:
        return fail("wrong_type", f"typ {header.get('typ')!r} is not {JWT_TYP!r}")
    context = claims.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_V2_CONTEXT:
        return fail("wrong_type", "not a VC Data Model 2.0 credential (@context)")
    types = claims.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        return fail("wrong_type", "type does not include VerifiableCredential")
    if expected_type not in types:
        return fail("wrong_type", f"type {types!r} does not include {expected_type!r}")
    if not isinstance(claims.get("credentialSubject"), dict):
        return fail("malformed", "credentialSubject must be an object")
    issuer = claims.get("issuer")
    if not isinstance(issuer, str) or not kid.startswith(issuer + "#"):
        return fail("malformed", f"issuer {issuer!r} does not control key {kid}")
    try:
        valid_from = _parse_time(claims.get("validFrom"))
        valid_until = (
            _parse_time(claims["validUntil"]) if claims.get("validUntil") is not None else None
        )
    except ValueError as exc:
        return fail("malformed", f"validity period: {exc}")
    if claims.get("nbf") != int(valid_from.timestamp()) or (
        valid_until is not None and claims.get("exp") != int(valid_until.timestamp())
    ):
        return fail("malformed", "nbf/exp disagree with validFrom/validUntil")
    return _Checked("ok", "", kid, header, claims, valid_from, valid_until)


def _check_now(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _period_reason(
    checked: _Checked, now: datetime, leeway: timedelta
) -> tuple[Reason, str] | None:
    assert checked.valid_from is not None
    if now + leeway < checked.valid_from:
        return "not_yet_valid", f"valid from {checked.valid_from.isoformat()}"
    if checked.valid_until is not None and now - leeway > checked.valid_until:
        return "expired", f"expired at {checked.valid_until.isoformat()}"
    return None


def verify_licence(
    token: str,
    keys: KeySource,
    now: datetime,
    *,
    leeway: timedelta = timedelta(0),
) -> VerificationResult:
    """Check a licence token's signature, type and validity period at `now` (tz-aware).

    `keys` is the issuer's ring, a `PublicKeys`, or a published JWKS dict (offline). The
    revocation/suspension status is not checked here: pass `status_entries` to
    `check_status`. Never raises for a bad token; raises ValueError for a naive `now` or an
    unusable JWKS (a configuration error, not the token's fault).
    """
    _check_now(now)
    checked = _verify_jws(token, keys, LICENCE_TYPE)
    if checked.reason != "ok":
        return VerificationResult(
            False, checked.reason, checked.kid, checked.claims, (), checked.detail
        )
    claims = checked.claims
    assert claims is not None
    if checked.valid_until is None:
        return VerificationResult(False, "malformed", checked.kid, claims, (), "no validUntil")
    subject = claims["credentialSubject"]
    for member in ("uscc", "licenceNumber", "itemCode"):
        if not isinstance(subject.get(member), str):
            return VerificationResult(
                False, "malformed", checked.kid, claims, (), f"credentialSubject.{member} missing"
            )
    raw_status = claims.get("credentialStatus", [])
    if isinstance(raw_status, dict):
        raw_status = [raw_status]
    try:
        if not isinstance(raw_status, list):
            raise StatusListError("malformed", "credentialStatus must be an object or array")
        entries = tuple(StatusListEntry.from_json(e) for e in raw_status)
    except StatusListError as exc:
        return VerificationResult(False, "malformed", checked.kid, claims, (), str(exc))
    period = _period_reason(checked, now, leeway)
    if period is not None:
        return VerificationResult(False, period[0], checked.kid, claims, entries, period[1])
    return VerificationResult(True, "ok", checked.kid, claims, entries, "")


class StatusCheck(TypedDict):
    revoked: bool
    suspended: bool


class StatusListUnavailable(LookupError):
    """No status list was supplied for an entry's URL: the status is unknown."""

    def __init__(self, list_url: str) -> None:
        super().__init__(f"no status list for {list_url}")
        self.list_url = list_url


def check_status(
    entries: Sequence[StatusListEntry], lists: Mapping[str, StatusList]
) -> StatusCheck:
    """Revoked / suspended per the licence's entries and the current lists by URL.

    Raises StatusListUnavailable when a list is missing (status unknown, never "fine"),
    StatusListError when a list's purpose differs from the entry's or the index is outside it.
    """
    result: StatusCheck = {"revoked": False, "suspended": False}
    for status_entry in entries:
        status_list = lists.get(status_entry.list_url)
        if status_list is None:
            raise StatusListUnavailable(status_entry.list_url)
        if status_list.purpose != status_entry.purpose:
            raise StatusListError(
                "purpose_mismatch",
                f"the list at {status_entry.list_url} is for {status_list.purpose.value}, "
                f"the entry for {status_entry.purpose.value}",
            )
        if status_list.get(status_entry.index):
            if status_entry.purpose is StatusPurpose.revocation:
                result["revoked"] = True
            else:
                result["suspended"] = True
    return result


@dataclass(frozen=True)
class StatusListVerification:
    """Outcome of `verify_status_list`; `status_list` is set only when `valid`."""

    valid: bool
    reason: Reason
    list_url: str | None = None
    status_list: StatusList | None = None
    valid_until: datetime | None = None
    kid: str | None = None
    detail: str = ""


def verify_status_list(
    token: str,
    keys: KeySource,
    now: datetime,
    *,
    list_url: str | None = None,
    purpose: StatusPurpose | str | None = None,
    leeway: timedelta = timedelta(0),
) -> StatusListVerification:
    """Verify a signed BitstringStatusListCredential and decode its list.

    With `list_url` / `purpose`, a list published under another URL or for another purpose
    is refused (`wrong_type`), so one valid list cannot stand in for another.
    """
    _check_now(now)
    checked = _verify_jws(token, keys, STATUS_LIST_CREDENTIAL_TYPE)
    if checked.reason != "ok":
        return StatusListVerification(False, checked.reason, kid=checked.kid, detail=checked.detail)
    claims = checked.claims
    assert claims is not None
    subject = claims["credentialSubject"]
    url = claims.get("id")

    def fail(reason: Reason, detail: str) -> StatusListVerification:
        return StatusListVerification(
            False, reason, url if isinstance(url, str) else None, kid=checked.kid, detail=detail
        )

    if subject.get("type") != STATUS_LIST_TYPE:
        return fail("wrong_type", f"credentialSubject type is not {STATUS_LIST_TYPE!r}")
    if not isinstance(url, str):
        return fail("malformed", "the status list credential has no id")
    if list_url is not None and url != list_url:
        return fail("wrong_type", f"this is the list {url}, not {list_url}")
    try:
        list_purpose = StatusPurpose(subject.get("statusPurpose"))
    except ValueError:
        return fail("malformed", f"unsupported statusPurpose {subject.get('statusPurpose')!r}")
    if purpose is not None and list_purpose != StatusPurpose(purpose):
        return fail("wrong_type", f"this list is for {list_purpose.value}, not {purpose}")
    period = _period_reason(checked, now, leeway)
    if period is not None:
        return fail(*period)
    try:
        status_list = StatusList.decode(subject.get("encodedList"), list_purpose)
    except StatusListError as exc:
        return fail("malformed", f"encodedList: {exc}")
    return StatusListVerification(
        True, "ok", url, status_list, checked.valid_until, checked.kid, ""
    )
