"""CloudEvents 1.0 envelope, its Kafka structured-mode encoding, and the contract registry.

Wire format: CloudEvents' Kafka protocol binding in structured mode (the whole event as
`application/cloudevents+json` in the value, the enterprise's USCC as the key), produced and
parsed with the CloudEvents SDK. `sequence` is an Integer extension attribute: per source,
contiguous from 1, assigned by the outbox relay in publish order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

import orjson
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SPECVERSION: Literal["1.0"] = "1.0"
_FORMAT = JSONFormat()


class EventContract(BaseModel):
    """Base of every event payload; `TYPE` is the versioned CloudEvents type it travels as."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    TYPE: ClassVar[str]


class EventEnvelope(BaseModel):
    """One CloudEvent as services exchange it (Kafka value and replay endpoint)."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = SPECVERSION
    id: str = Field(min_length=1, max_length=64)
    source: str = Field(
        min_length=1, max_length=64, description="Producing service, e.g. /insurance"
    )
    type: str = Field(min_length=1, max_length=120)
    subject: str = Field(min_length=1, max_length=64, description="The enterprise's USCC")
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    sequence: int = Field(ge=1, description="Per-source, contiguous, in publish order")
    data: dict[str, Any]

    @property
    def source_name(self) -> str:
        """The producing service's name (the source without its leading slash)."""
        return self.source.lstrip("/")


class MalformedEvent(ValueError):
    """A message that is not a valid CloudEvent of ours: it can never succeed, dead-letter it."""


def to_kafka(envelope: EventEnvelope) -> KafkaMessage:
    """Encode an envelope as a structured-mode Kafka message keyed by subject (USCC)."""
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "time": envelope.time,
        "datacontenttype": envelope.datacontenttype,
        "sequence": envelope.sequence,
    }
    event = CloudEvent(attributes, envelope.data)
    return to_structured(event, _FORMAT, key_mapper=lambda e: e.get_subject())


_REQUIRED = ("specversion", "id", "source", "type", "subject", "time", "sequence", "data")


def from_kafka(
    value: bytes | None, key: bytes | None, headers: Sequence[tuple[str, bytes]] | None
) -> EventEnvelope:
    """Decode a structured-mode message; raises MalformedEvent for anything else.

    Required attributes are checked on the raw document first: the SDK would otherwise fill a
    missing `id` with a fresh UUID (defeating the inbox), a missing `time` with now.
    """
    if value is None:
        raise MalformedEvent("empty message value")
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"not a CloudEvent of this platform: not JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise MalformedEvent("not a CloudEvent of this platform: not a JSON object")
    missing = [name for name in _REQUIRED if raw.get(name) in (None, "")]
    if missing:
        raise MalformedEvent(f"CloudEvent lacks required attribute(s): {', '.join(missing)}")
    if raw["specversion"] != SPECVERSION:
        raise MalformedEvent(f"specversion {raw['specversion']!r} is not {SPECVERSION}")
    if raw.get("datacontenttype", "application/json") != "application/json":
        raise MalformedEvent(f"datacontenttype {raw['datacontenttype']!r} is not JSON")
    if type(raw["sequence"]) is not int:
        raise MalformedEvent("sequence must be a JSON integer")
    try:
        message = KafkaMessage(headers=dict(headers or ()), key=key, value=value)
        event = from_structured(message, _FORMAT, CloudEvent)
        attrs = event.get_attributes()
        return EventEnvelope(
            id=attrs["id"],
            source=attrs["source"],
            type=attrs["type"],
            subject=attrs["subject"],
            time=attrs["time"],
            sequence=raw["sequence"],
            data=event.get_data(),
        )
    except Exception as exc:  # the SDK raises its own error types for bad input
        raise MalformedEvent(f"not a CloudEvent of this platform: {exc}") from exc


C = TypeVar("C", bound=EventContract)

_REGISTRY: dict[str, type[EventContract]] = {}


def contract(cls: type[C]) -> type[C]:
    """Register an event contract under its TYPE (one class per type and version)."""
    existing = _REGISTRY.get(cls.TYPE)
    if existing is not None and existing is not cls:
        raise RuntimeError(f"event type {cls.TYPE} registered twice")
    _REGISTRY[cls.TYPE] = cls
    return cls


def registered_contracts() -> Mapping[str, type[EventContract]]:
    """All known event types and their payload models."""
    return dict(_REGISTRY)


def parse_payload(envelope: EventEnvelope, model: type[C]) -> C:
    """Validate an envelope's data against its contract; a mismatch is a MalformedEvent."""
    if envelope.type != model.TYPE:
        raise MalformedEvent(f"expected {model.TYPE}, got {envelope.type}")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise MalformedEvent(f"{envelope.type} payload invalid: {exc}") from exc


def event_time(value: datetime) -> datetime:
    """Events carry millisecond precision; trimming here keeps replays byte-identical."""
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)
