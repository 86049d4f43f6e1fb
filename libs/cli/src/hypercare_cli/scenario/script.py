"""The launch-day script: which messages are sent when, told the same way for the same seed.

The story runs on a 60-second nominal clock, stretched to ``duration`` and compressed by ``speed``:

* 0-10 s   normal traffic: praise, ideas and how-to questions from feedback, social and tickets;
* 10 s     the checkout incident: a critical Alertmanager alert, a PagerDuty trigger, then a flood of
           tickets (Zendesk and generic, some enterprise), low-rated in-app feedback and social posts
           (one from a large account) in many wordings, typos and languages;
* 25 s     double-charge reports (payments), a login latency warning flapping six times, a Zendesk
           ticket whose priority is raised and one set to pending;
* 40 s     the checkout alert resolves, praise returns, and two deliberately bad messages (invalid JSON
           and an oversize body) show the dead-letter path.
"""

import hashlib
import random
import re
from collections.abc import Sequence
from datetime import datetime

from hypercare_contracts.topics import RAW_FEEDBACK, RAW_SOCIAL, RAW_TICKETS

from hypercare_cli.scenario import payloads, texts
from hypercare_cli.scenario.model import Beat, Message, Scenario
from hypercare_cli.scenario.writer import PATHS, AlertSpec, ItemWriter

NOMINAL_SECONDS = 60.0
"""Length of the story on its own clock; ``duration`` stretches it."""
OVERSIZE_BYTES = 300 * 1024
"""Size of the oversize message: above the 256 KiB the gateway and the normalizer accept by default."""

CHECKOUT_ALERT = "CheckoutErrorRateHigh"
LOGIN_ALERT = "LoginLatencyHigh"
FLAPS = 6

CHECKOUT_SPEC = AlertSpec(
    CHECKOUT_ALERT,
    "critical",
    "checkout-api",
    "Checkout error rate above 5% for 5 minutes",
    "5xx ratio on POST /api/checkout is 12.3% (threshold 5%).",
)
LOGIN_SPEC = AlertSpec(
    LOGIN_ALERT, "warning", "auth-api", texts.LOGIN_LATENCY_SUMMARY, texts.LOGIN_LATENCY_DESCRIPTION
)
_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")


def default_run_id(seed: int, started_at: datetime) -> str:
    """A short id for one run, derived from the seed and the start time (so it differs per run)."""
    return hashlib.sha256(f"{seed}:{started_at.isoformat()}".encode()).hexdigest()[:6]


def build_scenario(
    *,
    seed: int,
    started_at: datetime,
    run_id: str | None = None,
    duration: float = NOMINAL_SECONDS,
    speed: float = 1.0,
) -> Scenario:
    """The whole launch day as beats of messages; pure, and identical for identical arguments.

    Args:
        seed: chooses wordings, reporters, platforms and timing jitter.
        started_at: the wall-clock start (aware); payload timestamps are ``started_at`` plus send time.
        run_id: goes into every item id so a re-run is new traffic, not a replay the pipeline
            deduplicates; defaults to :func:`default_run_id`.
        duration: the story's length in seconds at speed 1.
        speed: playback factor; 10 plays a 60-second day in 6 seconds.

    Raises:
        ValueError: a non-positive duration or speed, a naive ``started_at``, or a malformed run id.
    """
    if duration <= 0 or speed <= 0:
        raise ValueError(f"duration and speed must be positive, got {duration} and {speed}")
    if started_at.utcoffset() is None:
        raise ValueError("started_at must be timezone-aware")
    run = run_id if run_id is not None else default_run_id(seed, started_at)
    if not _RUN_ID.match(run):
        raise ValueError(f"run id {run!r} must be 1-24 lowercase letters, digits or dashes")
    rng = random.Random(seed)  # noqa: S311 - a reproducible story, not a secret
    script = _Script(rng, started_at, run, duration / NOMINAL_SECONDS / speed)
    beats = [
        *script.normal_traffic(),
        *script.incident(),
        *script.aftershocks(),
        *script.recovery(),
    ]
    return Scenario(
        seed=seed,
        run_id=run,
        started_at=started_at,
        duration=duration,
        speed=speed,
        beats=tuple(sorted(beats, key=lambda beat: beat.at)),
    )


class _Script(ItemWriter):
    """The beats of the story, in order."""

    def normal_traffic(self) -> list[Beat]:
        """0-10 s: a quiet launch morning."""
        rng = self.rng
        t = self.spread(0.0, 9.5, 8)
        howto, other_howto = rng.sample(texts.HOWTO_TICKETS, 2)
        praise, more_praise = rng.sample(texts.PRAISE_FEEDBACK, 2)
        first = (
            self.feedback(t[0], praise, category="praise", rating=5, screen="/home"),
            self.feedback(t[1], rng.choice(texts.IDEAS), category="idea", rating=4, screen="/search"),
            self.generic(t[2], *howto, tier="pro", area="account", priority="low"),
            self.post(t[3], rng.choice(texts.SOCIAL_PRAISE), platform="app_store", rating=5),
        )
        second = (
            self.zendesk_created(
                t[4], *other_howto, tags=["question"], priority="low", ticket_type="question"
            ),
            self.post(t[5], rng.choice(texts.SOCIAL_QUESTIONS), platform="reddit"),
            self.feedback(t[6], more_praise, category="praise", rating=5, screen="/orders"),
            self.post(t[7], rng.choice(texts.SOCIAL_PRAISE)),
        )
        return [
            Beat("normal traffic: praise and an idea in the app, a how-to ticket, a 5-star review", first),
            Beat("normal traffic: a Zendesk question, a question on reddit, more praise", second),
        ]

    def incident(self) -> list[Beat]:
        """10-25 s: checkout breaks; monitoring sees it first, then everyone else does."""
        rng = self.rng
        fire = self.alert(10.0, "firing", CHECKOUT_SPEC, fired_at=10.0)
        page = payloads.pagerduty_trigger(
            dedup_key=f"checkout-5xx-{self.run_id}",
            summary="Checkout API 5xx rate at 12%",
            component="checkout-api",
            severity="critical",
            timestamp=self.stamp(10.8),
            users=420,
        )
        trigger = self.message(10.8, "pagerduty", page, page["dedup_key"])
        tickets = rng.sample(texts.CHECKOUT_TICKETS, len(texts.CHECKOUT_TICKETS))
        wave = self._complaints(tickets, self.spread(11.5, 24.5, 32))
        big = self.post(
            17.0, texts.BIG_ACCOUNT_POST, platform="x", handle="techdeals", followers=250_000, verified=True
        )
        first = tuple(m for m in wave if m.at < self.wall(17.0))
        second = tuple(m for m in wave if m.at >= self.wall(17.0))
        return [
            Beat(
                f"checkout incident begins: Alertmanager {CHECKOUT_ALERT} (critical) fires on checkout-api",
                (fire,),
            ),
            Beat("PagerDuty trigger: Checkout API 5xx rate at 12% (critical)", (trigger,)),
            Beat(f"complaints flood in, in many wordings, typos and 4 languages: {_describe(first)}", first),
            Beat("@techdeals (250k followers, verified) posts that checkout is broken", (big,)),
            Beat(f"the flood goes on: {_describe(second)}", second),
        ]

    def _complaints(self, tickets: Sequence[tuple[str, str]], times: list[float]) -> list[Message]:
        """32 complaints about checkout: 8 Zendesk, 7 generic, 10 feedback, 7 social, shuffled in time."""
        rng = self.rng
        kinds = ["zendesk"] * 8 + ["generic"] * 7 + ["feedback"] * 10 + ["social"] * 7
        rng.shuffle(kinds)
        feedback_texts = rng.sample(texts.CHECKOUT_FEEDBACK, 10)
        posts = rng.sample(texts.CHECKOUT_SOCIAL, 7)
        zendesk_left, generic_left = list(tickets[:8]), [*tickets[8:], *tickets[:3]]
        zendesk_enterprise, generic_enterprise = set(rng.sample(range(8), 3)), set(rng.sample(range(7), 2))
        out: list[Message] = []
        for at, kind in zip(times, kinds, strict=True):
            if kind == "zendesk":
                enterprise = 8 - len(zendesk_left) in zendesk_enterprise
                tags = ["checkout", "launch"] if rng.random() < 0.5 else ["launch"]
                out.append(
                    self.zendesk_created(
                        at,
                        *zendesk_left.pop(0),
                        tags=[*tags, "enterprise"] if enterprise else tags,
                        priority="high" if enterprise else rng.choice(("normal", "high")),
                        ticket_type="incident",
                    )
                )
            elif kind == "generic":
                enterprise = 7 - len(generic_left) in generic_enterprise
                tier: payloads.Tier = "enterprise" if enterprise else rng.choice(("free", "pro"))
                area = rng.choice(("checkout", "orders", None))
                out.append(self.generic(at, *generic_left.pop(0), tier=tier, area=area, priority="high"))
            elif kind == "feedback":
                screen = rng.choice(("/checkout/payment", "/checkout/review", "CheckoutScreen", "/cart"))
                rating = rng.choice((1, 1, 2))
                out.append(
                    self.feedback(at, feedback_texts.pop(), category="bug", rating=rating, screen=screen)
                )
            else:
                text, lang = posts.pop()
                out.append(self.post(at, text, lang=lang))
        return out

    def aftershocks(self) -> list[Beat]:
        """25-38 s: double charges, a flapping latency alert, and tickets moving in Zendesk."""
        rng = self.rng
        (subject, body), (other_subject, other_body) = rng.sample(texts.DOUBLE_CHARGE, 2)
        charges = (
            self.generic(25.0, subject, body, tier="pro", area="payments", priority="urgent"),
            self.feedback(
                25.6, f"{other_subject}. {other_body}", category="bug", rating=1, screen="/payment/confirm"
            ),
        )
        flaps: list[Message] = []
        for cycle in range(FLAPS):
            fired = 26.0 + 2.0 * cycle
            flaps.append(self.alert(fired, "firing", LOGIN_SPEC, fired_at=fired))
            flaps.append(self.alert(fired + 1.0, "resolved", LOGIN_SPEC, fired_at=fired))
        raised, pending = rng.sample(self.enterprise_tickets, 2)
        raised_now = {
            **raised,
            "priority": "urgent",
            "status": "open",
            "updated_at": payloads.iso(self.stamp(29)),
        }
        pending_now = {**pending, "status": "pending", "updated_at": payloads.iso(self.stamp(32))}
        raise_event = self.zendesk(
            29.0, "priority_changed", raised_now, {"current": "urgent", "previous": "high"}
        )
        pending_event = self.zendesk(
            32.0, "status_changed", pending_now, {"current": "pending", "previous": "new"}
        )
        return [
            Beat("payments: two customers report being charged twice", charges),
            Beat(
                f"{LOGIN_ALERT} (warning, auth-api) starts flapping: firing/resolving {FLAPS} times",
                tuple(flaps),
            ),
            Beat(
                f"Zendesk #{raised['id']}: priority raised high -> urgent (enterprise customer)",
                (raise_event,),
            ),
            Beat(f"Zendesk #{pending['id']}: set to pending, waiting for the customer", (pending_event,)),
        ]

    def recovery(self) -> list[Beat]:
        """40-55 s: checkout recovers, people are happy again, and two broken messages arrive."""
        rng = self.rng
        resolved = self.alert(40.0, "resolved", CHECKOUT_SPEC, fired_at=10.0)
        dedup = f"checkout-5xx-{self.run_id}"
        resolve_page = self.message(40.5, "pagerduty", payloads.pagerduty_resolve(dedup_key=dedup), dedup)
        t = self.spread(42.0, 52.0, 5)
        happy = rng.sample(texts.PRAISE_AFTER, 5)
        praise = (
            self.feedback(t[0], happy[0], category="praise", rating=5, screen="/orders/confirmation"),
            self.post(t[1], happy[1]),
            self.feedback(t[2], happy[2], category="praise", rating=4, screen="/home"),
            self.post(t[3], happy[3], platform="play_store", rating=5),
            self.post(t[4], happy[4]),
        )
        broken = (
            f'{{"id":"fb-{self.run_id}-cut","created_at":"{payloads.iso(self.stamp(53))}","text":"the wid'
        )
        invalid = Message(
            self.wall(53.0), RAW_FEEDBACK, None, broken.encode(), "invalid_json", PATHS["feedback"], True
        )
        huge = self.post(54.0, "spam " * (OVERSIZE_BYTES // 5))
        oversize = Message(huge.at, huge.topic, huge.key, huge.value, "oversize", huge.gateway_path, True)
        return [
            Beat(
                f"checkout recovers: {CHECKOUT_ALERT} resolves, the PagerDuty incident is resolved",
                (resolved, resolve_page),
            ),
            Beat("praise returns: happy feedback, posts and a 5-star review", praise),
            Beat(
                "two deliberately bad messages for the dead-letter path: invalid JSON (feedback), "
                f"a {OVERSIZE_BYTES // 1024} KiB post (social)",
                (invalid, oversize),
            ),
        ]


def _describe(messages: Sequence[Message]) -> str:
    """``"5 tickets (2 enterprise), 4 in-app reports, 3 posts"`` for a wave of complaints."""
    tickets = [m for m in messages if m.topic == RAW_TICKETS]
    enterprise = sum(1 for m in tickets if b'"enterprise"' in m.value)
    feedback = sum(1 for m in messages if m.topic == RAW_FEEDBACK)
    posts = sum(1 for m in messages if m.topic == RAW_SOCIAL)
    return f"{len(tickets)} tickets ({enterprise} enterprise), {feedback} in-app reports rated 1-2, {posts} posts"
