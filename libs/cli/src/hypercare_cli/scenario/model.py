"""What a scenario is made of: messages on raw topics, grouped into beats that each print one line."""

from dataclasses import dataclass
from datetime import datetime

from hypercare_contracts import Source
from hypercare_contracts.topics import RAW_ALERTS, RAW_FEEDBACK, RAW_SOCIAL, RAW_TICKETS

SOURCE_OF_TOPIC: dict[str, Source] = {
    RAW_ALERTS: Source.ALERTS,
    RAW_TICKETS: Source.TICKETS,
    RAW_FEEDBACK: Source.FEEDBACK,
    RAW_SOCIAL: Source.SOCIAL,
}
"""The contract raw topic of each source."""


@dataclass(frozen=True)
class Message:
    """One raw message as it is sent: the exact bytes, the topic, and where the gateway takes it.

    Attributes:
        at: seconds after the start of the scenario, on the wall clock (speed already applied).
        topic: the contract raw topic (``hypercare.raw.*``); renamed only when sent.
        key: the Kafka key the gateway would use for the item, if it has one.
        value: the body, byte for byte.
        kind: the payload's format (``alertmanager``, ``zendesk`` ...) or ``invalid_json`` / ``oversize``.
        gateway_path: the gateway endpoint that accepts this format.
        deliberately_bad: sent to show the dead-letter path; the pipeline must refuse it.
    """

    at: float
    topic: str
    key: str | None
    value: bytes
    kind: str
    gateway_path: str
    deliberately_bad: bool = False

    @property
    def source(self) -> Source:
        """The source channel of the topic."""
        return SOURCE_OF_TOPIC[self.topic]


@dataclass(frozen=True)
class Beat:
    """One moment of the story: a progress line and the messages it sends."""

    title: str
    messages: tuple[Message, ...]

    @property
    def at(self) -> float:
        """When the beat starts: its first message."""
        return min(m.at for m in self.messages)


@dataclass(frozen=True)
class Scenario:
    """A whole scripted launch day, ready to play.

    Attributes:
        seed: the seed that chose wordings, reporters and jitter.
        run_id: a short id inside every item id, so a re-run is new traffic rather than a replay.
        started_at: wall-clock start; every payload timestamp is ``started_at + message.at``.
        duration: the story's length in seconds at speed 1.
        speed: playback factor (2 plays the day in half the time).
        beats: the beats in time order.
    """

    seed: int
    run_id: str
    started_at: datetime
    duration: float
    speed: float
    beats: tuple[Beat, ...]

    @property
    def messages(self) -> list[Message]:
        """Every message in send order (by time, then by beat order)."""
        return sorted((m for beat in self.beats for m in beat.messages), key=lambda m: m.at)

    @property
    def wall_seconds(self) -> float:
        """How long playing takes on the wall clock."""
        return self.duration / self.speed
