"""Licence QR codes: payload choice, PNG and SVG output, and what the symbol really holds.

No QR decoder library is available, so this file carries a minimal one (ISO/IEC 18004 for
an undamaged, upright symbol: format information, unmasking, codeword placement,
de-interleaving, numeric/alphanumeric/byte segments). It reads the module matrix back out
of the PNG pixels and out of the SVG path, so each output is checked to carry the payload.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from segno import consts

from kernel.uscc import make_uscc
from services.permits.credentials import (
    IssuerKeyRing,
    LicenceClaims,
    issue_licence,
    verify_licence,
)
from services.permits.domain import ApprovalMode
from services.permits.qr import (
    DEFAULT_MAX_CHARS,
    MAX_QR_BYTES,
    QUIET_ZONE,
    licence_qr_png,
    licence_qr_svg,
    make_qr,
    qr_payload,
)
from services.permits.status_list import StatusListEntry, StatusPurpose

BASE = "https://yjj.qingdao.gov.cn/licences/verify"
LICENCE_NUMBER = "鲁青危化经字〔2026〕000123"
CST = timezone(timedelta(hours=8))
SVG_NS = "{http://www.w3.org/2000/svg}"

Matrix = list[list[bool]]  # True = dark


# ============================================================ a minimal QR decoder


def _alignment_centres(version: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    size = 17 + 4 * version
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    return [6, *sorted(size - 7 - i * step for i in range(count - 1))]


def function_modules(version: int) -> list[list[bool]]:
    """True where a module belongs to a function pattern (not data), ISO/IEC 18004 §6.3."""
    size = 17 + 4 * version
    used = [[False] * size for _ in range(size)]

    def mark(top: int, left: int, height: int, width: int) -> None:
        for row in range(max(top, 0), min(top + height, size)):
            for col in range(max(left, 0), min(left + width, size)):
                used[row][col] = True

    mark(0, 0, 9, 9)  # finder, separator, format information (top left)
    mark(0, size - 8, 9, 8)  # finder, separator, format information (top right)
    mark(size - 8, 0, 8, 9)  # finder, separator, format information, dark module
    mark(6, 0, 1, size)  # timing
    mark(0, 6, size, 1)
    centres = _alignment_centres(version)
    for row in centres:
        for col in centres:
            corners = {(6, 6), (6, size - 7), (size - 7, 6)}
            if (row, col) not in corners:
                mark(row - 2, col - 2, 5, 5)
    if version >= 7:
        mark(0, size - 11, 6, 3)  # version information
        mark(size - 11, 0, 3, 6)
    return used


_MASKS: dict[int, Callable[[int, int], bool]] = {
    0: lambda i, j: (i + j) % 2 == 0,
    1: lambda i, j: i % 2 == 0,
    2: lambda i, j: j % 3 == 0,
    3: lambda i, j: (i + j) % 3 == 0,
    4: lambda i, j: (i // 2 + j // 3) % 2 == 0,
    5: lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    6: lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    7: lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
}
_FORMAT_LEVEL = {0b01: "L", 0b00: "M", 0b11: "Q", 0b10: "H"}
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def read_format(matrix: Matrix) -> tuple[str, int]:
    """(error level, mask) from the format information around the top-left finder."""
    positions = [(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)]
    positions += [(8, 14 - i) for i in range(9, 15)]
    bits = sum(int(matrix[r][c]) << i for i, (r, c) in enumerate(positions))
    data = (bits ^ 0x5412) >> 10
    return _FORMAT_LEVEL[data >> 3], data & 7


def _bits_to_int(bits: list[int]) -> int:
    value = 0
    for bit in bits:
        value = value << 1 | bit
    return value


def decode_matrix(matrix: Matrix) -> str:
    """The text of an undamaged QR symbol (version 1-40, no ECI, UTF-8 byte segments)."""
    size = len(matrix)
    version = (size - 17) // 4
    assert 17 + 4 * version == size, "not a QR symbol size"
    level, mask_id = read_format(matrix)
    mask = _MASKS[mask_id]
    function = function_modules(version)
    bits: list[int] = []
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        upward = ((right + 1) & 2) == 0
        for vertical in range(size):
            row = size - 1 - vertical if upward else vertical
            for col in (right, right - 1):
                if not function[row][col]:
                    bits.append(int(matrix[row][col] ^ mask(row, col)))
        right -= 2
    codewords = [_bits_to_int(bits[i : i + 8]) for i in range(0, len(bits) - 7, 8)]
    blocks: list[int] = []  # data codewords per block
    ecc_table: Any = consts.ECC  # segno.consts ships no type hints
    for ec in ecc_table[version][consts.ERROR_MAPPING[level]]:
        blocks += [ec.num_data] * ec.num_blocks
    data_blocks: list[list[int]] = [[] for _ in blocks]
    position = 0
    for i in range(max(blocks)):
        for b, length in enumerate(blocks):
            if i < length:
                data_blocks[b].append(codewords[position])
                position += 1
    stream = [(cw >> (7 - k)) & 1 for block in data_blocks for cw in block for k in range(8)]
    size_class = 0 if version <= 9 else 1 if version <= 26 else 2
    out = bytearray()
    cursor = 0

    def take(n: int) -> int:
        nonlocal cursor
        value = _bits_to_int(stream[cursor : cursor + n])
        cursor += n
        return value

    while cursor + 4 <= len(stream):
        mode = take(4)
        if mode == 0:
            break
        if mode == 0b0100:
            count = take((8, 16, 16)[size_class])
            out += bytes(take(8) for _ in range(count))
        elif mode == 0b0010:
            count = take((9, 11, 13)[size_class])
            for _ in range(count // 2):
                pair = take(11)
                out += (_ALNUM[pair // 45] + _ALNUM[pair % 45]).encode()
            if count % 2:
                out += _ALNUM[take(6)].encode()
        elif mode == 0b0001:
            count = take((10, 12, 14)[size_class])
            text = ""
            while count >= 3:
                text += f"{take(10):03d}"
                count -= 3
            if count == 2:
                text += f"{take(7):02d}"
            elif count == 1:
                text += str(take(4))
            out += text.encode()
        else:
            raise AssertionError(f"unsupported mode {mode:04b}")
    return out.decode("utf-8")


def segno_matrix(qr: segno.QRCode) -> Matrix:
    return [[bool(m) for m in row] for row in qr.matrix]


def png_to_matrix(png: bytes, scale: int, border: int) -> Matrix:
    """Parse a 1-bit greyscale PNG (any filter) and sample each module's centre."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position = 8
    idat = b""
    header: tuple[int, ...] = ()
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">2I5B", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, bit_depth, colour_type, _, _, interlace = header
    assert (bit_depth, colour_type, interlace) == (1, 0, 0)
    stride = (width + 7) // 8
    raw = zlib.decompress(idat)
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        filter_type, data = line[0], bytearray(line[1:])
        for x in range(stride):
            left = data[x - 1] if x else 0
            up = previous[x]
            up_left = previous[x - 1] if x else 0
            if filter_type == 1:
                data[x] = (data[x] + left) & 0xFF
            elif filter_type == 2:
                data[x] = (data[x] + up) & 0xFF
            elif filter_type == 3:
                data[x] = (data[x] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                data[x] = (data[x] + predictor) & 0xFF
            else:
                assert filter_type == 0
        rows.append(data)
        previous = data

    def dark(x: int, y: int) -> bool:
        return not (rows[y][x // 8] >> (7 - x % 8)) & 1  # greyscale 0 = black

    modules = width // scale - 2 * border
    assert width == height == (modules + 2 * border) * scale
    quiet = [
        dark(x, y)
        for y in range(0, height, scale)
        for x in range(0, width, scale)
        if min(x, y) < border * scale or max(x, y) >= (border + modules) * scale
    ]
    assert not any(quiet), "the quiet zone must be light"
    return [
        [
            dark((border + c) * scale + scale // 2, (border + r) * scale + scale // 2)
            for c in range(modules)
        ]
        for r in range(modules)
    ]


def svg_to_matrix(svg: str, border: int) -> tuple[Matrix, ET.Element]:
    """Read segno's single-path SVG (M/m moves, h runs of dark modules) back to modules."""
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    paths = root.findall(f"{SVG_NS}path")
    assert len(paths) == 1
    d = paths[0].attrib["d"]
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, first, second in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", d):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            for column in range(int(x), int(x + float(first))):
                dark.add((int(y), column))
            x += float(first)
    rows = max(r for r, _ in dark) + 1
    size = rows - border
    return (
        [[(border + r, border + c) in dark for c in range(size)] for r in range(size)],
        root,
    )


# ============================================================ the decoder itself


@pytest.mark.parametrize("version", [1, 2, 6, 7, 14, 25, 32, 40])
def test_function_pattern_layout_matches_segno(version: int) -> None:
    qr = segno.make("x", version=version, error="m", micro=False)
    data_types = {consts.TYPE_DATA_DARK, consts.TYPE_DATA_LIGHT}
    segno_function = [
        [module not in data_types for module in row]
        for row in qr.matrix_iter(scale=1, border=0, verbose=True)
    ]
    ours = function_modules(version)
    size = 17 + 4 * version
    differences = {
        (r, c) for r in range(size) for c in range(size) if ours[r][c] != segno_function[r][c]
    }
    # segno's *labelling* iterator counts (8, size - 9) as format information (an off-by-one
    # in matrix_iter_verbose: `j > width - 10`); ISO/IEC 18004 and segno's encoder put data
    # there, as the full-symbol decodes below (versions up to 40) confirm.
    assert differences == {(8, size - 9)}
    assert not ours[8][size - 9]


@pytest.mark.parametrize(
    "text", ["HELLO WORLD 42", "0123456789012", "https://yjj.qingdao.gov.cn/licences/verify?x=1"]
)
@pytest.mark.parametrize("error", ["l", "m", "q", "h"])
def test_decoder_reads_segno_symbols(text: str, error: str) -> None:
    qr = segno.make(text, error=error, micro=False, boost_error=False)
    assert decode_matrix(segno_matrix(qr)) == text
    assert read_format(segno_matrix(qr)) == (qr.error, qr.mask)


# ============================================================ payload choice


def test_short_token_goes_into_the_qr() -> None:
    token = "eyJhbGciOiJFZERTQSJ9.eyJhIjoxfQ.c2ln"
    assert qr_payload(BASE, LICENCE_NUMBER, token) == f"{BASE}?token={token}"


def test_long_token_falls_back_to_the_licence_number_url() -> None:
    payload = qr_payload(BASE, LICENCE_NUMBER, "a" * 2000)
    assert payload.startswith(f"{BASE}?licence=")
    assert payload.isascii()
    assert unquote(payload.split("licence=", 1)[1]) == LICENCE_NUMBER
    assert parse_qs(urlsplit(payload).query) == {"licence": [LICENCE_NUMBER]}


def test_the_boundary_is_max_chars() -> None:
    prefix = len(f"{BASE}?token=")
    exact = "t" * (DEFAULT_MAX_CHARS - prefix)
    assert "token=" in qr_payload(BASE, LICENCE_NUMBER, exact)
    assert "licence=" in qr_payload(BASE, LICENCE_NUMBER, exact + "t")
    assert "token=" in qr_payload(
        BASE, LICENCE_NUMBER, exact + "t", max_chars=DEFAULT_MAX_CHARS + 1
    )


def test_a_base_url_with_a_query_gets_an_ampersand() -> None:
    payload = qr_payload(f"{BASE}?lang=zh", LICENCE_NUMBER, "x.y.z")
    assert payload == f"{BASE}?lang=zh&token=x.y.z"
    assert parse_qs(urlsplit(payload).query) == {"lang": ["zh"], "token": ["x.y.z"]}


@pytest.mark.parametrize(
    ("base", "number", "max_chars", "message"),
    [
        ("yjj.qingdao.gov.cn/verify", LICENCE_NUMBER, DEFAULT_MAX_CHARS, "absolute"),
        ("ftp://yjj.qingdao.gov.cn/verify", LICENCE_NUMBER, DEFAULT_MAX_CHARS, "absolute"),
        (f"{BASE}#frag", LICENCE_NUMBER, DEFAULT_MAX_CHARS, "fragment"),
        (BASE, "", DEFAULT_MAX_CHARS, "licence_number"),
        (BASE, LICENCE_NUMBER, 0, "max_chars"),
        (BASE, LICENCE_NUMBER, MAX_QR_BYTES + 1, "max_chars"),
        (BASE, LICENCE_NUMBER, 60, "short URL"),
    ],
)
def test_payload_refusals(base: str, number: str, max_chars: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        qr_payload(base, number, "a" * 3000, max_chars=max_chars)


def test_default_max_chars_is_the_capacity_of_version_25_m() -> None:
    assert segno.make("a" * DEFAULT_MAX_CHARS, error="m", boost_error=False).designator == "25-M"
    assert segno.make("a" * (DEFAULT_MAX_CHARS + 1), error="m", boost_error=False).version == 26
    assert segno.make("a" * MAX_QR_BYTES, error="m", boost_error=False).designator == "40-M"
    with pytest.raises(segno.DataOverflowError):
        segno.make("a" * (MAX_QR_BYTES + 1), error="m", boost_error=False)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=20, max_value=2200))
def test_whatever_is_chosen_fits_the_version_budget(token_length: int) -> None:
    payload = qr_payload(BASE, LICENCE_NUMBER, "t" * token_length)
    qr = make_qr(payload)
    assert isinstance(qr.version, int)
    assert qr.version <= 25
    assert qr.error in {"M", "Q", "H"}  # M, or better when boosted for free


# ============================================================ real licences


def _licence_token(**subject: str) -> str:
    ring = IssuerKeyRing(
        "did:web:yjj.qingdao.gov.cn", "key-2026-1", {"key-2026-1": Ed25519PrivateKey.generate()}
    )
    status_base = "https://yjj.qingdao.gov.cn/licences/status"
    claims = LicenceClaims(
        uscc=make_uscc(7),
        holder_name=subject.get("holder_name", "青岛海纳化工贸易有限公司"),
        item_code="QD-AJ-001",
        item_name=subject.get("item_name", "危险化学品经营许可证核发（新办）"),
        licence_number=subject.get("licence_number", LICENCE_NUMBER),
        scope=subject.get("scope", "汽油、柴油、甲醇（不带储存设施经营）"),
        approval_mode=ApprovalMode.instant,
        valid_from=date(2026, 6, 1),
        valid_until=date(2029, 5, 31),
        status=(
            StatusListEntry(f"{status_base}/revocation/1", StatusPurpose.revocation, 94567),
            StatusListEntry(f"{status_base}/suspension/1", StatusPurpose.suspension, 94567),
        ),
    )
    token = issue_licence(ring, claims)
    assert verify_licence(token, ring, datetime(2027, 1, 1, tzinfo=CST)).valid
    return token


def test_a_realistic_chinese_licence_gets_the_short_url_by_default() -> None:
    token = _licence_token()
    payload = qr_payload(BASE, LICENCE_NUMBER, token)
    assert "licence=" in payload
    # ~130 characters once the Chinese licence number is percent-encoded: a small symbol.
    assert int(make_qr(payload).version) <= 10


def test_a_realistic_licence_fits_when_the_caller_allows_a_large_symbol() -> None:
    token = _licence_token()
    payload = qr_payload(BASE, LICENCE_NUMBER, token, max_chars=MAX_QR_BYTES)
    assert payload == f"{BASE}?token={token}"
    qr = make_qr(payload)
    assert isinstance(qr.version, int)
    assert 30 <= qr.version <= 40
    assert decode_matrix(segno_matrix(qr)) == payload


# ============================================================ PNG


@pytest.mark.parametrize(("scale", "border"), [(1, 4), (3, 4), (8, 4), (5, 0), (2, 1)])
def test_png_carries_the_payload(scale: int, border: int) -> None:
    payload = f"{BASE}?token=" + "eyJhbGciOiJFZERTQSJ9." * 20
    png = licence_qr_png(payload, scale, border=border)
    qr = make_qr(payload)
    modules = 17 + 4 * int(qr.version)
    width, height = struct.unpack(">2I", png[16:24])
    assert png[12:16] == b"IHDR"
    assert width == height == (modules + 2 * border) * scale
    matrix = png_to_matrix(png, scale, border)
    assert matrix == segno_matrix(qr)
    assert decode_matrix(matrix) == payload


def test_png_defaults() -> None:
    png = licence_qr_png("https://yjj.qingdao.gov.cn/licences/verify?licence=1")
    qr = make_qr("https://yjj.qingdao.gov.cn/licences/verify?licence=1")
    (width,) = struct.unpack(">I", png[16:20])
    assert width == (17 + 4 * int(qr.version) + 2 * QUIET_ZONE) * 8
    assert b"pHYs" not in png


def test_png_dpi_is_recorded() -> None:
    png = licence_qr_png("https://x.example/v?licence=1", 4, dpi=300)
    at = png.index(b"pHYs")
    per_metre_x, per_metre_y, unit = struct.unpack(">IIB", png[at + 4 : at + 13])
    assert per_metre_x == per_metre_y == int(300 // 0.0254)
    assert unit == 1


def test_png_of_a_full_licence_token() -> None:
    payload = qr_payload(BASE, LICENCE_NUMBER, _licence_token(), max_chars=MAX_QR_BYTES)
    png = licence_qr_png(payload, 2)
    assert decode_matrix(png_to_matrix(png, 2, QUIET_ZONE)) == payload


# ============================================================ SVG


@pytest.mark.parametrize(("scale", "border"), [(1, 4), (4, 4), (3, 2)])
def test_svg_is_well_formed_and_carries_the_payload(scale: int, border: int) -> None:
    payload = qr_payload(BASE, LICENCE_NUMBER, "a" * 5000)
    svg = licence_qr_svg(payload, scale, border=border, title="电子证照核验码")
    assert svg.startswith('<?xml version="1.0" encoding="utf-8"?>')
    matrix, root = svg_to_matrix(svg, border)
    assert root.tag == f"{SVG_NS}svg"
    qr = make_qr(payload)
    side = (17 + 4 * int(qr.version) + 2 * border) * scale
    assert root.attrib["width"] == root.attrib["height"] == str(side)
    title = root.find(f"{SVG_NS}title")
    assert title is not None
    assert title.text == "电子证照核验码"
    assert matrix == segno_matrix(qr)
    assert decode_matrix(matrix) == payload


def test_svg_without_title() -> None:
    root = ET.fromstring(licence_qr_svg("https://x.example/v?licence=1"))  # noqa: S314
    assert root.find(f"{SVG_NS}title") is None


# ============================================================ symbols


def test_make_qr_never_makes_micro_qr() -> None:
    qr = make_qr("1")
    assert not qr.is_micro
    assert qr.version == 1
    assert qr.designator.startswith("1-")


def test_designator_reports_version_and_level() -> None:
    payload = qr_payload(BASE, LICENCE_NUMBER, "t" * (DEFAULT_MAX_CHARS - len(BASE) - 7))
    qr = make_qr(payload)
    assert qr.designator == "25-M"
    assert qr.mode == "byte"
    assert decode_matrix(segno_matrix(qr)) == payload


def test_error_level_can_be_raised() -> None:
    payload = "https://x.example/v?licence=1"
    assert make_qr(payload, error="h").error == "H"
    matrix = png_to_matrix(licence_qr_png(payload, 2, error="h"), 2, QUIET_ZONE)
    assert read_format(matrix)[0] == "H"


@pytest.mark.parametrize("bad_scale", [0, -1])
def test_bad_scale(bad_scale: int) -> None:
    with pytest.raises(ValueError, match="scale"):
        licence_qr_png("x", bad_scale)
    with pytest.raises(ValueError, match="scale"):
        licence_qr_svg("x", bad_scale)


def test_empty_content() -> None:
    with pytest.raises(ValueError, match="empty"):
        make_qr("")


def test_too_much_content() -> None:
    with pytest.raises(segno.DataOverflowError):
        make_qr("a" * (MAX_QR_BYTES + 1))


@settings(max_examples=25, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=300
    )
)
def test_any_ascii_text_round_trips_through_the_symbol(text: str) -> None:
    """Payloads are ASCII (the licence number is percent-encoded); segno may pick numeric,
    alphanumeric or byte mode, and the decoder reads each."""
    qr = make_qr(text)
    assert decode_matrix(segno_matrix(qr)) == text
