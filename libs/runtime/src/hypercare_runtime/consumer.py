"""An aiokafka consumer that goes on past a record whose header name is not UTF-8.

aiokafka decodes header names while it reads a fetched batch, and one that is not UTF-8 raises
``UnicodeDecodeError`` out of ``getmany``/``getone``, before FastStream or a parser sees the record.
The fetch position stays before the record, so every poll after fails the same way: the partition is
stuck for good, and the records fetched with it (before it, in the same fetch) are never handed over.
FastStream's consume task dies on each and is restarted at once, about 2,000 times a second.

:class:`HeaderSafeConsumer` reads such a fetch again with :class:`~hypercare_runtime.records.
LenientMemoryRecords`, from where aiokafka stopped, and sets the records it finds aside: they are handed
to its ``unreadable`` handler (which sends them to the dead-letter topic) before the records around them
are returned, each once per consumer however often it is fetched again (:class:`SetAside`). Nothing is
patched globally: each consumer guards its own fetcher as the fetcher is made, and a record that
aiokafka reads costs one generator hop.

The hooks use aiokafka's fetcher internals (0.14: ``Fetcher._client``, ``Fetcher._records``,
``FetchResult``, ``PartitionRecords``); ``tests/unit/test_runtime_headers.py`` runs them on aiokafka's
own classes.
"""

import collections
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
from aiokafka.errors import CorruptRecordException, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from hypercare_runtime.records import LenientMemoryRecords, undecodable_header_names

UnreadableHandler = Callable[[Sequence[ConsumerRecord[Any, Any]]], Awaitable[None]]
"""Takes records a consumer set aside (one at a time); returns once they are safe (acknowledged by
Kafka), or raises and they are fetched again."""

_FETCH = 1
"""Kafka's API key of a fetch request."""


class DeadLetteringError(KafkaError):  # type: ignore[misc]  # aiokafka ships no types
    """Dead-lettering records set aside failed on an error that is not Kafka's (its ``__cause__``).

    A :class:`~aiokafka.errors.KafkaError`, so that FastStream's consume loop logs it and waits 5 s
    before polling again, as it does for Kafka's own errors. Any other exception out of ``getmany``
    ends FastStream's consume task, which FastStream restarts at once: the records, fetched again,
    failed again milliseconds later, for as long as the defect lasted.
    """


class SetAside:
    """The records a consumer's fetcher flagged, until its ``unreadable`` handler has taken them.

    A record is handed to the handler once per consumer, however often it is fetched again: a batch
    rewound by its service (a failed write, a nack), or by :meth:`take` itself, reads it again. Offsets
    only grow, so the highest offset handed over per partition is all that is kept.
    """

    def __init__(
        self,
        handler: UnreadableHandler,
        *,
        rewind: Callable[[Iterable[ConsumerRecord[Any, Any]]], None],
    ) -> None:
        """``rewind`` seeks the consumer back to the earliest of the records it is given."""
        self._handler = handler
        self._rewind = rewind
        self._flagged: list[ConsumerRecord[Any, Any]] = []
        self._handed_up_to: dict[TopicPartition, int] = {}

    def flag(self, record: ConsumerRecord[Any, Any]) -> None:
        """Set ``record`` aside (the fetcher's hook, as it reads it)."""
        self._flagged.append(record)

    def __bool__(self) -> bool:
        return bool(self._flagged)

    async def take(self, returned: Iterable[ConsumerRecord[Any, Any]]) -> set[int]:
        """Hand the records flagged so far, in order, to the handler, but those it already took; the
        ids of all of them, which the caller leaves out of the ``returned`` records.

        Raises:
            DeadLetteringError: the handler raised an error that is not Kafka's (a Kafka error
                propagates as it is). Either way, every flagged and ``returned`` record is fetched again.
        """
        flagged = self._flagged.copy()
        self._flagged.clear()
        try:
            for record in flagged:
                tp = TopicPartition(record.topic, record.partition)
                if record.offset > self._handed_up_to.get(tp, -1):
                    await self._handler((record,))
                    self._handed_up_to[tp] = record.offset
        except BaseException as exc:
            self._rewind([*flagged, *returned])
            if isinstance(exc, Exception) and not isinstance(exc, KafkaError):
                raise DeadLetteringError(f"dead-lettering an unreadable record: {exc!r}") from exc
            raise
        return {id(record) for record in flagged}


class HeaderSafeConsumer(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka ships no types
    """An :class:`~aiokafka.AIOKafkaConsumer` whose ``getmany`` and ``getone`` never return a record with
    a header name that is not UTF-8, nor fail on one: such records go to ``unreadable`` first, once.

    At-least-once: the records are returned only once ``unreadable`` returned; if it raises, every record
    of the call is fetched again (the consumer seeks back) and the exception propagates, as
    :class:`DeadLetteringError` if it is not a Kafka error.
    """

    def __init__(self, *topics: str, unreadable: UnreadableHandler, **options: Any) -> None:
        """``options`` are :class:`~aiokafka.AIOKafkaConsumer`'s."""
        self._set_aside = SetAside(unreadable, rewind=self._rewind)
        self._guarded_fetcher: Any = None
        super().__init__(*topics, **options)

    @property
    def _fetcher(self) -> Any:
        return self._guarded_fetcher

    @_fetcher.setter
    def _fetcher(self, fetcher: Any) -> None:
        # ``start`` makes the fetcher; guarded here, before its first fetch can run.
        if fetcher is not None:
            guard_fetcher(fetcher, self._set_aside.flag)
        self._guarded_fetcher = fetcher

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        """:meth:`AIOKafkaConsumer.getmany`, without the records set aside."""
        fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = await super().getmany(
            *partitions, timeout_ms=timeout_ms, max_records=max_records
        )
        if not self._set_aside:
            return fetched
        unreadable = await self._set_aside.take(record for records in fetched.values() for record in records)
        kept = {tp: [r for r in records if id(r) not in unreadable] for tp, records in fetched.items()}
        return {tp: records for tp, records in kept.items() if records}

    async def getone(self, *partitions: TopicPartition) -> ConsumerRecord[Any, Any]:
        """:meth:`AIOKafkaConsumer.getone`, skipping the records set aside."""
        while True:
            record: ConsumerRecord[Any, Any] = await super().getone(*partitions)
            if not self._set_aside:
                return record
            if id(record) not in await self._set_aside.take((record,)):
                return record

    def _rewind(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        seek_back(self, records)


def seek_back(consumer: AIOKafkaConsumer, records: Iterable[Any]) -> None:
    """Make ``consumer`` fetch ``records`` again: it seeks each partition it still owns back to the
    earliest of them (records of a partition it lost are the new owner's)."""
    earliest: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        earliest[tp] = min(record.offset, earliest.get(tp, record.offset))
    assigned = consumer.assignment()
    for tp, offset in earliest.items():
        if tp in assigned:
            consumer.seek(tp, offset)


def guard_fetcher(fetcher: Any, flag: Callable[[ConsumerRecord[Any, Any]], None]) -> None:
    """Make an aiokafka ``Fetcher`` read a fetched message set again, leniently, where aiokafka fails on
    a header name, and ``flag`` each record read that has such a name.

    Two hooks, both per fetch, not per record: the fetcher's client keeps the message sets of the fetch
    response being handled (:class:`_KeepsMessageSets`), and each partition's records, as the fetcher
    stores them, get :func:`_guarded` around their iterator (:class:`_GuardedResults`).
    """
    client = _KeepsMessageSets(fetcher._client)
    fetcher._client = client
    fetcher._records = _GuardedResults(client, flag)


class _KeepsMessageSets:
    """The fetcher's client, keeping each partition's bytes of the fetch response being handled.

    The fetcher reads a response right after it arrives, without awaiting anything in between, and
    :class:`_GuardedResults` takes the bytes of each partition it stores: nothing is kept past that but
    what a response held for partitions without records (nothing, or a record too large to fetch).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.message_sets: dict[tuple[str, int], bytes] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def send(self, node_id: int, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = await self._client.send(node_id, request, *args, **kwargs)
        if request.API_KEY == _FETCH:
            # Keyed by (topic, partition): a TopicPartition (a named tuple) finds the same entry.
            self.message_sets = {
                (topic, data[0]): data[-1] for topic, partitions in response.topics for data in partitions
            }
        return response


class _GuardedResults(collections.OrderedDict[TopicPartition, Any]):
    """The fetcher's buffered results, whose records are read through :func:`_guarded`."""

    def __init__(self, client: _KeepsMessageSets, flag: Callable[[ConsumerRecord[Any, Any]], None]) -> None:
        super().__init__()
        self._client = client
        self._flag = flag

    def __setitem__(self, tp: TopicPartition, result: Any) -> None:
        message_set = self._client.message_sets.pop(tp, None)
        if message_set is not None and type(result) is FetchResult:  # not an error stored for it
            records = result._partition_records
            records._records_iterator = _guarded(records, records._records_iterator, message_set, self._flag)
        super().__setitem__(tp, result)


def _guarded(
    records: Any,
    unpacked: Iterator[Any],
    message_set: bytes,
    flag: Callable[[ConsumerRecord[Any, Any]], None],
) -> Iterator[Any]:
    """aiokafka's records of one fetched partition; from a header name aiokafka cannot decode on, the
    same records read by :class:`LenientMemoryRecords`, keeping ``records.next_fetch_offset`` (where
    aiokafka's position goes) as aiokafka's own reading would."""
    try:
        yield from unpacked
    except UnicodeDecodeError:  # aiokafka's compiled reader
        pass
    except CorruptRecordException as exc:
        # Its pure-Python reader (AIOKAFKA_NO_EXTENSIONS=1, or no wheel) wraps the same error.
        if not isinstance(exc.__cause__ or exc.__context__, UnicodeDecodeError):
            raise
    else:
        return
    # aiokafka's reading ended at the record it failed on: every record before it was handed over.
    start = records.next_fetch_offset
    lenient = PartitionRecords(
        records._tp,
        LenientMemoryRecords(message_set, from_offset=start),
        None,
        start,
        records._key_deserializer,
        records._value_deserializer,
        records._check_crcs,
        records._isolation_level,
    )
    # Transactions aiokafka read up to there (read_committed), as they stood.
    lenient._aborted_transactions = records._aborted_transactions
    lenient._aborted_producers = records._aborted_producers
    for record in lenient:
        records.next_fetch_offset = lenient.next_fetch_offset
        if undecodable_header_names(record.headers):
            flag(record)
        yield record
    records.next_fetch_offset = lenient.next_fetch_offset
