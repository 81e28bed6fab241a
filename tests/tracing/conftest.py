"""The kernel's bare-schema database (tests/kernel/conftest.py), for the Kafka-hop test."""

from tests.kernel.conftest import kdb

__all__ = ["kdb"]
