"""What the notifier's background loops (claims, lease renewal, digest planning) do when one round fails.

Nothing restarts a background task that ended, so a loop must outlive the failures of one round: a
database or Kafka failure (a reset connection, a timeout) is logged as a warning and the round is tried
again after a wait that doubles with each failure in a row, up to a bound; a defect of the code
(:func:`~hypercare_runtime.deadletter.is_defect`) is logged with its traceback and treated the same,
so one bad round does not stop the deliveries for good. Cancellation is not an ``Exception`` and ends
the loop at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypercare_runtime.deadletter import is_defect
from hypercare_runtime.logging import get_logger
from prometheus_client import Counter

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits after failed rounds in a row: ``first`` seconds, doubled after each failure, at most ``most``."""

    first: float = 0.5
    most: float = 10.0

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failed round in a row (1 for the first)."""
        return min(self.most, self.first * 2.0 ** min(max(failures - 1, 0), 32))


DEFAULT_BACKOFF = Backoff()
"""0.5 s, 1 s, 2 s, ... up to 10 s: quick to resume after a blip, gentle on a database that is down."""


class Failures:
    """The failed rounds in a row of one loop: each is logged, counted (``counter``, labelled with the
    loop and ``defect`` or ``surroundings``) and says how long to wait before the next."""

    def __init__(self, loop: str, backoff: Backoff, counter: Counter | None = None) -> None:
        self._loop = loop
        self._backoff = backoff
        self._counter = counter
        self._count = 0

    def failed(self, exc: Exception) -> float:
        """Log a failed round (call it in the ``except`` block); returns the seconds to wait."""
        self._count += 1
        delay = self._backoff.delay(self._count)
        defect = is_defect(exc)
        if self._counter is not None:
            self._counter.labels(self._loop, "defect" if defect else "surroundings").inc()
        if defect:
            log.exception(
                "loop.defect", loop=self._loop, error=type(exc).__name__, failures=self._count, retry_in=delay
            )
        else:
            log.warning(
                "loop.failed",
                loop=self._loop,
                error=type(exc).__name__,
                detail=str(exc)[:200],
                failures=self._count,
                retry_in=delay,
            )
        return delay

    def succeeded(self) -> None:
        """A round went through: the next failure waits ``first`` again."""
        if self._count:
            log.info("loop.recovered", loop=self._loop, failures=self._count)
        self._count = 0
