"""Versioned message contracts of every Hypercare topic."""

from hypercare_contracts.common import Contract, ScoreItem, Severity, Source, SourceFormat
from hypercare_contracts.deadletter import DeadLetter, ErrorClass
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, LifecycleEvent, Via
from hypercare_contracts.normalized import (
    Link,
    NormalizedReport,
    ReportAction,
    Reporter,
    ReporterKind,
    Signals,
)
from hypercare_contracts.notifications import DeliveryOutcome, NotificationRecord
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import (
    Decision,
    Impact,
    IssueStatus,
    MergeRule,
    ReportSummary,
    Route,
    TriagedIssue,
)

__all__ = [
    "Contract",
    "DeadLetter",
    "Decision",
    "DeliveryOutcome",
    "ErrorClass",
    "Impact",
    "IssueStatus",
    "LifecycleAction",
    "LifecycleCommand",
    "LifecycleEvent",
    "Link",
    "MergeRule",
    "NormalizedReport",
    "NotificationRecord",
    "ReportAction",
    "ReportSummary",
    "Reporter",
    "ReporterKind",
    "Route",
    "ScoreItem",
    "Severity",
    "Signals",
    "SlaEvent",
    "SlaEventKind",
    "SlaTarget",
    "Source",
    "SourceFormat",
    "TriagedIssue",
    "Via",
]
