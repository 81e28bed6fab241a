"""The portal's outsider check of a double-random draw, against the inspection service's own
implementation (services/inspection/draw.py) and against tampered publications; the browser's
copy (static/drawcheck.js) run under node must give the same verdicts."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.portal import drawcheck
from gateway.portal.drawcheck import Outcome
from kernel.uscc import make_uscc
from services.inspection import draw as rules
from services.inspection.draws import public_view
from services.inspection.models_draw import Draw

SOURCE = rules.RandomnessSource("中国福利彩票双色球", "2026-140", date(2026, 12, 1))
SECTORS = ("hazardous_chemicals", "trade", "manufacturing")
JS = Path(__file__).resolve().parents[2] / "gateway" / "portal" / "static" / "drawcheck.js"


def publication(
    *,
    pool_size: int = 24,
    count: int = 6,
    planned: int = 2,
    weights: tuple[int, ...] = (1, 2, 4),
    public_value: str = "03 07 12 19 25 31 + 09",
    reveal: bool = True,
    salt: int = 0,
) -> dict[str, Any]:
    """A month's public document exactly as the inspection service publishes it: the inputs,
    the draw by the service's own code (teams by its solver), the public view of the row."""
    pool = tuple(
        rules.PoolEntry(
            make_uscc(1000 + salt * 100 + i),
            f"青岛测试企业{i:03d}有限公司",
            SECTORS[i % len(SECTORS)],
            "黄岛区",
            weights[i % len(weights)],
        )
        for i in range(pool_size)
    )
    plan = tuple(
        rules.PlannedEntry(make_uscc(9000 + salt * 100 + i), f"计划检查企业{i}", "trade", "市南区")
        for i in range(planned)
    )
    roster = tuple(
        rules.RosterEntry(f"I{i:03d}", f"执法员{i:02d}", tuple(sorted(SECTORS)), 8)
        for i in range(8)
    )
    conflicts = {"I001": frozenset({pool[0].uscc})}
    salt_bytes = secrets.token_bytes(32)
    inputs = rules.DrawInputs(
        year=2026,
        month=12,
        pool=tuple(sorted(pool, key=lambda e: e.uscc)),
        planned=tuple(sorted(plan, key=lambda e: e.uscc)),
        draw_count=count,
        team_size=2,
        roster=roster,
        conflicts_digest=rules.conflicts_digest(salt_bytes, conflicts),
        source=SOURCE,
    )
    secret = secrets.token_bytes(32)
    now = datetime(2026, 11, 10, tzinfo=UTC)
    row = Draw(
        id=str(uuid.uuid4()),
        year=2026,
        month=12,
        state="committed",
        plan_id="plan",
        inputs=inputs.document(),
        inputs_digest=inputs.digest().hex(),
        commitment=rules.commitment_of(secret),
        secret=secret.hex(),
        conflicts_salt=salt_bytes.hex(),
        conflicts=rules.conflicts_document(conflicts),
        committed_on=date(2026, 11, 10),
        committed_by="officer",
        committed_at=now,
        version=1,
    )
    if reveal:
        result = rules.run_draw(inputs, secret, public_value, conflicts)
        row.state = "revealed"
        row.public_value = public_value
        row.seed = result.seed
        row.result = result.document()
        row.revealed_on = date(2026, 12, 1)
    # Through JSON, as the page receives it from the API.
    doc: dict[str, Any] = json.loads(public_view(row).model_dump_json())
    return doc


@pytest.fixture(scope="module")
def revealed() -> dict[str, Any]:
    return publication()


def drawn(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in doc["listed"] if e["kind"] == "drawn"]


class TestPrimitives:
    @pytest.mark.parametrize(
        "value",
        ["03 07 12 + 09", "3,7,12,9", "３ ７ １２ ９", "007 abc FF", "x", "0 00 000", "2026-140"],
    )
    def test_canonical_value_matches_the_service(self, value: str) -> None:
        assert drawcheck.canonical_value(value) == rules.canonical_public_value(value)

    @pytest.mark.parametrize("weights", [(1,), (1, 2, 4), (3, 5, 7), (1, 1, 1, 10)])
    def test_selection_matches_the_service(self, weights: tuple[int, ...]) -> None:
        seed = bytes(range(32))
        pool = [
            rules.PoolEntry(make_uscc(i), f"企业{i}", "trade", "市南区", weights[i % len(weights)])
            for i in range(60)
        ]
        ours = drawcheck.selection([{"uscc": e.uscc, "weight": e.weight} for e in pool], 17, seed)
        assert ours == rules.select(pool, 17, seed)

    def test_canonical_json_matches_the_service(self) -> None:
        doc = {"b": [1, {"z": '企业\n"名"', "a": None}], "a": "\u0001\u2028"}
        assert drawcheck.canonical(doc) == rules.canonical(doc)


class TestVerify:
    def test_an_honest_draw_passes_every_check(self, revealed: dict[str, Any]) -> None:
        verdict = drawcheck.verify(revealed)
        assert verdict.ok, verdict.checks
        assert [c.outcome for c in verdict.checks] == [Outcome.passed] * len(verdict.checks)
        assert verdict.expected_selection == tuple(e["uscc"] for e in drawn(revealed))
        assert verdict.seed == revealed["seed"]
        assert verdict.first_difference is None

    @pytest.mark.parametrize("salt", [1, 2, 3])
    def test_honest_draws_of_other_shapes_pass(self, salt: int) -> None:
        doc = publication(pool_size=10 + salt * 7, count=salt + 1, weights=(salt, 1), salt=salt)
        assert drawcheck.verify(doc).ok

    def test_a_committed_draw_checks_its_inputs_and_waits_for_the_rest(self) -> None:
        doc = publication(reveal=False)
        verdict = drawcheck.verify(doc)
        assert verdict.ok
        assert not verdict.revealed
        assert verdict.check("inputs_digest").outcome is Outcome.passed
        assert verdict.check("selection").outcome is Outcome.skipped

    def test_a_pool_changed_after_commitment_fails_the_digest(
        self, revealed: dict[str, Any]
    ) -> None:
        doc = copy.deepcopy(revealed)
        doc["inputs"]["pool"][0]["weight"] += 1
        verdict = drawcheck.verify(doc)
        assert not verdict.ok
        assert verdict.check("inputs_digest").outcome is Outcome.failed

    def test_an_enterprise_removed_from_the_pool_fails(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        del doc["inputs"]["pool"][3]
        assert drawcheck.verify(doc).check("inputs_digest").outcome is Outcome.failed

    def test_a_secret_that_does_not_open_the_commitment_fails(
        self, revealed: dict[str, Any]
    ) -> None:
        doc = copy.deepcopy(revealed)
        doc["secret"] = secrets.token_bytes(32).hex()
        verdict = drawcheck.verify(doc)
        assert verdict.check("commitment").outcome is Outcome.failed
        assert verdict.check("seed").outcome is Outcome.failed

    def test_a_tampered_seed_fails_and_the_recomputed_one_is_used(
        self, revealed: dict[str, Any]
    ) -> None:
        doc = copy.deepcopy(revealed)
        doc["seed"] = "0" * 64
        verdict = drawcheck.verify(doc)
        assert verdict.check("seed").outcome is Outcome.failed
        # The selection is recomputed from the true seed, so it still matches the list.
        assert verdict.check("selection").outcome is Outcome.passed
        assert verdict.seed == revealed["seed"]

    def test_another_public_value_fails_the_seed(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        doc["public_value"] = "03 07 12 19 25 31 + 10"
        assert drawcheck.verify(doc).check("seed").outcome is Outcome.failed

    def test_another_spelling_of_the_public_value_passes(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        doc["public_value"] = "３,７,１２,１９,２５,３１,９"
        assert drawcheck.verify(doc).ok

    def test_a_swapped_selection_names_the_first_difference(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        first, second = drawn(doc)[0], drawn(doc)[1]
        first["rank"], second["rank"] = 2, 1
        verdict = drawcheck.verify(doc)
        assert verdict.check("selection").outcome is Outcome.failed
        assert verdict.first_difference == drawcheck.Difference(1, first["uscc"], second["uscc"])

    def test_an_enterprise_substituted_from_outside_the_draw_fails(
        self, revealed: dict[str, Any]
    ) -> None:
        doc = copy.deepcopy(revealed)
        chosen = {e["uscc"] for e in drawn(doc)}
        outsider = next(p["uscc"] for p in doc["inputs"]["pool"] if p["uscc"] not in chosen)
        last = drawn(doc)[-1]
        original = last["uscc"]
        last["uscc"] = outsider
        verdict = drawcheck.verify(doc)
        assert verdict.first_difference == drawcheck.Difference(len(chosen), original, outsider)

    def test_a_dropped_enterprise_is_a_shorter_list(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        last = drawn(doc)[-1]
        doc["listed"].remove(last)
        difference = drawcheck.verify(doc).first_difference
        assert difference == drawcheck.Difference(len(drawn(revealed)), last["uscc"], None)

    def test_a_team_member_without_the_qualification_fails(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        member = doc["listed"][0]["team"][0]
        for r in doc["inputs"]["roster"]:
            if r["name"] == member:
                r["sectors"] = ["mining"]
        doc["inputs_digest"] = hashlib.sha256(drawcheck.canonical(doc["inputs"])).hexdigest()
        verdict = drawcheck.verify(doc)
        assert verdict.check("inputs_digest").outcome is Outcome.passed
        assert verdict.check("teams").outcome is Outcome.failed
        assert f"{member} 不具备" in verdict.check("teams").detail

    def test_a_team_too_small_or_unknown_fails(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        doc["listed"][0]["team"] = ["冒名者"]
        detail = drawcheck.verify(doc).check("teams").detail
        assert "冒名者" in detail
        assert "2 名" in detail

    def test_a_cap_exceeded_fails(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        for entry in doc["listed"]:
            entry["team"] = ["执法员00", "执法员01"]
        for r in doc["inputs"]["roster"]:
            r["monthly_cap"] = 1
        # The altered roster is also caught by the digest; the cap finding names the person.
        verdict = drawcheck.verify(doc)
        assert "执法员00" in verdict.check("teams").detail
        assert verdict.check("inputs_digest").outcome is Outcome.failed

    def test_an_unknown_algorithm_is_not_checked(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        doc["inputs"]["algorithm"] = "qd-double-random/1"
        verdict = drawcheck.verify(doc)
        assert not verdict.ok
        assert verdict.check("algorithm").outcome is Outcome.failed

    @pytest.mark.parametrize(
        ("mutate", "message"),
        [
            (lambda d: d.pop("inputs"), "inputs"),
            (lambda d: d["inputs"].pop("pool"), "inputs.pool"),
            (lambda d: d.update(secret="zz"), "secret"),
            (lambda d: d.update(secret="ab"), "secret"),
            (lambda d: d.update(secret="abc"), "secret"),
            (lambda d: d.update(public_value=""), "public_value"),
            (lambda d: d.pop("listed"), "listed"),
        ],
    )
    def test_a_document_without_the_data_is_invalid(
        self, revealed: dict[str, Any], mutate: Any, message: str
    ) -> None:
        doc = copy.deepcopy(revealed)
        mutate(doc)
        with pytest.raises(drawcheck.DocumentInvalid, match=message.replace(".", r"\.")):
            drawcheck.verify(doc)


# --- the browser's copy ---------------------------------------------------------------------

NODE = shutil.which("node")

_RUNNER = """
const fs = require("fs");
const check = require(process.argv[1]);
const docs = JSON.parse(fs.readFileSync(0, "utf8"));
Promise.all(docs.map((d) => check.verify(d).then(
  (v) => v, (e) => ({ invalid: String(e.message || e) })
))).then((out) => process.stdout.write(JSON.stringify(out)));
"""


def run_js(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", _RUNNER, "--", str(JS)],
        input=json.dumps(docs, ensure_ascii=False),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(NODE is None, reason="node is not installed")
class TestBrowserAgrees:
    def test_js_and_python_agree_on_honest_and_tampered_draws(self) -> None:
        honest = [
            publication(),
            publication(pool_size=31, count=9, weights=(1, 3), salt=4),
            publication(pool_size=5, count=5, weights=(2,), salt=5, public_value="３,７,１２"),
            publication(reveal=False, salt=6),
        ]
        base = honest[0]
        tampered: list[dict[str, Any]] = []
        for mutate in (
            lambda d: d["inputs"]["pool"][0].update(weight=9),
            lambda d: d.update(secret=secrets.token_bytes(32).hex()),
            lambda d: d.update(seed="1" * 64),
            lambda d: d.update(public_value="1 2 3"),
            lambda d: drawn(d)[0].update(rank=99),
            lambda d: d["listed"][0].update(team=["冒名者"]),
        ):
            doc = copy.deepcopy(base)
            mutate(doc)
            tampered.append(doc)
        docs = honest + tampered
        results = run_js(docs)
        for doc, js in zip(docs, results, strict=True):
            py = drawcheck.verify(doc)
            assert js["ok"] == py.ok
            assert js["checks"] == {c.name: c.outcome.value for c in py.checks}
            assert js["expected_selection"] == list(py.expected_selection)
            assert js["seed"] == py.seed
            assert js["first_difference"] == py.document()["first_difference"]
        assert [r["ok"] for r in results] == [True] * 4 + [False] * 6

    def test_js_refuses_a_document_without_the_data(self, revealed: dict[str, Any]) -> None:
        doc = copy.deepcopy(revealed)
        doc.pop("inputs")
        (result,) = run_js([doc])
        assert "inputs" in result["invalid"]
