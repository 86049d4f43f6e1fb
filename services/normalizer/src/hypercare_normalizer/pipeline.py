"""One batch of raw records in, normalized reports and dead letters out (no I/O)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypercare_contracts import DeadLetter, ErrorClass, NormalizedReport
from hypercare_domain.normalize import ComponentMap, InputLimits, Rejected, normalize_bytes
from hypercare_runtime.deadletter import defect_reason, record_dead_letter
from hypercare_runtime.kafka import RawRecord
from hypercare_runtime.logging import get_logger
from hypercare_runtime.tracing import header_map, ingested_at_of, trace_id_of

log = get_logger(__name__)


_report_json = NormalizedReport.__pydantic_serializer__.to_json
"""``model_dump_json()`` without the str round trip: the serializer returns the same UTF-8 bytes."""


@dataclass(frozen=True)
class Normalized:
    """A report with the trace context of the raw message it came from, and its JSON as published."""

    report: NormalizedReport
    ingested_at: float
    payload: bytes


@dataclass
class BatchOutcome:
    """Everything one batch produced: for every input, reports or a dead letter."""

    reports: list[Normalized] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def normalize_batch(
    records: Sequence[RawRecord],
    *,
    roles: Mapping[str, str],
    components: ComponentMap,
    limits: InputLimits,
    service: str,
) -> BatchOutcome:
    """Normalize each record; a record that cannot be normalized becomes a dead letter with its reason.

    ``roles`` maps each consumed topic to the contract raw topic it plays, so the same code serves renamed
    topics (tests, multi-tenant clusters).

    Error policy: a :class:`Rejected` input is the sender's fault and carries its own error class; any other
    exception is a defect in this service, still dead-lettered (``processing_error``, with the exception:
    its type and message) so that one poison message never stops the partition, and logged with its
    traceback. Each report is serialized here, per record, so that one that cannot be is dead-lettered
    too instead of failing the whole batch's publish on every delivery.
    """
    outcome = BatchOutcome()
    for record in records:
        headers = header_map(record.headers)
        trace_id = trace_id_of(headers, topic=record.topic, partition=record.partition, offset=record.offset)
        ingested_at = ingested_at_of(headers, kafka_timestamp_ms=record.timestamp)
        raw = record.value or b""
        try:
            reports = normalize_bytes(
                roles.get(record.topic, record.topic),
                raw,
                received_at=datetime.fromtimestamp(ingested_at, UTC),
                trace_id=trace_id,
                components=components,
                limits=limits,
            )
            normalized = [Normalized(r, ingested_at, _report_json(r)) for r in reports]
        except Rejected as exc:
            error_class, reason = exc.error_class, exc.reason
        except Exception as exc:
            log.exception("normalize.defect", topic=record.topic, offset=record.offset, trace_id=trace_id)
            error_class, reason = ErrorClass.PROCESSING_ERROR, defect_reason(service, exc)
        else:
            outcome.reports.extend(normalized)
            continue
        outcome.dead.append(
            record_dead_letter(
                record, service=service, error_class=error_class, reason=reason, trace_id=trace_id
            )
        )
    return outcome
