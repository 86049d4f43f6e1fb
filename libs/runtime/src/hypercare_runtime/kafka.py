"""Kafka broker factory and a batched, keyed publisher with delivery confirmation."""

import asyncio
import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import CollectorRegistry

from hypercare_runtime.settings import ServiceSettings


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
    **options: Any,
) -> KafkaBroker:
    """A FastStream Kafka broker configured from settings.

    Producer settings favour throughput with safety: ``acks=all``, idempotence, lz4-free defaults and a
    short linger so batches form under load.

    Args:
        settings: the service settings (bootstrap servers, security).
        service: used as client id and metrics app name.
        registry: Prometheus registry for FastStream's Kafka middleware; ``None`` disables it.
        **options: passed through to :class:`KafkaBroker`.
    """
    middlewares = (
        (KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="hypercare_kafka"),)
        if registry is not None
        else ()
    )
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id_prefix}-{service}",
        security=_security(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        allow_auto_create_topics=False,
        middlewares=middlewares,
        # Per-message "received/processed" lines at DEBUG; handler exceptions still log at ERROR.
        logger=logging.getLogger(f"hypercare.{service}.broker"),
        log_level=logging.DEBUG,
        **options,
    )


class BatchPublisher:
    """Publishes keyed messages without waiting on each, then confirms them all at once.

    Offsets must only be committed after :meth:`flush` returned: that is what makes processing
    at-least-once.
    """

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker
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


async def keep_raw_bytes(message: StreamMessage[Any]) -> Any:
    """A subscriber decoder that leaves bodies as bytes.

    FastStream would otherwise parse JSON itself, before the handler can bound its size or depth; the
    services parse with their own limits and dead-letter what fails.
    """
    return message.body
