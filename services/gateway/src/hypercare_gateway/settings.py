"""Gateway settings (``HYPERCARE_`` environment variables)."""

from typing import Literal

from hypercare_contracts import topics
from hypercare_runtime.settings import ServiceSettings
from pydantic import BaseModel, ConfigDict, Field, SecretStr

Scope = Literal["alerts", "tickets", "feedback", "social"]
"""What a producer may post: one scope per raw topic."""


class ProducerKey(BaseModel):
    """One producer's API key, stored only as the SHA-256 of the token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the bearer token")
    scopes: frozenset[Scope] = Field(min_length=1)


class GatewaySettings(ServiceSettings):
    """What the gateway listens on, where it publishes and what it accepts.

    ``gateway_api_keys`` unset means local development mode: no authentication (a warning is logged).
    """

    http_port: int = 8080

    gateway_api_keys: dict[str, ProducerKey] | None = None
    """``HYPERCARE_GATEWAY_API_KEYS``: JSON ``{"<producer>": {"token_sha256": ..., "scopes": [...]}}``."""
    zendesk_webhook_secret: SecretStr | None = None
    """``HYPERCARE_ZENDESK_WEBHOOK_SECRET``: when set, Zendesk webhook signatures are verified."""

    gateway_max_body_bytes: int = Field(default=256 * 1024, gt=0)
    gateway_max_depth: int = Field(default=32, gt=0)
    gateway_max_inflight: int = Field(default=256, ge=0)
    gateway_publish_timeout_seconds: float = Field(default=5.0, gt=0)
    gateway_retry_after_seconds: int = Field(default=1, ge=1)

    raw_alerts_topic: str = topics.RAW_ALERTS
    raw_tickets_topic: str = topics.RAW_TICKETS
    raw_feedback_topic: str = topics.RAW_FEEDBACK
    raw_social_topic: str = topics.RAW_SOCIAL

    def topic_for(self, scope: Scope) -> str:
        """The raw topic that carries a scope's messages."""
        return {
            "alerts": self.raw_alerts_topic,
            "tickets": self.raw_tickets_topic,
            "feedback": self.raw_feedback_topic,
            "social": self.raw_social_topic,
        }[scope]
