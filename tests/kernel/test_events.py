"""The CloudEvents envelope, its Kafka structured encoding, payload parsing and the registry."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import kernel.contracts
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.events import (
    EventContract,
    EventEnvelope,
    MalformedEvent,
    contract,
    event_time,
    from_kafka,
    parse_payload,
    registered_contracts,
    to_kafka,
)
from kernel.uscc import make_uscc

USCC = make_uscc(4242)
HEADERS = [("content-type", b"application/cloudevents+json")]


def envelope(**overrides: Any) -> EventEnvelope:
    values: dict[str, Any] = {
        "id": "0b4f7c2e-5d7a-4c49-9a53-2f0d8e1c6b11",
        "source": "/inspection",
        "type": EnterpriseRegisteredV1.TYPE,
        "subject": USCC,
        "time": datetime(2026, 3, 2, 1, 30, 15, 123000, tzinfo=UTC),
        "sequence": 41,
        "data": {
            "uscc": USCC,
            "name": "青岛港湾物流有限公司",
            "district": "黄岛区",
            "sector": "trade",
            "tier": "general",
        },
    }
    values.update(overrides)
    return EventEnvelope(**values)


def wire(env: EventEnvelope) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
    """The envelope as aiokafka would hand it to a consumer: bytes key, header tuples."""
    message = to_kafka(env)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    headers = [
        (k, v if isinstance(v, bytes) else str(v).encode()) for k, v in message.headers.items()
    ]
    return message.value, key, headers


def mutated(change: dict[str, Any], drop: tuple[str, ...] = ()) -> bytes:
    doc = json.loads(wire(envelope())[0])
    doc.update(change)
    for name in drop:
        doc.pop(name)
    return json.dumps(doc).encode()


class TestKafkaEncoding:
    def test_structured_mode_keyed_by_subject(self) -> None:
        message = to_kafka(envelope())
        assert message.headers["content-type"] == b"application/cloudevents+json"
        key = message.key.encode() if isinstance(message.key, str) else message.key
        assert key == USCC.encode()
        doc = json.loads(message.value)
        assert doc["specversion"] == "1.0"
        assert doc["subject"] == USCC
        assert doc["datacontenttype"] == "application/json"
        assert doc["data"]["name"] == "青岛港湾物流有限公司"

    def test_round_trip_is_equal(self) -> None:
        original = envelope()
        assert from_kafka(*wire(original)) == original

    def test_sequence_travels_as_json_integer_and_comes_back_int(self) -> None:
        original = envelope(sequence=9_007_199_254_740_993)  # beyond float precision
        value, key, headers = wire(original)
        raw = json.loads(value)["sequence"]
        assert type(raw) is int
        back = from_kafka(value, key, headers)
        assert type(back.sequence) is int
        assert back.sequence == 9_007_199_254_740_993

    def test_time_in_another_zone_is_the_same_instant(self) -> None:
        shanghai = timezone(timedelta(hours=8))
        original = envelope(time=datetime(2026, 3, 2, 9, 30, 15, 123000, tzinfo=shanghai))
        back = from_kafka(*wire(original))
        assert back.time == datetime(2026, 3, 2, 1, 30, 15, 123000, tzinfo=UTC)

    def test_decoding_does_not_depend_on_the_key_or_headers(self) -> None:
        value, _, _ = wire(envelope())
        assert from_kafka(value, None, None) == envelope()

    def test_source_name_strips_the_slash(self) -> None:
        assert envelope().source_name == "inspection"


class TestMalformedMessages:
    def test_none_value(self) -> None:
        with pytest.raises(MalformedEvent, match="empty"):
            from_kafka(None, USCC.encode(), HEADERS)

    @pytest.mark.parametrize(
        "value", [b"", b"not json", b'{"id": ', b"\xff\xfe\x00", b"[]", b"null", b"42"]
    )
    def test_not_json_object(self, value: bytes) -> None:
        with pytest.raises(MalformedEvent):
            from_kafka(value, USCC.encode(), HEADERS)

    @pytest.mark.parametrize(
        "missing",
        [
            "id",
            "source",
            "type",
            "specversion",
            "subject",
            "time",
            "sequence",
        ],
    )
    def test_required_attribute_missing(self, missing: str) -> None:
        with pytest.raises(MalformedEvent):
            from_kafka(mutated({}, drop=(missing,)), USCC.encode(), HEADERS)

    def test_redelivered_message_without_id_never_decodes_to_two_ids(self) -> None:
        # The inbox dedupes on the event id: the same bytes delivered twice must be refused
        # both times or carry the same id both times.
        value = mutated({}, drop=("id",))

        def decoded_id() -> str | None:
            try:
                return from_kafka(value, USCC.encode(), HEADERS).id
            except MalformedEvent:
                return None

        assert decoded_id() == decoded_id()

    @pytest.mark.parametrize("version", ["0.3", "2.0", 1.0])
    def test_wrong_specversion(self, version: object) -> None:
        with pytest.raises(MalformedEvent):
            from_kafka(mutated({"specversion": version}), USCC.encode(), HEADERS)

    @pytest.mark.parametrize(
        "change",
        [
            {"sequence": 0},
            {"sequence": -3},
            {"sequence": "forty-one"},
            {"time": "2026-03-02T01:30:15"},  # no zone: not an instant
            {"time": "yesterday"},
            {"data": [1, 2, 3]},
            {"data": "text"},
            {"subject": ""},
            {"id": "x" * 65},
        ],
    )
    def test_attribute_values_out_of_contract(self, change: dict[str, Any]) -> None:
        with pytest.raises(MalformedEvent):
            from_kafka(mutated(change), USCC.encode(), HEADERS)

    def test_malformed_event_is_a_value_error(self) -> None:
        assert issubclass(MalformedEvent, ValueError)


class TestParsePayload:
    def test_valid_payload(self) -> None:
        payload = parse_payload(envelope(), EnterpriseRegisteredV1)
        assert payload == EnterpriseRegisteredV1(
            uscc=USCC,
            name="青岛港湾物流有限公司",
            district="黄岛区",
            sector="trade",
            tier="general",
        )

    def test_wrong_type(self) -> None:
        with pytest.raises(
            MalformedEvent, match=r"expected inspection\.enterprise\.registered\.v1"
        ):
            parse_payload(envelope(type="insurance.policy.activated.v1"), EnterpriseRegisteredV1)

    @pytest.mark.parametrize(
        "data",
        [
            {},
            {
                "uscc": "91370200XXXXXXXXXX",
                "name": "n",
                "district": "d",
                "sector": "s",
                "tier": "t",
            },
            {"uscc": USCC, "name": "n", "district": "d", "sector": "s"},
            {"uscc": USCC, "name": "n", "district": "d", "sector": "s", "tier": "t", "extra": 1},
            {"uscc": USCC, "name": "n" * 201, "district": "d", "sector": "s", "tier": "t"},
        ],
    )
    def test_invalid_data(self, data: dict[str, Any]) -> None:
        with pytest.raises(MalformedEvent, match="payload invalid"):
            parse_payload(envelope(data=data), EnterpriseRegisteredV1)


class TestRegistry:
    def test_every_contract_in_kernel_contracts_is_registered(self) -> None:
        found: dict[str, type[EventContract]] = {}
        for info in pkgutil.iter_modules(kernel.contracts.__path__):
            module = importlib.import_module(f"kernel.contracts.{info.name}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                declared_here = cls.__module__ == module.__name__
                if issubclass(cls, EventContract) and cls is not EventContract and declared_here:
                    found[cls.TYPE] = cls
        assert found, "kernel.contracts declares no contracts"
        registry = registered_contracts()
        for type_, cls in found.items():
            assert registry.get(type_) is cls, f"{cls.__qualname__} is not @contract-registered"

    def test_types_are_unique_and_versioned(self) -> None:
        registry = registered_contracts()
        classes = list(registry.values())
        assert len({c.TYPE for c in classes}) == len(classes)
        assert len(set(classes)) == len(classes), "one class registered under two types"
        for type_, cls in registry.items():
            assert type_ == cls.TYPE
            assert re.fullmatch(r"[a-z]+(\.[a-z_]+)+\.v[1-9][0-9]*", type_), type_

    def test_registering_a_second_class_for_a_type_fails(self) -> None:
        class Impostor(EventContract):
            TYPE = EnterpriseRegisteredV1.TYPE

        with pytest.raises(RuntimeError, match="registered twice"):
            contract(Impostor)
        assert registered_contracts()[EnterpriseRegisteredV1.TYPE] is EnterpriseRegisteredV1

    def test_registering_the_same_class_again_is_harmless(self) -> None:
        assert contract(EnterpriseRegisteredV1) is EnterpriseRegisteredV1

    def test_registry_view_is_a_copy(self) -> None:
        view = registered_contracts()
        assert isinstance(view, dict)
        view.clear()
        assert registered_contracts()


def test_event_time_trims_to_milliseconds() -> None:
    t = datetime(2026, 3, 2, 1, 30, 15, 123987, tzinfo=UTC)
    assert event_time(t) == datetime(2026, 3, 2, 1, 30, 15, 123000, tzinfo=UTC)
    assert event_time(t).tzinfo is UTC
