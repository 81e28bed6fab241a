"""The gateway's /metrics: per-route request counts and latency, proxied routes per upstream."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families

from kernel.auth.dev import DevIssuer
from tests.gateway.conftest import GatewayFactory
from tests.support import bearer


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from a /metrics answer (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_requests_are_counted_by_route_template_and_upstream(
    make_gateway: GatewayFactory, issuer: DevIssuer
) -> None:
    proxied = {"service": "gateway", "method": "GET", "route": "/api/permits/{path}"}
    unmatched = {"service": "gateway", "method": "GET", "route": "unmatched", "status": "404"}
    async with make_gateway() as c:
        before = (await c.get("/metrics")).text
        headers = bearer(issuer, "officer")
        for n in (1, 2, 3):
            r = await c.get(f"/api/permits/applications/{n}", headers=headers)
            assert r.status_code == 200, r.text
        assert (await c.get("/api/credit/records/9", headers=headers)).status_code == 200
        assert (await c.get(f"/nowhere/{uuid.uuid4()}")).status_code == 404
        scrape = await c.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    after = scrape.text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    # Three raw paths, one series per upstream: bounded, yet the upstream is told apart.
    assert moved("http_requests_total", **proxied, status="200") == 3
    assert moved("http_request_duration_seconds_count", **proxied) == 3
    assert (
        moved(
            "http_requests_total",
            service="gateway",
            method="GET",
            route="/api/credit/{path}",
            status="200",
        )
        == 1
    )
    assert moved("http_requests_total", **unmatched) == 1
    assert "/api/permits/applications/1" not in after


async def test_edge_refusals_are_counted(make_gateway: GatewayFactory) -> None:
    # A malformed bearer token is refused by the identity layer before any route is matched,
    # so the request has no template: it is counted as unmatched, with its 401.
    labels = {"service": "gateway", "method": "GET", "route": "unmatched", "status": "401"}
    async with make_gateway() as c:
        before = (await c.get("/metrics")).text
        r = await c.get("/api/permits/items", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
        after = (await c.get("/metrics")).text
    moved = sample(after, "http_requests_total", **labels) - sample(
        before, "http_requests_total", **labels
    )
    assert moved == 1
