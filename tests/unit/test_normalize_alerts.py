"""Alertmanager, Grafana and PagerDuty messages as normalized reports."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts import NormalizedReport, ReportAction, ReporterKind, SourceFormat
from hypercare_contracts.common import COUNT_MAX, KEY_MAX
from hypercare_contracts.normalized import TEXT_MAX, TITLE_MAX
from hypercare_domain.normalize import fingerprint_alert, normalize
from hypercare_domain.normalize.context import count_of

from tests.factories.policy import shipped_component_map
from tests.factories.raw import make_alertmanager, make_am_alert, make_grafana, make_pagerduty

pytestmark = pytest.mark.unit

RECEIVED = datetime(2024, 5, 2, 10, 10, tzinfo=UTC)


def run(
    payload: dict[str, Any], *, received_at: datetime = RECEIVED, trace_id: str = "trace-1"
) -> list[NormalizedReport]:
    return normalize(
        "hypercare.raw.alerts",
        payload,
        received_at=received_at,
        trace_id=trace_id,
        components=shipped_component_map(),
    )


def one(payload: dict[str, Any]) -> NormalizedReport:
    reports = run(payload)
    assert len(reports) == 1
    return reports[0]


def _labels(**changes: str) -> dict[str, str]:
    labels: dict[str, str] = make_am_alert()["labels"]
    labels.update(changes)
    return labels


def test_a_firing_alertmanager_alert_becomes_a_checkout_report() -> None:
    report = one(make_alertmanager())
    assert report.source_format is SourceFormat.ALERTMANAGER
    assert report.action is ReportAction.REPORT
    assert report.event_id == "alertmanager:c0ffee1234abcd56:20240502T095800Z:firing"
    assert report.source_ref == "alertmanager:c0ffee1234abcd56"
    assert report.title == "Checkout error rate above 5% for 5 minutes"
    assert report.text.startswith("5xx ratio on POST /api/checkout")
    assert report.component == "checkout"
    assert report.environment == "production"
    assert report.reporter.kind is ReporterKind.MONITOR
    assert report.signals.alert_severity == "critical"
    assert report.signals.status == "firing"
    assert report.signals.source_priority is None
    assert report.occurred_at == datetime(2024, 5, 2, 9, 58, tzinfo=UTC)
    assert report.received_at == RECEIVED
    assert report.trace_id == "trace-1"
    assert report.fingerprint == fingerprint_alert("CheckoutErrorRateHigh", "checkout", "production")
    assert report.references["alertmanager_fingerprint"] == "c0ffee1234abcd56"
    assert report.labels["service"] == "checkout-api"
    assert [(link.text, link.href) for link in report.links] == [
        ("Source", "https://prometheus.example.com/graph?g0.expr=checkout_errors"),
        ("Runbook", "https://runbooks.example.com/checkout/error-rate"),
    ]


def test_each_alert_of_a_message_is_its_own_report() -> None:
    alerts = [
        make_am_alert(),
        make_am_alert(
            fingerprint="aaaa000011112222",
            labels=_labels(alertname="SearchLatencyHigh", service="search-api"),
            annotations={"summary": "Search p99 above 2s"},
        ),
        make_am_alert(fingerprint="bbbb000011112222", status="resolved", endsAt="2024-05-02T10:03:00Z"),
    ]
    reports = run(make_alertmanager(alerts=alerts))
    assert [r.component for r in reports] == ["checkout", "search", "checkout"]
    assert [r.action for r in reports] == [ReportAction.REPORT, ReportAction.REPORT, ReportAction.RESOLVE]
    assert len({r.event_id for r in reports}) == 3
    assert len({r.source_ref for r in reports}) == 3


def test_resolved_alert_resolves_the_same_issue_it_opened() -> None:
    firing = one(make_alertmanager())
    resolved = one(
        make_alertmanager(
            status="resolved", alerts=[make_am_alert(status="resolved", endsAt="2024-05-02T10:20:00Z")]
        )
    )
    assert resolved.action is ReportAction.RESOLVE
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.source_ref == firing.source_ref
    assert resolved.event_id != firing.event_id
    assert resolved.occurred_at == datetime(2024, 5, 2, 10, 20, tzinfo=UTC)


def test_a_repeat_interval_resend_has_the_same_event_id() -> None:
    first = one(make_alertmanager())
    again = run(make_alertmanager(), received_at=datetime(2024, 5, 2, 14, 10, tzinfo=UTC), trace_id="trace-2")
    assert again[0].event_id == first.event_id
    assert again[0].model_dump(exclude={"received_at", "trace_id"}) == first.model_dump(
        exclude={"received_at", "trace_id"}
    )


def test_a_new_firing_of_the_same_alert_gets_a_new_event_id_but_the_same_fingerprint() -> None:
    first = one(make_alertmanager())
    later = one(make_alertmanager(alerts=[make_am_alert(startsAt="2024-05-03T08:00:00Z")]))
    assert later.event_id != first.event_id
    assert later.fingerprint == first.fingerprint


def test_without_a_sender_fingerprint_one_is_computed_from_the_label_set() -> None:
    labels = _labels()
    shuffled = dict(reversed(list(labels.items())))
    a = one(make_alertmanager(alerts=[make_am_alert(fingerprint="", labels=labels)]))
    b = one(make_alertmanager(alerts=[make_am_alert(fingerprint="", labels=shuffled)]))
    c = one(make_alertmanager(alerts=[make_am_alert(fingerprint="", labels=_labels(instance="other:8080"))]))
    assert a.source_ref == b.source_ref
    assert a.source_ref != c.source_ref
    assert len(a.source_ref) == len("alertmanager:") + 24
    assert "alertmanager_fingerprint" not in a.references


@pytest.mark.parametrize(
    ("changes", "environment"),
    [
        ({"env": "prod"}, "production"),
        ({"env": "STAGING"}, "staging"),
        ({"env": "", "environment": "dev"}, "development"),
        ({"env": "", "namespace": "shop-stg"}, "staging"),
        ({"env": "", "namespace": "shop"}, "production"),
        ({"env": "eu-canary"}, "eu-canary"),
    ],
)
def test_environment_comes_from_labels(changes: dict[str, str], environment: str) -> None:
    report = one(make_alertmanager(alerts=[make_am_alert(labels=_labels(**changes))]))
    assert report.environment == environment
    assert report.fingerprint == fingerprint_alert("CheckoutErrorRateHigh", "checkout", environment)


def test_alert_fingerprint_separates_environment_component_and_name() -> None:
    base = fingerprint_alert("CheckoutErrorRateHigh", "checkout", "production")
    assert fingerprint_alert("CheckoutErrorRateHigh", "checkout", "staging") != base
    assert fingerprint_alert("CheckoutErrorRateHigh", "payments", "production") != base
    assert fingerprint_alert("CheckoutLatencyHigh", "checkout", "production") != base
    assert len(base) == 20


def test_title_falls_back_to_the_alert_name_and_long_texts_are_bounded() -> None:
    report = one(
        make_alertmanager(
            alerts=[make_am_alert(annotations={"description": "x " * 5000}, labels=_labels())],
        )
    )
    assert report.title == "CheckoutErrorRateHigh"
    assert len(report.text) == TEXT_MAX
    assert report.text.endswith("\u2026")
    long_title = one(make_alertmanager(alerts=[make_am_alert(annotations={"summary": "checkout " * 100})]))
    assert len(long_title.title) <= TITLE_MAX
    assert long_title.title.endswith("\u2026")


def test_users_affected_is_read_from_labels_or_annotations() -> None:
    annotated = make_am_alert(annotations={"summary": "s", "users_affected": "250"})
    assert one(make_alertmanager(alerts=[annotated])).signals.users_affected == 250
    assert one(make_alertmanager()).signals.users_affected is None


def test_labels_are_redacted_and_only_scalar_extras_are_kept() -> None:
    alert = make_am_alert(
        labels=_labels(owner="oncall@example.com"),
        team="shop",
        extra_obj={"nested": "dropped"},
    )
    report = one(make_alertmanager(alerts=[alert], cluster="eu-1", raw={"a": 1}))
    assert report.labels["owner"] == "[email]"
    assert report.labels["extra.team"] == "shop"
    assert report.labels["extra.cluster"] == "eu-1"
    assert not any("nested" in value or "extra_obj" in key for key, value in report.labels.items())
    assert "extra.raw" not in report.labels


def test_links_that_are_not_http_are_dropped() -> None:
    report = one(make_alertmanager(alerts=[make_am_alert(generatorURL="javascript:alert(1)")]))
    assert [link.text for link in report.links] == ["Runbook"]


def test_grafana_alerts_carry_dashboard_links_and_match_alertmanager_fingerprints() -> None:
    grafana = one(make_grafana())
    assert grafana.source_format is SourceFormat.GRAFANA
    assert grafana.event_id.startswith("grafana:9b1e2f3a4c5d6e7f:")
    assert {link.text for link in grafana.links} >= {"Dashboard", "Panel"}
    assert grafana.fingerprint == one(make_alertmanager()).fingerprint


# --- PagerDuty ------------------------------------------------------------------------------------


def test_a_pagerduty_trigger_becomes_a_report() -> None:
    report = one(make_pagerduty())
    assert report.source_format is SourceFormat.PAGERDUTY
    assert report.action is ReportAction.REPORT
    assert report.event_id == "pagerduty:checkout-errors-prod:trigger:20240502T100000Z"
    assert report.source_ref == "pagerduty:checkout-errors-prod"
    assert report.references["dedup_key"] == "checkout-errors-prod"
    assert report.component == "checkout"
    assert report.signals.alert_severity == "critical"
    assert report.signals.source_priority is None
    assert report.signals.users_affected == 420
    assert report.fingerprint == fingerprint_alert("http_5xx_rate", "checkout", "production")
    assert report.links[0].text == "Checkout dashboard"
    assert "R0UT1NGKEY" not in report.model_dump_json()


@pytest.mark.parametrize(
    ("action", "expected"),
    [("acknowledge", ReportAction.ACKNOWLEDGE), ("resolve", ReportAction.RESOLVE)],
)
def test_pagerduty_acknowledge_and_resolve_without_payload_name_their_dedup_key(
    action: str, expected: ReportAction
) -> None:
    trigger = one(make_pagerduty())
    event = {
        "routing_key": "R0UT1NGKEY0000000000000000000000",
        "event_action": action,
        "dedup_key": "checkout-errors-prod",
    }
    report = one(event)
    assert report.action is expected
    assert report.source_ref == trigger.source_ref
    assert report.references["dedup_key"] == "checkout-errors-prod"
    assert report.title == f"PagerDuty {action} for checkout-errors-prod"
    assert report.component == "unknown"
    assert report.event_id.startswith(f"pagerduty:checkout-errors-prod:{action}:")
    assert one(dict(event)).event_id == report.event_id


def test_a_trigger_without_dedup_key_gets_a_stable_generated_one() -> None:
    first = one(make_pagerduty(dedup_key=None))
    again = one(make_pagerduty(dedup_key=None))
    other = make_pagerduty(dedup_key=None)
    other["payload"] = {**other["payload"], "summary": "Payments API down"}
    assert first.source_ref == again.source_ref
    assert first.references["dedup_key"].startswith("generated-")
    assert one(other).source_ref != first.source_ref


def test_pagerduty_alert_name_is_class_then_component_and_group() -> None:
    base = make_pagerduty()
    reworded = make_pagerduty(payload={**base["payload"], "summary": "Checkout API 5xx rate at 31%"})
    assert one(reworded).fingerprint == one(base).fingerprint
    no_class = {k: v for k, v in base["payload"].items() if k != "class"}
    assert one(make_pagerduty(payload=no_class)).references["alertname"] == "checkout-api/shop"


def test_pagerduty_event_id_hashes_the_body_when_there_is_no_timestamp() -> None:
    payload = {k: v for k, v in make_pagerduty()["payload"].items() if k != "timestamp"}
    a = one(make_pagerduty(payload=payload))
    b = one(make_pagerduty(payload=payload))
    c = one(make_pagerduty(payload={**payload, "severity": "warning"}))
    assert a.event_id == b.event_id
    assert a.event_id != c.event_id
    assert a.occurred_at == RECEIVED


def test_pagerduty_users_affected_must_be_an_integer() -> None:
    payload = {**make_pagerduty()["payload"], "custom_details": {"users_affected": "lots"}}
    assert one(make_pagerduty(payload=payload)).signals.users_affected is None


def test_an_over_long_alert_fingerprint_is_kept_as_a_hash_that_still_names_its_source_item() -> None:
    # Alertmanager's own fingerprints are 16 hex digits; a sender may put anything there. Triage indexes
    # it (a source item key), and PostgreSQL cannot index a text this long.
    long = "f" * 5000
    firing = one(make_alertmanager(alerts=[make_am_alert(fingerprint=long)]))
    resolved = one(make_alertmanager(alerts=[make_am_alert(fingerprint=long, status="resolved")]))
    other = one(make_alertmanager(alerts=[make_am_alert(fingerprint=long + "0")]))

    kept = firing.references["alertmanager_fingerprint"]
    assert len(kept) <= KEY_MAX
    assert kept.startswith("sha256:")
    assert resolved.references["alertmanager_fingerprint"] == kept, "the resolve finds the firing alert"
    assert other.references["alertmanager_fingerprint"] != kept
    short = one(make_alertmanager(alerts=[make_am_alert(fingerprint="a3f9c2d1e4b5a6c7")]))
    assert short.references["alertmanager_fingerprint"] == "a3f9c2d1e4b5a6c7", "as it came"


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("²", None),  # a digit to str.isdigit(), not to int()
        ("٣", None),  # an Arabic-Indic digit: not a count a label would carry
        ("9" * 5000, COUNT_MAX),  # beyond any real count, and slow for int()
        ("0" * 30 + "5", 5),
        (10**30, COUNT_MAX),
        (-1, None),
        (True, None),
    ],
)
def test_a_count_from_a_label_is_ascii_digits_and_at_most_a_trillion(
    value: object, count: int | None
) -> None:
    # Past a float's range, scoring's logarithm of it overflowed in triage.
    assert count_of(value) == count
