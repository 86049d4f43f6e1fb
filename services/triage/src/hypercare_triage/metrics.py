"""The triage service's metrics."""

from collections.abc import Iterable

from hypercare_contracts import Decision, TriagedIssue
from hypercare_runtime.metrics import PipelineMetrics
from hypercare_store.ports import OpenCount
from prometheus_client import CollectorRegistry, Counter, Gauge

SERVICE = "triage"


class TriageMetrics(PipelineMetrics):
    """Pipeline metrics plus open issues, decisions, severity raises, merges and retries."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, service=SERVICE)
        self.issues_open = Gauge(
            "hypercare_issues_open",
            "Open (published, unresolved) issues, by severity and route; refreshed from the database.",
            ["severity", "route"],
            registry=registry,
        )
        self.decisions = Counter(
            "hypercare_triage_decisions_total",
            "Decisions published, by decision.",
            ["decision"],
            registry=registry,
        )
        self.severity_raises = Counter(
            "hypercare_severity_raises_total",
            "Severity raises published, by previous and new severity.",
            ["from", "to"],
            registry=registry,
        )
        self.reports_merged = Counter(
            "hypercare_reports_merged_total",
            "Reports attached to an issue, by grouping rule (new, fingerprint, source_item, similarity).",
            ["rule"],
            registry=registry,
        )
        self.reports_skipped = Counter(
            "hypercare_triage_reports_skipped_total",
            "Reports already stored (a replay or a redelivery) and therefore not triaged again.",
            registry=registry,
        )
        self.stale_reads = Counter(
            "hypercare_triage_stale_reads_total",
            "Batches triaged again because another instance changed one of their issues.",
            registry=registry,
        )
        self.overlap_redone = Counter(
            "hypercare_triage_overlap_redone_total",
            "Overlapped batches done again: triaged again because the batch beneath them was triaged"
            " again before it was written (retriaged), or fetched again because its write failed (failed).",
            ["why"],
            registry=registry,
        )
        self.batches_split = Counter(
            "hypercare_triage_batches_split_total",
            "Batches whose write failed with a defect (a value the database refused, say) and whose reports"
            " were then written one by one, the one at fault dead-lettered.",
            registry=registry,
        )
        self.hints_dropped = Counter(
            "hypercare_triage_hints_dropped_total",
            "Hints of committed batches dropped unstored: Redis did not answer for so long that more than"
            " the pipeline keeps for the next exchange piled up (the oldest go first).",
            registry=registry,
        )
        self.records_taken = Counter(
            "hypercare_triage_records_taken_total",
            "Records taken from the consumer while a batch was written in turn, and triaged as the next"
            " batch in the same handler call (FastStream's received and processed counters leave them out).",
            registry=registry,
        )

    def count_decisions(self, decisions: Iterable[TriagedIssue]) -> None:
        """Count published decisions and severity raises."""
        for decision in decisions:
            self.decisions.labels(decision.decision.value).inc()
            if decision.decision is Decision.RAISED and decision.previous_severity is not None:
                self.severity_raises.labels(decision.previous_severity.value, decision.severity.value).inc()

    def set_open(self, counts: Iterable[OpenCount]) -> None:
        """Replace the open-issues gauge with fresh counts."""
        self.issues_open.clear()
        for item in counts:
            self.issues_open.labels(item.severity, item.route).set(item.count)
