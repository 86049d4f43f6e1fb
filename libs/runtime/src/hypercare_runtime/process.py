"""Process-wide tuning applied once, when a service has built itself and before it starts consuming."""

import gc
import resource
import time
import weakref
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram


def tune_garbage_collector(threshold: int) -> None:
    """Run Python's cycle collector less often, and never again over what start-up loaded.

    The services allocate many short-lived objects per message (parsed models, dicts, tuples); nearly all
    are freed by reference counting, yet with the interpreter's default (a young-generation collection
    every 700 net allocations) cycle collection took about a fifth of triage's CPU (`python -m
    bench.domain`: 475 µs per report by default, 397 µs with 10,000, 357 µs with no collection at
    all). ``gc.freeze()`` moves the policies, lexicons and modules loaded at start-up out of every
    later collection. Cycles are still collected, just in larger steps.

    Args:
        threshold: the young-generation threshold; 0 or less leaves the interpreter's defaults alone.
    """
    if threshold <= 0:
        return
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(threshold, middle, oldest)


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class BatchCollector:
    """Keeps cycle collection from pausing a batch over the state a service holds between batches.

    The triage service holds ~100 hot issue states (tuples of a thousand keys, hundreds of models),
    and every batch replaces some of them. A young-generation collection traverses what the young
    objects reference, so each one took 5-50 ms, finding no garbage at all (``bench.domain``-like
    runs: ``collected=0``), and landed inside whichever batch crossed the threshold: it was the p50 of
    triage's pauses at 1,000 reports/s.

    After each batch, :meth:`after_batch` freezes what is alive (``gc.freeze()``, constant time): later
    collections only look at objects allocated since, so one inside a batch is short. Cycles frozen
    while alive that die later wait for a full collection: everything is unfrozen and collected once,
    between two batches, when the peak resident memory grew by ``full_after_growth_mib`` since the last
    one (garbage piling up), and at least every ``full_every_s`` seconds. A full collection over
    triage's state pauses it for 100-160 ms and finds a few dozen objects a minute, so it is not run on
    a short clock: at 1,000 reports/s, one a minute delayed some 150 reports a minute by up to that.
    """

    def __init__(
        self,
        *,
        full_every_s: float = 900.0,
        full_after_growth_mib: float = 64.0,
        peak_mib: Callable[[], float] = peak_rss_mib,
    ) -> None:
        """Collect everything at least every ``full_every_s`` seconds (0: after every batch), and
        whenever ``peak_mib()`` (the peak resident memory) grew by ``full_after_growth_mib`` since."""
        self._full_every_s = full_every_s
        self._growth_mib = full_after_growth_mib
        self._peak_mib = peak_mib
        self._last_full = time.monotonic()
        self._peak_at_full = peak_mib()

    def after_batch(self) -> None:
        """Call when a batch is done: freeze, or collect everything first when it is time."""
        now = time.monotonic()
        peak = self._peak_mib()
        if now - self._last_full >= self._full_every_s or peak - self._peak_at_full >= self._growth_mib:
            gc.unfreeze()
            gc.collect()
            self._last_full, self._peak_at_full = now, peak
        gc.freeze()


_pauses: Histogram | None = None
_histograms: "weakref.WeakKeyDictionary[CollectorRegistry, Histogram]" = weakref.WeakKeyDictionary()


def _on_collection(phase: str, info: dict[str, int], started: list[float] = [0.0]) -> None:  # noqa: B006
    # The default list is the callback's one slot of state: when the running collection started.
    if phase == "start":
        started[0] = time.perf_counter()
    elif _pauses is not None:
        _pauses.labels(str(info["generation"])).observe(time.perf_counter() - started[0])


def time_gc_pauses(registry: CollectorRegistry) -> None:
    """Export how long each cycle collection paused the process, as ``hypercare_gc_pause_seconds``.

    Collections stop the event loop: a full one over a large heap (the issue states triage keeps) can
    take longer than a batch. The callback is process-wide and installed once; it observes into the
    histogram of the latest registry given (one service per process; tests build many).
    """
    global _pauses  # noqa: PLW0603 - one callback per process, feeding the current registry
    histogram = _histograms.get(registry)
    if histogram is None:
        histogram = _histograms[registry] = Histogram(
            "hypercare_gc_pause_seconds",
            "Time the process was paused by one cycle collection, by generation collected.",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
    _pauses = histogram
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)
