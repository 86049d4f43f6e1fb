"""Writes the scenario's items: one method per raw format, ids unique per run, times on the story clock."""

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from hypercare_contracts.topics import RAW_ALERTS, RAW_FEEDBACK, RAW_SOCIAL, RAW_TICKETS

from hypercare_cli.scenario import payloads
from hypercare_cli.scenario.model import Message

PATHS = {
    "alertmanager": "/v1/alerts/alertmanager",
    "pagerduty": "/v1/alerts/pagerduty",
    "zendesk": "/v1/tickets/zendesk",
    "generic_ticket": "/v1/tickets",
    "feedback": "/v1/feedback",
    "social": "/v1/social",
}
_TOPICS = {
    "alertmanager": RAW_ALERTS,
    "pagerduty": RAW_ALERTS,
    "zendesk": RAW_TICKETS,
    "generic_ticket": RAW_TICKETS,
    "feedback": RAW_FEEDBACK,
    "social": RAW_SOCIAL,
}
Platform = Literal["web", "ios", "android", "desktop"]
_PLATFORMS: tuple[Platform, ...] = ("web", "ios", "android", "desktop")
_TIERS: tuple[payloads.Tier, ...] = ("free", "free", "free", "pro", "pro", "enterprise")


@dataclass(frozen=True)
class AlertSpec:
    """What stays the same across the webhooks of one alert."""

    name: str
    severity: str
    service: str
    summary: str
    description: str


class ItemWriter:
    """Builds messages; holds the seeded generator, the clock scale and the id counter."""

    def __init__(self, rng: random.Random, started_at: datetime, run_id: str, scale: float) -> None:
        self.rng = rng
        self.started_at = started_at
        self.run_id = run_id
        self.scale = scale
        self.count = 0
        self.zendesk_base = 100_000 + int(hashlib.sha256(run_id.encode()).hexdigest()[:6], 16) % 800_000
        self.enterprise_tickets: list[dict[str, Any]] = []

    # ---------------------------------------------------------------------------------- small helpers

    def wall(self, nominal: float) -> float:
        """Seconds after the start on the wall clock for a nominal story time."""
        return round(nominal * self.scale, 3)

    def stamp(self, nominal: float) -> datetime:
        """The payload timestamp of a nominal story time."""
        return self.started_at + timedelta(seconds=self.wall(nominal))

    def next_id(self) -> int:
        """A counter unique within the run."""
        self.count += 1
        return self.count

    def spread(self, start: float, end: float, n: int) -> list[float]:
        """``n`` sorted nominal times drawn uniformly in ``[start, end)``."""
        return sorted(round(self.rng.uniform(start, end), 3) for _ in range(n))

    def message(self, nominal: float, kind: str, payload: dict[str, Any], key: str | None) -> Message:
        """A message of a well-formed payload, serialized as compact UTF-8 JSON."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return Message(self.wall(nominal), _TOPICS[kind], key, body, kind, PATHS[kind])

    # ----------------------------------------------------------------------------------- one per format

    def feedback(
        self,
        nominal: float,
        text: str,
        *,
        category: Literal["bug", "idea", "praise", "question", "other"],
        rating: int | None,
        screen: str,
    ) -> Message:
        """In-app feedback from a new user on a random platform and tier."""
        n = self.next_id()
        item_id = f"fb-{self.run_id}-{n:03d}"
        payload = payloads.feedback(
            feedback_id=item_id,
            created_at=self.stamp(nominal),
            user_id=f"u-{self.run_id}-{n:03d}",
            tier=self.rng.choice(_TIERS),
            rating=rating,
            category=category,
            text=text,
            screen=screen,
            platform=self.rng.choice(_PLATFORMS),
        )
        return self.message(nominal, "feedback", payload, item_id)

    def post(
        self,
        nominal: float,
        text: str,
        *,
        lang: str = "en",
        platform: payloads.SocialPlatform | None = None,
        handle: str | None = None,
        followers: int | None = None,
        verified: bool = False,
        rating: int | None = None,
    ) -> Message:
        """A social post; platform, handle and followers are drawn unless given."""
        n = self.next_id()
        drawn: tuple[payloads.SocialPlatform, ...] = ("x", "mastodon", "bluesky", "reddit")
        chosen = platform if platform is not None else self.rng.choice(drawn)
        item_id = f"{self.run_id}{n:05d}"
        payload = payloads.social(
            post_id=item_id,
            platform=chosen,
            created_at=self.stamp(nominal),
            lang=lang,
            text=text,
            handle=handle or f"user_{self.run_id}_{n}",
            followers=followers if followers is not None else self.rng.randint(20, 3000),
            verified=verified,
            rating=rating,
        )
        return self.message(nominal, "social", payload, f"{chosen}:{item_id}")

    def generic(
        self, nominal: float, subject: str, body: str, *, tier: payloads.Tier, area: str | None, priority: str
    ) -> Message:
        """A generic desk ticket."""
        n = self.next_id()
        item_id = f"DEMO-{self.run_id}-{n:03d}"
        payload = payloads.generic_ticket(
            ticket_id=item_id,
            subject=subject,
            body=body,
            priority=priority,
            requester_id=f"cust-{self.run_id}-{n:03d}",
            tier=tier,
            product_area=area,
            created_at=self.stamp(nominal),
        )
        return self.message(nominal, "generic_ticket", payload, item_id)

    def zendesk_created(
        self, nominal: float, subject: str, body: str, *, tags: list[str], priority: str, ticket_type: str
    ) -> Message:
        """A Zendesk ``ticket.created`` event for a new ticket."""
        n = self.next_id()
        detail = payloads.zendesk_ticket(
            ticket_id=str(self.zendesk_base + n),
            subject=subject,
            description=body,
            priority=priority,
            status="new",
            ticket_type=ticket_type,
            tags=tags,
            requester_id=f"zd-{self.run_id}-{n:03d}",
            created_at=self.stamp(nominal),
            updated_at=self.stamp(nominal),
        )
        if "enterprise" in tags:
            self.enterprise_tickets.append(detail)
        return self.zendesk(nominal, "created", detail, {})

    def zendesk(
        self, nominal: float, event_type: str, detail: dict[str, Any], change: dict[str, Any]
    ) -> Message:
        """A Zendesk event about the ticket ``detail``."""
        event_id = f"01DEMO{self.run_id.upper()}{self.next_id():06d}"
        payload = payloads.zendesk_event(
            event_type=event_type, event_id=event_id, time=self.stamp(nominal), detail=detail, change=change
        )
        return self.message(nominal, "zendesk", payload, f"zendesk:{detail['id']}")

    def alert(
        self, nominal: float, status: Literal["firing", "resolved"], spec: AlertSpec, *, fired_at: float
    ) -> Message:
        """An Alertmanager webhook for one alert that fired at nominal ``fired_at``."""
        payload = payloads.alertmanager(
            status=status,
            alertname=spec.name,
            severity=spec.severity,
            service=spec.service,
            summary=spec.summary,
            description=spec.description,
            starts_at=self.stamp(fired_at),
            ends_at=self.stamp(nominal) if status == "resolved" else None,
            fingerprint=hashlib.sha256(f"{spec.name}:{spec.service}".encode()).hexdigest()[:16],
        )
        return self.message(nominal, "alertmanager", payload, payload["groupKey"])

    # --------------------------------------------------------------------------------------- the beats
