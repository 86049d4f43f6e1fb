"""Running the SLA service in memory in tests: FastStream's TestKafkaBroker, a FakeStore, a manual clock.

No tests in this module; tests/service/test_sla_api*.py use it (tests/support/sla.py: on the real stack).
"""

import copy
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from hypercare_contracts.lifecycle import LifecycleEvent
from hypercare_contracts.triaged import TriagedIssue
from hypercare_domain.sla import ManualClock
from hypercare_sla.app import create_app
from hypercare_sla.auth import hash_token
from hypercare_sla.settings import SlaSettings
from hypercare_store.sla import SlaIssue, StoredMilestone
from pydantic import SecretStr

from tests.factories.sla import FAST_POLICY, FakeSession, FakeStore, make_triaged
from tests.support.kafka import wait_for

ALICE = "alice-secret-token"
SECRET = "link-secret"
AUTH = {"Authorization": f"Bearer {ALICE}"}


@dataclass(frozen=True)
class Sent:
    """One message the service published."""

    topic: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _VersionKeepingSession(FakeSession):
    async def save(self, issue: SlaIssue) -> SlaIssue:
        saved = replace(await super().save(issue), triage_version=issue.triage_version)
        self._state.issues[issue.issue_id] = saved
        self.issue = saved
        return saved


class SlaFakeStore(FakeStore):
    """:class:`FakeStore` whose sessions also keep ``SlaIssue.triage_version`` (``FakeSession.save`` builds
    the saved issue field by field, from before that field existed), and whose scheduler writes wait for
    a running session.

    A session works on a copy of the state that replaces it when the session ends: a claim or an emission
    the scheduler wrote meanwhile would be lost, leaving a milestone claimed and never emitted. Under the
    manual clock its lease never runs out and the scheduler would spin on it for good, so they take turns.
    """

    @asynccontextmanager
    async def session(self, issue_id: str) -> AsyncIterator[FakeSession]:
        async with self._lock:
            draft = copy.deepcopy(self.state)
            yield _VersionKeepingSession(draft, draft.issues.get(issue_id))
            self.state = draft

    async def claim_due(
        self, *, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[StoredMilestone]:
        async with self._lock:
            return await super().claim_due(owner=owner, now=now, lease=lease, limit=limit)

    async def mark_emitted(self, emitted: Sequence[tuple[str, datetime]]) -> None:
        async with self._lock:
            await super().mark_emitted(emitted)

    async def release(self, *, owner: str, keys: Sequence[str]) -> None:
        async with self._lock:
            await super().release(owner=owner, keys=keys)


@dataclass
class Harness:
    """The app, an HTTP client on it, its store, its clock and what it published."""

    app: FastAPI
    settings: SlaSettings
    client: httpx.AsyncClient
    store: FakeStore
    clock: ManualClock
    broker: KafkaBroker
    sent: list[Sent]

    def on(self, topic: str) -> list[Sent]:
        """What the service published on one topic, in order."""
        return [s for s in self.sent if s.topic == topic]

    def lifecycle_events(self) -> list[LifecycleEvent]:
        """The lifecycle events it published (commands on the same topic left out)."""
        return [
            LifecycleEvent.model_validate_json(s.body)
            for s in self.on(self.settings.lifecycle_topic)
            if s.headers.get("hypercare-message") == "event"
        ]

    async def emitted_due(self) -> None:
        """Wait until the scheduler has emitted every milestone due by the manual clock's now."""

        def done() -> bool:
            now = self.clock.now()
            rows = self.store.state.milestones.values()
            return all(r["emitted_at"] is not None or r["planned"].due_at > now for r in rows)

        await wait_for(done, timeout=10, interval=0.01, what="the scheduler to emit the due milestones")

    async def triage(self, issue: TriagedIssue) -> None:
        """Deliver a triage decision to the service as the triage service would."""
        await self.broker.publish(issue.model_dump_json().encode(), self.settings.triaged_topic)


@asynccontextmanager
async def sla_service(*, tokens: bool = True, secret: str | None = SECRET) -> AsyncIterator[Harness]:
    """The SLA service in memory; ``tokens=False`` leaves the API open, ``secret=None`` switches links off."""
    settings = SlaSettings(
        policy_dir=FAST_POLICY,
        api_tokens={"alice": hash_token(ALICE)} if tokens else None,
        action_secret=SecretStr(secret) if secret else None,
        lifecycle_topic="t.lifecycle",
        triaged_topic="t.triaged",
        sla_events_topic="t.sla",
        deadletter_topic="t.deadletter",
    )
    store = SlaFakeStore()
    clock = ManualClock(datetime.now(UTC))
    app = create_app(settings, clock=clock, store=store)
    broker: KafkaBroker = app.state.broker
    sent: list[Sent] = []

    @broker.subscriber("t.lifecycle", "t.sla", "t.deadletter", group_id="recorder")
    async def record(message: KafkaMessage) -> None:
        raw = message.raw_message
        assert not isinstance(raw, tuple)
        sent.append(Sent(raw.topic, message.body, dict(message.headers)))

    async with (
        TestKafkaBroker(broker),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sla.test") as client,
    ):
        yield Harness(app, settings, client, store, clock, broker, sent)


async def opened(sla: Harness, **overrides: Any) -> str:
    """Open an issue through a triage decision made now (``make_triaged`` overrides); its id."""
    issue = make_triaged(decided_at=sla.clock.now(), **overrides)
    await sla.triage(issue)
    return issue.issue_id
