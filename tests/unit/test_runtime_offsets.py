"""Offsets of manual-ack batches: committed after their output was acknowledged, rewound when it failed."""

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.structs import TopicPartition
from hypercare_runtime.kafka import OffsetCommitter

pytestmark = pytest.mark.unit

A0, A1 = TopicPartition("t", 0), TopicPartition("t", 1)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int


@dataclass
class FakeConsumer:
    """The three calls the committer makes, recorded."""

    assigned: set[TopicPartition] = field(default_factory=lambda: {A0, A1})
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


def batch(partition: int, *offsets: int) -> tuple[Record, ...]:
    return tuple(Record("t", partition, offset) for offset in offsets)


def committer_for(consumer: FakeConsumer) -> OffsetCommitter:
    fake: Any = consumer
    return OffsetCommitter(lambda: fake, interval_s=0)


async def test_offsets_are_committed_past_a_batch_whose_output_was_acknowledged() -> None:
    consumer = FakeConsumer()
    committer = committer_for(consumer)

    with committer.settle(batch(0, 10, 11)):
        pass
    with committer.settle((*batch(0, 12), *batch(1, 4))):
        pass
    await committer.close()

    assert consumer.seeks == []
    assert {p: max(c.get(p, 0) for c in consumer.commits) for p in (A0, A1)} == {A0: 13, A1: 5}


async def test_a_batch_whose_output_failed_is_fetched_again_and_not_committed() -> None:
    consumer = FakeConsumer()
    committer = committer_for(consumer)

    with (
        pytest.raises(OSError, match="broker went away"),
        committer.settle((*batch(0, 12, 13), *batch(1, 5))),
    ):
        raise OSError("broker went away")
    await committer.close()

    assert consumer.commits == []
    assert sorted(consumer.seeks) == [(A0, 12), (A1, 5)]


async def test_partitions_no_longer_assigned_are_neither_committed_nor_rewound() -> None:
    consumer = FakeConsumer(assigned={A0})
    committer = committer_for(consumer)

    with committer.settle((*batch(0, 1), *batch(1, 1))):
        pass
    with pytest.raises(ValueError, match="bad"), committer.settle(batch(1, 2)):
        raise ValueError("bad")
    await committer.close()

    assert all(A1 not in commit for commit in consumer.commits)
    assert consumer.seeks == []


async def test_a_batch_handed_over_after_close_is_committed_by_closing_again() -> None:
    consumer = FakeConsumer()
    committer = committer_for(consumer)
    with committer.settle(batch(0, 10)):
        pass
    await committer.close()

    with committer.settle(batch(0, 11)):  # a handler that finished after the first close
        pass
    await committer.close()

    assert consumer.commits[-1] == {A0: 12}
