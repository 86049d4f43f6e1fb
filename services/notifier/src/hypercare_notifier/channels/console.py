"""Console: one readable block per notification on standard output, coloured on a terminal."""

from __future__ import annotations

import time
from typing import Literal, TextIO

from hypercare_contracts.common import Severity
from hypercare_domain.notify.formats import impact_line, reach_line, reason_lines, route_line, sla_line
from hypercare_domain.notify.render import RenderedNotification
from hypercare_domain.notify.retry import ErrorKind

from hypercare_notifier.channels.base import Attempt, Clock

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_COLOURS = {
    Severity.CRITICAL: "\033[1;31m",
    Severity.HIGH: "\033[31m",
    Severity.MEDIUM: "\033[33m",
    Severity.LOW: "\033[36m",
}

ColorMode = Literal["auto", "always", "never"]


def console_block(note: RenderedNotification, *, color: bool) -> str:
    """The block printed for one notification: a title line, then indented detail lines."""
    paint = _COLOURS[note.severity] if color else ""
    bold, dim, reset = (_BOLD, _DIM, _RESET) if color else ("", "", "")
    head = f"{paint}{bold}▶ {note.title}{reset}  {dim}{note.kind.value} · {note.urgency.value}{reset}"
    details = [note.headline]
    details.extend(line for line in (impact_line(note), reach_line(note), sla_line(note)) if line)
    details.append(f"route {route_line(note)}")
    details.extend(f"why {reason}" for reason in reason_lines(note))
    details.extend(f"[{e.severity.value}] {e.title} ({e.issue_id})" for e in note.digest)
    if note.acknowledge_url:
        details.append(f"ack {note.acknowledge_url}")
    if note.resolve_url:
        details.append(f"resolve {note.resolve_url}")
    return "\n".join([head, *(f"  {line}" for line in details)]) + "\n"


class ConsoleChannel:
    """Writes :func:`console_block` to a text stream (stdout in the service)."""

    def __init__(
        self, *, name: str, stream: TextIO, color: ColorMode = "auto", clock: Clock = time.monotonic
    ) -> None:
        self._name = name
        self._stream = stream
        self._color = color == "always" or (color == "auto" and stream.isatty())
        self._clock = clock

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    async def send(self, note: RenderedNotification, *, idempotency_key: str) -> Attempt:
        """Print the block once; a closed or broken stream is a connection error."""
        started = self._clock()
        try:
            self._stream.write(console_block(note, color=self._color))
            self._stream.flush()
        except (OSError, ValueError) as exc:  # a broken pipe, or a closed stream
            return Attempt(
                error=ErrorKind.CONNECTION, detail=type(exc).__name__, elapsed=self._clock() - started
            )
        return Attempt(elapsed=self._clock() - started)
