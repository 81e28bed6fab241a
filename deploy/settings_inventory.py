"""What each app reads from its environment, derived from its settings classes.

Deployment manifests (deploy/compose.yaml, deploy/k8s) set environment variables by name; the
apps read them through pydantic-settings models. Nothing ties the two together but this module:
it walks the models (env_prefix, validation_alias, env_nested_delimiter for the nested
AuthSettings) and lists every variable an app reads, which of them production cannot do without,
and which names in a manifest the app would silently ignore (a typo). The deploy tests use it so
that adding a setting, or renaming one, fails `make test` until the manifests follow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from unittest import mock

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from gateway.config import GatewaySettings
from kernel.logs import LEVEL_VARIABLE
from kernel.settings import AuthSettings
from services.credit.config import CreditSettings
from services.inspection.config import InspectionSettings
from services.insurance.config import InsuranceSettings
from services.permits.config import PermitsSettings

# Every deployable app and the settings class it reads at start.
APPS: dict[str, type[BaseSettings]] = {
    "permits": PermitsSettings,
    "credit": CreditSettings,
    "inspection": InspectionSettings,
    "insurance": InsuranceSettings,
    "gateway": GatewaySettings,
}
SERVICES = ("permits", "credit", "inspection", "insurance")

# Variables every running app reads outside its settings classes, and where: logging is set up
# by uvicorn before any settings object exists, so its level cannot be a settings field.
PROCESS_VARIABLES: dict[str, str] = {
    LEVEL_VARIABLE: "kernel.logs.name_service, called by each app factory",
}

# Defaults that point at this machine only make sense for `make run`; in a deployment each
# such address must be set to the peer's real name, or the app talks to itself.
_LOOPBACK = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Setting:
    """One field an app reads: its canonical variable and every other name that sets it."""

    env: str  # canonical variable name, upper case (AUTH_ISSUER, PERMITS_DATABASE_URL)
    path: tuple[str, ...]  # field path in the model: ("auth", "issuer")
    aliases: frozenset[str]  # further names setting the same field (PERMITS_AUTH__ISSUER)
    # dict or model fields also take NAME__KEY variables (env_nested_delimiter)
    nested: bool

    def names(self) -> frozenset[str]:
        return self.aliases | {self.env}


@dataclass(frozen=True)
class Requirement:
    """Production needs one of `names` set (several when settings are alternatives)."""

    names: frozenset[str]
    why: str

    def satisfied_by(self, env: Mapping[str, str]) -> bool:
        present = {k.upper() for k, v in env.items() if str(v).strip()}
        return bool(self.names & present)


def _prefix(model: type[BaseSettings]) -> str:
    return str(model.model_config.get("env_prefix", "")).upper()


def _delimiter(model: type[BaseSettings]) -> str | None:
    value = model.model_config.get("env_nested_delimiter")
    return str(value) if value else None


def _is_settings(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseSettings)


def _is_mapping(field: FieldInfo) -> bool:
    origin = getattr(field.annotation, "__origin__", None)
    return origin is dict


def _field_env(prefix: str, name: str, field: FieldInfo) -> str:
    # pydantic-settings reads a validation_alias verbatim, without the prefix (APP_ENV).
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if alias is not None:
        raise TypeError(f"{name}: only plain string validation aliases are understood here")
    return f"{prefix}{name}".upper()


def _walk(model: type[BaseSettings]) -> Iterator[Setting]:
    prefix, delimiter = _prefix(model), _delimiter(model)
    for name, field in model.model_fields.items():
        if _is_settings(field.annotation):
            inner: type[BaseSettings] = field.annotation  # type: ignore[assignment]
            # A nested settings model is read twice over: its default_factory builds it from
            # its own prefix (AUTH_ISSUER, the name every app shares) and, with a nested
            # delimiter, the outer model also accepts PERMITS_AUTH__ISSUER.
            outer = f"{prefix}{name}{delimiter}".upper() if delimiter else None
            for sub in _walk(inner):
                extra = {outer + sub.path[-1].upper()} if outer and len(sub.path) == 1 else set()
                yield Setting(
                    env=sub.env,
                    path=(name, *sub.path),
                    aliases=sub.aliases | frozenset(extra),
                    nested=sub.nested,
                )
            continue
        env = _field_env(prefix, name, field)
        # With validate_by_name an aliased field is also read under its prefixed own name
        # (the gateway takes GATEWAY_REDIS_URL as well as REDIS_URL).
        by_name = model.model_config.get("validate_by_name") or model.model_config.get(
            "populate_by_name"
        )
        own = f"{prefix}{name}".upper()
        yield Setting(
            env=env,
            path=(name,),
            aliases=frozenset({own} - {env}) if by_name else frozenset(),
            nested=bool(delimiter) and _is_mapping(field),
        )


def settings_read(app: str) -> dict[str, Setting]:
    """Every setting `app` reads, by canonical variable name."""
    return {s.env: s for s in _walk(APPS[app])}


def _field_of(model: type[BaseSettings], path: tuple[str, ...]) -> FieldInfo:
    field = model.model_fields[path[0]]
    if len(path) == 1:
        return field
    return _field_of(field.annotation, path[1:])  # type: ignore[arg-type]


def _loopback_default(field: FieldInfo) -> bool:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return False
    else:
        value = field.default
    return any(host in repr(value) for host in _LOOPBACK)


def required_in_production(app: str) -> list[Requirement]:
    """Settings a production deployment of `app` must set, each with the reason.

    Derived where the code says it: every setting whose default points at this machine
    (peers, issuer, public URLs), plus what the production guards in kernel/settings.py and
    gateway/config.py demand and what a multi-node deployment cannot leave at its default.
    """
    model = APPS[app]
    read = settings_read(app)
    reqs: list[Requirement] = []

    def need(*envs: str, why: str) -> None:
        names: set[str] = set()
        for env in envs:
            if env not in read:
                raise KeyError(f"{app} does not read {env}; the inventory is out of date")
            names |= read[env].names()
        reqs.append(Requirement(frozenset(names), why))

    prefix = _prefix(model)
    for env, setting in read.items():
        if _loopback_default(_field_of(model, setting.path)):
            need(env, why="its default points at 127.0.0.1")
    need("APP_ENV", why="turns the production guards on")
    need(f"{prefix}DATABASE_URL", why="the default is a local SQLite file")
    need("AUTH_DEV_ISSUER_ENABLED", why="the development issuer is on by default")
    need("AUTH_JWKS_URL", "AUTH_JWKS_PATH", why="the identity provider's public keys")
    need("AUTH_AUDIENCE", why="must match the identity provider's `aud`")
    # Service tokens: replay reads (services) and data:share reads (gateway) fetch them by
    # OAuth2 client credentials once the development issuer is off.
    for env in ("AUTH_CLIENT_TOKEN_URL", "AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET"):
        need(env, why="client credentials for service tokens")
    if app in SERVICES:
        need("KAFKA_BOOTSTRAP_SERVERS", why="the default is the dev broker on 127.0.0.1")
        need("KAFKA_ENABLE_IDEMPOTENCE", why="off by default for the dev broker only")
    else:
        need("REDIS_URL", why="rate limits shared across replicas")
        need("GATEWAY_SIGNING_KEY_PATH", why="the key of the tokens the gateway issues")
        need("GATEWAY_ISSUER", why="the `iss` of the tokens the gateway issues")
    # One requirement per distinct set of names (a loopback default may repeat an explicit one).
    unique: dict[frozenset[str], Requirement] = {}
    for r in reqs:
        unique.setdefault(r.names, r)
    return list(unique.values())


def accepted_names(app: str) -> frozenset[str]:
    names: set[str] = set()
    for setting in settings_read(app).values():
        names |= setting.names()
    return frozenset(names)


def unknown_variables(
    app: str, env: Mapping[str, str], *, ignore: frozenset[str] = frozenset()
) -> list[str]:
    """Names in `env` that `app` never reads (typos, settings renamed away), sorted.

    Its settings' variables and the PROCESS_VARIABLES are read; everything else is unknown.

    `ignore` lists variables meant for something else in the same process (PYTHONUNBUFFERED,
    OTEL_* read by a library).
    """
    read = settings_read(app)
    known = accepted_names(app) | PROCESS_VARIABLES.keys()
    nested_roots = {n + "__" for s in read.values() if s.nested for n in s.names()}
    unknown = []
    for raw in env:
        name = raw.upper()
        if name in known or name in ignore:
            continue
        if any(name.startswith(root) and len(name) > len(root) for root in nested_roots):
            continue
        unknown.append(raw)
    return sorted(unknown)


def missing_required(app: str, env: Mapping[str, str]) -> list[Requirement]:
    return [r for r in required_in_production(app) if not r.satisfied_by(env)]


def load_settings(app: str, env: Mapping[str, str]) -> BaseSettings:
    """`app`'s settings built from `env` alone, the process environment hidden.

    Replaces os.environ for the duration: the nested AuthSettings reads it through its
    default_factory, so no narrower override reaches it. Not for use while other threads read
    the environment.
    """
    with mock.patch.dict(os.environ, {k: str(v) for k, v in env.items()}, clear=True):
        return APPS[app](_env_file=None)


__all__ = [
    "APPS",
    "PROCESS_VARIABLES",
    "SERVICES",
    "AuthSettings",
    "Requirement",
    "Setting",
    "accepted_names",
    "load_settings",
    "missing_required",
    "required_in_production",
    "settings_read",
    "unknown_variables",
]
