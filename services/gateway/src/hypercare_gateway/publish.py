"""Publishing one raw message and waiting for Kafka's acknowledgement, within a deadline."""

import asyncio
from collections.abc import Mapping

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from hypercare_contracts import ErrorClass

from hypercare_gateway.errors import GatewayError
from hypercare_gateway.metrics import GatewayMetrics


class RawPublisher:
    """Writes a raw message with ``acks=all`` and returns only once Kafka acknowledged it."""

    def __init__(
        self,
        broker: KafkaBroker,
        *,
        timeout_seconds: float,
        retry_after_seconds: int,
        metrics: GatewayMetrics,
    ) -> None:
        self._broker = broker
        self._timeout = timeout_seconds
        self._retry_after = str(retry_after_seconds)
        self._metrics = metrics

    async def publish(self, topic: str, body: bytes, *, key: str | None, headers: Mapping[str, str]) -> None:
        """Publish and wait for the acknowledgement.

        A write that times out may still land later; the sender retries on 503, and a retried item carries
        the same key and dedup identity, so the normalizer and the deduplication downstream absorb the
        duplicate (at-least-once).

        Raises:
            GatewayError: 503 ``delivery_failed`` when Kafka does not acknowledge in time or refuses.
        """
        try:
            async with asyncio.timeout(self._timeout):
                await self._broker.publish(
                    body,
                    topic,
                    key=key.encode("utf-8") if key is not None else None,
                    headers=dict(headers),
                )
        except TimeoutError:
            raise self._unavailable(
                f"Kafka did not acknowledge the write within {self._timeout:g}s"
            ) from None
        except KafkaError as exc:
            raise self._unavailable(f"Kafka refused the write ({type(exc).__name__})") from exc
        self._metrics.count_produced(topic)

    def _unavailable(self, reason: str) -> GatewayError:
        return GatewayError(
            503,
            ErrorClass.DELIVERY_FAILED.value,
            f"{reason}; the event is not confirmed, retry it",
            headers={"Retry-After": self._retry_after},
        )
