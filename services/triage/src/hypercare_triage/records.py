"""The parts of a Kafka consumer record the triage service reads (shared with the other services)."""

from hypercare_runtime.kafka import RawRecord

__all__ = ["RawRecord"]
