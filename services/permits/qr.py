"""QR codes for electronic licences (PNG and SVG, via segno). Pure: bytes and text out.

What the QR carries (`qr_payload`):

- *Token URL* `<verify base>?token=<VC-JWT>`: the whole signed licence is in the code, so a
  verifier holding the issuer's JWKS (and, for status, a recent status list) can check it
  with no network; an online scan simply opens the public verification page.
- *Short URL* `<verify base>?licence=<licence number>`: the page looks the licence up and
  verifies it online. Small, robust code; no offline verification from the code alone.

The choice is by length. A QR symbol grows by 4 modules per side per version; byte-mode
capacity at error-correction level M is 997 bytes at version 25 (117 x 117 modules) and
1,809 at version 35 (157 x 157). Printed 40-50 mm wide (a licence certificate, an A6
card), version 25 gives modules of about 0.35-0.4 mm, which phone cameras read quickly;
version 35 at the same size gives about 0.25-0.3 mm, which is slow and fails on worn or
glossy paper. ECC level M (15 % recovery) is the usual trade-off for printed documents:
L packs more but tolerates little dirt, Q/H push the version up by 4-8 for the same data.

A licence VC-JWT (two status entries, DID URL kid) is about 1,500 characters with short
ASCII texts and 1,700-1,900 with typical Chinese holder, item and scope texts (each Chinese
character costs 4 base64url characters), so with the default `max_chars` (997, version
25-M) a real licence gets the short URL (about 130 characters once a Chinese licence number
is percent-encoded: version 7-8). A caller printing on A4 at 60 mm or more
may pass a larger `max_chars` (up to `MAX_QR_BYTES`, version 40-M) to embed the token.
segno raises the error-correction level for free when the data leaves room in the chosen
version (`boost_error`), so the printed level is M or better.
"""

from __future__ import annotations

import io
from typing import Final
from urllib.parse import quote, urlsplit

import segno

__all__ = [
    "DEFAULT_ERROR",
    "DEFAULT_MAX_CHARS",
    "MAX_QR_BYTES",
    "licence_qr_png",
    "licence_qr_svg",
    "make_qr",
    "qr_payload",
]

DEFAULT_ERROR: Final = "m"
# Byte-mode capacity of a version 25 symbol at level M (ISO/IEC 18004 table 7).
DEFAULT_MAX_CHARS: Final = 997
# Byte-mode capacity of the largest symbol (version 40) at level M.
MAX_QR_BYTES: Final = 2331
QUIET_ZONE: Final = 4  # modules; the standard's minimum for QR (not Micro QR)


def _check_base_url(verify_base_url: str) -> None:
    parts = urlsplit(verify_base_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"verify_base_url must be an absolute http(s) URL: {verify_base_url!r}")
    if parts.fragment:
        raise ValueError("verify_base_url must not have a fragment")


def _with_query(base: str, name: str, value: str) -> str:
    separator = "&" if urlsplit(base).query else "?"
    return f"{base}{separator}{name}={quote(value, safe='')}"


def qr_payload(
    verify_base_url: str,
    licence_number: str,
    token: str,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> str:
    """The text to put in a licence's QR code: the token URL when it fits in `max_chars`
    (byte-mode characters; see the module docstring), else the short licence-number URL."""
    _check_base_url(verify_base_url)
    if not licence_number:
        raise ValueError("licence_number must not be empty")
    if not 1 <= max_chars <= MAX_QR_BYTES:
        raise ValueError(f"max_chars must be in [1, {MAX_QR_BYTES}] (QR version 40-M)")
    # A compact JWS is base64url and dots: URL-safe as is (quote leaves it unchanged).
    with_token = _with_query(verify_base_url, "token", token)
    if len(with_token.encode("utf-8")) <= max_chars:
        return with_token
    short = _with_query(verify_base_url, "licence", licence_number)
    if len(short.encode("utf-8")) > max_chars:
        raise ValueError(f"even the short URL ({len(short)} chars) exceeds max_chars={max_chars}")
    return short


def make_qr(content: str, *, error: str = DEFAULT_ERROR) -> segno.QRCode:
    """The QR symbol for `content` (never Micro QR; the smallest version that fits)."""
    if not content:
        raise ValueError("QR content must not be empty")
    return segno.make(content, error=error, micro=False)


def licence_qr_png(
    content: str,
    scale: int = 8,
    *,
    border: int = QUIET_ZONE,
    dpi: int | None = None,
    error: str = DEFAULT_ERROR,
) -> bytes:
    """PNG (1-bit greyscale) of the QR for `content`; `scale` pixels per module.

    Side length in pixels: (modules + 2 * border) * scale, e.g. 125 * 8 = 1,000 px at
    version 25. `dpi` writes a pHYs chunk so print layouts size it right.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1 pixel per module")
    buffer = io.BytesIO()
    make_qr(content, error=error).save(buffer, kind="png", scale=scale, border=border, dpi=dpi)
    return buffer.getvalue()


def licence_qr_svg(
    content: str,
    scale: int = 4,
    *,
    border: int = QUIET_ZONE,
    title: str | None = None,
    error: str = DEFAULT_ERROR,
) -> str:
    """Standalone SVG document (UTF-8 XML) of the QR for `content`; `title` for screen
    readers (e.g. "电子证照核验码")."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    buffer = io.BytesIO()
    make_qr(content, error=error).save(
        buffer, kind="svg", scale=scale, border=border, title=title, xmldecl=True
    )
    return buffer.getvalue().decode("utf-8")
