"""The monthly double-random draw: dates, pool, commitment, selection, teams, recomputation."""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

from services.inspection import draw
from services.inspection.draw import (
    DrawInputs,
    DrawRuleViolated,
    PlannedEntry,
    PoolEntry,
    PublishedDraw,
    RandomnessSource,
    RosterEntry,
    TeamDemand,
    TeamsInfeasible,
)

SOURCE = RandomnessSource("中国福利彩票双色球", "2027-018", date(2027, 2, 10))
SEED = hashlib.sha256(b"test seed").digest()


@dataclass(frozen=True)
class Line:
    uscc: str
    sector: str = "trade"
    district: str = "市南区"
    mode: str = "random"
    max_inspections: int | None = None
    priority: int = 0
    planned_months: tuple[int, ...] = ()


def uscc(n: int) -> str:
    return f"91370200MA{n:07d}X"


def roster(n: int, sectors: tuple[str, ...] = ("trade",), cap: int = 5) -> list[RosterEntry]:
    return [RosterEntry(f"I{i:03d}", f"执法员{i}", sectors, cap) for i in range(n)]


class TestPublicationDate:
    def test_deadline_is_15_days_before_the_first(self) -> None:
        assert draw.publication_deadline(2027, 3) == date(2027, 2, 14)
        assert draw.publication_deadline(2027, 1) == date(2026, 12, 17)

    def test_on_the_deadline_is_allowed(self) -> None:
        draw.check_publication_date(date(2027, 2, 14), 2027, 3)

    def test_a_day_late_is_refused(self) -> None:
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_publication_date(date(2027, 2, 15), 2027, 3)
        assert err.value.code == "publication_too_late"

    def test_last_day_of_month(self) -> None:
        assert draw.last_day(2028, 2) == date(2028, 2, 29)
        assert draw.last_day(2027, 12) == date(2027, 12, 31)


class TestSource:
    def test_value_due_after_commitment_and_before_the_month(self) -> None:
        draw.check_source(SOURCE, date(2027, 2, 9), 2027, 3)

    def test_value_due_today_is_refused(self) -> None:
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_source(SOURCE, date(2027, 2, 10), 2027, 3)
        assert (err.value.code, err.value.field) == (
            "source_value_already_known",
            "source.expected_on",
        )

    def test_value_due_after_the_publication_deadline_is_refused(self) -> None:
        """The drawn list is published at reveal, which must be 15 days before the month
        (2027-02-14 for March): a value due later would make that impossible."""
        draw.check_source(
            RandomnessSource("drand", "5000000", date(2027, 2, 14)), date(2027, 2, 1), 2027, 3
        )
        late = RandomnessSource("drand", "5000001", date(2027, 2, 15))
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_source(late, date(2027, 2, 1), 2027, 3)
        assert err.value.code == "source_after_publication_deadline"

    def test_reveal_not_before_the_value_is_due(self) -> None:
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_reveal_date(SOURCE, date(2027, 2, 9), 2027, 3)
        assert err.value.code == "source_value_not_yet_due"
        draw.check_reveal_date(SOURCE, date(2027, 2, 10), 2027, 3)

    def test_drawn_list_is_published_15_days_ahead(self) -> None:
        draw.check_reveal_date(SOURCE, date(2027, 2, 14), 2027, 3)
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_reveal_date(SOURCE, date(2027, 2, 15), 2027, 3)
        assert (err.value.code, err.value.field) == ("publication_too_late", "month")


class TestMonthlyList:
    def test_pool_and_planned(self) -> None:
        lines = [
            Line(uscc(1)),
            Line(uscc(2), mode="planned", planned_months=(3, 9)),
            Line(uscc(3), mode="planned", planned_months=(4,)),
            Line(uscc(4), mode="exempt"),
            Line(uscc(5), max_inspections=1),
            Line(uscc(6), max_inspections=2),
            Line(uscc(7), planned_months=(3,)),
            Line(uscc(8), priority=30),
        ]
        pool, planned = draw.monthly_list(lines, 3, {uscc(5): 1, uscc(6): 1}, {uscc(1): "青岛甲"})
        assert [p.uscc for p in pool] == [uscc(1), uscc(6), uscc(8)]
        assert [p.uscc for p in planned] == [uscc(2)]
        assert pool[0].name == "青岛甲"
        assert pool[1].name == uscc(6)  # not in the registry: the USCC stands in
        assert [p.weight for p in pool] == [1, 1, 4]

    def test_weights(self) -> None:
        assert [draw.selection_weight(p) for p in (-5, 0, 9, 10, 30, 70)] == [1, 1, 1, 2, 4, 8]


class TestCountToDraw:
    def test_count(self) -> None:
        assert draw.count_to_draw(10, 3, None) == 3

    def test_percentage_rounds_up(self) -> None:
        assert draw.count_to_draw(101, None, Decimal("5")) == 6
        assert draw.count_to_draw(100, None, Decimal("5")) == 5

    @pytest.mark.parametrize(
        ("count", "percentage", "code"),
        [
            (None, None, "draw_size_ambiguous"),
            (3, Decimal(5), "draw_size_ambiguous"),
            (0, None, "count_out_of_range"),
            (11, None, "draw_count_exceeds_pool"),
            (None, Decimal(0), "percentage_out_of_range"),
            (None, Decimal(101), "percentage_out_of_range"),
        ],
    )
    def test_refused(self, count: int | None, percentage: Decimal | None, code: str) -> None:
        with pytest.raises(DrawRuleViolated) as err:
            draw.count_to_draw(10, count, percentage)
        assert err.value.code == code


def make_inputs(
    n_pool: int = 30, n_planned: int = 2, count: int = 5, team: int = 2
) -> tuple[DrawInputs, dict[str, frozenset[str]]]:
    sectors = ("trade", "machinery")
    pool = tuple(
        PoolEntry(uscc(i), f"企业{i}", sectors[i % 2], "市北区", 1 + i % 3) for i in range(n_pool)
    )
    planned = tuple(
        PlannedEntry(uscc(1000 + i), f"重点{i}", "trade", "黄岛区") for i in range(n_planned)
    )
    staff = roster(6, sectors, cap=6)
    conflicts = {"I000": frozenset({uscc(0), uscc(1000)})}
    inputs = DrawInputs(
        year=2027,
        month=3,
        pool=pool,
        planned=planned,
        draw_count=count,
        team_size=team,
        roster=tuple(staff),
        conflicts_digest=draw.conflicts_digest(b"s" * 32, conflicts),
        source=SOURCE,
    )
    return inputs, conflicts


class TestCommitment:
    def test_document_round_trip_and_digest(self) -> None:
        inputs, _ = make_inputs()
        again = DrawInputs.from_document(json.loads(json.dumps(inputs.document())))
        assert again.document() == inputs.document()
        assert again.digest() == inputs.digest()

    def test_unknown_algorithm_refused(self) -> None:
        inputs, _ = make_inputs()
        with pytest.raises(ValueError, match="unknown draw algorithm"):
            DrawInputs.from_document({**inputs.document(), "algorithm": "other/1"})

    def test_seed_depends_on_every_part(self) -> None:
        inputs, _ = make_inputs()
        secret = bytes(32)
        base = draw.derive_seed(secret, "01 02", inputs.digest())
        assert draw.derive_seed(bytes(31) + b"\x01", "01 02", inputs.digest()) != base
        assert draw.derive_seed(secret, "01 03", inputs.digest()) != base
        assert draw.derive_seed(secret, "01 02", make_inputs(count=6)[0].digest()) != base

    def test_wrong_secret_refused(self) -> None:
        secret = bytes(range(32))
        draw.check_reveal(secret, draw.commitment_of(secret), "7")
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_reveal(bytes(32), draw.commitment_of(secret), "7")
        assert err.value.code == "commitment_mismatch"
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_reveal(secret, draw.commitment_of(secret), "  ")
        assert err.value.code == "public_value_required"


class TestPublicValue:
    @pytest.mark.parametrize(
        "spelling",
        [
            "03 07 12 19 25 31 + 09",
            "3,7,12,19,25,31,9",
            "３ ７ １２ １９ ２５ ３１ ＋ ０９",
            "3 7 12 19 25 31 9",
        ],
    )
    def test_spellings_of_one_result_give_one_seed(self, spelling: str) -> None:
        """Typing the official result differently cannot be used to try seeds."""
        digest = make_inputs()[0].digest()
        secret = bytes(32)
        assert draw.derive_seed(secret, spelling, digest) == draw.derive_seed(
            secret, "03 07 12 19 25 31 + 09", digest
        )

    def test_a_beacon_value_is_kept_as_lower_case_hex(self) -> None:
        assert draw.canonical_public_value("  ABCDEF0123\n") == "abcdef0123"
        assert draw.canonical_public_value("00ff 0099") == "00ff 99"

    def test_nothing_usable_is_refused(self) -> None:
        with pytest.raises(DrawRuleViolated) as err:
            draw.check_reveal(bytes(32), draw.commitment_of(bytes(32)), "开奖结果：无")
        assert err.value.code == "public_value_required"

    def test_conflicts_digest_binds_the_conflicts(self) -> None:
        a = {"I1": frozenset({uscc(1)})}
        assert draw.conflicts_digest(b"s", a) == draw.conflicts_digest(b"s", dict(a))
        assert draw.conflicts_digest(b"s", a) != draw.conflicts_digest(b"t", a)
        assert draw.conflicts_digest(b"s", a) != draw.conflicts_digest(b"s", {})
        assert draw.conflicts_document({"I2": frozenset()}) == {}


class TestSelection:
    def test_top_n_by_key(self) -> None:
        pool = [PoolEntry(uscc(i), "", "trade", "", 1) for i in range(50)]
        chosen = draw.select(pool, 7, SEED)
        ranked = sorted(pool, key=lambda e: draw.selection_key(SEED, e))
        assert chosen == tuple(e.uscc for e in ranked[:7])
        assert draw.select(pool, 7, SEED) == chosen
        assert draw.select(pool, 7, b"other") != chosen

    def test_weight_favours(self) -> None:
        # Over many seeds a weight-4 entry is drawn far more often than a weight-1 entry.
        pool = [PoolEntry(uscc(i), "", "trade", "", 4 if i == 0 else 1) for i in range(20)]
        hits = Counter(u for s in range(400) for u in draw.select(pool, 1, s.to_bytes(4, "big")))
        assert hits[uscc(0)] > 3 * hits[uscc(1)]

    def test_more_than_the_pool_refused(self) -> None:
        with pytest.raises(DrawRuleViolated):
            draw.select([PoolEntry(uscc(1), "", "trade", "", 1)], 2, SEED)


def test_outsider_recomputation() -> None:
    """Re-implement steps 2-5 from the module docstring with hashlib and json only."""
    inputs, conflicts = make_inputs(n_pool=40, count=9)
    secret = bytes.fromhex("5a" * 32)
    public_value = "03 07 12 19 25 31 + 09"
    published = draw.recompute(
        PublishedDraw(inputs, draw.commitment_of(secret), secret, public_value, conflicts)
    )
    document = json.loads(json.dumps(inputs.document(), ensure_ascii=False))

    # Outsider's code from here on: nothing from services.inspection.
    assert hashlib.sha256(secret).hexdigest() == draw.commitment_of(secret)
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    digest = hashlib.sha256(canonical).digest()
    # Step 4's canonical value: the number runs without leading zeros, single spaces.
    value = " ".join(str(int(n)) for n in public_value.replace("+", " ").split())
    assert value == "3 7 12 19 25 31 9"
    seed = hashlib.sha256(secret + value.encode("utf-8") + digest).digest()

    def h(entry: dict[str, object]) -> int:
        return int.from_bytes(hashlib.sha256(seed + str(entry["uscc"]).encode("ascii")).digest())

    def before(a: dict[str, object], b: dict[str, object]) -> int:
        # (h_a + 1) / w_a < (h_b + 1) / w_b, cross-multiplied; then USCC ascending.
        left = (h(a) + 1) * int(str(b["weight"]))
        right = (h(b) + 1) * int(str(a["weight"]))
        if left != right:
            return -1 if left < right else 1
        return -1 if str(a["uscc"]) < str(b["uscc"]) else 1

    ranked = sorted(document["pool"], key=functools.cmp_to_key(before))
    mine = [e["uscc"] for e in ranked[: document["draw_count"]]]

    assert published.seed == seed.hex()
    assert list(published.selected) == mine
    # The public constraints on the teams, checked from the published roster.
    sectors = {e["uscc"]: e["sector"] for e in document["pool"] + document["planned"]}
    staff = {r["id"]: r for r in document["roster"]}
    loads = Counter(i for team in published.teams.values() for i in team)
    assert set(published.teams) == set(mine) | {e["uscc"] for e in document["planned"]}
    for listed, team in published.teams.items():
        assert len(set(team)) == document["team_size"]
        assert all(sectors[listed] in staff[i]["sectors"] for i in team)
    assert all(loads[i] <= staff[i]["monthly_cap"] for i in loads)


class TestTeams:
    def test_infeasibility_names_enterprise_sector_and_month(self) -> None:
        staff = [
            RosterEntry("A", "甲", ("trade",), 1),
            RosterEntry("B", "乙", ("trade",), 1),
            RosterEntry("C", "丙", ("mining",), 9),
        ]
        demands = [
            TeamDemand(uscc(1), "trade"),
            TeamDemand(uscc(2), "trade"),
            TeamDemand(uscc(3), "fireworks"),
        ]
        with pytest.raises(TeamsInfeasible) as err:
            draw.assign_teams(demands, staff, {"A": frozenset({uscc(2)})}, 2, SEED)
        found = {(p.rule, p.uscc, p.sector) for p in err.value.problems}
        assert ("qualified_inspectors_insufficient", uscc(2), "trade") in found
        assert ("qualified_inspectors_insufficient", uscc(3), "fireworks") in found
        assert ("sector_workload_cap", None, "trade") in found
        assert ("sector_workload_cap", None, "fireworks") in found
        assert uscc(1) not in {p.uscc for p in err.value.problems}

    def test_month_capacity(self) -> None:
        problems = draw.team_problems(
            [TeamDemand(uscc(i), "trade") for i in range(3)], roster(2, cap=2), {}, 2
        )
        assert {p.rule for p in problems} == {"sector_workload_cap", "workload_cap"}

    def test_shared_inspectors_infeasible(self) -> None:
        # Each sector alone has capacity, but both lean on the same multi-sector inspectors.
        staff = [
            RosterEntry("A", "甲", ("trade",), 1),
            RosterEntry("M1", "多1", ("trade", "mining"), 1),
            RosterEntry("M2", "多2", ("trade", "mining"), 1),
            RosterEntry("X", "丙", ("machinery",), 5),
        ]
        demands = [TeamDemand(uscc(1), "trade"), TeamDemand(uscc(2), "mining")]
        assert draw.team_problems(demands, staff, {}, 2) == []
        with pytest.raises(TeamsInfeasible) as err:
            draw.assign_teams(demands, staff, {}, 2, SEED)
        assert [p.rule for p in err.value.problems] == ["team_assignment_infeasible"]

    def test_balanced_and_deterministic(self) -> None:
        staff = roster(10, ("trade", "mining"), cap=9)
        demands = [TeamDemand(uscc(i), ("trade", "mining")[i % 2]) for i in range(15)]
        teams = draw.assign_teams(demands, staff, {}, 2, SEED)
        assert draw.assign_teams(list(reversed(demands)), staff[::-1], {}, 2, SEED) == teams
        loads = Counter(i for t in teams.values() for i in t)
        assert max(loads.values()) == 3  # 30 visits over 10 inspectors
        assert draw.assign_teams(demands, staff, {}, 2, b"another seed") != teams

    def test_shortlist_widens_when_needed(self) -> None:
        # Every inspector must work exactly once, so a seed whose 8-long shortlists leave
        # one out needs the wider lists; the teams must still be complete and within caps.
        staff = [RosterEntry(f"I{i:02d}", str(i), ("trade",), 1) for i in range(30)]
        demands = [TeamDemand(uscc(i), "trade") for i in range(15)]
        caps = {r.id: 1 for r in staff}
        seed = next(
            s.to_bytes(2, "big")
            for s in range(500)
            if not draw._assignable(
                draw.shortlists(demands, staff, {}, s.to_bytes(2, "big"), 8), caps, 2, 1
            )
        )
        teams = draw.assign_teams(demands, staff, {}, 2, seed)
        loads = Counter(i for t in teams.values() for i in t)
        assert sorted(loads) == sorted(caps)
        assert set(loads.values()) == {1}

    def test_optimum_agrees_with_min_cost_flow(self) -> None:
        """The teams are the unique cheapest assignment, so an independent exact solver
        (min-cost flow on the same shortlists and load limit) finds the same teams."""
        staff = roster(12, ("trade",), cap=4)
        demands = [TeamDemand(uscc(i), "trade") for i in range(18)]
        teams = draw.assign_teams(demands, staff, {}, 2, SEED)
        limit = max(Counter(i for t in teams.values() for i in t).values())
        lists = draw.shortlists(demands, staff, {}, SEED, draw.SHORTLIST_SIZE)
        flow = min_cost_flow.SimpleMinCostFlow()
        ids = sorted({i for p in lists.values() for i, _ in p})
        node = {i: 2 + n for n, i in enumerate(ids)}
        arcs = {}
        for n, (listed, pairs) in enumerate(sorted(lists.items()), start=2 + len(ids)):
            flow.add_arc_with_capacity_and_unit_cost(0, n, 2, 0)
            for i, cost in pairs:
                arcs[flow.add_arc_with_capacity_and_unit_cost(n, node[i], 1, cost)] = (i, listed)
        for i in ids:
            flow.add_arc_with_capacity_and_unit_cost(node[i], 1, min(4, limit), 0)
        flow.set_node_supply(0, 2 * len(demands))
        flow.set_node_supply(1, -2 * len(demands))
        assert flow.solve() == flow.OPTIMAL
        by_flow: dict[str, list[str]] = {}
        for arc, (i, listed) in arcs.items():
            if flow.flow(arc):
                by_flow.setdefault(listed, []).append(i)
        assert {u: tuple(sorted(t)) for u, t in by_flow.items()} == teams

    def test_no_demand(self) -> None:
        assert draw.assign_teams([], roster(2), {}, 2, SEED) == {}


SECTORS = ("trade", "mining", "machinery")


@st.composite
def months(
    draw_: st.DrawFn,
) -> tuple[list[Line], dict[str, int], list[RosterEntry], dict[str, frozenset[str]], int]:
    n = draw_(st.integers(1, 25))
    lines = [
        Line(
            uscc(i),
            sector=draw_(st.sampled_from(SECTORS)),
            mode=draw_(st.sampled_from(("random", "random", "planned", "exempt"))),
            max_inspections=draw_(st.one_of(st.none(), st.integers(0, 2))),
            priority=draw_(st.integers(0, 60)),
            planned_months=tuple(draw_(st.sets(st.integers(1, 12), max_size=3))),
        )
        for i in range(n)
    ]
    drawn = {line.uscc: draw_(st.integers(0, 2)) for line in lines}
    staff = [
        RosterEntry(
            f"I{i}",
            f"员{i}",
            tuple(draw_(st.sets(st.sampled_from(SECTORS), min_size=1))),
            draw_(st.integers(1, 6)),
        )
        for i in range(draw_(st.integers(2, 9)))
    ]
    conflicts = {
        r.id: frozenset(draw_(st.sets(st.sampled_from([line.uscc for line in lines]), max_size=2)))
        for r in staff
    }
    return lines, drawn, staff, conflicts, draw_(st.integers(0, 10))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(months(), st.binary(min_size=32, max_size=32))
def test_property_draw_respects_every_rule(
    case: tuple[list[Line], dict[str, int], list[RosterEntry], dict[str, frozenset[str]], int],
    seed: bytes,
) -> None:
    lines, drawn, staff, conflicts, wanted = case
    month = 3
    pool, planned = draw.monthly_list(lines, month, drawn, {})
    by_uscc = {line.uscc: line for line in lines}
    count = min(wanted, len(pool))
    chosen = draw.select(pool, count, seed)
    assert len(chosen) == len(set(chosen)) == count
    for u in chosen:
        line = by_uscc[u]
        assert u in {p.uscc for p in pool}
        assert line.mode == "random"
        assert month not in line.planned_months
        assert line.max_inspections is None or drawn[u] + 1 <= line.max_inspections
    demands = [TeamDemand(p.uscc, p.sector) for p in planned] + [
        TeamDemand(u, by_uscc[u].sector) for u in chosen
    ]
    try:
        teams = draw.assign_teams(demands, staff, conflicts, 2, seed)
    except TeamsInfeasible as exc:
        problems = exc.problems
        teams = {}
    else:
        problems = ()
    if problems:
        return  # refused with reasons, which is all an unstaffable month may do
    assert demands == [] or teams
    caps = {r.id: r for r in staff}
    assert set(teams) == {d.uscc for d in demands}
    for d in demands:
        team = teams[d.uscc]
        assert len(set(team)) == len(team) >= 2
        assert all(d.sector in caps[i].sectors for i in team)
        assert all(d.uscc not in conflicts[i] for i in team)
    loads = Counter(i for t in teams.values() for i in t)
    assert all(loads[i] <= caps[i].monthly_cap for i in loads)
