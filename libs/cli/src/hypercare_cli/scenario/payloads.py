"""Raw payloads in the shapes the four producer topics accept, as plain JSON-ready dicts.

One builder per format, keyword-only, taking only what the story varies; everything else is filled the
way the real sender fills it (see ``hypercare_contracts.raw``).
"""

from datetime import UTC, datetime
from typing import Any, Literal

NOT_ENDED = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` while an alert is firing."""

Tier = Literal["free", "pro", "enterprise"]
SocialPlatform = Literal["x", "reddit", "mastodon", "bluesky", "app_store", "play_store", "forum"]


def iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` suffix, as webhooks send it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alertmanager(
    *,
    status: Literal["firing", "resolved"],
    alertname: str,
    severity: str,
    service: str,
    summary: str,
    description: str,
    starts_at: datetime,
    ends_at: datetime | None,
    fingerprint: str,
) -> dict[str, Any]:
    """An Alertmanager version 4 webhook carrying one alert in production."""
    labels = {
        "alertname": alertname,
        "severity": severity,
        "service": service,
        "namespace": "shop-prod",
        "instance": f"{service}-0:8080",
        "env": "production",
    }
    alert = {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"https://runbooks.example.com/{service}/{alertname}",
        },
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at) if ends_at is not None else NOT_ENDED,
        "generatorURL": f"https://prometheus.example.com/graph?g0.expr={alertname}",
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "hypercare",
        "groupLabels": {"alertname": alertname},
        "commonLabels": dict(labels),
        "commonAnnotations": {"summary": summary},
        "externalURL": "https://alertmanager.example.com",
        "alerts": [alert],
    }


def pagerduty_trigger(
    *, dedup_key: str, summary: str, component: str, severity: str, timestamp: datetime, users: int
) -> dict[str, Any]:
    """A PagerDuty Events API v2 ``trigger`` event."""
    return {
        "routing_key": "R0UT1NGKEYDEMO00000000000000000",
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": f"{component}.prod.example.com",
            "severity": severity,
            "timestamp": iso(timestamp),
            "component": component,
            "group": "shop",
            "class": "http_5xx_rate",
            "custom_details": {"users_affected": users, "region": "eu-west-1"},
        },
        "links": [{"href": "https://grafana.example.com/d/checkout", "text": "Checkout dashboard"}],
        "images": [],
        "client": "Prometheus",
        "client_url": "https://prometheus.example.com",
    }


def pagerduty_resolve(*, dedup_key: str) -> dict[str, Any]:
    """A PagerDuty ``resolve`` event: only the routing key, dedup key and action, as PagerDuty allows."""
    return {
        "routing_key": "R0UT1NGKEYDEMO00000000000000000",
        "event_action": "resolve",
        "dedup_key": dedup_key,
    }


def zendesk_ticket(
    *,
    ticket_id: str,
    subject: str,
    description: str,
    priority: str,
    status: str,
    ticket_type: str,
    tags: list[str],
    requester_id: str,
    created_at: datetime,
    updated_at: datetime,
) -> dict[str, Any]:
    """The ``detail`` object of a Zendesk ticket event: the ticket as it is after the event."""
    return {
        "id": ticket_id,
        "subject": subject,
        "description": description,
        "priority": priority,
        "status": status,
        "type": ticket_type,
        "tags": tags,
        "requester_id": requester_id,
        "assignee_id": None,
        "organization_id": "300" if "enterprise" in tags else None,
        "group_id": "20",
        "brand_id": "1",
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "via": {"channel": "email"},
    }


def zendesk_event(
    *, event_type: str, event_id: str, time: datetime, detail: dict[str, Any], change: dict[str, Any]
) -> dict[str, Any]:
    """A Zendesk ticket event webhook (``zen:event-type:ticket.<event_type>``)."""
    return {
        "type": f"zen:event-type:ticket.{event_type}",
        "id": event_id,
        "time": iso(time),
        "account_id": 123456,
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{detail['id']}",
        "detail": detail,
        "event": change,
    }


def generic_ticket(
    *,
    ticket_id: str,
    subject: str,
    body: str,
    priority: str,
    requester_id: str,
    tier: Tier,
    product_area: str | None,
    created_at: datetime,
) -> dict[str, Any]:
    """A ticket from a support desk that is not Zendesk."""
    return {
        "id": ticket_id,
        "subject": subject,
        "body": body,
        "priority": priority,
        "status": "open",
        "requester": {"id": requester_id, "email": f"{requester_id}@customers.example.com", "tier": tier},
        "product_area": product_area,
        "tags": ["launch"],
        "created_at": iso(created_at),
        "url": f"https://desk.example.com/tickets/{ticket_id}",
    }


def feedback(
    *,
    feedback_id: str,
    created_at: datetime,
    user_id: str,
    tier: Tier,
    rating: int | None,
    category: Literal["bug", "idea", "praise", "question", "other"],
    text: str,
    screen: str,
    platform: Literal["web", "ios", "android", "desktop"],
) -> dict[str, Any]:
    """An in-app feedback widget submission."""
    return {
        "id": feedback_id,
        "created_at": iso(created_at),
        "user": {"id": user_id, "tier": tier},
        "rating": rating,
        "category": category,
        "text": text,
        "screen": screen,
        "app_version": "6.0.0",
        "platform": platform,
        "session_id": f"s-{feedback_id}",
        "metadata": {"release": "launch-6.0"},
    }


def social(
    *,
    post_id: str,
    platform: SocialPlatform,
    created_at: datetime,
    lang: str,
    text: str,
    handle: str,
    followers: int,
    verified: bool = False,
    rating: int | None = None,
) -> dict[str, Any]:
    """A social post or store review mentioning the product."""
    post: dict[str, Any] = {
        "id": post_id,
        "platform": platform,
        "created_at": iso(created_at),
        "url": f"https://social.example.com/{platform}/{post_id}",
        "lang": lang,
        "text": text,
        "author": {"handle": handle, "followers": followers, "verified": verified},
        "engagement": {"likes": followers // 200, "reposts": followers // 1000, "replies": followers // 2000},
    }
    if rating is not None:
        post["rating"] = rating
    return post
