"""A licence's QR code opens the public portal's verification page, with the same query the
JSON verification API takes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from kernel.auth.dev import DevIssuer
from services.permits.config import PermitsSettings
from tests.permits.api.test_applications import API, INSTANT, apply, verify
from tests.permits.unit.test_qr import decode_matrix, png_to_matrix, svg_to_matrix

PORTAL_PAGE = "http://127.0.0.1:8000/portal/licences/verify"


def test_the_default_target_is_the_portal_page() -> None:
    assert PermitsSettings().licence_verify_url == PORTAL_PAGE


async def test_qr_codes_open_the_portal_page_with_the_api_query(
    api: API, issuer: DevIssuer
) -> None:
    client, _ = api
    licence = (await apply(client, issuer, INSTANT)).json()["licence"]
    png = (await client.get(f"/licences/{licence['number']}/qr.png")).content
    svg = (await client.get(f"/licences/{licence['number']}/qr.svg")).text
    payloads = [
        decode_matrix(png_to_matrix(png, scale=8, border=4)),
        decode_matrix(svg_to_matrix(svg, border=4)[0]),
    ]
    for payload in payloads:
        url = urlsplit(payload)
        assert f"{url.scheme}://{url.netloc}{url.path}" == PORTAL_PAGE
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        # A real licence is too long to embed in a printable code: the number goes instead.
        assert query == {"licence": licence["number"]}
        # ...and the API answers that very query, so the page can pass it on unchanged.
        assert (await verify(client, **query))["status"] == "valid"
