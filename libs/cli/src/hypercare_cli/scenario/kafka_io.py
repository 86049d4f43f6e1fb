"""The demo's edges: sending to Kafka or the gateway, reading the outputs back, and watching consumer lag."""

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
from hypercare_contracts import DeadLetter, NotificationRecord, SlaEvent, TriagedIssue
from hypercare_contracts.topics import DEADLETTER, HEADER_TRACE_ID, ISSUES_TRIAGED, NOTIFICATIONS, SLA_EVENTS
from hypercare_runtime.settings import ServiceSettings
from pydantic import BaseModel, ValidationError

from hypercare_cli.scenario.drain import GroupOffsets, Partition
from hypercare_cli.scenario.model import Message
from hypercare_cli.scenario.summary import Readback
from hypercare_cli.scenario.timeline import Delivery

OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    ISSUES_TRIAGED: TriagedIssue,
    SLA_EVENTS: SlaEvent,
    NOTIFICATIONS: NotificationRecord,
    DEADLETTER: DeadLetter,
}
"""The topics the summary reads, and the contract of each."""
PRODUCER_HEADER = "hypercare-producer"

_M = TypeVar("_M", bound=BaseModel)


class DemoError(Exception):
    """A problem to report in one line: a missing topic, an unreachable cluster."""


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """aiokafka connection options (bootstrap, TLS, SASL) from the shared ``HYPERCARE_KAFKA_*`` settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
        "client_id": f"{settings.kafka_client_id_prefix}-demo",
    }
    if settings.kafka_security_protocol in {"SSL", "SASL_SSL"}:
        options["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
        )
    if settings.kafka_security_protocol.startswith("SASL"):
        if settings.kafka_sasl_username is None or settings.kafka_sasl_password is None:
            raise DemoError(
                "HYPERCARE_KAFKA_SASL_USERNAME and HYPERCARE_KAFKA_SASL_PASSWORD are required for SASL"
            )
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


class KafkaSink:
    """Sends each message to its (possibly renamed) raw topic and waits for the broker's acknowledgement."""

    def __init__(self, options: Mapping[str, Any], topics: Mapping[str, str], run_id: str) -> None:
        self._producer = AIOKafkaProducer(**options, acks="all", max_request_size=2 * 1024 * 1024)
        self._topics = topics
        self._run_id = run_id
        self._count = 0

    async def start(self) -> None:
        """Connect."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self._producer.stop()

    async def send(self, message: Message) -> Delivery:
        """Write one message, keyed as the gateway would key it, with a demo trace id."""
        self._count += 1
        headers = [
            (HEADER_TRACE_ID, f"demo-{self._run_id}-{self._count:04d}".encode()),
            (PRODUCER_HEADER, b"hypercare-demo"),
        ]
        await self._producer.send_and_wait(
            self._topics.get(message.topic, message.topic),
            message.value,
            key=message.key.encode() if message.key is not None else None,
            headers=headers,
        )
        return Delivery(accepted=True)


class GatewaySink:
    """POSTs each message to the gateway endpoint of its format; a refusal is reported, not raised."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise DemoError(f"--gateway-url must be an http:// or https:// URL, got {base_url!r}")
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def _post(self, message: Message) -> Delivery:
        headers = {"Content-Type": "application/json", "User-Agent": "hypercare-demo"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self._base + message.gateway_path, data=message.value, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                return Delivery(accepted=200 <= response.status < 300, status=f"HTTP {response.status}")
        except urllib.error.HTTPError as refused:
            return Delivery(accepted=False, status=f"HTTP {refused.code}")
        except (urllib.error.URLError, OSError) as exc:
            raise DemoError(f"the gateway at {self._base} does not answer: {exc}") from exc

    async def send(self, message: Message) -> Delivery:
        """POST one message (in a worker thread, so the schedule keeps running)."""
        return await asyncio.to_thread(self._post, message)


def _parse(model: type[_M], value: bytes | None) -> _M | None:
    try:
        return model.model_validate_json(value or b"")
    except ValidationError:
        return None


class OutputReader:
    """Reads the output topics from where they ended when it started: only this run's records count."""

    def __init__(self, options: Mapping[str, Any], topics: Mapping[str, str]) -> None:
        self._consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
        self._names = {role: topics.get(role, role) for role in OUTPUT_MODELS}
        self._records: dict[str, list[bytes | None]] = {role: [] for role in OUTPUT_MODELS}
        self.last_record_at = time.monotonic()

    @property
    def topics(self) -> list[str]:
        """The actual names of the output topics."""
        return list(self._names.values())

    async def start(self, partitions: Mapping[str, Sequence[int]]) -> None:
        """Connect and pin each output partition at its current end, before anything is sent.

        Args:
            partitions: topic -> partition numbers, for (at least) every output topic.
        """
        await self._consumer.start()
        assigned = [TopicPartition(name, p) for name in self._names.values() for p in partitions[name]]
        self._consumer.assign(assigned)
        ends = await self._consumer.end_offsets(assigned)
        for tp in assigned:
            self._consumer.seek(tp, ends[tp])

    async def stop(self) -> None:
        """Disconnect."""
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 200) -> int:
        """Read what arrived; returns how many records that was."""
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=2000)
        role_of = {name: role for role, name in self._names.items()}
        count = 0
        for tp, records in batches.items():
            self._records[role_of[tp.topic]].extend(r.value for r in records)
            count += len(records)
        if count:
            self.last_record_at = time.monotonic()
        return count

    def readback(self) -> Readback:
        """Everything read so far, parsed with the contracts."""
        parsed: dict[str, list[Any]] = {}
        unreadable: dict[str, int] = {}
        for role, values in self._records.items():
            models = [_parse(OUTPUT_MODELS[role], value) for value in values]
            parsed[role] = [m for m in models if m is not None]
            if len(parsed[role]) < len(values):
                unreadable[role] = len(values) - len(parsed[role])
        return Readback(
            triaged=parsed[ISSUES_TRIAGED],
            sla_events=parsed[SLA_EVENTS],
            notifications=parsed[NOTIFICATIONS],
            dead_letters=parsed[DEADLETTER],
            unreadable=unreadable,
        )


class LagProbe:
    """Topic layout, and committed offsets of the pipeline's consumer groups (by name prefix)."""

    def __init__(self, options: Mapping[str, Any], watched: Sequence[str], *, group_prefix: str) -> None:
        self._admin = AIOKafkaAdminClient(**options)
        self._ends = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
        self._watched = list(watched)
        self._prefix = group_prefix
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        """Connect and learn the partitions of the watched topics (those that exist)."""
        await self._admin.start()
        await self._ends.start()
        layout = await self.partitions(self._watched, require=False)
        self._partitions = [TopicPartition(t, p) for t, numbers in layout.items() for p in numbers]

    async def stop(self) -> None:
        """Disconnect."""
        await self._admin.close()
        await self._ends.stop()

    async def partitions(self, names: Sequence[str], *, require: bool = True) -> dict[str, list[int]]:
        """Topic -> its partition numbers.

        Raises:
            DemoError: with ``require``, when a topic does not exist (``make stack-up`` creates them).
        """
        described = await self._admin.describe_topics(sorted(set(names)))
        layout = {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described}
        missing = sorted(name for name in set(names) if not layout.get(name))
        if require and missing:
            raise DemoError(f"missing topics {', '.join(missing)}: create them (`make stack-up` does)")
        return {name: numbers for name, numbers in layout.items() if numbers}

    async def committed(self) -> GroupOffsets:
        """Group -> committed offset per watched partition, for the groups named with the prefix."""
        listed = await self._admin.list_consumer_groups()
        groups = sorted(str(g[0]) for g in listed if str(g[0]).startswith(self._prefix))
        watched = set(self._partitions)
        out: dict[str, dict[Partition, int]] = {}
        for group in groups:
            offsets = await self._admin.list_consumer_group_offsets(group)
            out[group] = {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in offsets.items()
                if tp in watched and meta.offset >= 0
            }
        return out

    async def end_offsets(self) -> dict[Partition, int]:
        """The log-end offset of every watched partition."""
        if not self._partitions:
            return {}
        ends = await self._ends.end_offsets(self._partitions)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


def metrics_answer(url: str, timeout: float = 1.0) -> bool:
    """Whether a /metrics URL answers 200 (a blocking call; run it in a thread)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own http:// URLs
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def dumps_json(data: Mapping[str, Any]) -> str:
    """Indented JSON for ``--json``."""
    return json.dumps(data, indent=2, ensure_ascii=False)
