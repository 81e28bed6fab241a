"""An outsider's check of a monthly double-random draw, from its public document only.

The inspection service publishes `GET /draws/{year}/{month}` (the `DrawPublic` schema): the
inputs document as hashed, its digest, the commitment and, once revealed, the secret, the public
value, the seed and the listed enterprises (planned, then drawn in rank order, with their
teams' names). This module re-derives the draw from that document alone, written again from the
algorithm's description (`qd-double-random/2`, services/inspection/draw.py) rather than
importing the service's code: a second implementation is what makes the check worth anything,
and the browser runs a third (static/drawcheck.js) over the same steps.

What an outsider can and cannot check:
- inputs digest, commitment, seed and the selection (steps 2-5): recomputed exactly;
- the teams (step 6): the assignment depends on the sealed conflicts of interest, so it is
  checked against the public constraints only (team size, each member qualified for the
  sector, nobody above their monthly cap). The published teams carry inspectors' names, not
  roster ids, so a name shared by two rostered inspectors is checked against either.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

ALGORITHM: Final = "qd-double-random/2"
_VALUE_RUNS: Final = re.compile(r"[0-9a-f]+")


class Outcome(StrEnum):
    passed = "passed"
    failed = "failed"
    # Not applicable yet (before the reveal) or not checkable (the document lacks the data).
    skipped = "skipped"


@dataclass(frozen=True)
class Check:
    """One step of the verification, with a zh-CN explanation for the page."""

    name: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class Difference:
    """The first position where the recomputed selection and the published one disagree."""

    rank: int  # 1-based
    expected: str | None  # None: the published list is longer
    published: str | None  # None: the published list is shorter


@dataclass(frozen=True)
class Verdict:
    year: int | None
    month: int | None
    revealed: bool
    checks: tuple[Check, ...]
    expected_selection: tuple[str, ...] = ()
    published_selection: tuple[str, ...] = ()
    seed: str | None = None
    first_difference: Difference | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Every applicable check passed (a committed draw can be ok: nothing to reveal yet)."""
        return all(c.outcome is not Outcome.failed for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def document(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "revealed": self.revealed,
            "checks": {c.name: c.outcome.value for c in self.checks},
            "seed": self.seed,
            "expected_selection": list(self.expected_selection),
            "published_selection": list(self.published_selection),
            "first_difference": None
            if self.first_difference is None
            else {
                "rank": self.first_difference.rank,
                "expected": self.first_difference.expected,
                "published": self.first_difference.published,
            },
        }


# --- the algorithm's primitives, restated ---------------------------------------------------


def canonical(value: Any) -> bytes:
    """Step 2: sorted keys, no spaces, UTF-8 without ASCII escaping."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def canonical_value(public_value: str) -> str:
    """Step 4's public value: NFKC, lower case, the runs of [0-9a-f], decimal runs without
    leading zeros, joined by single spaces."""
    runs = _VALUE_RUNS.findall(unicodedata.normalize("NFKC", public_value).lower())
    return " ".join(str(int(r)) if r.isdigit() else r for r in runs)


def seed_of(secret: bytes, public_value: str, inputs_digest: bytes) -> bytes:
    return hashlib.sha256(
        secret + canonical_value(public_value).encode("utf-8") + inputs_digest
    ).digest()


def selection(pool: Sequence[Mapping[str, Any]], count: int, seed: bytes) -> tuple[str, ...]:
    """Step 5: the `count` smallest (h + 1) / weight, ties by USCC; compared by
    cross-multiplication so no rational or float is ever formed."""

    def h(uscc: str) -> int:
        return int.from_bytes(hashlib.sha256(seed + uscc.encode("ascii")).digest(), "big")

    keyed = [(h(str(e["uscc"])) + 1, int(e["weight"]), str(e["uscc"])) for e in pool]
    # Sorting by a shared denominator keeps the comparison exact: (h+1)/w < (h'+1)/w' iff
    # (h+1) * (W/w) < (h'+1) * (W/w') for any common multiple W of the weights.
    common = math.lcm(*(w for _, w, _u in keyed)) if keyed else 1
    keyed.sort(key=lambda k: (k[0] * (common // k[1]), k[2]))
    return tuple(u for _, _, u in keyed[:count])


# --- the check ------------------------------------------------------------------------------


class DocumentInvalid(ValueError):
    """The public document lacks what the check needs; the message says which field."""


def _inputs(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = doc.get("inputs")
    if not isinstance(inputs, Mapping):
        raise DocumentInvalid("the publication has no `inputs` document")
    for key in ("pool", "planned", "roster"):
        if not isinstance(inputs.get(key), list):
            raise DocumentInvalid(f"`inputs.{key}` is missing or not a list")
    for key in ("draw_count", "team_size", "year", "month"):
        if not isinstance(inputs.get(key), int):
            raise DocumentInvalid(f"`inputs.{key}` is missing or not an integer")
    return inputs


def _hex_bytes(value: Any, name: str, size: int) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"(?:[0-9a-f]{2})+", value):
        raise DocumentInvalid(f"`{name}` is not lower-case hex bytes")
    raw = bytes.fromhex(value)
    if len(raw) != size:
        raise DocumentInvalid(f"`{name}` must be {size} bytes")
    return raw


def first_difference(expected: Sequence[str], published: Sequence[str]) -> Difference | None:
    for i in range(max(len(expected), len(published))):
        e = expected[i] if i < len(expected) else None
        p = published[i] if i < len(published) else None
        if e != p:
            return Difference(i + 1, e, p)
    return None


def team_findings(inputs: Mapping[str, Any], listed: Sequence[Mapping[str, Any]]) -> list[str]:
    """Step 6 against its public constraints; each finding names the enterprise or inspector."""
    findings: list[str] = []
    by_name: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in inputs["roster"]:
        by_name[str(r["name"])].append(r)
    size = int(inputs["team_size"])
    load: Counter[str] = Counter()
    for entry in listed:
        team = entry.get("team")
        uscc, sector = str(entry.get("uscc")), str(entry.get("sector"))
        if not isinstance(team, list):
            findings.append(f"{uscc} 未公布检查组")
            continue
        if len(team) != size or len(set(team)) != len(team):
            findings.append(f"{uscc} 检查组应为 {size} 名不同的执法人员，公布了 {len(team)} 名")
        for name in team:
            load[str(name)] += 1
            rostered = by_name.get(str(name), [])
            if not rostered:
                findings.append(f"{uscc} 的检查人员 {name} 不在公布的执法人员名录中")
            elif not any(sector in r["sectors"] for r in rostered):
                findings.append(f"{uscc} 的检查人员 {name} 不具备 {sector} 行业检查资格")
    for name, visits in sorted(load.items()):
        cap = sum(int(r["monthly_cap"]) for r in by_name.get(name, []))
        if by_name.get(name) and visits > cap:
            findings.append(f"执法人员 {name} 本月被安排 {visits} 次，超过月度上限 {cap} 次")
    return findings


def verify(doc: Mapping[str, Any]) -> Verdict:
    """Check a published draw end to end; never raises for a tampered document (that is a
    failed check), only DocumentInvalid for one that lacks the fields to check at all."""
    inputs = _inputs(doc)
    checks: list[Check] = []
    year, month = inputs["year"], inputs["month"]

    if inputs.get("algorithm") != ALGORITHM:
        checks.append(
            Check("algorithm", Outcome.failed, f"算法版本 {inputs.get('algorithm')!r} 无法复核")
        )
        return Verdict(year, month, False, tuple(checks))
    checks.append(Check("algorithm", Outcome.passed, f"算法版本 {ALGORITHM}"))

    period_ok = doc.get("year") == year and doc.get("month") == month
    checks.append(
        Check(
            "period",
            Outcome.passed if period_ok else Outcome.failed,
            "公示月份与抽取参数一致" if period_ok else "公示月份与抽取参数中的月份不一致",
        )
    )

    digest = hashlib.sha256(canonical(dict(inputs))).digest()
    digest_ok = doc.get("inputs_digest") == digest.hex()
    checks.append(
        Check(
            "inputs_digest",
            Outcome.passed if digest_ok else Outcome.failed,
            "抽取参数（名单库、数量、执法人员名录）与公示时的摘要一致"
            if digest_ok
            else "抽取参数与公示的摘要不一致：名单库或参数在公示后被改动",
        )
    )

    revealed = doc.get("state") == "revealed" and doc.get("secret") is not None
    if not revealed:
        for name in ("commitment", "seed", "selection", "teams"):
            checks.append(Check(name, Outcome.skipped, "尚未揭晓：揭晓后可复核"))
        return Verdict(year, month, False, tuple(checks))

    secret = _hex_bytes(doc.get("secret"), "secret", 32)
    commitment_ok = hashlib.sha256(secret).hexdigest() == doc.get("commitment")
    checks.append(
        Check(
            "commitment",
            Outcome.passed if commitment_ok else Outcome.failed,
            "揭晓的密钥与事先公布的承诺值相符"
            if commitment_ok
            else "揭晓的密钥与事先公布的承诺值不符",
        )
    )

    public_value = doc.get("public_value")
    if not isinstance(public_value, str) or not canonical_value(public_value):
        raise DocumentInvalid("`public_value` is missing")
    seed = seed_of(secret, public_value, digest)
    seed_ok = doc.get("seed") == seed.hex()
    checks.append(
        Check(
            "seed",
            Outcome.passed if seed_ok else Outcome.failed,
            "随机种子 = SHA-256(密钥 ‖ 公开随机数 ‖ 参数摘要)，与公布值一致"
            if seed_ok
            else "按公开数据重新计算的随机种子与公布值不一致",
        )
    )

    listed = doc.get("listed")
    if not isinstance(listed, list):
        raise DocumentInvalid("`listed` is missing")
    drawn = sorted(
        (e for e in listed if isinstance(e, Mapping) and e.get("kind") == "drawn"),
        key=lambda e: int(e.get("rank") or 0),
    )
    published = tuple(str(e.get("uscc")) for e in drawn)
    expected = selection(inputs["pool"], int(inputs["draw_count"]), seed)
    difference = first_difference(expected, published)
    checks.append(
        Check(
            "selection",
            Outcome.passed if difference is None else Outcome.failed,
            f"按种子从 {len(inputs['pool'])} 家企业中重新抽取 {len(expected)} 家，"
            "与公布名单逐一一致"
            if difference is None
            else f"第 {difference.rank} 位不一致：应为 {difference.expected or '（无）'}，"
            f"公布为 {difference.published or '（无）'}",
        )
    )

    planned = {str(p["uscc"]) for p in inputs["planned"]}
    listed_planned = {str(e.get("uscc")) for e in listed if e.get("kind") == "planned"}
    problems = team_findings(inputs, [e for e in listed if isinstance(e, Mapping)])
    if planned != listed_planned:
        problems.insert(0, "公示的计划检查企业与抽取参数中的计划名单不一致")
    checks.append(
        Check(
            "teams",
            Outcome.passed if not problems else Outcome.failed,
            "检查组人数、行业资格和月度上限均符合公开规则（回避关系依法保密，由局方复核）"
            if not problems
            else "；".join(problems[:5]),
        )
    )
    return Verdict(
        year,
        month,
        True,
        tuple(checks),
        expected_selection=expected,
        published_selection=published,
        seed=seed.hex(),
        first_difference=difference,
        problems=tuple(problems),
    )
