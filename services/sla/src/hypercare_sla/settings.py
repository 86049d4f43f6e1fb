"""SLA service settings (``HYPERCARE_`` environment variables)."""

import os
import socket
from typing import Annotated

from hypercare_contracts import topics
from hypercare_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SlaSettings(ServiceSettings):
    """What the SLA service listens on, reads, writes and how its scheduler behaves.

    ``api_tokens`` unset means local development mode: the HTTP API accepts anyone (a warning is logged).
    ``action_secret`` unset means signed action links are refused with 503.
    """

    http_port: int = 8081
    group_id: str = "hypercare-sla"

    triaged_topic: str = topics.ISSUES_TRIAGED
    lifecycle_topic: str = topics.ISSUES_LIFECYCLE
    sla_events_topic: str = topics.SLA_EVENTS
    deadletter_topic: str = topics.DEADLETTER

    api_tokens: dict[str, Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]] | None = None
    """``HYPERCARE_API_TOKENS``: JSON ``{"<user>": "<hex sha256 of the bearer token>"}``."""
    action_secret: SecretStr | None = None
    """``HYPERCARE_ACTION_SECRET``: the HMAC secret of the signed action links in notifications."""

    instance_id: str = Field(default_factory=_instance_id)
    """Names this process's milestone claims (``claimed_by``)."""
    scheduler_lease_seconds: float = Field(default=30.0, gt=0)
    """How long a claim on due milestones lasts; a crashed instance's claims are taken over after it."""
    scheduler_batch: int = Field(default=100, gt=0)
    scheduler_max_sleep_seconds: float = Field(default=1.0, gt=0)
    """The longest the scheduler sleeps without looking at the database (other instances plan too)."""
    scheduler_retry_seconds: float = Field(default=1.0, gt=0)
    """Pause after a database or Kafka failure before the scheduler tries again."""
    clock_skew_seconds: float = Field(default=5.0, ge=0)
    """``HYPERCARE_CLOCK_SKEW_SECONDS``: how far the clocks of other systems may be from this one. A dated
    command (a Kafka command with ``at``, the source action of a triage decision published after a later
    one) is refused as ``overtaken`` only if it was made more than this before the change it would undo."""
