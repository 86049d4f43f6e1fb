"""Reports from monitoring alerts: Alertmanager and Grafana webhooks, PagerDuty Events API v2."""

import json
from collections.abc import Mapping
from typing import Any

from hypercare_contracts import (
    NormalizedReport,
    ReportAction,
    Reporter,
    ReporterKind,
    Source,
    SourceFormat,
)
from hypercare_contracts.raw import AlertmanagerAlert, AlertmanagerWebhook, GrafanaWebhook, PagerDutyEvent

from hypercare_domain.normalize.components import UNKNOWN
from hypercare_domain.normalize.context import (
    DEFAULT_ENVIRONMENT,
    BuildContext,
    as_utc,
    count_of,
    environment_of,
    extra_labels,
    shared_signals,
)
from hypercare_domain.normalize.fingerprint import fingerprint_alert, fingerprint_source_item
from hypercare_domain.normalize.text import (
    clean_labels,
    clean_text,
    clean_title,
    compact_time,
    id_part,
    links_of,
    reference_value,
    scalar_labels,
    scalar_text,
    sha256_hex,
)

_PD_ACTIONS: Mapping[str, ReportAction] = {
    "trigger": ReportAction.REPORT,
    "acknowledge": ReportAction.ACKNOWLEDGE,
    "resolve": ReportAction.RESOLVE,
}
_USERS_AFFECTED_KEYS = ("users_affected", "affected_users")
ALERTNAME_MAX = 256


def _alert_fingerprint(alert: AlertmanagerAlert) -> str:
    """Alertmanager's own fingerprint, or a hash of the sorted label set when the sender left it out."""
    if alert.fingerprint:
        return id_part(alert.fingerprint)
    canonical = json.dumps(sorted(alert.labels.items()), ensure_ascii=False, separators=(",", ":"))
    return sha256_hex(canonical)


def _users_affected(*sources: Mapping[str, str]) -> int | None:
    for source in sources:
        for key in _USERS_AFFECTED_KEYS:
            count = count_of(source.get(key))
            if count is not None:
                return count
    return None


def _webhook_alert_report(
    fmt: SourceFormat,
    webhook: AlertmanagerWebhook | GrafanaWebhook,
    alert: AlertmanagerAlert,
    ctx: BuildContext,
) -> NormalizedReport:
    annotations = {**webhook.commonAnnotations, **alert.annotations}
    labels = alert.labels
    alertname = (labels.get("alertname") or labels.get("__alert_rule_title__") or "unnamed_alert")[
        :ALERTNAME_MAX
    ]
    title = clean_title(annotations.get("summary", ""), alertname)
    description = annotations.get("description", "")
    if not description and isinstance(webhook, GrafanaWebhook) and len(webhook.alerts) == 1:
        description = webhook.message
    text = clean_text(description)
    environment = environment_of(labels)
    component = ctx.components.resolve(labels=labels, product_area=None, screen=None, text=f"{title}\n{text}")
    item = _alert_fingerprint(alert)
    firing = alert.status == "firing"
    occurred = alert.startsAt if firing or alert.endsAt is None or alert.endsAt.year <= 1 else alert.endsAt
    references = {"alertname": alertname}
    if alert.fingerprint:
        references[f"{fmt.value}_fingerprint"] = reference_value(alert.fingerprint)
    if webhook.groupKey:
        references["group_key"] = reference_value(webhook.groupKey)
    return NormalizedReport(
        event_id=f"{fmt.value}:{item}:{compact_time(alert.startsAt)}:{alert.status}",
        source=Source.ALERTS,
        source_format=fmt,
        source_ref=f"{fmt.value}:{item}",
        action=ReportAction.REPORT if firing else ReportAction.RESOLVE,
        received_at=ctx.received_at,
        occurred_at=as_utc(occurred),
        title=title,
        text=text,
        component=component,
        environment=environment,
        reporter=Reporter(id=webhook.receiver or fmt.value, kind=ReporterKind.MONITOR),
        signals=shared_signals(
            alert_severity=labels.get("severity") or None,
            status=alert.status,
            users_affected=_users_affected(labels, annotations),
        ),
        links=links_of(
            [
                (alert.generatorURL, "Source"),
                (annotations.get("runbook_url"), "Runbook"),
                (alert.dashboardURL, "Dashboard"),
                (alert.panelURL, "Panel"),
                (alert.imageURL, "Image"),
            ]
        ),
        labels=clean_labels({**extra_labels(webhook), **extra_labels(alert), **labels}),
        fingerprint=fingerprint_alert(alertname, component, environment),
        references=references,
        trace_id=ctx.trace_id,
    )


def webhook_reports(
    fmt: SourceFormat, webhook: AlertmanagerWebhook | GrafanaWebhook, ctx: BuildContext
) -> list[NormalizedReport]:
    """One report per alert of an Alertmanager or Grafana webhook (firing: report, resolved: resolve)."""
    return [_webhook_alert_report(fmt, webhook, alert, ctx) for alert in webhook.alerts]


def _canonical_hash(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return sha256_hex(canonical)


def pagerduty_dedup_key(event: PagerDutyEvent) -> str:
    """The event's dedup key, or the stable one generated for a trigger without one.

    PagerDuty generates a key server-side when a trigger has none; this project cannot see it, so it
    derives one from ``routing_key``, ``summary`` and ``source`` (a re-sent trigger gets the same key).
    """
    if event.dedup_key:
        return event.dedup_key
    summary = event.payload.summary if event.payload else ""
    source = event.payload.source if event.payload else ""
    return "generated-" + sha256_hex(f"{event.routing_key}|{summary}|{source}")


def _pd_alertname(event: PagerDutyEvent) -> str:
    """The alert name of a PagerDuty event: ``class``, else ``component/group``, else the summary."""
    payload = event.payload
    if payload is None:
        return ""
    if payload.class_:
        return payload.class_
    named = "/".join(part for part in (payload.component, payload.group) if part)
    if named:
        return named
    return " ".join("".join(ch for ch in payload.summary.lower() if not ch.isdigit()).split())[:120]


def pagerduty_reports(
    event: PagerDutyEvent, body: Mapping[str, Any], ctx: BuildContext
) -> list[NormalizedReport]:
    """The report of one PagerDuty event; an acknowledge or resolve without payload names only its key."""
    dedup_key = pagerduty_dedup_key(event)
    source_ref = f"pagerduty:{id_part(dedup_key)}"
    action = _PD_ACTIONS[event.event_action]
    payload = event.payload
    stamp = compact_time(payload.timestamp) if payload and payload.timestamp else _canonical_hash(body)
    references = {"dedup_key": dedup_key}
    if event.client:
        references["client"] = reference_value(event.client)
    links = links_of(
        [(link.href, link.text) for link in event.links]
        + [(image.href or image.src, image.alt or "Image") for image in event.images]
        + [(event.client_url, event.client or "PagerDuty client")]
    )
    common: dict[str, Any] = {
        "event_id": f"pagerduty:{id_part(dedup_key)}:{event.event_action}:{stamp}",
        "source": Source.ALERTS,
        "source_format": SourceFormat.PAGERDUTY,
        "source_ref": source_ref,
        "action": action,
        "received_at": ctx.received_at,
        "reporter": Reporter(id=event.client or "pagerduty", kind=ReporterKind.MONITOR),
        "links": links,
        "references": references,
        "trace_id": ctx.trace_id,
    }
    if payload is None:
        return [
            NormalizedReport(
                **common,
                occurred_at=ctx.received_at,
                title=clean_title(f"PagerDuty {event.event_action} for {dedup_key}", "PagerDuty event"),
                component=UNKNOWN,
                environment=DEFAULT_ENVIRONMENT,
                signals=shared_signals(status=event.event_action),
                labels=clean_labels(extra_labels(event)),
                fingerprint=fingerprint_source_item(SourceFormat.PAGERDUTY.value, source_ref),
            )
        ]
    details = payload.custom_details or {}
    labels = {
        key: value
        for key, value in (
            ("source", payload.source),
            ("component", payload.component),
            ("group", payload.group),
            ("class", payload.class_),
        )
        if value
    }
    detail_labels = scalar_labels("details", details)
    environment = environment_of({k: v for k, v in details.items() if isinstance(v, str)})
    title = clean_title(payload.summary, "PagerDuty event")
    text = clean_text(
        "\n".join(
            f"{key}: {scalar_text(value)}" for key, value in sorted(details.items()) if scalar_text(value)
        )
    )
    component = ctx.components.resolve(
        labels={"component": payload.component or "", "service": payload.group or ""},
        product_area=None,
        screen=None,
        text=f"{title}\n{text}",
    )
    users = details.get("users_affected")
    alertname = _pd_alertname(event)[:ALERTNAME_MAX]
    references["alertname"] = alertname
    return [
        NormalizedReport(
            **common,
            occurred_at=as_utc(payload.timestamp) if payload.timestamp else ctx.received_at,
            title=title,
            text=text,
            component=component,
            environment=environment,
            signals=shared_signals(
                alert_severity=payload.severity,
                status=event.event_action,
                users_affected=count_of(users) if isinstance(users, int) else None,
            ),
            labels=clean_labels({**extra_labels(event), **detail_labels, **labels}),
            fingerprint=fingerprint_alert(alertname, component, environment),
        )
    ]
