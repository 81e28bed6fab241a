"""deploy/k8s, checked offline: rendered like kustomize, validated against the API schemas.

No cluster and no kustomize binary exist on these machines, so `render` below implements the
part of kustomize the manifests use (resources, namespace, commonLabels, images, patches by
path: strategic merge for core kinds, JSON merge for custom resources) and refuses any other
kustomization field, so a manifest cannot quietly rely on something this test does not model.

Core kinds are validated with kubernetes-validate in strict mode (unknown fields fail) against
K8S_VERSION. The custom resources (Strimzi Kafka, KafkaNodePool, KafkaTopic; CloudNativePG
Cluster) are validated against the openAPIV3Schema of their CRDs as released, copied into
crd_schemas/ without descriptions and status (each file's "source" names the repository, tag
and path), made strict the way `kubectl apply --validate=strict` is: unknown fields fail.
CEL rules (x-kubernetes-validations) are not evaluated.

Then the wiring: probes hit /health and /ready on the container's port, network policies
select real pods and let exactly the gateway and each service's event consumers in, and every
variable a container sets is one its app reads while every setting production needs is set
(deploy/settings_inventory.py, shared with the compose test), down to building each app's
settings from the rendered environment.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deploy import settings_inventory as inventory
from gateway.config import GatewaySettings
from kernel.logs import LEVEL_VARIABLE, parse_level

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
CRD_SCHEMAS = Path(__file__).resolve().parent / "crd_schemas"
OVERLAYS = ("staging", "production")
# The oldest Kubernetes the manifests are meant for; every API they use is stable there.
K8S_VERSION = "1.34.0"

PORTS = {"gateway": 8000, "permits": 8001, "credit": 8002, "inspection": 8003, "insurance": 8004}
APPS = tuple(PORTS)
SERVICES = inventory.SERVICES
NAME_LABEL = "app.kubernetes.io/name"

Doc = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# A small kustomize


KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "namespace",
    "commonLabels",
    "resources",
    "images",
    "patches",
}
CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1"}


def _load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _strategic_merge(base: Any, patch: Any) -> Any:
    """Strategic merge as far as the manifests need it: maps merge, lists of named items
    merge by `name` (containers, ports, env), other lists are replaced, null deletes."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _strategic_merge(base.get(key), value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        merged = [dict(i) for i in base]
        index = {item["name"]: n for n, item in enumerate(merged)}
        for item in patch:
            if item["name"] in index:
                merged[index[item["name"]]] = _strategic_merge(merged[index[item["name"]]], item)
            else:
                merged.append(item)
        return merged
    return copy.deepcopy(patch)


def _json_merge(base: Any, patch: Any) -> Any:
    """RFC 7386, which kustomize applies to custom resources (no schema to merge lists by)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _json_merge(out.get(key), value)
    return out


def _add_labels(labels: dict[str, str], node: Any, *path: str, create: bool) -> None:
    for key in path[:-1]:
        if not isinstance(node, dict) or (key not in node and not create):
            return
        node = node.setdefault(key, {})
    if not isinstance(node, dict) or (path[-1] not in node and not create):
        return
    node.setdefault(path[-1], {}).update(labels)


def _common_labels(doc: Doc, labels: dict[str, str]) -> None:
    """kustomize's commonLabels: metadata everywhere, and the selectors that must follow."""
    _add_labels(labels, doc, "metadata", "labels", create=True)
    kind = doc["kind"]
    if kind == "Deployment":
        _add_labels(labels, doc, "spec", "selector", "matchLabels", create=True)
        _add_labels(labels, doc, "spec", "template", "metadata", "labels", create=True)
    elif kind == "Job":
        _add_labels(labels, doc, "spec", "template", "metadata", "labels", create=True)
    elif kind == "Service":
        _add_labels(labels, doc, "spec", "selector", create=True)
    elif kind == "PodDisruptionBudget":
        _add_labels(labels, doc, "spec", "selector", "matchLabels", create=False)
    elif kind == "NetworkPolicy":
        _add_labels(labels, doc, "spec", "podSelector", "matchLabels", create=False)
        for rule in doc["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                _add_labels(labels, peer, "podSelector", "matchLabels", create=False)


def _pod_spec(doc: Doc) -> Doc | None:
    if doc["kind"] in ("Deployment", "Job"):
        spec: Doc = doc["spec"]["template"]["spec"]
        return spec
    return None


def _containers(doc: Doc) -> list[Doc]:
    pod = _pod_spec(doc)
    return [] if pod is None else pod.get("initContainers", []) + pod["containers"]


def _set_images(doc: Doc, images: list[dict[str, str]]) -> None:
    for container in _containers(doc):
        name, _, _tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                new = image.get("newName", name)
                tag = image.get("newTag")
                container["image"] = f"{new}:{tag}" if tag else new


def render(directory: Path) -> list[Doc]:
    kust = _load_docs(directory / "kustomization.yaml")[0]
    unknown = set(kust) - KUSTOMIZATION_KEYS
    assert not unknown, f"{directory}: kustomization fields this renderer does not model: {unknown}"
    docs: list[Doc] = []
    for entry in kust.get("resources", []):
        path = (directory / entry).resolve()
        docs += render(path) if path.is_dir() else _load_docs(path)
    for patch_ref in kust.get("patches", []):
        assert set(patch_ref) == {"path"}, f"only patches by path are modelled: {patch_ref}"
        [patch] = _load_docs(directory / patch_ref["path"])
        hits = [
            n
            for n, d in enumerate(docs)
            if (d["apiVersion"], d["kind"], d["metadata"]["name"])
            == (patch["apiVersion"], patch["kind"], patch["metadata"]["name"])
        ]
        assert len(hits) == 1, f"{patch_ref['path']} must match one resource, matched {len(hits)}"
        merge = _strategic_merge if patch["apiVersion"] in CORE_GROUPS else _json_merge
        docs[hits[0]] = merge(docs[hits[0]], patch)
    docs = copy.deepcopy(docs)
    for doc in docs:
        if "namespace" in kust:
            doc["metadata"]["namespace"] = kust["namespace"]
        if "commonLabels" in kust:
            _common_labels(doc, kust["commonLabels"])
        _set_images(doc, kust.get("images", []))
    return docs


@cache
def rendered(overlay: str) -> tuple[Doc, ...]:
    return tuple(render(K8S / "overlays" / overlay))


def find(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def all_docs() -> Iterator[tuple[str, Doc]]:
    for overlay in OVERLAYS:
        for doc in rendered(overlay):
            yield overlay, doc


def _ids(pairs: list[tuple[str, Doc]]) -> list[str]:
    return [f"{o}:{d['kind']}/{d['metadata']['name']}" for o, d in pairs]


CORE = [(o, d) for o, d in all_docs() if d["apiVersion"] in CORE_GROUPS]
CUSTOM = [(o, d) for o, d in all_docs() if d["apiVersion"] not in CORE_GROUPS]


# ---------------------------------------------------------------------------------------------
# The renderer itself


def test_strategic_merge_merges_named_lists_and_replaces_others() -> None:
    base = {"containers": [{"name": "a", "image": "x", "args": ["1", "2"]}, {"name": "b"}]}
    patch = {"containers": [{"name": "a", "args": ["3"]}, {"name": "c"}]}
    assert _strategic_merge(base, patch) == {
        "containers": [{"name": "a", "image": "x", "args": ["3"]}, {"name": "b"}, {"name": "c"}]
    }
    assert _json_merge({"a": [1, 2], "b": 1}, {"a": [3], "b": None}) == {"a": [3]}


def test_overlays_render_every_resource_once() -> None:
    for overlay in OVERLAYS:
        docs = rendered(overlay)
        keys = [(d["kind"], d["metadata"]["name"]) for d in docs]
        assert len(keys) == len(set(keys)), f"{overlay}: duplicate resources"
        for app in APPS:
            for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
                find(docs, kind, app)
            find(docs, "NetworkPolicy", f"{app}-ingress")
            find(docs, "Cluster", f"{app}-db")
        find(docs, "Job", "migrate")
        find(docs, "Kafka", "events")
        namespaces = {d["metadata"]["namespace"] for d in docs}
        assert len(namespaces) == 1, f"{overlay}: one namespace, got {namespaces}"
        for container in (c for d in docs for c in _containers(d)):
            if container["name"] != "redis":
                assert container["image"].startswith("registry.example.org/safety-platform:")


def test_overlays_size_production_above_staging() -> None:
    for app in APPS:
        staging = find(rendered("staging"), "HorizontalPodAutoscaler", app)["spec"]
        production = find(rendered("production"), "HorizontalPodAutoscaler", app)["spec"]
        assert staging["minReplicas"] <= staging["maxReplicas"]
        assert production["minReplicas"] <= production["maxReplicas"]
        # Production survives losing a node: at least two replicas and database replicas.
        assert production["minReplicas"] >= 2
        assert production["maxReplicas"] > staging["maxReplicas"]
        assert find(rendered("production"), "Cluster", f"{app}-db")["spec"]["instances"] >= 2
        deployment = find(rendered("production"), "Deployment", app)
        assert deployment["spec"]["replicas"] == production["minReplicas"]


# ---------------------------------------------------------------------------------------------
# Schemas


@pytest.mark.parametrize(("overlay", "doc"), CORE, ids=_ids(CORE))
def test_core_kinds_are_valid(overlay: str, doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_core_validation_rejects_unknown_fields() -> None:
    doc = copy.deepcopy(find(rendered("production"), "Deployment", "permits"))
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _strict(schema: Any) -> Any:
    """Unknown fields fail, as with kubectl --validate=strict (the API server would prune them
    silently otherwise): objects with declared properties admit nothing else unless the CRD
    says x-kubernetes-preserve-unknown-fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: (_strict(v) if k != "properties" else {p: _strict(s) for p, s in v.items()})
        for k, v in schema.items()
    }
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], tuple[str, jsonschema.Draft7Validator]]:
    schemas = {}
    for path in sorted(CRD_SCHEMAS.glob("*.json")):
        crd = json.loads(path.read_text())
        api_version = f"{crd['group']}/{crd['version']}"
        schema = _strict(crd["openAPIV3Schema"])
        # metadata is the API server's ObjectMeta, checked below by name rules instead.
        schema["properties"]["metadata"] = {"type": "object"}
        schemas[(api_version, crd["kind"])] = (crd["source"], jsonschema.Draft7Validator(schema))
    return schemas


@pytest.mark.parametrize(("overlay", "doc"), CUSTOM, ids=_ids(CUSTOM))
def test_custom_resources_match_their_crds(overlay: str, doc: Doc) -> None:
    key = (doc["apiVersion"], doc["kind"])
    assert key in crd_schemas(), f"no CRD schema for {key} in {CRD_SCHEMAS}"
    _, validator = crd_schemas()[key]
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]
    assert not errors, "\n".join(errors)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


def test_crd_validation_rejects_unknown_fields_and_bad_enums() -> None:
    _, validator = crd_schemas()[("kafka.strimzi.io/v1", "KafkaNodePool")]
    pool = copy.deepcopy(find(rendered("production"), "KafkaNodePool", "dual-role"))
    assert validator.is_valid(pool)
    pool["spec"]["rolez"] = ["broker"]
    assert not validator.is_valid(pool)
    pool = copy.deepcopy(find(rendered("production"), "KafkaNodePool", "dual-role"))
    pool["spec"]["roles"] = ["zookeeper"]
    assert not validator.is_valid(pool)


# ---------------------------------------------------------------------------------------------
# Wiring


def _port(container: Doc, ref: int | str) -> int:
    if isinstance(ref, int):
        return ref
    [port] = [p["containerPort"] for p in container["ports"] if p["name"] == ref]
    return int(port)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("app", APPS)
def test_deployment_runs_its_app_with_probes_on_its_port(overlay: str, app: str) -> None:
    docs = rendered(overlay)
    deployment = find(docs, "Deployment", app)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    port = PORTS[app]
    module = "gateway.main:app" if app == "gateway" else f"services.{app}.main:app"
    # Inside its pod the app listens on every interface: the pod IP is not known in advance.
    listen = ["--host", "0.0.0.0", "--port", str(port)]  # noqa: S104
    # JSON lines with the request and trace ids (kernel/logs.py); the path is where the image
    # keeps deploy/logging/json.json (tests/deploy/test_logging_config.py).
    log_config = ["--log-config", "/app/deploy/logging/json.json"]
    assert container["command"] == ["uvicorn", module, *listen, *log_config]
    assert [p["containerPort"] for p in container["ports"]] == [port]
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get = container[probe]["httpGet"]
        assert (get["path"], _port(container, get["port"])) == (path, port), probe
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    service = find(docs, "Service", app)
    [sport] = service["spec"]["ports"]
    assert (sport["port"], _port(container, sport["targetPort"])) == (port, port)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pdb = find(docs, "PodDisruptionBudget", app)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = find(docs, "HorizontalPodAutoscaler", app)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": app,
    }


def test_pods_run_unprivileged_with_bounded_resources() -> None:
    for overlay, doc in all_docs():
        pod = _pod_spec(doc)
        if pod is None:
            continue
        where = f"{overlay}:{doc['kind']}/{doc['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"].get("runAsUser", 0) != 0, where
        assert pod.get("automountServiceAccountToken") is False, where
        for container in _containers(doc):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where


def _source_graph() -> dict[str, set[str]]:
    """Who calls whose GET /events: the keys of each service's default source_urls."""
    graph: dict[str, set[str]] = {}
    for service in SERVICES:
        field = inventory.APPS[service].model_fields["source_urls"]
        assert field.default_factory is not None
        graph[service] = set(field.default_factory())  # type: ignore[call-arg]
    return graph


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_the_gateway_and_event_consumers_only(overlay: str) -> None:
    docs = rendered(overlay)
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind(docs, "Deployment")
    }
    graph = _source_graph()
    for policy in of_kind(docs, "NetworkPolicy"):
        spec = policy["spec"]
        targets = {
            n for n, labels in pods.items() if _selects(spec["podSelector"]["matchLabels"], labels)
        }
        assert len(targets) == 1, f"{policy['metadata']['name']} selects {targets}"
        [target] = targets
        assert spec["policyTypes"] == ["Ingress"]
        peers: set[str] = set()
        for rule in spec["ingress"]:
            for peer in rule.get("from", []):
                if "podSelector" in peer:
                    matched = {
                        n
                        for n, lab in pods.items()
                        if _selects(peer["podSelector"]["matchLabels"], lab)
                    }
                    assert len(matched) == 1, (
                        f"{policy['metadata']['name']}: peer matches {matched}"
                    )
                    peers |= matched
                else:
                    # Prometheus in the monitoring namespace scrapes /metrics.
                    assert peer == {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        }
                    }
        if target == "gateway":
            assert spec["ingress"] == [{"ports": [{"protocol": "TCP", "port": "http"}]}]
        elif target == "redis":
            assert peers == {"gateway"}
        else:
            consumers = {s for s, sources in graph.items() if target in sources}
            assert peers == {"gateway"} | consumers, target
    covered = {
        p["metadata"]["name"].removesuffix("-ingress") for p in of_kind(docs, "NetworkPolicy")
    }
    assert covered == set(pods), (
        "every Deployment's ingress is restricted (or open, for the gateway)"
    )


# ---------------------------------------------------------------------------------------------
# Settings


def _env_of(docs: tuple[Doc, ...], container: Doc) -> tuple[dict[str, str], set[str]]:
    """The environment a container starts with, and the variables only there to compose
    others through $(NAME) (credentials from a Secret spliced into a URL)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config = find(docs, "ConfigMap", source["configMapRef"]["name"])
        env.update(config["data"])
    composing: set[str] = set()
    for item in container.get("env", []):
        if "value" in item:
            value = str(item["value"])
            for ref in re.findall(r"\$\((\w+)\)", value):
                assert ref in env, f"{item['name']} uses $({ref}) before it is defined"
                composing.add(ref)
                value = value.replace(f"$({ref})", env[ref])
            env[item["name"]] = value
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            # A stand-in that passes the production guards (no placeholder, URL-safe).
            env[item["name"]] = f"s3cret{ref['name'].replace('-', '')}{ref['key'].replace('-', '')}"
    return env, composing


def _app_containers(docs: tuple[Doc, ...]) -> Iterator[tuple[str, Doc]]:
    for app in APPS:
        [container] = find(docs, "Deployment", app)["spec"]["template"]["spec"]["containers"]
        yield app, container
    for container in find(docs, "Job", "migrate")["spec"]["template"]["spec"]["containers"]:
        assert container["command"][:3] == ["python", "-m", "kernel.migrate"]
        yield container["command"][3], container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_read_and_every_required_setting_is_set(overlay: str) -> None:
    docs = rendered(overlay)
    migrated = set()
    for app, container in _app_containers(docs):
        env, composing = _env_of(docs, container)
        where = f"{overlay}:{container['name']}"
        assert inventory.unknown_variables(app, env, ignore=frozenset(composing)) == [], where
        missing = [sorted(r.names) for r in inventory.missing_required(app, env)]
        assert missing == [], f"{where}: production needs {missing}"
        if container["command"][0] == "python":
            migrated.add(app)
        settings = inventory.load_settings(app, env)
        _check_addresses(docs, app, container, settings)
    assert migrated == set(APPS), "the migration Job upgrades every app's database"


def _check_addresses(docs: tuple[Doc, ...], app: str, container: Doc, settings: Any) -> None:
    """The addresses in the settings name resources this render defines."""
    db = urlsplit(settings.database_url)
    cluster = find(docs, "Cluster", f"{app}-db")
    assert db.scheme == "postgresql+asyncpg"
    assert (db.hostname, db.port) == (f"{app}-db-rw", 5432)
    assert db.path.lstrip("/") == cluster["spec"]["bootstrap"]["initdb"]["database"]
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    if isinstance(settings, GatewaySettings):
        for name, url in settings.upstream_urls().items():
            assert url == f"http://{name}:{PORTS[name]}"
        assert urlsplit(settings.redis_url).hostname == "redis"
        find(docs, "Service", "redis")
        if container["command"][0] == "uvicorn":
            assert settings.signing_key_path is not None
            assert str(settings.signing_key_path.parent) in mounts
        return
    host, _, port = settings.kafka_bootstrap_servers.partition(":")
    kafka = find(docs, "Kafka", host.removesuffix("-kafka-bootstrap"))
    assert int(port) in [
        lst["port"] for lst in kafka["spec"]["kafka"]["listeners"] if not lst["tls"]
    ]
    assert settings.kafka_enable_idempotence is True
    assert settings.source_urls.keys() == _source_graph()[app]
    for source, url in settings.source_urls.items():
        assert url == f"http://{source}:{PORTS[source]}"
    if app == "permits" and container["command"][0] == "uvicorn":
        assert str(settings.licence_key_dir) in mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_running_apps_and_only_they_get_a_valid_log_level(overlay: str) -> None:
    docs = rendered(overlay)
    for app, container in _app_containers(docs):
        env, _ = _env_of(docs, container)
        if container["command"][0] == "uvicorn":
            assert parse_level(env[LEVEL_VARIABLE]), app
        else:  # kernel.migrate does not read it
            assert LEVEL_VARIABLE not in env, container["name"]


def test_settings_check_catches_a_typo_and_a_missing_setting() -> None:
    docs = rendered("production")
    [container] = find(docs, "Deployment", "credit")["spec"]["template"]["spec"]["containers"]
    env, composing = _env_of(docs, container)
    env["CREDIT_SOURCE_URL"] = env.pop("CREDIT_SOURCE_URLS")
    assert inventory.unknown_variables("credit", env, ignore=frozenset(composing)) == [
        "CREDIT_SOURCE_URL"
    ]
    assert inventory.missing_required("credit", env)


# ---------------------------------------------------------------------------------------------
# Kafka and PostgreSQL


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_event_and_dead_letter_topics(overlay: str) -> None:
    docs = rendered(overlay)
    [kafka] = of_kind(docs, "Kafka")
    [pool] = of_kind(docs, "KafkaNodePool")
    brokers = pool["spec"]["replicas"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = kafka["spec"]["kafka"]["config"]
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    # The names kernel/app.py produces to: ServiceSettings.topic, f"{service_name}.events",
    # and f"{service_name}.dlq" for dead letters.
    names = [inventory.APPS[s].model_fields["service_name"].default for s in SERVICES]
    expected = {f"{n}.events" for n in names} | {f"{n}.dlq" for n in names}
    assert set(topics) == expected
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        replicas = topic["spec"]["replicas"]
        isr = topic["spec"]["config"]["min.insync.replicas"]
        # acks=all keeps writing with one broker down, and a write lives on two brokers.
        assert brokers >= replicas > isr >= 2
    assert config["auto.create.topics.enable"] is False
    assert config["min.insync.replicas"] >= 2
