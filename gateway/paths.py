"""Paths the edge layers treat specially, in one place so identity and rate limits agree."""

from __future__ import annotations

# Answered without looking at credentials and never rate-limited: probes, the documentation,
# the public keys. A monitor or a browser must always reach them.
OPEN_PATHS = frozenset(
    {
        "/health",
        "/ready",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/docs/oauth2-redirect",
        "/.well-known/jwks.json",
    }
)
# The OAuth2 token endpoint: its own rate class, per client address.
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a password)
# Inter-department data-set reads: the data rate class, per department.
DATA_PREFIX = "/api/data/"
