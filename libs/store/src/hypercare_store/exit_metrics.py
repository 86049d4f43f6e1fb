"""Exit readiness as Prometheus gauges, recomputed from the issue store on a timer.

The triage service owns the timer: it builds one :class:`ExitReadinessCollector` on its registry and calls
:func:`refresh_exit_metrics` periodically. Until the first refresh nothing is exported (an absent series
rather than a made-up verdict); after a failed refresh the last verdict stays.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

import asyncpg
from hypercare_domain.exit import ExitPolicy, ExitVerdict, evaluate_exit
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hypercare_store.exit_facts import gather_exit_facts

READY = "hypercare_exit_ready"
CRITERION_MET = "hypercare_exit_criterion_met"
CRITERION_VALUE = "hypercare_exit_criterion_value"
CRITERION_THRESHOLD = "hypercare_exit_criterion_threshold"


class ExitReadinessCollector(Collector):
    """Exports the latest :class:`ExitVerdict`: ready 0/1 and, per criterion, met 0/1, value and threshold."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._verdict: ExitVerdict | None = None
        if registry is not None:
            registry.register(self)

    @property
    def verdict(self) -> ExitVerdict | None:
        """The verdict exported now, ``None`` before the first update."""
        return self._verdict

    def update(self, verdict: ExitVerdict) -> None:
        """Export ``verdict`` from now on."""
        self._verdict = verdict

    def describe(self) -> Iterable[Metric]:
        """The metric families this collector exports (without samples), for registration."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """The gauges of the latest verdict; nothing before the first update."""
        verdict = self._verdict
        if verdict is None:
            return []
        ready, met, value, threshold = self._families()
        ready.add_metric([], 1.0 if verdict.ready else 0.0)
        for result in verdict.criteria:
            labels = [result.criterion.value]
            met.add_metric(labels, 1.0 if result.met else 0.0)
            value.add_metric(labels, result.value)
            threshold.add_metric(labels, result.threshold)
        return [ready, met, value, threshold]

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(READY, "1 when every exit criterion is met, else 0."),
            GaugeMetricFamily(
                CRITERION_MET, "1 when the exit criterion is met, else 0.", labels=["criterion"]
            ),
            GaugeMetricFamily(
                CRITERION_VALUE,
                "The measured value of the exit criterion (count, ratio or slope per day).",
                labels=["criterion"],
            ),
            GaugeMetricFamily(
                CRITERION_THRESHOLD,
                "The threshold the criterion's value is compared with.",
                labels=["criterion"],
            ),
        ]


async def refresh_exit_metrics(
    pool: asyncpg.Pool,
    collector: ExitReadinessCollector,
    policy: ExitPolicy,
    *,
    now: datetime | None = None,
) -> ExitVerdict:
    """Gather the facts, evaluate them and export the verdict through ``collector``.

    Args:
        pool: a pool on the issue store.
        collector: the collector registered on the service's registry.
        policy: the exit thresholds (``load_exit_policy(settings.resolved_policy_dir())``).
        now: the evaluation instant; the current time when ``None``.

    Returns:
        The new verdict (also exported).

    Raises:
        asyncpg.PostgresError: a query failed; the collector keeps exporting the previous verdict.
    """
    as_of = now if now is not None else datetime.now(UTC)
    verdict = evaluate_exit(await gather_exit_facts(pool, policy, as_of=as_of), policy)
    collector.update(verdict)
    return verdict
