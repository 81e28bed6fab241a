"""deploy/compose.yaml and the Dockerfile, checked offline (no Docker engine on these machines).

The drift test is the point: every variable each app reads is derived from its settings classes
(deploy/settings_inventory.py), and compose must set every one production needs and nothing
the app would ignore. A new required setting, a rename or a typo fails here, not at 3 a.m.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import settings_inventory as inv
from kernel.auth.principal import USER_ROLES, Role
from kernel.auth.service_token import SERVICE_SCOPES
from kernel.logs import LEVEL_VARIABLE, parse_level
from kernel.migrate import SERVICES as MIGRATED
from kernel.settings import REPO_ROOT, AppEnv

DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "compose" / "env.example"
REALM_FILE = DEPLOY / "compose" / "keycloak" / "safety-realm.json"
PG_INIT = DEPLOY / "compose" / "postgres" / "init-databases.sh"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

# The fixed ports of the suite (README, deploy/devrun.py).
PORTS = {"gateway": 8000, "permits": 8001, "credit": 8002, "inspection": 8003, "insurance": 8004}
ASGI = {
    app: "gateway.main:app" if app == "gateway" else f"services.{app}.main:app" for app in PORTS
}
# Where the image keeps the JSON log config (WORKDIR /app, COPY deploy ./deploy);
# tests/deploy/test_logging_config.py ties it to deploy/logging/json.json.
IMAGE_LOG_CONFIG = "/app/deploy/logging/json.json"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; $$ is a literal $.
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution, enough of it for this file."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        present = name in env and (env[name] != "" or op in (None, "-", "?"))
        if op in (":?", "?") and not present:
            raise KeyError(f"${{{name}}} is required: {arg}")
        if op in (":-", "-") and not present:
            return arg
        return env.get(name, "")

    return _VAR.sub(one, value)


def referenced(text: str) -> set[str]:
    return {m.group(1) for m in _VAR.finditer(text) if m.group(1)}


def _walk(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_walk(v, env) for v in node]
    if isinstance(node, dict):
        return {k: _walk(v, env) for k, v in node.items()}
    return node


def example_env() -> dict[str, str]:
    """env.example with every empty value (the secrets) filled with a fresh random one."""
    env: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    optional = {"CREDIT_WEBSITE_URL", "CREDIT_WEBSITE_TOKEN"}
    return {k: v or ("" if k in optional else secrets.token_urlsafe(18)) for k, v in env.items()}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    result = _walk(raw, example_env())
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    loaded = json.loads(REALM_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def env_of(compose: dict[str, Any], service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    # Compose passes env values as strings; a YAML bool or number here would be an error there
    # (or, for `false`, silently "False"): the file quotes them.
    wrong = {k: v for k, v in env.items() if not isinstance(v, str)}
    assert not wrong, f"{service}: quote these values: {wrong}"
    return dict(env)


def command_of(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


# ---- interpolation ------------------------------------------------------------------------


def test_interpolate_follows_compose_rules() -> None:
    env = {"A": "x", "E": ""}
    assert interpolate("${A}-${B:-d}-${E:-d}-${E-d}-$$A", env) == "x-d-d--$A"
    with pytest.raises(KeyError, match="needed"):
        interpolate("${B:?needed}", env)
    with pytest.raises(KeyError):
        interpolate("${E:?needed}", env)


def test_env_example_lists_exactly_the_variables_compose_uses() -> None:
    used = referenced(COMPOSE_FILE.read_text())
    assert set(example_env()) == used


def test_secrets_are_required_not_defaulted(raw: dict[str, Any]) -> None:
    """A password or client secret has no default: compose refuses to start without it."""
    text = COMPOSE_FILE.read_text()
    for m in _VAR.finditer(text):
        name = m.group(1) or ""
        if re.search(r"PASSWORD|SECRET", name) and m.group(2) is not None:
            assert m.group(2) in (":?", "?"), f"${{{name}}} must use :? (no default secret)"
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _walk(raw, {k: v for k, v in example_env().items() if k != "POSTGRES_PASSWORD"})


# ---- the drift test -----------------------------------------------------------------------


@pytest.mark.parametrize("app", list(inv.APPS))
def test_compose_sets_every_setting_production_needs(compose: dict[str, Any], app: str) -> None:
    env = env_of(compose, app)
    missing = inv.missing_required(app, env)
    assert not missing, "\n".join(f"{app}: set one of {sorted(r.names)} ({r.why})" for r in missing)


@pytest.mark.parametrize("app", list(inv.APPS))
def test_compose_sets_nothing_the_app_does_not_read(compose: dict[str, Any], app: str) -> None:
    assert inv.unknown_variables(app, env_of(compose, app)) == []


@pytest.mark.parametrize("app", list(inv.APPS))
def test_compose_environment_passes_the_production_guards(
    compose: dict[str, Any], app: str
) -> None:
    settings: Any = inv.load_settings(app, env_of(compose, app))
    assert settings.app_env is AppEnv.production
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.auth.dev_issuer_enabled is False
    assert settings.auto_migrate is False, "the migrate step migrates; apps must not race it"
    if app in inv.SERVICES:
        assert settings.kafka_enable_idempotence is True
        assert settings.kafka_bootstrap_servers == "kafka:9092"


@pytest.mark.parametrize("app", list(PORTS))
def test_each_app_runs_at_a_valid_log_level(compose: dict[str, Any], app: str) -> None:
    env = env_of(compose, app)
    assert parse_level(env[LEVEL_VARIABLE]) == parse_level("INFO")  # env.example's default


def test_migrate_environment_is_read_and_valid_for_every_app(compose: dict[str, Any]) -> None:
    """The one migrate step builds each app's settings (kernel.migrate calls get_settings)."""
    env = env_of(compose, "migrate")
    read_by_some = set().union(*(inv.accepted_names(app) for app in inv.APPS))
    assert sorted(set(env) - read_by_some) == []
    for app in MIGRATED:
        settings: Any = inv.load_settings(app, env)
        app_env = env_of(compose, app)
        key = next(k for k in app_env if k.endswith("DATABASE_URL"))
        # Migrations go to the very database the app then serves from.
        assert settings.database_url == app_env[key]


def test_drift_checks_can_fail(compose: dict[str, Any]) -> None:
    """The checks above are not vacuous: a dropped setting and a typo are both caught."""
    env = env_of(compose, "permits")
    without = {k: v for k, v in env.items() if k != "PERMITS_SOURCE_URLS"}
    assert [sorted(r.names) for r in inv.missing_required("permits", without)] == [
        ["PERMITS_SOURCE_URLS"]
    ]
    assert inv.unknown_variables("permits", {**env, "PERMITS_SOURCE_URL": "{}"}) == [
        "PERMITS_SOURCE_URL"
    ]
    # The log level is read outside the settings classes; a misspelt one is still caught.
    assert inv.unknown_variables("permits", {**env, "LOG_LVL": "INFO"}) == ["LOG_LVL"]
    # Another service's variable is a typo for this one too.
    assert inv.unknown_variables("permits", {"CREDIT_DATABASE_URL": "x"}) == ["CREDIT_DATABASE_URL"]
    with pytest.raises(ValueError, match="AUTH_DEV_ISSUER_ENABLED"):
        inv.load_settings("permits", {**env, "AUTH_DEV_ISSUER_ENABLED": "true"})


# ---- the inventory itself -----------------------------------------------------------------


def test_inventory_follows_prefixes_aliases_and_nesting() -> None:
    permits = inv.settings_read("permits")
    assert permits["PERMITS_DATABASE_URL"].path == ("database_url",)
    assert permits["APP_ENV"].path == ("app_env",)  # validation_alias: no prefix
    assert permits["KAFKA_BOOTSTRAP_SERVERS"].aliases == frozenset()
    # Nested AuthSettings: its own prefix, and the outer prefix with the nested delimiter.
    assert permits["AUTH_JWKS_URL"].names() == {"AUTH_JWKS_URL", "PERMITS_AUTH__JWKS_URL"}
    gateway = inv.settings_read("gateway")
    assert gateway["REDIS_URL"].names() == {"REDIS_URL", "GATEWAY_REDIS_URL"}  # validate_by_name
    # Every field of every model is listed, nested ones field by field.
    auth_fields = len(inv.AuthSettings.model_fields)
    for app, model in inv.APPS.items():
        assert len(inv.settings_read(app)) == len(model.model_fields) - 1 + auth_fields
    # Dict settings accept NAME__KEY (env_nested_delimiter): not a typo.
    assert inv.unknown_variables("permits", {"PERMITS_SOURCE_URLS__CREDIT": "http://c"}) == []


def test_inventory_names_are_what_pydantic_settings_reads() -> None:
    """Each alias really sets its field: the inventory agrees with pydantic-settings."""
    base = {
        "APP_ENV": "local",
        "AUTH_DEV_ISSUER_ENABLED": "true",
    }
    settings: Any = inv.load_settings("permits", {**base, "PERMITS_AUTH__AUDIENCE": "nested"})
    assert settings.auth.audience == "nested"
    settings = inv.load_settings("gateway", {**base, "GATEWAY_REDIS_URL": "redis://r:6379/0"})
    assert settings.redis_url == "redis://r:6379/0"


# ---- structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("app", list(PORTS))
def test_app_service_structure(compose: dict[str, Any], app: str) -> None:
    svc = compose["services"][app]
    deps = svc["depends_on"]
    assert deps["migrate"] == {"condition": "service_completed_successfully"}
    argv = command_of(svc)
    port = PORTS[app]
    assert argv[:2] == ["uvicorn", ASGI[app]]
    assert argv[argv.index("--port") + 1] == str(port)
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - inside the container
    # JSON lines with the request and trace ids, uvicorn's own access log off (kernel/logs.py).
    assert argv[argv.index("--log-config") + 1] == IMAGE_LOG_CONFIG
    assert "--log-level" not in argv, "LOG_LEVEL sets the level, for every logger"
    module = ASGI[app].split(":")[0]
    assert (REPO_ROOT / Path(*module.split("."))).with_suffix(".py").is_file()
    check = " ".join(svc["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/ready" in check
    published = [str(p) for p in svc.get("ports", [])] + [str(p) for p in svc.get("expose", [])]
    assert any(p == str(port) or p.endswith(f":{port}") for p in published)
    assert svc["user"] != "0"
    assert not str(svc["user"]).startswith("0:")
    if app in inv.SERVICES:
        assert deps["kafka-init"] == {"condition": "service_completed_successfully"}
    else:
        assert deps["redis"] == {"condition": "service_healthy"}
        assert deps["gateway-keygen"] == {"condition": "service_completed_successfully"}


def test_only_the_gateway_and_keycloak_are_published(compose: dict[str, Any]) -> None:
    """Services take traffic through the gateway; their ports stay inside the network."""
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"gateway", "keycloak"}


def test_migrate_runs_every_migration_once(compose: dict[str, Any]) -> None:
    svc = compose["services"]["migrate"]
    assert svc["restart"] == "no"
    script = " ".join(command_of(svc))
    loop = re.search(r"for app in ([a-z ]+); do\s+python -m kernel\.migrate \"\$app\"", script)
    assert loop, script
    assert tuple(loop.group(1).split()) == MIGRATED
    assert svc["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_gateway_reaches_each_service_and_redis(compose: dict[str, Any]) -> None:
    env = env_of(compose, "gateway")
    for app in inv.SERVICES:
        assert env[f"GATEWAY_{app.upper()}_URL"] == f"http://{app}:{PORTS[app]}"
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert "redis" in compose["services"]
    key = env["GATEWAY_SIGNING_KEY_PATH"]
    assert env_of(compose, "gateway-keygen")["GATEWAY_SIGNING_KEY_PATH"] == key


@pytest.mark.parametrize("app", inv.SERVICES)
def test_source_urls_name_the_same_sources_as_the_code(compose: dict[str, Any], app: str) -> None:
    """Backfill sources in compose are the ones the service consumes, at their container names."""
    urls = json.loads(env_of(compose, app)[f"{app.upper()}_SOURCE_URLS"])
    default = inv.APPS[app].model_fields["source_urls"].default_factory()  # type: ignore[misc,call-arg]
    assert set(urls) == set(default)
    assert urls == {name: f"http://{name}:{PORTS[name]}" for name in urls}


def test_kafka_is_kraft_single_node(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in k for k in env)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_kafka_init_creates_each_services_topics(compose: dict[str, Any]) -> None:
    script = " ".join(command_of(compose["services"]["kafka-init"]))
    loop = re.search(r"for topic in ([a-z. ]+); do", script)
    assert loop, script
    expected = {f"{s}.{kind}" for s in inv.SERVICES for kind in ("events", "dlq")}
    # The topics the apps use: ServiceSettings.topic and kernel/app.py's dead-letter topic.
    for app in inv.SERVICES:
        assert inv.load_settings(app, {"AUTH_DEV_ISSUER_ENABLED": "true"}).topic in expected  # type: ignore[attr-defined]
    assert set(loop.group(1).split()) == expected


def test_postgres_has_one_database_and_role_per_app(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"].startswith("postgres:16")
    created = re.findall(r"^create (\w+) \"\$(\w+)\"$", PG_INIT.read_text(), flags=re.M)
    assert {name for name, _ in created} == {*MIGRATED, "keycloak"}
    for name, var in created:
        assert var == f"{name.upper()}_DB_PASSWORD"
        assert var in pg["environment"]
    assert any(v.endswith(":/docker-entrypoint-initdb.d/10-databases.sh:ro") for v in pg["volumes"])
    for app in MIGRATED:
        env = env_of(compose, app)
        url = env[f"{app.upper()}_DATABASE_URL"]
        password = pg["environment"][f"{app.upper()}_DB_PASSWORD"]
        assert url == f"postgresql+asyncpg://{app}:{password}@postgres:5432/{app}"


# ---- Keycloak -----------------------------------------------------------------------------


def test_realm_roles_are_exactly_ours(realm: dict[str, Any]) -> None:
    assert {r["name"] for r in realm["roles"]["realm"]} == {r.value for r in Role}


def test_people_carry_one_role_claim_from_a_validated_attribute(realm: dict[str, Any]) -> None:
    (provider,) = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    (role,) = [a for a in profile["attributes"] if a["name"] == "role"]
    assert role["validations"]["options"]["options"] == [r.value for r in USER_ROLES]
    assert role["permissions"]["edit"] == ["admin"]  # nobody promotes themselves
    assert role["multivalued"] is False
    (scope,) = [s for s in realm["clientScopes"] if s["name"] == "safety-platform"]
    mappers = {m["protocolMapper"]: m["config"] for m in scope["protocolMappers"]}
    assert mappers["oidc-usermodel-attribute-mapper"]["claim.name"] == "role"
    assert mappers["oidc-usermodel-attribute-mapper"]["multivalued"] == "false"


def test_tokens_carry_the_claims_the_verifier_requires(
    realm: dict[str, Any], compose: dict[str, Any]
) -> None:
    """sub (basic scope), aud (audience mapper) and role on every client; iss by the URLs."""
    scopes = {s["name"]: s for s in realm["clientScopes"]}
    sub = [
        m for m in scopes["basic"]["protocolMappers"] if m["protocolMapper"] == "oidc-sub-mapper"
    ]
    assert sub
    assert sub[0]["config"]["access.token.claim"] == "true"
    audience = next(
        m
        for m in scopes["safety-platform"]["protocolMappers"]
        if m["protocolMapper"] == "oidc-audience-mapper"
    )
    for client in realm["clients"]:
        assert {"basic", "safety-platform"} <= set(client["defaultClientScopes"])
    realm_url = f"/realms/{realm['realm']}"
    for app in PORTS:
        env = env_of(compose, app)
        assert audience["config"]["included.custom.audience"] == env["AUTH_AUDIENCE"]
        assert env["AUTH_ISSUER"] == "http://localhost:8080" + realm_url
        assert (
            env["AUTH_JWKS_URL"] == f"http://keycloak:8080{realm_url}/protocol/openid-connect/certs"
        )
        assert env["AUTH_CLIENT_TOKEN_URL"] == (
            f"http://keycloak:8080{realm_url}/protocol/openid-connect/token"
        )
    kc_env = compose["services"]["keycloak"]["environment"]
    # The issuer the apps expect is the public URL Keycloak puts in every token.
    assert kc_env["KC_HOSTNAME"] + realm_url == env_of(compose, "gateway")["AUTH_ISSUER"]


@pytest.mark.parametrize("app", list(PORTS))
def test_each_app_has_a_service_client(
    realm: dict[str, Any], compose: dict[str, Any], raw: dict[str, Any], app: str
) -> None:
    env = env_of(compose, app)
    clients = {c["clientId"]: c for c in realm["clients"]}
    client = clients[env["AUTH_CLIENT_ID"]]
    assert client["serviceAccountsEnabled"] is True
    assert client["publicClient"] is False
    assert client["standardFlowEnabled"] is False
    assert set(client["optionalClientScopes"]) == SERVICE_SCOPES
    (hardcoded,) = client["protocolMappers"]
    assert hardcoded["config"]["claim.name"] == "role"
    assert hardcoded["config"]["claim.value"] == Role.service.value
    # The secret Keycloak imports and the one the app presents are the same variable.
    placeholder = re.fullmatch(r"\$\{(\w+)\}", client["secret"])
    assert placeholder
    assert (
        raw["services"]["keycloak"]["environment"][placeholder.group(1)]
        == (raw["services"][app]["environment"]["AUTH_CLIENT_SECRET"])
    )
    (account,) = [
        u for u in realm["users"] if u.get("serviceAccountClientId") == client["clientId"]
    ]
    assert account["realmRoles"] == [Role.service.value]


def test_service_scopes_are_not_offered_to_people(realm: dict[str, Any]) -> None:
    scopes = {s["name"]: s for s in realm["clientScopes"]}
    for name in SERVICE_SCOPES:
        assert scopes[name]["attributes"]["include.in.token.scope"] == "true"
    for client in realm["clients"]:
        if client["publicClient"]:
            assert not SERVICE_SCOPES & set(client["optionalClientScopes"])
            assert not SERVICE_SCOPES & set(client["defaultClientScopes"])
    assert not SERVICE_SCOPES & set(realm["defaultDefaultClientScopes"])


def test_keycloak_imports_the_realm(compose: dict[str, Any]) -> None:
    kc = compose["services"]["keycloak"]
    assert kc["image"].startswith("quay.io/keycloak/keycloak:")
    assert kc["command"] == ["start-dev", "--import-realm"]
    assert any(
        v.startswith("./compose/keycloak/safety-realm.json:/opt/keycloak/data/import/")
        for v in kc["volumes"]
    )


# ---- Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    ins = dockerfile_instructions()
    stages = [rest for word, rest in ins if word == "FROM"]
    assert [s.split()[-1] for s in stages] == ["builder", "runtime"]
    arg = dict(rest.split("=", 1) for word, rest in ins if word == "ARG" and "=" in rest)
    assert arg["PYTHON_IMAGE"] == "python:3.11-slim"
    runtime = ins[[i for i, (w, _) in enumerate(ins) if w == "FROM"][-1] :]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users, "the runtime stage must switch to an unprivileged user"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime
    # The user the image runs as is the one compose runs it as (volume ownership).
    assert users[-1] == inv_user()


def inv_user() -> str:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    return str(compose["x-image"]["user"])


def test_dockerfile_exposes_the_fixed_ports() -> None:
    exposed = {
        int(p) for word, rest in dockerfile_instructions() if word == "EXPOSE" for p in rest.split()
    }
    assert exposed == set(PORTS.values())


def test_no_secret_is_built_into_the_image() -> None:
    for word, rest in dockerfile_instructions():
        if word in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|PRIVATE|_KEY)\w*\s*=", rest, re.I), rest
        if word in ("COPY", "ADD"):
            sources = rest.split()[:-1]
            assert not any(s.startswith(("var", ".env", ".venv", ".git")) for s in sources), rest
            assert not any(s in (".", "./") for s in sources), "copy named folders, not the context"
    ignore = DOCKERIGNORE.read_text().splitlines()
    # Deny by default: only what is re-included can reach the build context.
    assert next(line for line in ignore if line and not line.startswith("#")) == "*"
    for pattern in ("**/*.pem", "**/.env", "**/*.db"):
        assert pattern in ignore


def test_image_carries_every_package_the_apps_import() -> None:
    """The runtime stage copies each top-level package the apps and the migrate step need."""
    copied = {
        rest.split()[0]
        for word, rest in dockerfile_instructions()
        if word == "COPY" and not rest.startswith("--from")
    }
    assert {"kernel", "services", "gateway", "pyproject.toml"} <= copied
