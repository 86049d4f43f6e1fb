"""Kafka broker factory and a batched, keyed publisher with delivery confirmation."""

import asyncio
import contextlib
import dataclasses
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.publisher.state import RealProducer
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from hypercare_contracts.topics import DEADLETTER
from prometheus_client import CollectorRegistry, Counter

from hypercare_runtime.consumer import HeaderSafeConsumer, seek_back
from hypercare_runtime.logging import get_logger
from hypercare_runtime.settings import ServiceSettings, StreamSettings
from hypercare_runtime.unreadable import UnreadableRecords

log = get_logger(__name__)


def _security(settings: ServiceSettings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context: ssl.SSLContext | None = None
    if protocol in {"SSL", "SASL_SSL"}:
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    if settings.kafka_sasl_username is None or settings.kafka_sasl_password is None:
        raise ValueError(
            "HYPERCARE_KAFKA_SASL_USERNAME and HYPERCARE_KAFKA_SASL_PASSWORD are required for SASL"
        )
    user = settings.kafka_sasl_username
    password = settings.kafka_sasl_password.get_secret_value()
    use_ssl = protocol == "SASL_SSL"
    sasl_classes: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    return sasl_classes[settings.kafka_sasl_mechanism](
        username=user, password=password, ssl_context=context, use_ssl=use_ssl
    )


def create_broker(
    settings: ServiceSettings,
    *,
    service: str,
    registry: CollectorRegistry | None,
    deadletter_topic: str = DEADLETTER,
    dead_letters: Counter | None = None,
    **options: Any,
) -> KafkaBroker:
    """A FastStream Kafka broker configured from settings.

    Producer settings favour throughput with safety: ``acks=all``, idempotence, lz4-free defaults and a
    short linger so batches form under load.

    Its consumers are :class:`~hypercare_runtime.consumer.HeaderSafeConsumer`: a record with a Kafka
    header name that is not UTF-8, which aiokafka cannot read, goes to ``deadletter_topic`` (counted in
    ``dead_letters``) instead of stopping its partition for good.

    Args:
        settings: the service settings (bootstrap servers, security).
        service: used as client id and metrics app name.
        registry: Prometheus registry for FastStream's Kafka middleware; ``None`` disables it.
        deadletter_topic: where the consumers send the records they cannot read (the service's own).
        dead_letters: the service's ``hypercare_dead_letters_total`` (labels service, reason), which
            counts them; ``None``: not counted.
        **options: passed through to :class:`KafkaBroker`; they override the defaults above
            (``linger_ms=0`` for a service that flushes after every batch anyway).
    """
    middlewares = (
        (KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="hypercare_kafka"),)
        if registry is not None
        else ()
    )
    defaults: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "allow_auto_create_topics": False,
        "middlewares": middlewares,
        "parser": text_headers,
        # Per-message "received/processed" lines at DEBUG; handler exceptions still log at ERROR.
        "logger": logging.getLogger(f"hypercare.{service}.broker"),
        "log_level": logging.DEBUG,
    }
    return HeaderSafeBroker(
        settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id_prefix}-{service}",
        security=_security(settings),
        service=service,
        deadletter_topic=deadletter_topic,
        dead_letters=dead_letters,
        **{**defaults, **options},
    )


class HeaderSafeBroker(KafkaBroker):
    """A FastStream Kafka broker whose subscribers consume with
    :class:`~hypercare_runtime.consumer.HeaderSafeConsumer`, handing the records it sets aside to
    :class:`~hypercare_runtime.unreadable.UnreadableRecords`.

    FastStream makes a subscriber's consumer with the factory its ``connect`` builds (aiokafka's
    consumer, with the broker's connection options); this broker swaps it for the same options on the
    subclass. Under FastStream's in-memory test broker, which replaces ``connect``, nothing changes.
    """

    def __init__(
        self,
        *args: Any,
        service: str,
        deadletter_topic: str,
        dead_letters: Counter | None,
        **options: Any,
    ) -> None:
        """``args`` and ``options`` are :class:`KafkaBroker`'s; the others :func:`create_broker`'s."""
        super().__init__(*args, **options)
        self._unreadable = UnreadableRecords(
            self.publish, service=service, topic=deadletter_topic, counter=dead_letters
        )

    async def _connect(self) -> Callable[..., AIOKafkaConsumer]:
        builder = await super()._connect()
        if not (isinstance(builder, partial) and builder.func is AIOKafkaConsumer):
            raise TypeError(f"FastStream's consumer factory is no longer aiokafka's consumer: {builder!r}")
        safe = partial(HeaderSafeConsumer, *builder.args, unreadable=self._unreadable, **builder.keywords)
        self.config.broker_config.builder = safe
        return safe


async def text_headers(
    message: Any, original: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """FastStream's own parsing of a consumed record (or batch of records), after its headers were made
    text: a header without a value (which Kafka allows) becomes empty, one that is not UTF-8 has its
    bad bytes replaced.

    FastStream decodes every header value with ``bytes.decode()`` before any handler runs. A record
    with a header it cannot decode failed the whole batch there: a service acknowledging by hand
    committed past it with the next batch (its records lost without a trace), one acknowledging by
    FastStream was handed it again for good. Records whose headers are all ASCII, nearly all, pass as
    they are.
    """
    if isinstance(message, tuple | list):  # a batch (a list under FastStream's in-memory test broker)
        return await original(type(message)(_with_text_headers(record) for record in message))
    return await original(_with_text_headers(message))


def _with_text_headers(record: Any) -> Any:
    headers = getattr(record, "headers", None) or ()
    if all(value is not None and value.isascii() for _, value in headers):
        return record
    fixed = tuple((name, _utf8(value)) for name, value in headers)
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        return record
    return dataclasses.replace(record, headers=fixed)


def _utf8(value: bytes | None) -> bytes:
    if value is None:
        return b""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("utf-8", errors="replace").encode("utf-8")
    return value


def create_stream_broker(
    settings: StreamSettings,
    *,
    service: str,
    registry: CollectorRegistry,
    deadletter_topic: str = DEADLETTER,
    dead_letters: Counter | None = None,
) -> KafkaBroker:
    """The broker of a batch-consuming service (normalizer, triage), for subscribers using :func:`raw_records`.

    ``apply_types=False, serializer=None``: a handler gets the decoded batch as its one argument, as it
    is. With FastDepends, resolving a ``KafkaMessage`` parameter runs a synchronous context lookup in a
    worker thread on every batch, a thread hop that costs more than handling a small batch. The producer
    lingers ``kafka_linger_ms`` (0: the service flushes after every batch anyway). ``deadletter_topic``
    and ``dead_letters`` are :func:`create_broker`'s.
    """
    return create_broker(
        settings,
        service=service,
        registry=registry,
        deadletter_topic=deadletter_topic,
        dead_letters=dead_letters,
        apply_types=False,
        serializer=None,
        linger_ms=settings.kafka_linger_ms,
    )


def _aiokafka_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The connected aiokafka producer behind a FastStream broker, or None.

    None under FastStream's in-memory test broker (its producer is a fake) and before the broker connected.
    """
    state = getattr(broker.config.producer, "_producer", None)
    producer = state.producer if isinstance(state, RealProducer) else None
    return producer if isinstance(producer, AIOKafkaProducer) else None


class BatchPublisher:
    """Publishes keyed messages without waiting on each, then confirms them all at once.

    Offsets must only be committed after :meth:`flush` returned: that is what makes processing
    at-least-once.

    On a connected broker the messages go straight to its aiokafka producer: FastStream's publish path
    (publisher middlewares, a generated correlation id and a content-type header per message) costs
    more than the send itself, which matters at thousands of messages per second. FastStream's
    ``hypercare_kafka_published_*`` metrics therefore do not count these messages (the normalizer
    counts its output in ``hypercare_messages_produced_total``). Under FastStream's test broker the
    messages go through ``broker.publish`` as before.
    """

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker
        self._producer = _aiokafka_producer(broker)
        self._pending: list[asyncio.Future[RecordMetadata]] = []

    async def add(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue one message (it is sent in the background by the producer's own batching)."""
        if self._producer is not None:
            encoded = [(name, text.encode()) for name, text in headers.items()] if headers else None
            self._pending.append(await self._producer.send(topic, value, key=key, headers=encoded))
            return
        future = await self._broker.publish(
            value, topic, key=key, headers=dict(headers or {}), no_confirm=True
        )
        # FastStream's in-memory test broker delivers synchronously and returns no future.
        if future is not None:
            self._pending.append(future)

    async def flush(self) -> Sequence[RecordMetadata]:
        """Wait until the broker acknowledged every queued message; raises if any write failed."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        return await asyncio.gather(*pending)

    def discard(self) -> None:
        """Stop waiting for what was queued and not flushed, for a caller that gave up on it (it will
        send it again). Kafka may still take some of it: at-least-once, as after a crash."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.cancel()


def batch_subscriber(
    broker: KafkaBroker,
    *topics: str,
    group_id: str,
    wait_ms: int,
    max_records: int,
    ack_policy: AckPolicy,
    decoder: Callable[[StreamMessage[Any]], Awaitable[Any]],
    partition_assignment_strategy: Sequence[type[AbstractPartitionAssignor]] = (RoundRobinPartitionAssignor,),
) -> BatchSubscriber:
    """A batch consumer of ``topics`` in ``group_id``, from the earliest offset when the group has none,
    polling as :func:`poll_without_idle_sleep` says (up to ``wait_ms`` per poll).

    Every batch consumer of the services is made here, so none can be left with FastStream's idle sleep.

    Raises:
        ValueError: ``wait_ms`` is not positive.
    """
    subscriber = broker.subscriber(
        *topics,
        batch=True,
        group_id=group_id,
        max_records=max_records,
        auto_offset_reset="earliest",
        ack_policy=ack_policy,
        decoder=decoder,
        partition_assignment_strategy=partition_assignment_strategy,
    )
    poll_without_idle_sleep(subscriber, wait_ms=wait_ms)
    return subscriber


def poll_without_idle_sleep(subscriber: BatchSubscriber, *, wait_ms: int) -> None:
    """Make a batch subscriber hand over records the moment they are fetched, and sleep on nothing.

    FastStream's batch loop polls with ``getmany(timeout_ms=batch_timeout_ms)`` and, when a poll comes
    back empty, sleeps ``batch_timeout_ms`` before polling again. A record fetched during that sleep
    waits for it, so the timeout had to be short (1 ms), and an idle service then woke about 500 times a
    second. At 1,000 reports/s on two cores, replacing that loop made both services' batches faster and
    the whole machine 0.08-0.17 of a core less busy (``docs/performance.md``, round nine).

    Here each poll waits up to ``wait_ms`` and aiokafka returns as soon as its fetcher has records, and
    an empty poll is simply followed by the next one. No record waits on a sleep, and an idle service
    wakes ``1000 / wait_ms`` times a second. ``wait_ms`` also bounds how late a consumer-group error
    that aiokafka raises from ``getmany`` is noticed.

    FastStream's loop still runs the batch (middlewares, decoder, handler, error policy): only where it
    gets the batch from changes.
    """
    if wait_ms <= 0:
        raise ValueError("wait_ms must be positive: a poll that never waits would spin")
    max_records = subscriber.max_records

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        return tuple(record for records in fetched.values() for record in records)

    # FastStream's consume loop calls ``self.get_msg(consumer)``; an instance attribute comes first.
    subscriber.get_msg = get_msg  # type: ignore[method-assign]


async def keep_raw_bytes(message: StreamMessage[Any]) -> Any:
    """A subscriber decoder that leaves bodies as bytes.

    FastStream would otherwise parse JSON itself, before the handler can bound its size or depth; the
    services parse with their own limits and dead-letter what fails.
    """
    return message.body


async def raw_records(message: StreamMessage[Any]) -> Any:
    """A subscriber decoder that hands over the consumer records themselves.

    For a broker built with ``apply_types=False``, whose handlers receive the decoded message as their only
    argument: a batch handler then gets the tuple of aiokafka ``ConsumerRecord`` (topic, partition,
    offset, key, value, headers, timestamp), a single-message handler the one record, without
    FastDepends resolving a message parameter.
    """
    return message.raw_message


class ConsumedRecord(Protocol):
    """Where a consumed record came from: all :class:`OffsetCommitter` needs of it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class RawRecord(ConsumedRecord, Protocol):
    """A consumed record as the services read it (aiokafka's ``ConsumerRecord`` or the test broker's)."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class OffsetCommitter:
    """Commits the offsets of processed batches in the background, in order, for a manual-ack subscriber.

    FastStream's acknowledgement commits every batch with a round trip to the group coordinator before
    the next batch is fetched; at low rates that round trip is much of the latency and at saturation
    the CPU idles during it. Here the handler hands over a batch once its output was acknowledged
    (:meth:`processed`) and goes on; one background task commits the highest offsets handed over so far,
    one commit after the other and at most one per ``interval_s``, so offsets only move forward past
    output that Kafka has acknowledged: at-least-once, as before. The interval bounds what a crash
    replays (the batches of the last interval) and saves a request per batch when batches are small.
    A batch whose output failed is rewound (:meth:`rewind`) and fetched again.

    Commits only partitions still assigned; one that fails (a rebalance took the partition away) is
    logged and dropped: the partition's next owner starts from the last committed offset and processes
    those records again, which at-least-once allows.
    """

    def __init__(self, consumer: Callable[[], AIOKafkaConsumer | None], *, interval_s: float = 0.05) -> None:
        """``consumer`` returns the subscriber's consumer, None while there is none (test broker)."""
        self._consumer = consumer
        self._interval_s = interval_s
        self._pending: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_commit = 0.0
        self._closing = asyncio.Event()

    def processed(self, records: Iterable[ConsumedRecord]) -> None:
        """Commit past these records soon: their output has been acknowledged."""
        consumer = self._consumer()
        if consumer is None:
            return
        pending = self._pending
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            if record.offset >= pending.get(partition, 0):
                pending[partition] = record.offset + 1
        if pending and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._commit(consumer))

    @contextlib.contextmanager
    def settle(self, records: Sequence[ConsumedRecord]) -> Iterator[None]:
        """Around a batch's handling: commit past it when the block ends normally, else fetch it again.

        The error policy of a manual-ack batch subscriber: output that was not acknowledged is never
        committed past; the exception propagates (FastStream logs it) and the batch is redelivered.
        """
        try:
            yield
        except BaseException:
            self.rewind(records)
            raise
        self.processed(records)

    def rewind(self, records: Iterable[ConsumedRecord]) -> None:
        """Fetch these records again: their output could not be delivered."""
        consumer = self._consumer()
        if consumer is not None:
            seek_back(consumer, records)

    async def close(self) -> None:
        """Commit what was handed over so far without waiting for the interval (on shutdown).

        Closing again commits what was handed over since: a service closes before its broker stops
        (while the partitions are still assigned), and again after, so that a handler that finished
        in between leaves no commit task running; what it handed over is committed if its partitions
        are still assigned, else fetched again by their next owner."""
        self._closing.set()
        if self._task is not None:
            await self._task

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            wait = self._last_commit + self._interval_s - loop.time()
            if wait > 0 and not self._closing.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), wait)
            self._last_commit = loop.time()
            offsets, self._pending = self._pending, {}
            assigned = consumer.assignment()
            owned = {partition: offset for partition, offset in offsets.items() if partition in assigned}
            if not owned:
                continue
            try:
                await consumer.commit(owned)
            except KafkaError as exc:
                log.warning("kafka.commit_failed", error=type(exc).__name__, partitions=len(owned))
