"""A launch-day workload in memory: raw messages of the four sources, many about the same few problems.

The content is deterministic for a seed; the ids carry a per-run tag so that a run never collides with the
event ids of an earlier run (event ids derive from the source's own ids). Each message records what the
normalizer must make of it (how many reports, or a dead letter), which the correctness checks rely on.
"""

import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypercare_contracts import topics

from tests.factories.raw import (
    make_alertmanager,
    make_am_alert,
    make_feedback,
    make_generic_ticket,
    make_grafana,
    make_pagerduty,
    make_social,
    make_zendesk,
)

# Realistic launch-day proportions of the four producer topics.
SOURCE_MIX: tuple[tuple[str, float], ...] = (
    (topics.RAW_FEEDBACK, 0.40),
    (topics.RAW_TICKETS, 0.25),
    (topics.RAW_SOCIAL, 0.20),
    (topics.RAW_ALERTS, 0.15),
)
DEAD_SHARE = 0.005
"""Malformed messages (bad JSON, schema violations, unknown shapes) that must end on the dead-letter topic."""
REDELIVERY_SHARE = 0.01
"""Byte-exact copies of an earlier message (a retrying producer): stored once downstream."""
LONG_TAIL_SHARE = 0.15
"""Reports about one-off problems in random wordings, each likely its own issue."""


@dataclass(frozen=True)
class Problem:
    """One real problem and the ways people and monitors report it."""

    component: str
    screen: str
    alertname: str
    service: str
    weight: float
    wordings: tuple[str, ...]


PROBLEMS: tuple[Problem, ...] = (
    Problem(
        "checkout",
        "/checkout/payment",
        "CheckoutErrorRateHigh",
        "checkout-api",
        0.30,
        (
            "Checkout is broken, the pay button does nothing",
            "can't complete checkout!!",
            "checkout doesn't work since the update",
            "Checkout fails with an error every time",
            "the checkout page shows an error when I confirm",
            "unable to finish checkout, it just errors out",
        ),
    ),
    Problem(
        "payments",
        "/payment/confirm",
        "PaymentDoubleCharge",
        "payments-api",
        0.20,
        (
            "I was charged twice for one order",
            "billed twice on my credit card",
            "double charge on my payment, please refund",
            "my card got charged two times for the same thing",
        ),
    ),
    Problem(
        "login",
        "/login",
        "LoginLatencyHigh",
        "auth-api",
        0.15,
        (
            "login takes forever",
            "stuck on the sign in spinner",
            "login is so slow today",
            "password screen hangs after I press enter",
        ),
    ),
    Problem(
        "search",
        "/search",
        "SearchErrorsHigh",
        "search-api",
        0.12,
        (
            "search is broken, no results at all",
            "search results fail to show up",
            "the search returns an error page",
        ),
    ),
    Problem(
        "notifications",
        "/settings/notifications",
        "PushDeliveryFailing",
        "push-gateway",
        0.08,
        (
            "push notifications don't work anymore",
            "notifications are not working since yesterday",
        ),
    ),
)

_FILLER = (
    "I tried again a few minutes later and saw the same thing.",
    "This happened on my phone and on my laptop.",
    "We rely on this every day for our team.",
    "Please have a look as soon as you can.",
    "I restarted the app and cleared the cache before writing this.",
    "My colleagues see the same behaviour on their accounts.",
    "It started right after the new version went live this morning.",
    "Thanks for looking into it, the rest of the release looks great.",
    "Our customers keep asking us about it.",
    "I am on the latest version from the store.",
    "Attached is a screenshot of what I see.",
    "The first attempt of the day behaves the same as the later ones.",
)
_TAIL_WORDS = (
    *("widget", "sidebar", "banner", "tooltip", "export", "avatar", "theme", "font", "layout", "calendar"),
    *("profile", "upload", "chart", "report", "emoji", "colour", "icon", "scroll", "menu", "badge"),
    *("footer", "header", "table", "dropdown"),
)
_TAIL_PROBLEMS = ("looks wrong", "is misaligned", "is missing", "shows old data", "crashes", "freezes")
_PLATFORMS = ("web", "ios", "android", "desktop")
_SOCIAL = ("x", "reddit", "mastodon", "bluesky", "app_store", "play_store", "forum")
_TIERS = ("free", "free", "free", "pro", "enterprise")
# Filler sentences per message: mostly short, sometimes long; gives mixed sizes around 1 KiB on average.
_FILLER_COUNTS = (2, 3, 5, 7, 10, 13, 18, 26, 42)
_FILLER_WEIGHTS = (8, 12, 13, 13, 11, 9, 6, 4, 2)


@dataclass(frozen=True)
class RawMessage:
    """One message for a raw topic and what the normalizer must make of it."""

    role: str
    """The contract raw topic it belongs on (``hypercare.raw.*``); the benchmark maps it to its own topic."""
    key: bytes | None
    value: bytes
    reports: int
    """Normalized reports expected from it; 0 for a message that must be dead-lettered."""
    redelivery: bool = False
    """A byte-exact copy of an earlier message: its reports carry event ids already seen."""

    @property
    def dead(self) -> bool:
        """Whether the normalizer must dead-letter it."""
        return self.reports == 0


@dataclass(frozen=True)
class Workload:
    """The generated messages and the counts they imply."""

    run_tag: str
    seed: int
    messages: tuple[RawMessage, ...]

    @property
    def expected_reports(self) -> int:
        """Normalized reports the normalizer must produce (redeliveries included)."""
        return sum(m.reports for m in self.messages)

    @property
    def expected_distinct_reports(self) -> int:
        """Reports with distinct event ids: what the store must hold exactly once."""
        return sum(m.reports for m in self.messages if not m.redelivery)

    @property
    def expected_dead(self) -> int:
        """Messages that must end on the dead-letter topic."""
        return sum(1 for m in self.messages if m.dead)

    @property
    def total_bytes(self) -> int:
        """Sum of the message bodies."""
        return sum(len(m.value) for m in self.messages)

    def describe(self) -> dict[str, Any]:
        """A summary for the results file."""
        sizes = sorted(len(m.value) for m in self.messages)
        return {
            "messages": len(self.messages),
            "seed": self.seed,
            "by_topic": dict(Counter(m.role for m in self.messages)),
            "mean_bytes": round(self.total_bytes / max(1, len(self.messages))),
            "p50_bytes": sizes[len(sizes) // 2] if sizes else 0,
            "max_bytes": sizes[-1] if sizes else 0,
            "expected_reports": self.expected_reports,
            "expected_distinct_reports": self.expected_distinct_reports,
            "expected_dead": self.expected_dead,
            "redeliveries": sum(1 for m in self.messages if m.redelivery),
        }


class _Builder:
    """Draws one message at a time from a seeded generator."""

    def __init__(self, run_tag: str, seed: int) -> None:
        self.tag = run_tag
        self.rng = random.Random(seed)
        self.n = 0
        self.zendesk_tickets: list[str] = []

    def uid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.tag}-{self.n}"

    def wording(self) -> tuple[Problem | None, str]:
        if self.rng.random() < LONG_TAIL_SHARE:
            words = self.rng.sample(_TAIL_WORDS, 2)
            return None, f"the {words[0]} {words[1]} {self.rng.choice(_TAIL_PROBLEMS)}"
        problem = self.rng.choices(PROBLEMS, weights=[p.weight for p in PROBLEMS])[0]
        return problem, self.rng.choice(problem.wordings)

    def body(self, text: str) -> str:
        count = self.rng.choices(_FILLER_COUNTS, weights=_FILLER_WEIGHTS)[0]
        return " ".join([text, *self.rng.choices(_FILLER, k=count)])

    def stamp(self) -> str:
        return f"2024-05-02T{10 + self.rng.randrange(8):02d}:{self.rng.randrange(60):02d}:00Z"

    def feedback(self) -> dict[str, Any]:
        problem, text = self.wording()
        fid = self.uid("fb")
        return make_feedback(
            id=fid,
            created_at=self.stamp(),
            user={"id": f"u-{self.rng.randrange(50_000)}", "tier": self.rng.choice(_TIERS)},
            rating=self.rng.choice((1, 1, 2, 2, 3)),
            text=self.body(text),
            screen=problem.screen if problem else f"/{self.rng.choice(_TAIL_WORDS)}",
            platform=self.rng.choice(_PLATFORMS),
            session_id=f"s-{self.rng.getrandbits(48):012x}",
            screenshot_url=f"https://cdn.example.com/screens/{fid}.png",
        )

    def ticket(self) -> dict[str, Any]:
        problem, text = self.wording()
        area = problem.component if problem else None
        roll = self.rng.random()
        if roll < 0.05 and self.zendesk_tickets:
            ticket_id = self.rng.choice(self.zendesk_tickets)
            return make_zendesk(
                type="zen:event-type:ticket.priority_changed",
                id=self.uid("zev"),
                detail={
                    **make_zendesk()["detail"],
                    "id": ticket_id,
                    "priority": "urgent",
                    "subject": text,
                    "description": self.body(text),
                },
                event={"current": "urgent", "previous": "high"},
            )
        if roll < 0.60:
            ticket_id = self.uid("zt")
            self.zendesk_tickets.append(ticket_id)
            detail = {
                **make_zendesk()["detail"],
                "id": ticket_id,
                "subject": text,
                "description": self.body(text),
                "tags": [area] if area else ["web"],
                "requester_id": str(self.rng.randrange(90_000, 99_999)),
            }
            return make_zendesk(id=self.uid("zev"), subject=f"zen:ticket:{ticket_id}", detail=detail)
        status = "solved" if roll > 0.98 else "open"
        return make_generic_ticket(
            id=self.uid("T"),
            subject=text[:120],
            body=self.body(text),
            status=status,
            product_area=area,
            priority=self.rng.choice(("normal", "high", "urgent")),
            requester={"id": f"cust-{self.rng.randrange(20_000)}", "tier": self.rng.choice(_TIERS)},
        )

    def social(self) -> dict[str, Any]:
        _, text = self.wording()
        pid = self.uid("p")
        platform = self.rng.choice(_SOCIAL)
        post = make_social(
            id=pid,
            platform=platform,
            text=self.body(f"@shop {text}"),
            url=f"https://social.example.com/{platform}/{pid}",
            author={
                "handle": f"user{self.rng.randrange(100_000)}",
                "followers": int(self.rng.paretovariate(1.2) * 50),
                "verified": self.rng.random() < 0.02,
            },
            engagement={
                "likes": self.rng.randrange(200),
                "reposts": self.rng.randrange(40),
                "replies": self.rng.randrange(30),
            },
        )
        if platform in {"app_store", "play_store"}:
            post["rating"] = self.rng.choice((1, 1, 2))
        return post

    def alert(self) -> tuple[dict[str, Any], int]:
        problem = self.rng.choices(PROBLEMS, weights=[p.weight for p in PROBLEMS])[0]
        roll = self.rng.random()
        if roll < 0.30:
            event = make_pagerduty(dedup_key=self.uid("pd"))
            event["payload"] = {
                **event["payload"],
                "summary": f"{problem.alertname} on {problem.service}",
                "component": problem.service,
                "timestamp": self.stamp(),
            }
            return event, 1
        alerts = [
            make_am_alert(
                status="resolved" if self.rng.random() < 0.1 else "firing",
                labels={
                    "alertname": problem.alertname,
                    "service": problem.service,
                    "severity": self.rng.choice(("critical", "warning")),
                    "env": "production",
                    "instance": f"{problem.service}-{self.rng.randrange(8)}:8080",
                },
                annotations={
                    "summary": f"{problem.alertname} firing",
                    "description": self.body(f"{problem.service} {problem.wordings[0]}"),
                },
                fingerprint=self.uid("af"),
                startsAt=self.stamp(),
            )
            for _ in range(self.rng.choice((1, 1, 1, 2, 3)))
        ]
        maker = make_grafana if roll < 0.45 else make_alertmanager
        return maker(alerts=alerts), len(alerts)

    def malformed(self, role: str) -> bytes:
        kind = self.rng.randrange(3)
        if kind == 0:
            return json.dumps(self.feedback()).encode()[:-7]  # truncated JSON
        if kind == 1:
            return json.dumps({"hello": self.uid("x"), "shape": "unknown"}).encode()
        feedback = self.feedback()
        del feedback["text"]
        return json.dumps(feedback).encode() if role == topics.RAW_FEEDBACK else b"[]"

    def message(self) -> RawMessage:
        role = self.rng.choices([r for r, _ in SOURCE_MIX], weights=[w for _, w in SOURCE_MIX])[0]
        if self.rng.random() < DEAD_SHARE:
            return RawMessage(role, None, self.malformed(role), 0)
        reports = 1
        if role == topics.RAW_FEEDBACK:
            payload = self.feedback()
        elif role == topics.RAW_TICKETS:
            payload = self.ticket()
        elif role == topics.RAW_SOCIAL:
            payload = self.social()
        else:
            payload, reports = self.alert()
        return RawMessage(
            role, str(payload.get("id", self.n)).encode(), json.dumps(payload).encode(), reports
        )


def generate(count: int, *, run_tag: str, seed: int = 20240502) -> Workload:
    """``count`` raw messages in the launch-day mix, with ~1 % exact redeliveries and ~0.5 % malformed.

    Args:
        count: number of messages.
        run_tag: unique per run; part of every source id.
        seed: the content (sources, wordings, sizes) depends only on it.
    """
    builder = _Builder(run_tag, seed)
    messages: list[RawMessage] = []
    for _ in range(count):
        if messages and builder.rng.random() < REDELIVERY_SHARE:
            original = messages[builder.rng.randrange(len(messages))]
            if not original.dead:
                messages.append(
                    RawMessage(original.role, original.key, original.value, original.reports, True)
                )
                continue
        messages.append(builder.message())
    return Workload(run_tag=run_tag, seed=seed, messages=tuple(messages))
