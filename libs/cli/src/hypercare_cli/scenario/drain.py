"""When the pipeline has finished with a run: its consumers caught up and its outputs went quiet."""

from collections.abc import Mapping
from dataclasses import dataclass

Partition = tuple[str, int]
"""A (topic, partition) pair."""
GroupOffsets = Mapping[str, Mapping[Partition, int]]
"""Consumer group -> the committed offset of each watched partition it has one for."""


@dataclass(frozen=True)
class Lag:
    """Which live consumer groups are behind, and which groups were left out as idle."""

    behind: dict[str, int]
    """Group -> records it still has to read of the watched partitions (only groups that are behind)."""
    idle: tuple[str, ...]
    """Groups behind since before the run that have not committed anything since."""


def pipeline_lag(
    *,
    at_start: GroupOffsets,
    start_ends: Mapping[Partition, int],
    now: GroupOffsets,
    end_offsets: Mapping[Partition, int],
) -> Lag:
    """How many records each live consumer group still has to read of the watched partitions.

    A group that was already behind when the run started and has not committed anything since is taken
    for a stopped or retired consumer (an old service name, a crashed tool) and left out: waiting for it
    would only burn the deadline. A group that first appears during the run counts.

    Args:
        at_start: committed offsets when the run started.
        start_ends: the log-end offsets when the run started.
        now: committed offsets now.
        end_offsets: the log-end offset of every watched partition now.
    """
    behind: dict[str, int] = {}
    idle: list[str] = []
    for group, offsets in sorted(now.items()):
        before = at_start.get(group, {})
        behind_before = any(before[p] < end for p, end in start_ends.items() if p in before)
        if before and behind_before and dict(before) == dict(offsets):
            idle.append(group)
            continue
        missing = sum(max(end - offsets[p], 0) for p, end in end_offsets.items() if p in offsets)
        if missing:
            behind[group] = missing
    return Lag(behind=behind, idle=tuple(idle))


@dataclass(frozen=True)
class DrainCheck:
    """One look at the pipeline while waiting for it."""

    lag: Mapping[str, int]
    quiet_seconds: float
    """Seconds since the last record arrived on an output topic (or since publishing ended)."""


def is_drained(check: DrainCheck, *, settle_seconds: float) -> bool:
    """Drained when no live group is behind and the outputs were quiet for ``settle_seconds``."""
    return not check.lag and check.quiet_seconds >= settle_seconds
