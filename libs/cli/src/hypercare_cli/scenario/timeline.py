"""Playing a scenario in real time: each message at its moment, one progress line per beat."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from hypercare_cli.scenario.model import Message, Scenario


@dataclass(frozen=True)
class Delivery:
    """What became of one message: accepted, or refused with a short reason (an HTTP status)."""

    accepted: bool
    status: str = ""


class Sink(Protocol):
    """Where the messages go: Kafka directly, or the HTTP gateway."""

    async def send(self, message: Message) -> Delivery:
        """Send one message and wait for the other side to confirm or refuse it."""
        ...


@dataclass(frozen=True)
class Played:
    """Every message sent, and what each delivery said, in send order."""

    sent: tuple[Message, ...]
    deliveries: tuple[Delivery, ...]

    def rejections(self) -> dict[str, int]:
        """Refusal status -> count."""
        counts: dict[str, int] = {}
        for delivery in self.deliveries:
            if not delivery.accepted:
                counts[delivery.status] = counts.get(delivery.status, 0) + 1
        return counts


async def play(
    scenario: Scenario,
    sink: Sink,
    *,
    progress: Callable[[str], None],
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> Played:
    """Send every message of ``scenario`` at its time (relative to the first call of ``clock``).

    The progress line of a beat is printed just before its first message. A message that is late
    (the sink was slow) goes out at once; the schedule is not shifted, so one slow send does not
    stretch the day.

    Args:
        scenario: what to play.
        sink: where messages go.
        progress: receives one line per beat and one per refused message.
        clock: monotonic seconds.
        sleep: awaited to wait until a message's time.
    """
    beat_of = {id(m): beat for beat in scenario.beats for m in beat.messages}
    announced: set[int] = set()
    start = clock()
    sent: list[Message] = []
    deliveries: list[Delivery] = []
    for message in scenario.messages:
        delay = start + message.at - clock()
        if delay > 0:
            await sleep(delay)
        beat = beat_of[id(message)]
        if id(beat) not in announced:
            announced.add(id(beat))
            progress(f"+{clock() - start:5.1f}s  {beat.title}")
        delivery = await sink.send(message)
        sent.append(message)
        deliveries.append(delivery)
        if not delivery.accepted:
            expected = " (expected: it is deliberately bad)" if message.deliberately_bad else ""
            progress(f"        refused {message.kind} on {message.gateway_path}: {delivery.status}{expected}")
    return Played(tuple(sent), tuple(deliveries))
