"""Plan a year and draw a month, in memory: generate_plan + selection + team assignment.

100,000 enterprises (seeded RNG: Qingdao districts, sectors, ~8% key, ~3% black-listed, ~5%
red-listed, standardisation levels, insurer risk levels, a few joint inspections) and 400
inspectors (3-5 sectors each, 3% with a conflict, monthly cap 16-22). Timed: generate_plan for
the year, the March pool and the selection (draw count = 1% of the pool), and the team
assignment of every planned and drawn enterprise that month (shortlists, maximum-flow
bisection for the smallest maximum load, CP-SAT for the seed-derived cheapest teams).
Peak memory by tracemalloc over a second run of the same work (tracing slows the timed run).
The same at 10,000 enterprises (40 inspectors), and a greedy assignment (seed order,
least-loaded candidate first) on each month for comparison. OR-Tools is imported before the
clock starts.

value = seconds at 100k, baseline = the 10 s target, ratio = value / baseline.
"""

from __future__ import annotations

import gc
import hashlib
import random
import time
import tracemalloc
from collections import Counter
from typing import Any

from ortools.sat.python import cp_model  # noqa: F401  (imported before the clock starts)

from bench.common import Result
from kernel.uscc import make_uscc
from kernel.vocab import QINGDAO_DISTRICTS, Sector
from services.inspection import draw
from services.inspection.planning import EnterpriseFacts, generate_plan

YEAR = 2027
MONTH = 3
TARGET_S = 10.0
DRAW_SHARE = 0.01
SECTORS = tuple(s.value for s in Sector)
RISKS = (None, "low", "low", "medium", "medium", "high", "major")


def enterprises(n: int, rng: random.Random) -> list[EnterpriseFacts]:
    facts = []
    for i in range(n):
        sector = rng.choice(SECTORS)
        roll = rng.random()
        standing = "blacklisted" if roll < 0.03 else "redlisted" if roll < 0.08 else "normal"
        facts.append(
            EnterpriseFacts(
                uscc=make_uscc(100_000 + i),
                sector=sector,
                district=rng.choice(QINGDAO_DISTRICTS),
                tier="key" if rng.random() < 0.08 else "general",
                standardisation_level=rng.choices((0, 1, 2, 3), (70, 5, 10, 15))[0],
                is_pre_ipo=rng.random() < 0.01,
                is_specialised=rng.random() < 0.04,
                credit_standing=standing,
                risk_level=rng.choices(RISKS, (30, 25, 0, 25, 0, 15, 5))[0],
                joint_inspected=rng.random() < 0.02,
                override="complaint" if rng.random() < 0.002 else None,
            )
        )
    return facts


def inspectors(
    n: int, rng: random.Random, usccs: list[str]
) -> tuple[list[draw.RosterEntry], dict[str, frozenset[str]]]:
    roster = [
        draw.RosterEntry(
            f"I{i:04d}",
            f"执法员{i:04d}",
            tuple(sorted(rng.sample(SECTORS, rng.randint(3, 5)))),
            rng.randint(16, 22),
        )
        for i in range(n)
    ]
    conflicts = {r.id: frozenset(rng.sample(usccs, 2)) for r in roster if rng.random() < 0.03}
    return roster, conflicts


def greedy(
    demands: list[draw.TeamDemand],
    roster: list[draw.RosterEntry],
    conflicts: dict[str, frozenset[str]],
    team_size: int,
) -> tuple[int, int]:
    """Least-loaded qualified candidates first; (max load, enterprises left without a team)."""
    load: Counter[str] = Counter()
    unstaffed = 0
    for d in demands:
        free = [r for r in draw.candidates(d, roster, conflicts) if load[r.id] < r.monthly_cap]
        if len(free) < team_size:
            unstaffed += 1
            continue
        for r in sorted(free, key=lambda r: (load[r.id], r.id))[:team_size]:
            load[r.id] += 1
    return max(load.values(), default=0), unstaffed


def one_run(n: int, n_inspectors: int, *, traced: bool = False) -> dict[str, Any]:
    rng = random.Random(20271)
    facts = enterprises(n, rng)
    roster, conflicts = inspectors(n_inspectors, rng, [f.uscc for f in facts])
    seed = hashlib.sha256(f"bench {n}".encode()).digest()
    gc.collect()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    plan = generate_plan(facts, YEAR)
    planned_at = time.perf_counter()
    pool, planned = draw.monthly_list(plan, MONTH, {}, {})
    count = max(1, round(len(pool) * DRAW_SHARE))
    selected = draw.select(pool, count, seed)
    selected_at = time.perf_counter()
    sectors = {e.uscc: e.sector for e in pool}
    demands = [draw.TeamDemand(e.uscc, e.sector) for e in planned] + [
        draw.TeamDemand(u, sectors[u]) for u in selected
    ]
    teams = draw.assign_teams(demands, roster, conflicts, draw.MIN_TEAM_SIZE, seed)
    finished = time.perf_counter()
    peak = 0
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    greedy_started = time.perf_counter()
    greedy_max, greedy_unstaffed = greedy(demands, roster, conflicts, draw.MIN_TEAM_SIZE)
    greedy_s = time.perf_counter() - greedy_started
    loads = Counter(i for t in teams.values() for i in t)
    modes = Counter(d.mode for d in plan)
    return {
        "seconds": round(finished - started, 3),
        "plan_s": round(planned_at - started, 3),
        "select_s": round(selected_at - planned_at, 3),
        "teams_s": round(finished - selected_at, 3),
        "peak_mb": round(peak / 2**20, 1) if traced else None,
        "enterprises": n,
        "inspectors": n_inspectors,
        "modes": dict(sorted(modes.items())),
        "pool": len(pool),
        "planned_this_month": len(planned),
        "drawn": len(selected),
        "teams": len(teams),
        "max_load": max(loads.values(), default=0),
        "mean_load": round(sum(loads.values()) / n_inspectors, 2),
        "greedy_s": round(greedy_s, 3),
        "greedy_max_load": greedy_max,
        "greedy_unstaffed": greedy_unstaffed,
    }


async def run() -> Result:
    # Timed runs without tracemalloc (it slows Python allocation-heavy code several-fold);
    # peak memory from a second, traced run of the same work.
    small = one_run(10_000, 40)
    full = one_run(100_000, 400)
    small["peak_mb"] = one_run(10_000, 40, traced=True)["peak_mb"]
    full["peak_mb"] = one_run(100_000, 400, traced=True)["peak_mb"]
    return Result(
        name="plan_year",
        metric="seconds to plan a year and draw a month",
        value=full["seconds"],
        unit="s",
        baseline=TARGET_S,
        ratio=round(full["seconds"] / TARGET_S, 3),
        params={
            "year": YEAR,
            "month": MONTH,
            "draw_share_of_pool": DRAW_SHARE,
            "team_size": draw.MIN_TEAM_SIZE,
            "shortlist_size": draw.SHORTLIST_SIZE,
            "solver": "max-flow bisection (load) + CP-SAT 1 worker (teams)",
            "at_100k": full,
            "at_10k": small,
            "peak_mb_100k": full["peak_mb"],
            "peak_mb_10k": small["peak_mb"],
            "seconds_10k": small["seconds"],
        },
    )
