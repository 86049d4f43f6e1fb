"""Raw producer payloads as plain dicts, one factory per format; a checkout incident by default.

Every factory takes keyword overrides that replace top-level keys (``make_feedback(rating=1)``), so
a test states only what it is about. Nested objects are replaced whole; build them with the other
factories (``make_alertmanager(alerts=[make_am_alert(status="resolved")])``).
"""

from typing import Any

CHECKOUT_STARTED = "2024-05-02T09:58:00Z"
NOT_ENDED = "0001-01-01T00:00:00Z"


def make_am_alert(**overrides: Any) -> dict[str, Any]:
    """One firing Alertmanager alert: checkout error rate high in production."""
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {
            "alertname": "CheckoutErrorRateHigh",
            "severity": "critical",
            "service": "checkout-api",
            "namespace": "shop-prod",
            "instance": "checkout-api-7d9f8:8080",
            "env": "production",
        },
        "annotations": {
            "summary": "Checkout error rate above 5% for 5 minutes",
            "description": "5xx ratio on POST /api/checkout is 12.3% (threshold 5%).",
            "runbook_url": "https://runbooks.example.com/checkout/error-rate",
        },
        "startsAt": CHECKOUT_STARTED,
        "endsAt": NOT_ENDED,
        "generatorURL": "https://prometheus.example.com/graph?g0.expr=checkout_errors",
        "fingerprint": "c0ffee1234abcd56",
    }
    alert.update(overrides)
    return alert


def make_alertmanager(**overrides: Any) -> dict[str, Any]:
    """An Alertmanager version 4 webhook carrying one firing checkout alert."""
    alerts = overrides.pop("alerts") if "alerts" in overrides else [make_am_alert()]
    message: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutErrorRateHigh"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "hypercare",
        "groupLabels": {"alertname": "CheckoutErrorRateHigh"},
        "commonLabels": {"alertname": "CheckoutErrorRateHigh", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "https://alertmanager.example.com",
        "alerts": alerts,
    }
    message.update(overrides)
    return message


def make_grafana(**overrides: Any) -> dict[str, Any]:
    """A Grafana Alerting webhook (version 1) carrying one firing checkout alert with panel links."""
    alerts = (
        overrides.pop("alerts")
        if "alerts" in overrides
        else [
            make_am_alert(
                fingerprint="9b1e2f3a4c5d6e7f",
                dashboardURL="https://grafana.example.com/d/checkout",
                panelURL="https://grafana.example.com/d/checkout?viewPanel=4",
                silenceURL="https://grafana.example.com/alerting/silence/new",
                values={"B": 12.3, "C": 1.0},
            )
        ]
    )
    message = make_alertmanager(alerts=alerts)
    message.update(
        {
            "version": "1",
            "orgId": 1,
            "title": "[FIRING:1] CheckoutErrorRateHigh",
            "state": "alerting",
            "message": "Checkout error rate above 5%",
        }
    )
    message.update(overrides)
    return message


def make_pagerduty(**overrides: Any) -> dict[str, Any]:
    """A PagerDuty Events API v2 trigger for the checkout service."""
    event: dict[str, Any] = {
        "routing_key": "R0UT1NGKEY0000000000000000000000",
        "event_action": "trigger",
        "dedup_key": "checkout-errors-prod",
        "payload": {
            "summary": "Checkout API 5xx rate at 12%",
            "source": "checkout-api.prod.example.com",
            "severity": "critical",
            "timestamp": "2024-05-02T10:00:00Z",
            "component": "checkout-api",
            "group": "shop",
            "class": "http_5xx_rate",
            "custom_details": {"users_affected": 420, "region": "eu-west-1"},
        },
        "links": [{"href": "https://grafana.example.com/d/checkout", "text": "Checkout dashboard"}],
        "images": [],
        "client": "Prometheus",
        "client_url": "https://prometheus.example.com",
    }
    event.update(overrides)
    return event


def make_zendesk(**overrides: Any) -> dict[str, Any]:
    """A Zendesk ``ticket.created`` event: an enterprise customer cannot complete checkout."""
    detail = (
        overrides.pop("detail")
        if "detail" in overrides
        else {
            "id": "4711",
            "subject": "Can't complete checkout",
            "description": "Since this morning our buyers get an error when they place an order.",
            "priority": "high",
            "status": "new",
            "type": "incident",
            "tags": ["enterprise", "checkout"],
            "requester_id": "90001",
            "assignee_id": None,
            "organization_id": "300",
            "group_id": "20",
            "brand_id": "1",
            "created_at": "2024-05-02T10:05:00Z",
            "updated_at": "2024-05-02T10:05:00Z",
            "via": {"channel": "email"},
        }
    )
    event: dict[str, Any] = {
        "type": "zen:event-type:ticket.created",
        "id": "01HXZ0EVENT0000000000000001",
        "time": "2024-05-02T10:05:01Z",
        "account_id": 123456,
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{detail['id']}" if isinstance(detail, dict) and "id" in detail else None,
        "detail": detail,
        "event": {},
    }
    event.update(overrides)
    return event


def make_generic_ticket(**overrides: Any) -> dict[str, Any]:
    """A generic desk ticket from a pro customer about a failing checkout."""
    ticket: dict[str, Any] = {
        "id": "T-1001",
        "subject": "Checkout fails with an error",
        "body": "When I click pay the page shows 'something went wrong'.",
        "priority": "high",
        "status": "open",
        "requester": {"id": "cust-77", "email": "jane@example.com", "tier": "pro"},
        "product_area": "checkout",
        "tags": ["web"],
        "created_at": "2024-05-02T10:07:00Z",
        "url": "https://desk.example.com/tickets/T-1001",
    }
    ticket.update(overrides)
    return ticket


def make_feedback(**overrides: Any) -> dict[str, Any]:
    """An in-app bug report left on the checkout screen with a low rating."""
    feedback: dict[str, Any] = {
        "id": "fb-2001",
        "created_at": "2024-05-02T10:08:00Z",
        "user": {"id": "u-501", "tier": "free"},
        "rating": 1,
        "category": "bug",
        "text": "Checkout is broken, the pay button does nothing",
        "screen": "/checkout/payment",
        "app_version": "5.2.0",
        "platform": "web",
        "device": "Firefox 125",
        "session_id": "s-9f8e7d",
        "screenshot_url": "https://cdn.example.com/screens/fb-2001.png",
        "metadata": {"experiment": "new-checkout"},
    }
    feedback.update(overrides)
    return feedback


def make_social(**overrides: Any) -> dict[str, Any]:
    """A post on X complaining that checkout does not work."""
    post: dict[str, Any] = {
        "id": "1786000000000000001",
        "platform": "x",
        "created_at": "2024-05-02T10:09:00Z",
        "url": "https://x.com/shopper/status/1786000000000000001",
        "lang": "en",
        "text": "@shop your checkout doesn't work, tried three times",
        "author": {"handle": "shopper", "followers": 1200, "verified": False},
        "engagement": {"likes": 14, "reposts": 3, "replies": 5},
    }
    post.update(overrides)
    return post
