"""Factories for triage tests: reports, alerts, and the shipped policies with tweaks."""

import itertools
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from hypercare_contracts import (
    NormalizedReport,
    ReportAction,
    Reporter,
    ReporterKind,
    Signals,
    Source,
    SourceFormat,
    TriagedIssue,
)
from hypercare_domain.policy import default_policy_dir
from hypercare_domain.triage import (
    BatchResult,
    InMemoryIssues,
    SuppressionPolicy,
    TriagePolicies,
    load_triage_policies,
    triage_batch,
)

T0 = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
"""A Wednesday noon (UTC), outside the shipped weekly deploy slot."""

_ids = itertools.count(1)


def at(minutes: float) -> datetime:
    """``T0`` plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


def make_report(**overrides: Any) -> NormalizedReport:
    """A Zendesk ticket about a failing checkout; any field can be overridden.

    Extra keywords: ``minutes`` (received and occurred at ``T0 + minutes``), ``reporter`` and
    ``signals`` as dicts merged into the defaults.
    """
    n = next(_ids)
    minutes = overrides.pop("minutes", 0)
    reporter = {"id": f"cust-{n}", "kind": ReporterKind.CUSTOMER, "tier": "free"}
    reporter.update(overrides.pop("reporter", {}))
    fields: dict[str, Any] = {
        "event_id": f"evt-{n}",
        "source": Source.TICKETS,
        "source_format": SourceFormat.ZENDESK,
        "source_ref": f"zendesk:{4700 + n}",
        "action": ReportAction.REPORT,
        "received_at": at(minutes),
        "occurred_at": at(minutes),
        "title": "Checkout fails with error 500",
        "text": "",
        "component": "checkout",
        "reporter": Reporter(**reporter),
        "signals": Signals(**overrides.pop("signals", {})),
        "fingerprint": "checkout:production:fail-500",
        "trace_id": f"trace-{n}",
    }
    fields.update(overrides)
    return NormalizedReport(**fields)


def make_alert(**overrides: Any) -> NormalizedReport:
    """A firing Alertmanager alert on checkout (critical); override like :func:`make_report`."""
    fields: dict[str, Any] = {
        "source": Source.ALERTS,
        "source_format": SourceFormat.ALERTMANAGER,
        "source_ref": "alertmanager:4f2a9c",
        "title": "HighErrorRate on checkout",
        "text": "5xx ratio above 5% for 5 minutes",
        "reporter": {"id": None, "kind": ReporterKind.MONITOR, "tier": None},
        "signals": {"alert_severity": "critical"},
        "fingerprint": "HighErrorRate:checkout:production",
    }
    fields.update(overrides)
    return make_report(**fields)


@lru_cache(maxsize=1)
def shipped_policies() -> TriagePolicies:
    """The policies in ``deploy/policy`` (loaded once)."""
    return load_triage_policies(default_policy_dir())


def with_suppression(data: dict[str, Any]) -> TriagePolicies:
    """The shipped policies with ``suppression.yaml`` replaced by ``data``."""
    base = shipped_policies()
    return TriagePolicies(
        triage=base.triage, routes=base.routes, suppression=SuppressionPolicy.model_validate(data)
    )


def run(
    reports: list[NormalizedReport],
    policies: TriagePolicies | None = None,
    store: InMemoryIssues | None = None,
) -> tuple[list[TriagedIssue], InMemoryIssues]:
    """Triage ``reports`` one batch each (as a live service would), returning decisions and store."""
    store = store if store is not None else InMemoryIssues()
    decisions: list[TriagedIssue] = []
    for report in reports:
        result: BatchResult = triage_batch(
            [report], store, policies or shipped_policies(), report.received_at
        )
        store.apply(result)
        decisions.extend(result.decisions)
    return decisions, store
