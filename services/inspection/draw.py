"""The monthly verifiable double-random draw (双随机): pure rules, no I/O.

Anyone can recompute a revealed draw from what the bureau publishes. The algorithm,
version ``qd-double-random/2``, precisely:

1. **Published inputs.** At commitment the bureau publishes one JSON document, the *inputs*:
   ``{"algorithm", "year", "month", "pool": [{"uscc", "name", "sector", "district",
   "weight"}], "planned": [{"uscc", "name", "sector", "district"}], "draw_count",
   "team_size", "roster": [{"id", "name", "sectors", "monthly_cap"}], "conflicts_digest",
   "source": {"name", "round", "expected_on"}}``; lists sorted by ``uscc`` (pool, planned)
   and ``id`` (roster), each roster entry's ``sectors`` sorted.
2. **Canonical form.** ``canonical(x) = json.dumps(x, sort_keys=True, separators=(",", ":"),
   ensure_ascii=False).encode("utf-8")``; ``inputs_digest = sha256(canonical(inputs))``
   (32 raw bytes).
3. **Commitment.** The service draws a 32-byte secret and publishes
   ``commitment = sha256(secret).hexdigest()`` with the inputs. The public randomness
   source (e.g. a welfare-lottery round) is fixed in the inputs and falls after the
   commitment date, so nobody knew its value when the secret was fixed.
4. **Seed.** At reveal: ``seed = sha256(secret || value.encode("utf-8") || inputs_digest)``
   (32 raw bytes), after checking ``sha256(secret) == commitment``, where ``value`` is the
   public value in canonical form: NFKC-normalised and lower-cased, the maximal runs of
   ``[0-9a-f]`` in order, a run of decimal digits written without leading zeros
   (``"007"`` → ``"7"``), joined by single spaces. So "03 07 12 + 09", "3,7,12,9" and
   "３ ７ １２ ９" are one value: whoever types the official result cannot try spellings
   of it for a seed they like (version 1 hashed the text as typed).
5. **Selection** (priority sampling, Duffield-Lund-Thorup). For each pool entry
   ``h = int.from_bytes(sha256(seed || uscc.encode("ascii")).digest(), "big")``; its rank
   key is the exact rational ``(h + 1) / weight`` (no floating point). The ``draw_count``
   entries with the *smallest* key are drawn; equal keys are ordered by USCC ascending.
   The selection is published in that order. A weight of w makes an entry about w times as
   likely to be drawn as a weight-1 entry when the draw is small relative to the pool.
6. **Teams.** Every planned and drawn enterprise gets exactly ``team_size`` (>= 2)
   inspectors qualified for its sector (``sector in sectors``, ``monthly_cap > 0``), none
   with a declared conflict for that USCC, no inspector above ``monthly_cap`` visits in
   the month. ``cost(i, e) = int.from_bytes(sha256(seed || b"|team|" || id.encode("utf-8")
   || b"|" || uscc.encode("ascii")).digest()[:3], "big")``. Each enterprise's *shortlist* is
   its candidates ordered by (cost, id), cut to the first K, K = 8; if no assignment within
   the caps exists on the shortlists, K doubles until a shortlist holds every candidate (then
   the month is infeasible). On the shortlists: L* = the smallest maximum load any
   assignment achieves; then the teams are the assignment with every load <= min(cap, L*)
   that minimises the sum of cost over assigned pairs. With 24-bit seed-derived costs that
   optimum is unique with overwhelming probability, so any exact solver finds the same
   teams. This module finds L* by bisection over maximum-flow checks and the teams with
   OR-Tools CP-SAT (one worker, seed-derived ``random_seed``), and refuses a result it did
   not prove optimal.

Conflicts of interest (relatives, former employers) are personal data: the inputs carry only
``conflicts_digest = sha256(salt || canonical(conflicts))`` with a salt the bureau keeps,
which binds the service to the conflicts as they stood at commitment without disclosing
them. Outsiders recompute the selection in full and check the teams against the public
constraints; the recompute endpoint also replays the teams with the sealed conflicts.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, Final, Protocol

ALGORITHM: Final = "qd-double-random/2"
SECRET_BYTES: Final = 32
# 提前15日在门户网站公示本级月度执法检查企业名单 (measure 8).
PUBLICATION_LEAD_DAYS: Final = 15
MIN_TEAM_SIZE: Final = 2  # 执法人员不得少于两人 (Administrative Penalty Law art. 42)
_TEAM_COST_BYTES: Final = 3
# Candidates per enterprise the solver first considers (step 6); doubled while too few.
SHORTLIST_SIZE: Final = 8
# A safety net only: the result must be proven optimal, so hitting this refuses the reveal.
SOLVER_TIME_LIMIT_S: Final = 120.0


class DrawState(StrEnum):
    """committed: inputs and commitment published; revealed: seed, selection, teams public."""

    committed = "committed"
    revealed = "revealed"


class DrawRuleViolated(ValueError):
    """A draw request refused by a business rule; `field` and `code` say which and why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


# --- dates -----------------------------------------------------------------------------------


def first_day(year: int, month: int) -> date:
    return date(year, month, 1)


def last_day(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def publication_deadline(year: int, month: int) -> date:
    """Rule `publish_15_days_ahead`: the last day the month's list may be published."""
    return first_day(year, month) - timedelta(days=PUBLICATION_LEAD_DAYS)


def check_publication_date(today: date, year: int, month: int) -> None:
    """Refuse a publication (the commitment, then the drawn list) later than 15 days before
    the first day of the month."""
    deadline = publication_deadline(year, month)
    if today > deadline:
        raise DrawRuleViolated(
            "month",
            "publication_too_late",
            f"the list for {year}-{month:02d} had to be published by {deadline.isoformat()} "
            f"(15 days before the month); today is {today.isoformat()}",
        )


@dataclass(frozen=True)
class RandomnessSource:
    """The named public randomness whose value is mixed into the seed (e.g. 双色球 2027-018)."""

    name: str
    round: str
    expected_on: date

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "round": self.round, "expected_on": self.expected_on.isoformat()}


def check_source(source: RandomnessSource, today: date, year: int, month: int) -> None:
    """Rule `public_value_unknown_at_commitment`: the value is due after today, and by the
    publication deadline, so the drawn list can still go out 15 days before the month."""
    if source.expected_on <= today:
        raise DrawRuleViolated(
            "source.expected_on",
            "source_value_already_known",
            f"the public value must be due after the commitment date {today.isoformat()}, "
            f"so that nobody knows it when the secret is fixed",
        )
    deadline = publication_deadline(year, month)
    if source.expected_on > deadline:
        raise DrawRuleViolated(
            "source.expected_on",
            "source_after_publication_deadline",
            f"the public value must be due by {deadline.isoformat()}, so the drawn list can be "
            f"published 15 days before the month",
        )


def check_reveal_date(source: RandomnessSource, today: date, year: int, month: int) -> None:
    """The public value cannot be known before its source publishes it, and the drawn list
    (published at reveal) must be out 15 days before the month (rule `publish_15_days_ahead`)."""
    if today < source.expected_on:
        raise DrawRuleViolated(
            "public_value",
            "source_value_not_yet_due",
            f"{source.name} {source.round} is due on {source.expected_on.isoformat()}; "
            f"the draw cannot be revealed before",
        )
    check_publication_date(today, year, month)


# --- the eligible pool -----------------------------------------------------------------------


class PlanLine(Protocol):
    """What the draw reads from a yearly plan entry (a PlanEntry row or a PlanDecision)."""

    @property
    def uscc(self) -> str: ...
    @property
    def sector(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def max_inspections(self) -> int | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def planned_months(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class PoolEntry:
    uscc: str
    name: str
    sector: str
    district: str
    weight: int


@dataclass(frozen=True)
class PlannedEntry:
    uscc: str
    name: str
    sector: str
    district: str


def selection_weight(priority: int) -> int:
    """Rule `risk_raises_draw_weight`: plan priority p draws with weight 1 + max(p, 0) // 10
    (the plan's risk steps are 10, 30, 50: medium risk doubles the chance, high quadruples)."""
    return 1 + max(priority, 0) // 10


def monthly_list(
    lines: Iterable[PlanLine],
    month: int,
    drawn_this_year: Mapping[str, int],
    names: Mapping[str, str],
) -> tuple[tuple[PoolEntry, ...], tuple[PlannedEntry, ...]]:
    """The eligible pool and the planned list for one month of an approved plan.

    Pool: random-mode entries below their yearly maximum (counting earlier draws of the year)
    and not planned that month. Planned: planned-mode entries whose months include `month`.
    Exempt entries are in neither.
    """
    pool: list[PoolEntry] = []
    planned: list[PlannedEntry] = []
    for line in lines:
        name = names.get(line.uscc, line.uscc)
        if line.mode == "planned":
            if month in line.planned_months:
                planned.append(PlannedEntry(line.uscc, name, line.sector, line.district))
            continue
        if line.mode != "random" or month in line.planned_months:
            continue
        if line.max_inspections is not None and (
            drawn_this_year.get(line.uscc, 0) >= line.max_inspections
        ):
            continue
        pool.append(
            PoolEntry(line.uscc, name, line.sector, line.district, selection_weight(line.priority))
        )
    pool.sort(key=lambda e: e.uscc)
    planned.sort(key=lambda e: e.uscc)
    return tuple(pool), tuple(planned)


def count_to_draw(pool_size: int, count: int | None, percentage: Decimal | None) -> int:
    """How many to draw: an explicit count, or a percentage of the pool rounded up."""
    if (count is None) == (percentage is None):
        raise DrawRuleViolated(
            "count", "draw_size_ambiguous", "give exactly one of count and percentage"
        )
    if percentage is not None:
        if not Decimal(0) < percentage <= Decimal(100):
            raise DrawRuleViolated(
                "percentage", "percentage_out_of_range", "percentage must be in (0, 100]"
            )
        wanted = (Decimal(pool_size) * percentage / Decimal(100)).to_integral_value(ROUND_CEILING)
        return int(wanted)
    assert count is not None
    if count < 1:
        raise DrawRuleViolated("count", "count_out_of_range", "count must be at least 1")
    if count > pool_size:
        raise DrawRuleViolated(
            "count",
            "draw_count_exceeds_pool",
            f"cannot draw {count} from an eligible pool of {pool_size}",
        )
    return count


# --- inspectors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterEntry:
    """An inspector as published with the draw (no conflicts: those are sealed)."""

    id: str
    name: str
    sectors: tuple[str, ...]
    monthly_cap: int


Conflicts = Mapping[str, frozenset[str]]  # inspector id -> USCCs they must not inspect


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes hashed by the draw (step 2 of the algorithm)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def conflicts_document(conflicts: Conflicts) -> dict[str, list[str]]:
    return {i: sorted(us) for i, us in sorted(conflicts.items()) if us}


def conflicts_digest(salt: bytes, conflicts: Conflicts) -> str:
    """sha256(salt || canonical(conflicts)): binds the sealed conflicts without disclosing them."""
    return hashlib.sha256(salt + canonical(conflicts_document(conflicts))).hexdigest()


def relevant_conflicts(
    conflicts: Conflicts, usccs: Iterable[str], roster: Iterable[RosterEntry]
) -> dict[str, frozenset[str]]:
    """The conflicts that can matter for this month: rostered inspectors, listed USCCs."""
    listed = frozenset(usccs)
    return {
        r.id: frozenset(conflicts.get(r.id, frozenset()) & listed)
        for r in roster
        if conflicts.get(r.id, frozenset()) & listed
    }


# --- inputs, commitment, seed ----------------------------------------------------------------


@dataclass(frozen=True)
class DrawInputs:
    """Everything frozen and published at commitment."""

    year: int
    month: int
    pool: tuple[PoolEntry, ...]
    planned: tuple[PlannedEntry, ...]
    draw_count: int
    team_size: int
    roster: tuple[RosterEntry, ...]
    conflicts_digest: str
    source: RandomnessSource

    def document(self) -> dict[str, Any]:
        """The published inputs document (step 1)."""
        return {
            "algorithm": ALGORITHM,
            "year": self.year,
            "month": self.month,
            "pool": [
                {
                    "uscc": e.uscc,
                    "name": e.name,
                    "sector": e.sector,
                    "district": e.district,
                    "weight": e.weight,
                }
                for e in sorted(self.pool, key=lambda e: e.uscc)
            ],
            "planned": [
                {"uscc": e.uscc, "name": e.name, "sector": e.sector, "district": e.district}
                for e in sorted(self.planned, key=lambda e: e.uscc)
            ],
            "draw_count": self.draw_count,
            "team_size": self.team_size,
            "roster": [
                {
                    "id": r.id,
                    "name": r.name,
                    "sectors": sorted(r.sectors),
                    "monthly_cap": r.monthly_cap,
                }
                for r in sorted(self.roster, key=lambda r: r.id)
            ],
            "conflicts_digest": self.conflicts_digest,
            "source": self.source.document(),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> DrawInputs:
        if doc.get("algorithm") != ALGORITHM:
            raise ValueError(f"unknown draw algorithm {doc.get('algorithm')!r}")
        return cls(
            year=int(doc["year"]),
            month=int(doc["month"]),
            pool=tuple(
                PoolEntry(p["uscc"], p["name"], p["sector"], p["district"], int(p["weight"]))
                for p in doc["pool"]
            ),
            planned=tuple(
                PlannedEntry(p["uscc"], p["name"], p["sector"], p["district"])
                for p in doc["planned"]
            ),
            draw_count=int(doc["draw_count"]),
            team_size=int(doc["team_size"]),
            roster=tuple(
                RosterEntry(r["id"], r["name"], tuple(r["sectors"]), int(r["monthly_cap"]))
                for r in doc["roster"]
            ),
            conflicts_digest=str(doc["conflicts_digest"]),
            source=RandomnessSource(
                doc["source"]["name"],
                doc["source"]["round"],
                date.fromisoformat(doc["source"]["expected_on"]),
            ),
        )

    def digest(self) -> bytes:
        """inputs_digest: sha256 of the canonical inputs document (32 raw bytes)."""
        return hashlib.sha256(canonical(self.document())).digest()


def commitment_of(secret: bytes) -> str:
    """The published commitment to the secret: sha256(secret), hex."""
    return hashlib.sha256(secret).hexdigest()


_VALUE_RUNS: Final = re.compile(r"[0-9a-f]+")


def canonical_public_value(public_value: str) -> str:
    """The public value as it enters the seed (step 4): spelling cannot change the draw."""
    runs = _VALUE_RUNS.findall(unicodedata.normalize("NFKC", public_value).lower())
    return " ".join(str(int(run)) if run.isdigit() else run for run in runs)


def derive_seed(secret: bytes, public_value: str, inputs_digest: bytes) -> bytes:
    """seed = sha256(secret || canonical public value utf-8 || inputs_digest) (step 4)."""
    value = canonical_public_value(public_value)
    return hashlib.sha256(secret + value.encode("utf-8") + inputs_digest).digest()


def check_reveal(secret: bytes, commitment: str, public_value: str) -> None:
    """The revealed secret must open the commitment; the public value must be given."""
    if not canonical_public_value(public_value):
        raise DrawRuleViolated(
            "public_value",
            "public_value_required",
            "the public value is required (digits or hex, e.g. the lottery numbers)",
        )
    if len(secret) != SECRET_BYTES or commitment_of(secret) != commitment:
        raise DrawRuleViolated(
            "secret", "commitment_mismatch", "the secret does not open the published commitment"
        )


# --- selection -------------------------------------------------------------------------------


def selection_key(seed: bytes, entry: PoolEntry) -> tuple[Fraction, str]:
    """Step 5's rank key: the exact rational (h + 1) / weight, then the USCC."""
    h = int.from_bytes(hashlib.sha256(seed + entry.uscc.encode("ascii")).digest(), "big")
    return Fraction(h + 1, entry.weight), entry.uscc


def select(pool: Sequence[PoolEntry], count: int, seed: bytes) -> tuple[str, ...]:
    """The drawn USCCs, in rank order (step 5)."""
    if count > len(pool):
        raise DrawRuleViolated(
            "count", "draw_count_exceeds_pool", f"cannot draw {count} from {len(pool)}"
        )
    # (h + 1) * (L / w) orders exactly as (h + 1) / w when L is a common multiple of the
    # weights, and integers compare far faster than Fractions over a city's pool.
    common = math.lcm(*(e.weight for e in pool)) if pool else 1

    def key(entry: PoolEntry) -> tuple[int, str]:
        h = int.from_bytes(hashlib.sha256(seed + entry.uscc.encode("ascii")).digest(), "big")
        return (h + 1) * (common // entry.weight), entry.uscc

    ranked = heapq.nsmallest(count, pool, key=key)
    return tuple(e.uscc for e in ranked)


# --- teams -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamDemand:
    uscc: str
    sector: str


@dataclass(frozen=True)
class TeamProblem:
    """Why an enterprise (or a sector, or the month) cannot get its team."""

    rule: str
    detail: str
    uscc: str | None = None
    sector: str | None = None

    def document(self) -> dict[str, str]:
        doc = {"rule": self.rule, "detail": self.detail}
        if self.uscc is not None:
            doc["uscc"] = self.uscc
        if self.sector is not None:
            doc["sector"] = self.sector
        return doc


class TeamsInfeasible(ValueError):
    """No assignment satisfies team size, qualification, conflicts and caps."""

    code = "team_assignment_infeasible"

    def __init__(self, problems: Sequence[TeamProblem]) -> None:
        super().__init__("; ".join(p.detail for p in problems))
        self.problems = tuple(problems)


class TeamsNotProven(RuntimeError):
    """The solver stopped before proving the optimum: the result would not be reproducible."""


def team_cost(seed: bytes, inspector_id: str, uscc: str) -> int:
    """Step 6's seed-derived tie-break cost of putting an inspector on an enterprise."""
    digest = hashlib.sha256(
        seed + b"|team|" + inspector_id.encode("utf-8") + b"|" + uscc.encode("ascii")
    ).digest()
    return int.from_bytes(digest[:_TEAM_COST_BYTES], "big")


def candidates(
    demand: TeamDemand, roster: Sequence[RosterEntry], conflicts: Conflicts
) -> list[RosterEntry]:
    """Rules `qualified_for_sector` and `no_conflict_of_interest`: who may join the team."""
    return [
        r
        for r in roster
        if demand.sector in r.sectors
        and r.monthly_cap > 0
        and demand.uscc not in conflicts.get(r.id, frozenset())
    ]


def team_problems(
    demands: Sequence[TeamDemand],
    roster: Sequence[RosterEntry],
    conflicts: Conflicts,
    team_size: int,
) -> list[TeamProblem]:
    """Necessary conditions, each naming its rule: enough candidates per enterprise, enough
    capacity per sector and for the month. Empty does not prove feasibility (sectors share
    inspectors), but every entry is a reason it is infeasible."""
    problems: list[TeamProblem] = []
    for d in demands:
        n = len(candidates(d, roster, conflicts))
        if n < team_size:
            problems.append(
                TeamProblem(
                    "qualified_inspectors_insufficient",
                    f"{d.uscc} ({d.sector}) has {n} qualified inspector(s) without a conflict; "
                    f"a team needs {team_size}",
                    uscc=d.uscc,
                    sector=d.sector,
                )
            )
    per_sector: dict[str, int] = defaultdict(int)
    for d in demands:
        per_sector[d.sector] += team_size
    for sector, slots in sorted(per_sector.items()):
        capacity = sum(r.monthly_cap for r in roster if sector in r.sectors)
        if slots > capacity:
            problems.append(
                TeamProblem(
                    "sector_workload_cap",
                    f"sector {sector} needs {slots} inspector-visits; its qualified "
                    f"inspectors' monthly caps allow {capacity}",
                    sector=sector,
                )
            )
    total = team_size * len(demands)
    capacity = sum(r.monthly_cap for r in roster)
    if total > capacity:
        problems.append(
            TeamProblem(
                "workload_cap",
                f"the month needs {total} inspector-visits; the roster's caps allow {capacity}",
            )
        )
    return problems


def solver_seed(seed: bytes) -> int:
    """CP-SAT's random_seed, derived from the draw seed (a non-negative 31-bit integer)."""
    return int.from_bytes(hashlib.sha256(seed + b"|cp-sat|").digest()[:4], "big") & 0x7FFFFFFF


def shortlists(
    demands: Sequence[TeamDemand],
    roster: Sequence[RosterEntry],
    conflicts: Conflicts,
    seed: bytes,
    size: int | None,
) -> dict[str, list[tuple[str, int]]]:
    """Each enterprise's candidates as (id, cost), cheapest first (cost, then id), the first
    `size` of them (all when None): the seed's random choice of inspectors."""
    lists: dict[str, list[tuple[str, int]]] = {}
    for d in demands:
        ranked = sorted(
            ((r.id, team_cost(seed, r.id, d.uscc)) for r in candidates(d, roster, conflicts)),
            key=lambda pair: (pair[1], pair[0]),
        )
        lists[d.uscc] = ranked if size is None else ranked[:size]
    return lists


def _assignable(
    lists: Mapping[str, Sequence[tuple[str, int]]],
    caps: Mapping[str, int],
    team_size: int,
    load_limit: int,
) -> bool:
    """Whether every enterprise gets `team_size` inspectors from its list with no inspector
    above min(cap, load_limit): a maximum flow equal to the demand (b-matching)."""
    # The graph wrappers ship .pyi files without a py.typed marker.
    from ortools.graph.python import max_flow  # type: ignore[import-untyped]

    inspectors = sorted({i for pairs in lists.values() for i, _ in pairs})
    index = {i: n for n, i in enumerate(inspectors, start=2)}
    first_enterprise = 2 + len(inspectors)
    flow = max_flow.SimpleMaxFlow()
    for n, (_uscc, pairs) in enumerate(sorted(lists.items()), start=first_enterprise):
        flow.add_arc_with_capacity(0, n, team_size)
        for inspector_id, _cost in pairs:
            flow.add_arc_with_capacity(n, index[inspector_id], 1)
    for inspector_id, n in index.items():
        flow.add_arc_with_capacity(n, 1, min(caps[inspector_id], load_limit))
    if flow.solve(0, 1) != flow.OPTIMAL:
        raise TeamsNotProven("the maximum-flow check did not finish")
    return int(flow.optimal_flow()) == team_size * len(lists)


def assign_teams(
    demands: Sequence[TeamDemand],
    roster: Sequence[RosterEntry],
    conflicts: Conflicts,
    team_size: int,
    seed: bytes,
    *,
    time_limit_s: float = SOLVER_TIME_LIMIT_S,
) -> dict[str, tuple[str, ...]]:
    """Step 6: uscc -> sorted inspector ids. Raises TeamsInfeasible naming why."""
    if not demands:
        return {}
    problems = team_problems(demands, roster, conflicts, team_size)
    if problems:
        raise TeamsInfeasible(problems)
    caps = {r.id: r.monthly_cap for r in roster}
    lists: dict[str, list[tuple[str, int]]] | None = None
    size: int | None = SHORTLIST_SIZE
    while lists is None:
        attempt = shortlists(demands, roster, conflicts, seed, size)
        if _assignable(attempt, caps, team_size, max(caps.values())):
            lists = attempt
        elif size is None or all(len(p) < size for p in attempt.values()):
            raise TeamsInfeasible(
                [
                    TeamProblem(
                        "team_assignment_infeasible",
                        "no assignment gives every enterprise a qualified, conflict-free team "
                        "within the monthly caps: inspectors qualified for several sectors are "
                        "needed by more enterprises than their caps allow",
                    )
                ]
            )
        else:
            size *= 2
    # Smallest feasible maximum load, by bisection over maximum-flow checks.
    low = math.ceil(team_size * len(demands) / len({i for p in lists.values() for i, _ in p}))
    high = max(caps.values())
    while low < high:
        middle = (low + high) // 2
        if _assignable(lists, caps, team_size, middle):
            high = middle
        else:
            low = middle + 1
    return _cheapest_teams(lists, caps, team_size, low, seed, time_limit_s)


def _cheapest_teams(
    lists: Mapping[str, Sequence[tuple[str, int]]],
    caps: Mapping[str, int],
    team_size: int,
    load_limit: int,
    seed: bytes,
    time_limit_s: float,
) -> dict[str, tuple[str, ...]]:
    """CP-SAT: the least total seed-derived cost with every load <= min(cap, load_limit)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    pairs: dict[tuple[str, str], cp_model.IntVar] = {}
    per_inspector: dict[str, list[cp_model.IntVar]] = defaultdict(list)
    objective = []
    for uscc, candidates_ in sorted(lists.items()):
        team_vars = []
        for inspector_id, cost in candidates_:
            var = model.new_bool_var(f"x[{inspector_id},{uscc}]")
            pairs[(inspector_id, uscc)] = var
            per_inspector[inspector_id].append(var)
            team_vars.append(var)
            objective.append(cost * var)
        model.add(sum(team_vars) == team_size)
    for inspector_id in sorted(per_inspector):
        model.add(sum(per_inspector[inspector_id]) <= min(caps[inspector_id], load_limit))
    model.minimize(sum(objective))
    solver = cp_model.CpSolver()
    # One worker and a seed-derived random seed: the same inputs replay the same search.
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = solver_seed(seed)
    solver.parameters.max_time_in_seconds = time_limit_s
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:  # the flow check said otherwise: a solver defect
        raise TeamsNotProven("CP-SAT found no assignment the maximum-flow check admitted")
    if status != cp_model.OPTIMAL:
        raise TeamsNotProven(f"CP-SAT stopped with status {solver.status_name(status)}")
    teams: dict[str, list[str]] = defaultdict(list)
    for (inspector_id, uscc), var in pairs.items():
        if solver.boolean_value(var):
            teams[uscc].append(inspector_id)
    return {uscc: tuple(sorted(teams[uscc])) for uscc in sorted(lists)}


# --- the whole draw --------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedDraw:
    """A revealed draw as published, plus the sealed conflicts (empty for an outsider)."""

    inputs: DrawInputs
    commitment: str
    secret: bytes
    public_value: str
    conflicts: Conflicts = field(default_factory=dict)


@dataclass(frozen=True)
class DrawResult:
    seed: str  # hex
    selected: tuple[str, ...]  # drawn USCCs in rank order
    teams: Mapping[str, tuple[str, ...]]  # planned and drawn USCC -> inspector ids

    def document(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "selected": list(self.selected),
            "teams": {u: list(t) for u, t in sorted(self.teams.items())},
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> DrawResult:
        return cls(
            seed=str(doc["seed"]),
            selected=tuple(doc["selected"]),
            teams={u: tuple(t) for u, t in doc["teams"].items()},
        )


def run_draw(
    inputs: DrawInputs, secret: bytes, public_value: str, conflicts: Conflicts
) -> DrawResult:
    """Steps 4-6: the seed, the selection and the teams."""
    seed = derive_seed(secret, public_value, inputs.digest())
    selected = select(inputs.pool, inputs.draw_count, seed)
    sectors = {e.uscc: e.sector for e in inputs.pool}
    demands = [TeamDemand(e.uscc, e.sector) for e in inputs.planned] + [
        TeamDemand(u, sectors[u]) for u in selected
    ]
    teams = assign_teams(demands, inputs.roster, conflicts, inputs.team_size, seed)
    return DrawResult(seed=seed.hex(), selected=selected, teams=teams)


def recompute(published: PublishedDraw) -> DrawResult:
    """Recompute a revealed draw from its published inputs, checking the commitment first."""
    check_reveal(published.secret, published.commitment, published.public_value)
    return run_draw(published.inputs, published.secret, published.public_value, published.conflicts)
