"""The message contracts: topic names, versions, and what other tools rely on."""

import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypercare_contracts
import pytest
from hypercare_contracts import (
    Contract,
    LifecycleAction,
    LifecycleCommand,
    NormalizedReport,
    Severity,
    SlaEvent,
    SlaEventKind,
    SlaTarget,
    topics,
)
from hypercare_contracts.common import COUNT_MAX, INT32_MAX, KEY_MAX
from pydantic import ValidationError

from tests.factories.sla import make_triaged
from tests.unit.triage_factories import make_report

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_topic_names_are_the_public_contract() -> None:
    assert set(topics.ALL_TOPICS) == {
        "hypercare.raw.tickets",
        "hypercare.raw.feedback",
        "hypercare.raw.social",
        "hypercare.raw.alerts",
        "hypercare.issues.normalized",
        "hypercare.issues.triaged",
        "hypercare.issues.lifecycle",
        "hypercare.sla.events",
        "hypercare.notifications",
        "hypercare.deadletter",
    }


def test_stack_creates_exactly_the_contract_topics() -> None:
    lines = (ROOT / "deploy" / "stack" / "topics.txt").read_text().splitlines()
    names = {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}
    assert names == set(topics.ALL_TOPICS)


def _message_models() -> list[type[Contract]]:
    return [
        obj
        for _, obj in inspect.getmembers(hypercare_contracts, inspect.isclass)
        if issubclass(obj, Contract) and "schema_version" in obj.model_fields
    ]


def test_every_topic_message_carries_schema_version() -> None:
    names = {m.__name__ for m in _message_models()}
    assert {
        "NormalizedReport",
        "TriagedIssue",
        "LifecycleCommand",
        "LifecycleEvent",
        "SlaEvent",
        "NotificationRecord",
        "DeadLetter",
    } <= names
    for model in _message_models():
        assert model.model_fields["schema_version"].default == 1, model.__name__


@pytest.mark.parametrize(
    ("action", "extra", "message"),
    [
        (LifecycleAction.SNOOZE, {}, "snooze needs snooze_until"),
        (LifecycleAction.REASSIGN, {}, "reassign needs team"),
        (LifecycleAction.COMMENT, {}, "comment needs comment"),
    ],
)
def test_lifecycle_command_requires_its_arguments(
    action: LifecycleAction, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        LifecycleCommand(command_id="c1", issue_id="iss_1", action=action, actor="ana", **extra)


def test_contracts_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        LifecycleCommand.model_validate(
            {"command_id": "c", "issue_id": "i", "action": "acknowledge", "actor": "a", "colour": "red"}
        )


@pytest.mark.parametrize("field", ["event_id", "source_ref", "component", "environment", "fingerprint"])
def test_a_report_identifier_past_what_postgresql_can_index_is_refused(field: str) -> None:
    fields = make_report().model_dump()
    NormalizedReport.model_validate({**fields, field: "k" * KEY_MAX})
    with pytest.raises(ValidationError, match=field):
        NormalizedReport.model_validate({**fields, field: "k" * (KEY_MAX + 1)})
    with pytest.raises(ValidationError, match="references"):
        NormalizedReport.model_validate({**fields, "references": {"dedup_key": "k" * (KEY_MAX + 1)}})


def test_every_topic_has_its_messages_in_the_catalog() -> None:
    from hypercare_contracts.catalog import TOPIC_MESSAGES  # noqa: PLC0415

    assert set(TOPIC_MESSAGES) == set(topics.ALL_TOPICS)


def test_committed_asyncapi_document_is_up_to_date() -> None:
    from hypercare_contracts.asyncapi import render  # noqa: PLC0415

    committed = (ROOT / "docs" / "asyncapi.json").read_text()
    assert committed == render(), (
        "regenerate: uv run python -m hypercare_contracts.asyncapi docs/asyncapi.json"
    )


@pytest.mark.parametrize(
    ("model", "change", "field"),
    [
        ("triaged", {"version": INT32_MAX + 1}, "version"),
        ("triaged", {"first_seen": "0001-01-01T00:00:00+05:00"}, "first_seen"),
        (
            "triaged",
            {"route": {"name": "r" * (KEY_MAX + 1), "team": "t", "escalation_policy": "p", "channels": []}},
            "route",
        ),
        ("sla", {"escalation_step": INT32_MAX + 1}, "escalation_step"),
        ("sla", {"due_at": "0001-01-01T00:00:00+05:00"}, "due_at"),
        ("sla", {"route": "r" * (KEY_MAX + 1)}, "route"),
        ("normalized", {"signals": {"users_affected": COUNT_MAX + 1}}, "users_affected"),
        ("normalized", {"reporter": {"kind": "customer", "followers": COUNT_MAX + 1}}, "followers"),
    ],
)
def test_numbers_and_instants_the_services_store_or_compute_with_are_bounded(
    model: str, change: dict[str, Any], field: str
) -> None:
    # Each one, accepted, made a consumer fail on every delivery: PostgreSQL's integer refused a
    # version or step, a date at the end of the calendar overflowed when rendered, a count overflowed
    # scoring's logarithms, a route name outgrew an index entry.
    examples: dict[str, Contract] = {
        "triaged": make_triaged(),
        "sla": _SLA_EVENT,
        "normalized": make_report(),
    }
    example = examples[model]
    fields = example.model_dump(mode="json")
    for name, value in change.items():
        fields[name] = {**fields[name], **value} if isinstance(value, dict) and name != "route" else value
    with pytest.raises(ValidationError, match=field):
        type(example).model_validate(fields)
    assert type(example).model_validate(example.model_dump(mode="json")) == example, "the example is valid"


_SLA_EVENT = SlaEvent(
    event_id="sla-1",
    kind=SlaEventKind.BREACHED,
    issue_id="iss-1",
    severity=Severity.HIGH,
    route="payments",
    target=SlaTarget.RESPONSE,
    due_at=datetime(2026, 6, 4, 12, 15, tzinfo=UTC),
    emitted_at=datetime(2026, 6, 4, 12, 15, tzinfo=UTC),
    business_elapsed_seconds=900,
    policy="payments-p1",
)
