"""Running the SLA service against the real stack in tests (no tests in this module).

In process (its lifespan in the test's event loop, HTTP through an ASGI client) or as a subprocess
(``python -m hypercare_sla``) that a test can kill -9.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from hypercare_contracts.sla import SlaEvent
from hypercare_contracts.triaged import Decision, TriagedIssue
from hypercare_sla.app import create_app
from hypercare_sla.auth import hash_token
from hypercare_sla.settings import SlaSettings
from pydantic import SecretStr

from tests.factories.sla import FAST_POLICY, make_triaged
from tests.support.kafka import KafkaTestKit, Received, wait_for

TOKEN = "alice-integration-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LINK_SECRET = "integration-link-secret"


@dataclass(frozen=True)
class Stack:
    """Per-test topics, database and consumer group for the SLA service."""

    kafka: KafkaTestKit
    bootstrap: str
    database_url: str
    group_id: str
    topics: Mapping[str, str]

    @property
    def sla_topic(self) -> str:
        return self.topics["sla"]

    @property
    def lifecycle_topic(self) -> str:
        return self.topics["lifecycle"]

    def settings(self, **overrides: Any) -> SlaSettings:
        fields: dict[str, Any] = {
            "kafka_bootstrap": self.bootstrap,
            "database_url": SecretStr(self.database_url),
            "policy_dir": FAST_POLICY,
            "group_id": self.group_id,
            "triaged_topic": self.topics["triaged"],
            "lifecycle_topic": self.topics["lifecycle"],
            "sla_events_topic": self.topics["sla"],
            "deadletter_topic": self.topics["deadletter"],
            "api_tokens": {"alice": hash_token(TOKEN)},
            "action_secret": SecretStr(LINK_SECRET),
            "instance_id": f"test-{uuid.uuid4().hex[:8]}",
        }
        fields.update(overrides)
        return SlaSettings(**fields)

    def environment(self) -> dict[str, str]:
        """The settings as the environment of ``python -m hypercare_sla``."""
        return {
            **os.environ,
            "HYPERCARE_KAFKA_BOOTSTRAP": self.bootstrap,
            "HYPERCARE_DATABASE_URL": self.database_url,
            "HYPERCARE_POLICY_DIR": str(FAST_POLICY),
            "HYPERCARE_GROUP_ID": self.group_id,
            "HYPERCARE_TRIAGED_TOPIC": self.topics["triaged"],
            "HYPERCARE_LIFECYCLE_TOPIC": self.topics["lifecycle"],
            "HYPERCARE_SLA_EVENTS_TOPIC": self.topics["sla"],
            "HYPERCARE_DEADLETTER_TOPIC": self.topics["deadletter"],
            "HYPERCARE_HTTP_PORT": "0",
            "HYPERCARE_LOG_JSON": "true",
        }

    async def triage(self, issue: TriagedIssue) -> None:
        """Publish a triage decision, keyed by issue as triage does."""
        await self.kafka.send(
            self.topics["triaged"], issue.model_dump_json().encode(), key=issue.issue_id.encode()
        )

    async def sla_events(self, *, count: int, timeout: float = 30.0, settle: float = 0.0) -> list[SlaEvent]:
        """The SLA events published so far (from the beginning of the topic)."""
        received = await self.kafka.collect([self.sla_topic], count=count, timeout=timeout, settle=settle)
        return [SlaEvent.model_validate_json(r.value) for r in received]

    async def lifecycle_messages(self, *, count: int, timeout: float = 30.0) -> list[Received]:
        """Everything on the lifecycle topic."""
        return await self.kafka.collect([self.lifecycle_topic], count=count, timeout=timeout, settle=0.5)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Rows from the service's database."""
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def wait_known(self, issue_id: str) -> None:
        """Wait until the service stored the issue (it consumed its triage decision)."""

        async def known() -> bool:
            try:
                return bool(await self.fetch("SELECT 1 FROM sla_issues WHERE issue_id = $1", issue_id))
            except asyncpg.UndefinedTableError:  # the service has not migrated the database yet
                return False

        await wait_for(known, timeout=60, interval=0.05, what=f"the SLA service to know {issue_id}")

    async def wait_consumed(self, *, group_id: str | None = None, timeout: float = 60.0) -> None:
        """Wait until a consumer group (the service's by default) has committed every triage decision
        published so far: the service handled them all (it commits a message once handled)."""
        group = group_id or self.group_id
        topic = self.topics["triaged"]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            # The admin client's metadata, not the consumer's cache (which may not hold the topic yet:
            # no partitions would mean nothing to wait for).
            [described] = await admin.describe_topics([topic])
            partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
            assert partitions, f"{topic} has no partitions"
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await consumer.start()
            try:
                ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            finally:
                await consumer.stop()

            async def caught_up() -> bool:
                committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
                return all(
                    end == 0 or (tp in committed and committed[tp].offset >= end) for tp, end in ends.items()
                )

            await wait_for(caught_up, timeout=timeout, interval=0.1, what=f"group {group} to consume {topic}")
        finally:
            await admin.close()

    async def warm_up(self) -> None:
        """Wait until the service consumes triage decisions (its consumer group has joined).

        The probe is a suppressed issue: it is stored but plans no milestone, so it adds no SLA event.
        """
        probe = make_triaged(decision=Decision.SUPPRESSED, notify=False)
        await self.triage(probe)
        await self.wait_known(probe.issue_id)


async def make_stack(kafka: KafkaTestKit, bootstrap: str, database_url: str, group_id: str) -> Stack:
    """Fresh topics for one test."""
    topics = await kafka.topics("triaged", "lifecycle", "sla", "deadletter")
    return Stack(kafka, bootstrap, database_url, group_id, topics)


@asynccontextmanager
async def in_process(settings: SlaSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The service running in this event loop; yields an HTTP client on its API."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://sla.test") as client,
    ):
        yield client


def start_process(stack: Stack, log: Path) -> subprocess.Popen[bytes]:
    """``python -m hypercare_sla`` with the stack's settings; its output goes to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hypercare_sla"], env=stack.environment(), stdout=out, stderr=out
        )


def seconds_between(earlier: datetime, later: datetime) -> float:
    """``later - earlier`` in seconds."""
    return (later - earlier).total_seconds()
