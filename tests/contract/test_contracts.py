"""Every event contract has a realistic example that validates, round-trips and stays strict.

A new contract in kernel/contracts must add its example here: the registry is checked against
this table in both directions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

import kernel.contracts  # noqa: F401  (importing registers every contract)
from kernel.events import EventContract, EventEnvelope, parse_payload, registered_contracts
from kernel.uscc import make_uscc

USCC = make_uscc(3702)

EXAMPLES: dict[str, dict[str, Any]] = {
    "inspection.hazard.found.v1": {
        "hazard_id": "1c9d7e6a-4d8b-4f2e-9a3c-7b8c9d0e1f2a",
        "inspection_id": "2d0e8f7b-5e9c-4a3f-8b4d-8c9d0e1f2a3b",
        "uscc": USCC,
        "enterprise_name": "青岛海湾化工有限公司",
        "grade": "general",
        "description": "储罐区可燃气体报警器未定期检定",
        "found_on": "2026-04-08",
        "rectify_by": "2026-04-22",
    },
    "inspection.hazard.rectified.v1": {
        "hazard_id": "1c9d7e6a-4d8b-4f2e-9a3c-7b8c9d0e1f2a",
        "uscc": USCC,
        "verified_on": "2026-04-20",
    },
    "insurance.risk.assessed.v1": {
        "assessment_id": "3e1f9a8c-6f0d-4b4a-9c5e-9d0e1f2a3b4c",
        "uscc": USCC,
        "insurer_id": "PICC-QD",
        "risk_level": "high",
        "assessed_on": "2026-02-10",
        "findings": "重大危险源监测预警系统数据接入不完整",
    },
    "credit.dishonesty.recorded.v1": {
        "record_id": "6d4e2f1b-9e3c-4a7f-8b8d-2c3e4f5a6b7c",
        "uscc": USCC,
        "document_number": "QD-AJ-005-2026-000123",
        "severity": "general",
        "publicity_starts_on": "2026-05-11",
        "publicity_ends_on": "2027-05-08",
        "repair_eligible_on": "2026-08-09",
    },
    "credit.incentive.recorded.v1": {
        "record_id": "7e5f3a2c-0f4d-4b8a-9c9e-3d4f5a6b7c8d",
        "uscc": USCC,
        "document_number": "青应急字〔2026〕5号",
        "publicity_starts_on": "2026-02-01",
        "publicity_ends_on": "2029-01-31",
    },
    "credit.publicity.ended.v1": {
        "record_id": "5c3e1f0a-8d2b-4f6e-9a7c-1b2d3e4f5a6b",
        "uscc": USCC,
        "record_class": "penalty",
        "reason": "repaired",
        "ended_on": "2026-07-03",
    },
    "credit.publicity.restored.v1": {
        "record_id": "5c3e1f0a-8d2b-4f6e-9a7c-1b2d3e4f5a6b",
        "uscc": USCC,
        "record_class": "penalty",
        "reason": "修复申请提供的整改证明系伪造，撤销修复决定",
        "publicity_ends_on": "2027-03-01",
    },
    "credit.repair.decided.v1": {
        "application_id": "8f6a4b3d-1a5e-4c9b-8d0f-4e5a6b7c8d9e",
        "uscc": USCC,
        "target_kind": "record",
        "target_id": "5c3e1f0a-8d2b-4f6e-9a7c-1b2d3e4f5a6b",
        "outcome": "approved",
        "decided_on": "2026-07-03",
        "due_on": "2026-07-06",
        "on_time": True,
    },
    "credit.repair.revoked.v1": {
        "application_id": "8f6a4b3d-1a5e-4c9b-8d0f-4e5a6b7c8d9e",
        "uscc": USCC,
        "target_kind": "blacklist",
        "target_id": "9a7b5c4e-2b6f-4d0c-9e1a-5f6a7b8c9d0f",
        "reason": "修复申请提供的整改证明系伪造，撤销修复决定",
        "revoked_on": "2026-09-14",
    },
    "inspection.penalty.decided.v1": {
        "case_id": "0b8c6d5f-3c7a-4e1d-8f2b-6a7b8c9d0e1f",
        "decision_number": "青应急罚〔2026〕17号",
        "uscc": USCC,
        "enterprise_name": "青岛海湾化工有限公司",
        "decided_on": "2026-03-02",
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
        "violation_summary": "未对重大危险源进行定期检测、评估、监控",
        "fine_amount": "50000.00",
        "other_measures": "责令限期改正",
        "severity": "serious",
        "blacklist_criterion": "unlicensed_operation",
    },
    "credit.penalty.published.v1": {
        "record_id": "5c3e1f0a-8d2b-4f6e-9a7c-1b2d3e4f5a6b",
        "uscc": USCC,
        "decision_number": "青应急罚〔2026〕17号",
        "severity": "general",
        "publicity_starts_on": "2026-03-02",
        "publicity_ends_on": "2027-03-01",
        "repair_eligible_on": "2026-06-02",
    },
    "inspection.enterprise.registered.v1": {
        "uscc": USCC,
        "name": "青岛海湾化工有限公司",
        "district": "黄岛区",
        "sector": "hazardous_chemicals",
        "tier": "key",
    },
    "insurance.policy.activated.v1": {
        "policy_id": "9f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
        "policy_number": "AQ-2026-0001",
        "uscc": USCC,
        "enterprise_name": "青岛海湾化工有限公司",
        "insurer_id": "PICC-QD",
        "sector": "hazardous_chemicals",
        "starts_on": "2026-01-01",
        "ends_on": "2026-12-31",
        "coverage_amount": "5000000.00",
        "premium": "18000.00",
    },
    "insurance.policy.ended.v1": {
        "policy_id": "9f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
        "policy_number": "AQ-2026-0001",
        "uscc": USCC,
        "insurer_id": "PICC-QD",
        "reason": "cancelled",
        "last_covered_on": "2026-07-15",
    },
    "permits.item.published.v1": {
        "code": "370200-AQ-001",
        "version": 2,
        "name": "危险化学品经营许可证核发",
        "approval_mode": "pledge",
        "effective_on": "2026-04-01",
    },
    "credit.standing.changed.v1": {
        "uscc": USCC,
        "standing": "blacklisted",
        "previous": "normal",
        "reason": "严重违法失信：拒不执行行政处罚决定",
        "effective_on": "2026-05-11",
    },
    "inspection.pledge.verified.v1": {
        "licence_number": "QDAJ-2026-000031",
        "uscc": USCC,
        "passed": False,
        "findings": "储罐区未设置可燃气体报警装置，与承诺不符",
        "verified_on": "2026-05-20",
        "inspectors": ["officer-011", "officer-027"],
    },
    "permits.licence.issued.v1": {
        "licence_number": "QDAJ-2026-000031",
        "application_id": "2b7f0c3e-1d4a-4e5b-9c6d-7e8f9a0b1c2d",
        "uscc": USCC,
        "holder_name": "青岛海湾化工有限公司",
        "item_code": "QD-AJ-005",
        "item_name": "加油站危险化学品经营许可证延期（承诺制）",
        "approval_path": "pledge",
        "valid_from": "2026-04-20",
        "valid_until": "2029-04-19",
    },
    "permits.licence.status_changed.v1": {
        "licence_number": "QDAJ-2026-000031",
        "uscc": USCC,
        "status": "revoked",
        "reason": "承诺不实，撤销许可",
    },
    "permits.pledge.verification_requested.v1": {
        "licence_number": "QDAJ-2026-000031",
        "application_id": "2b7f0c3e-1d4a-4e5b-9c6d-7e8f9a0b1c2d",
        "uscc": USCC,
        "enterprise_name": "青岛海湾化工有限公司",
        "item_code": "QD-AJ-005",
        "item_name": "加油站危险化学品经营许可证延期（承诺制）",
        "verify_by": "2026-05-19",
    },
    "permits.pledge.breached.v1": {
        "licence_number": "QDAJ-2026-000031",
        "uscc": USCC,
        "enterprise_name": "青岛海湾化工有限公司",
        "item_code": "QD-AJ-005",
        "item_name": "加油站危险化学品经营许可证延期（承诺制）",
        "pledge_sha256": "9b2d0c8a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c",
        "findings": "储罐区未设置可燃气体报警装置，与承诺不符",
        "verified_on": "2026-05-20",
    },
}

CONTRACTS = registered_contracts()


def example(type_: str) -> dict[str, Any]:
    """A fresh copy of the example, as it would arrive off the wire."""
    payload: dict[str, Any] = json.loads(json.dumps(EXAMPLES[type_]))
    return payload


def test_registry_is_not_empty() -> None:
    assert CONTRACTS


def test_every_registered_contract_has_an_example() -> None:
    missing = sorted(set(CONTRACTS) - set(EXAMPLES))
    assert not missing, f"add an example payload to tests/contract for: {missing}"


def test_every_example_belongs_to_a_registered_contract() -> None:
    stale = sorted(set(EXAMPLES) - set(CONTRACTS))
    assert not stale, f"examples for unregistered event types: {stale}"


@pytest.mark.parametrize("type_", sorted(CONTRACTS))
class TestContract:
    def test_example_validates(self, type_: str) -> None:
        model = CONTRACTS[type_].model_validate(example(type_))
        assert type_ == model.TYPE

    def test_json_round_trip_is_lossless(self, type_: str) -> None:
        cls = CONTRACTS[type_]
        model = cls.model_validate(example(type_))
        assert cls.model_validate_json(model.model_dump_json()) == model
        wire = json.loads(json.dumps(model.model_dump(mode="json")))
        assert cls.model_validate(wire) == model
        assert wire == example(type_)

    def test_example_travels_in_an_envelope(self, type_: str) -> None:
        cls = CONTRACTS[type_]
        model = cls.model_validate(example(type_))
        envelope = EventEnvelope(
            id="7d0e2b1c-3a4f-4e5d-9c8b-6a7f8e9d0c1b",
            source="/" + type_.split(".")[0],
            type=type_,
            subject=USCC,
            time="2026-03-02T01:30:15.123Z",
            sequence=1,
            data=model.model_dump(mode="json"),
        )
        assert parse_payload(envelope, cls) == model

    def test_extra_fields_are_rejected(self, type_: str) -> None:
        payload = example(type_) | {"unexpected": "value"}
        with pytest.raises(ValidationError, match="extra"):
            CONTRACTS[type_].model_validate(payload)

    @pytest.mark.parametrize("drop", ["first", "last"])
    def test_required_fields_are_required(self, type_: str, drop: str) -> None:
        payload = example(type_)
        name = next(iter(payload)) if drop == "first" else list(payload)[-1]
        del payload[name]
        with pytest.raises(ValidationError, match=name):
            CONTRACTS[type_].model_validate(payload)

    def test_payloads_are_immutable(self, type_: str) -> None:
        model = CONTRACTS[type_].model_validate(example(type_))
        name = next(iter(example(type_)))
        with pytest.raises(ValidationError):
            setattr(model, name, None)

    def test_type_names_its_producing_module(self, type_: str) -> None:
        cls: type[EventContract] = CONTRACTS[type_]
        producer = type_.split(".")[0]
        assert cls.__module__ == f"kernel.contracts.{producer}", (
            f"{type_} must be declared in kernel/contracts/{producer}.py, not {cls.__module__}"
        )

    def test_has_a_docstring(self, type_: str) -> None:
        assert (CONTRACTS[type_].__doc__ or "").strip(), "contracts say what the event is"


@pytest.mark.parametrize(
    "type_", sorted(t for t, cls in CONTRACTS.items() if "uscc" in cls.model_fields)
)
def test_uscc_fields_check_the_check_character(type_: str) -> None:
    payload = example(type_)
    payload["uscc"] = USCC[:-1] + ("0" if USCC[-1] != "0" else "1")
    with pytest.raises(ValidationError, match="uscc"):
        CONTRACTS[type_].model_validate(payload)
