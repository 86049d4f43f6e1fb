"""The whole pipeline inside one test (no tests in this module).

The four Kafka services (normalizer, triage, SLA, notifier) run in the test's event loop on one set of
per-test topics, one database and Redis, with a policy folder of second-scale SLA targets whose checkout
routes deliver to the console and to a signed webhook on the test's own HTTP receiver. A :class:`TopicTap`
reads every topic from the beginning in the background, so a test polls plain lists with deadlines
instead of starting a consumer per look.
"""

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from hypercare_contracts import LifecycleEvent, SlaEvent, TriagedIssue
from hypercare_normalizer.app import create_app as create_normalizer
from hypercare_normalizer.settings import NormalizerSettings
from hypercare_notifier.app import create_app as create_notifier
from hypercare_notifier.settings import NotifierSettings
from hypercare_sla.app import create_app as create_sla
from hypercare_sla.auth import hash_token
from hypercare_sla.settings import SlaSettings
from hypercare_triage.app import create_app as create_triage
from hypercare_triage.settings import TriageSettings
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.factories.sla import FAST_POLICY
from tests.support.kafka import KafkaTestKit, Received, wait_for
from tests.support.receivers import SHIPPED_POLICY
from tests.support.services import running

RAW_TOPICS = ("alerts", "tickets", "feedback", "social")
TOPICS = (*RAW_TOPICS, "normalized", "triaged", "lifecycle", "sla", "notifications", "deadletter")
"""The logical names of the pipeline's topics (``Pipeline.topics`` maps them to the per-test ones)."""
PARTITIONS = 3

API_TOKEN = "alice-pipeline-token"
API_AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
API_USER = "alice"
WEBHOOK_SECRET = "whsec-pipeline-tests"
SECRET_ENV = {"HYPERCARE_WEBHOOK_SECRET": WEBHOOK_SECRET}
"""Set these in the environment before the notifier starts (its webhook channel is off without them)."""
WEBHOOK_PATH = "/hook"
ROUTE_CHANNELS = ["console", "webhook"]


def pipeline_policy_dir(target: Path, *, webhook_url: str) -> Path:
    """``tests/data/policy-fast`` (seconds-scale SLA) made into a whole pipeline's policy at ``target``.

    Changes to the copy: the notifier's ``notifier.yaml`` from ``deploy/policy``; the checkout routes
    (``payments-urgent``, ``payments``) deliver to ``console`` (never coloured) and the signed ``webhook``
    at ``webhook_url`` with fast retries, every other channel switched off; no suppression windows, so an
    alert is never held back by the weekly deploy slot on the day the test happens to run.
    """
    shutil.copytree(FAST_POLICY, target, dirs_exist_ok=True)
    shutil.copy(SHIPPED_POLICY / "notifier.yaml", target / "notifier.yaml")

    channels = _load(target / "channels.yaml")
    channels["retry"] = {
        **channels["retry"],
        "max_attempts": 3,
        "base_seconds": 0.05,
        "max_delay_seconds": 0.2,
        "jitter": "none",
        "deadline_seconds": 10,
    }
    for name, channel in channels["channels"].items():
        if name not in ROUTE_CHANNELS:
            channel["enabled"] = False
    channels["channels"]["console"]["color"] = "never"
    channels["channels"]["webhook"]["url"] = webhook_url
    _dump(target / "channels.yaml", channels)

    routes = _load(target / "routes.yaml")
    for rule in routes["rules"]:
        if rule["name"] in {"payments-urgent", "payments"}:
            rule["channels"] = list(ROUTE_CHANNELS)
    _dump(target / "routes.yaml", routes)

    suppression = _load(target / "suppression.yaml")
    suppression.update(maintenance_windows=[], recurring_windows=[], silences=[])
    _dump(target / "suppression.yaml", suppression)
    return target


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


class TopicTap:
    """Reads topics from their beginning in the background (no consumer group) and keeps every message."""

    def __init__(self, bootstrap: str, topics: Mapping[str, str], *, partitions: int = PARTITIONS) -> None:
        self._topics = dict(topics)
        self._names = {real: name for name, real in topics.items()}
        self._received: dict[str, list[Received]] = {name: [] for name in topics}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        self._partitions = [TopicPartition(real, p) for real in topics.values() for p in range(partitions)]
        self._task: asyncio.Task[None] | None = None

    def topic(self, name: str) -> str:
        """The real name of the topic with logical name ``name``."""
        return self._topics[name]

    def on(self, name: str) -> list[Received]:
        """What arrived so far on the topic with logical name ``name`` (a copy, in arrival order)."""
        return list(self._received[name])

    async def start(self) -> None:
        """Connect, take every partition and start reading."""
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self._task = asyncio.create_task(self._read(), name="topic-tap")

    async def stop(self) -> None:
        """Stop reading and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=1000)
            for records in batch.values():
                for r in records:
                    headers = {k: v.decode() for k, v in r.headers}
                    received = Received(r.topic, r.partition, r.offset, r.key, r.value or b"", headers)
                    self._received[self._names[r.topic]].append(received)


@asynccontextmanager
async def topic_tap(bootstrap: str, topics: Mapping[str, str]) -> AsyncIterator[TopicTap]:
    """A started :class:`TopicTap`, stopped afterwards."""
    tap = TopicTap(bootstrap, topics)
    await tap.start()
    try:
        yield tap
    finally:
        await tap.stop()


@dataclass(frozen=True)
class Pipeline:
    """One test's topics, database, Redis namespace, consumer groups and policy folder."""

    kafka: KafkaTestKit
    bootstrap: str
    database_url: str
    redis_url: str
    group_id: str
    policy_dir: Path
    topics: Mapping[str, str]

    def normalizer_settings(self) -> NormalizerSettings:
        """The normalizer on the per-test raw, normalized and dead-letter topics."""
        return NormalizerSettings(
            kafka_bootstrap=self.bootstrap,
            policy_dir=self.policy_dir,
            group_id=f"{self.group_id}-normalizer",
            raw_tickets_topic=self.topics["tickets"],
            raw_feedback_topic=self.topics["feedback"],
            raw_social_topic=self.topics["social"],
            raw_alerts_topic=self.topics["alerts"],
            normalized_topic=self.topics["normalized"],
            deadletter_topic=self.topics["deadletter"],
        )

    def triage_settings(self) -> TriageSettings:
        """Triage on the per-test topics, database and Redis namespace."""
        return TriageSettings(
            kafka_bootstrap=self.bootstrap,
            database_url=SecretStr(self.database_url),
            redis_url=SecretStr(self.redis_url),
            redis_prefix=f"test:pipeline:{self.group_id}:triage",
            policy_dir=self.policy_dir,
            group_id=f"{self.group_id}-triage",
            normalized_topic=self.topics["normalized"],
            triaged_topic=self.topics["triaged"],
            lifecycle_topic=self.topics["lifecycle"],
            deadletter_topic=self.topics["deadletter"],
            release_interval=1.0,
        )

    def sla_settings(self) -> SlaSettings:
        """The SLA service with one API user (:data:`API_AUTH`)."""
        return SlaSettings(
            kafka_bootstrap=self.bootstrap,
            database_url=SecretStr(self.database_url),
            policy_dir=self.policy_dir,
            group_id=f"{self.group_id}-sla",
            triaged_topic=self.topics["triaged"],
            lifecycle_topic=self.topics["lifecycle"],
            sla_events_topic=self.topics["sla"],
            deadletter_topic=self.topics["deadletter"],
            api_tokens={API_USER: hash_token(API_TOKEN)},
            instance_id=f"pipeline-{uuid.uuid4().hex[:8]}",
        )

    def notifier_settings(self) -> NotifierSettings:
        """The notifier, polling for work every 0.1s."""
        return NotifierSettings(
            kafka_bootstrap=self.bootstrap,
            database_url=SecretStr(self.database_url),
            redis_url=SecretStr(self.redis_url),
            redis_prefix=f"test:pipeline:{self.group_id}:notifier",
            policy_dir=self.policy_dir,
            group_id=f"{self.group_id}-notifier",
            triaged_topic=self.topics["triaged"],
            sla_topic=self.topics["sla"],
            lifecycle_topic=self.topics["lifecycle"],
            notifications_topic=self.topics["notifications"],
            deadletter_topic=self.topics["deadletter"],
            claim_seconds=3.0,
            poll_seconds=0.1,
            digest_poll_seconds=0.3,
        )

    async def publish(self, name: str, payload: Mapping[str, Any]) -> None:
        """Produce a raw payload on the raw topic with logical name ``name``."""
        await self.kafka.send(self.topics[name], payload)


@dataclass(frozen=True)
class RunningPipeline:
    """The started services and an HTTP client on the SLA service's API."""

    normalizer: AsgiFastStream
    triage: AsgiFastStream
    sla: FastAPI
    notifier: AsgiFastStream
    sla_api: httpx.AsyncClient

    def brokers(self) -> list[Any]:
        """Every service's broker (each a :class:`faststream.kafka.KafkaBroker`)."""
        return [self.normalizer.broker, self.triage.broker, self.sla.state.broker, self.notifier.broker]


def consumers_assigned(brokers: Iterable[KafkaBroker | None]) -> bool:
    """Whether every subscriber of every broker joined its group and owns every topic it subscribed to."""
    for broker in brokers:
        if broker is None:
            return False
        for subscriber in broker.subscribers:
            consumer: Any = getattr(subscriber, "consumer", None)
            if consumer is None:
                return False
            subscribed = set(consumer.subscription())
            if not subscribed or {tp.topic for tp in consumer.assignment()} != subscribed:
                return False
    return True


@asynccontextmanager
async def run_pipeline(pipeline: Pipeline, *, join_timeout: float = 30.0) -> AsyncIterator[RunningPipeline]:
    """Start the four services and wait until each consumer group owns its partitions.

    Waiting for the groups matters for the SLA clocks: a decision consumed late would still be planned
    from its own instant, but its milestones would go out late.
    """
    async with AsyncExitStack() as stack:
        normalizer = await stack.enter_async_context(
            running(create_normalizer(pipeline.normalizer_settings()))
        )
        triage = await stack.enter_async_context(running(create_triage(pipeline.triage_settings())))
        sla = create_sla(pipeline.sla_settings())
        await stack.enter_async_context(sla.router.lifespan_context(sla))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=sla), base_url="http://sla.test")
        )
        notifier = await stack.enter_async_context(running(create_notifier(pipeline.notifier_settings())))
        started = RunningPipeline(normalizer, triage, sla, notifier, client)
        await wait_for(
            lambda: consumers_assigned(started.brokers()),
            timeout=join_timeout,
            what="every service's consumers to own their partitions",
        )
        yield started


async def metric_values(app: AsgiFastStream, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric on a service's ``/metrics``, by their sorted label pairs."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc.test"
    ) as client:
        response = await client.get("/metrics")
    response.raise_for_status()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    }


# --- reading what the pipeline produced ------------------------------------------------------------


def decisions(tap: TopicTap) -> list[TriagedIssue]:
    """Every triage decision so far."""
    return [TriagedIssue.model_validate_json(m.value) for m in tap.on("triaged")]


def sla_events(tap: TopicTap, issue_id: str) -> list[SlaEvent]:
    """The SLA events about one issue so far."""
    events = [SlaEvent.model_validate_json(m.value) for m in tap.on("sla")]
    return [e for e in events if e.issue_id == issue_id]


def lifecycle_events(tap: TopicTap) -> list[LifecycleEvent]:
    """The lifecycle events so far (not the commands sharing their topic)."""
    return [
        LifecycleEvent.model_validate_json(m.value)
        for m in tap.on("lifecycle")
        if m.headers.get("hypercare-message") == "event"
    ]


def seconds_after(start: datetime, moment: datetime) -> float:
    """``moment - start`` in seconds."""
    return (moment - start).total_seconds()


async def fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Rows from the test database."""
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def stays_quiet(snapshot: Callable[[], object], *, until: datetime, what: str) -> None:
    """The settle window: poll ``snapshot`` until the instant ``until``, failing as soon as it changes."""
    before = snapshot()
    while True:
        assert snapshot() == before, f"{what} changed during the settle window"
        if datetime.now(UTC) >= until:
            return
        await asyncio.sleep(0.1)
