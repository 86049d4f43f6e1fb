"""``hypercare dead-letters``: list the dead-letter topic, and redrive what was fixed.

``list`` reads the topic from its start to its end as of the command's start, and prints one line per
dead letter (or one JSON document per line). ``redrive`` sends the selected dead letters' original
messages back to the topics they came from, with their key and headers, once their cause is fixed (a
normalizer that now knows the format, a database rule relaxed, a service's defect mended). Nothing is
removed from the dead-letter topic, and the services skip what they already processed (reports by event
id, decisions by id, deliveries by key), so redriving a message twice changes nothing the second time.

Exit codes: 0 done; 1 some selected dead letters cannot be redriven (each is printed with why); 2 Kafka
could not be read or written.
"""

import argparse
import asyncio
import base64
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from hypercare_contracts import DeadLetter, ErrorClass
from hypercare_contracts.deadletter import ORIGINAL_MAX_BYTES
from hypercare_contracts.topics import DEADLETTER, HEADER_INGESTED_AT, HEADER_TRACE_ID
from hypercare_runtime.settings import ServiceSettings
from pydantic import ValidationError

from hypercare_cli.arguments import aware_datetime

EXIT_DONE = 0
EXIT_NOT_ALL = 1
EXIT_ERROR = 2

HEADER_REDRIVEN_FROM = "hypercare-redriven-from"
"""Set on a redriven message: ``<dead-letter topic>/<partition>/<offset>`` of the dead letter it came from."""

_REASON_WIDTH = 100


@dataclass(frozen=True)
class Found:
    """One record of the dead-letter topic: the dead letter, or why it is not one."""

    partition: int
    offset: int
    letter: DeadLetter | None
    problem: str = ""

    @property
    def at(self) -> str:
        """Where it is on the dead-letter topic, ``partition:offset``."""
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command acts on; an empty set of a kind selects every value of it."""

    services: frozenset[str] = frozenset()
    error_classes: frozenset[ErrorClass] = frozenset()
    source_topics: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        """Whether ``letter`` is selected (``since`` inclusive, ``until`` exclusive, on ``failed_at``)."""
        return (
            (not self.services or letter.service in self.services)
            and (not self.error_classes or letter.error_class in self.error_classes)
            and (not self.source_topics or letter.source_topic in self.source_topics)
            and (self.since is None or letter.failed_at >= self.since)
            and (self.until is None or letter.failed_at < self.until)
        )


@dataclass(frozen=True)
class Resend:
    """A dead letter's original message, as it is sent again."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def parse_record(partition: int, offset: int, value: bytes | None) -> Found:
    """A record of the dead-letter topic as a :class:`Found` (one that is not a dead letter says why)."""
    try:
        return Found(partition, offset, DeadLetter.model_validate_json(value or b""))
    except ValidationError as exc:
        return Found(partition, offset, None, f"not a dead letter ({exc.error_count()} errors)")


def resend_of(letter: DeadLetter, *, origin: str) -> Resend | str:
    """The message to send again for ``letter`` (found at ``origin``), or why it cannot be.

    The headers are the original's, without its ingestion time (so the services measure the redriven
    message's latency from the redrive, not from its first arrival), plus :data:`HEADER_REDRIVEN_FROM`.
    A dead letter written before dead letters kept headers gets its trace id back.
    """
    if letter.truncated:
        return (
            f"the original ({letter.original_size} bytes) was kept only in part (the first"
            f" {ORIGINAL_MAX_BYTES} bytes); send it again from where it was made"
        )
    if letter.error_class is ErrorClass.DELIVERY_FAILED:
        return (
            "a notification a channel refused for good: its trigger was processed, and sending it again"
            " would not send the notification again"
        )
    value = (
        letter.original.encode() if letter.original_encoding == "utf-8" else base64.b64decode(letter.original)
    )
    headers = {
        name: text
        for name, text in letter.original_headers.items()
        if name not in (HEADER_INGESTED_AT, HEADER_REDRIVEN_FROM)
    }
    if HEADER_TRACE_ID not in headers and letter.trace_id:
        headers[HEADER_TRACE_ID] = letter.trace_id
    headers[HEADER_REDRIVEN_FROM] = origin
    return Resend(
        topic=letter.source_topic,
        value=value,
        key=letter.key.encode() if letter.key is not None else None,
        headers=[(name, text.encode()) for name, text in headers.items()],
    )


class KafkaReadError(Exception):
    """The dead-letter topic could not be read to its end."""


async def read_dead_letters(bootstrap: str, topic: str, *, within_s: float) -> tuple[list[Found], set[str]]:
    """Every record of ``topic`` up to its end as of now, in partition and offset order, and the
    cluster's topics.

    Raises:
        KafkaReadError: no such topic, or its end not reached within ``within_s`` seconds.
    """
    described = await _describe(bootstrap)
    if topic not in described:
        raise KafkaReadError(f"no topic {topic!r} on {bootstrap}")
    parts = [TopicPartition(topic, p) for p in sorted(described[topic])]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[Found] = []
        deadline = time.monotonic() + within_s
        while any([await consumer.position(tp) < ends[tp] for tp in parts]):
            if time.monotonic() > deadline:
                raise KafkaReadError(f"{topic!r} not read to its end within {within_s:g} s")
            fetched = await consumer.getmany(timeout_ms=500)
            for tp, records in fetched.items():
                found.extend(
                    parse_record(tp.partition, r.offset, r.value) for r in records if r.offset < ends[tp]
                )
    finally:
        await consumer.stop()
    found.sort(key=lambda item: (item.partition, item.offset))
    return found, set(described)


async def _describe(bootstrap: str) -> dict[str, list[int]]:
    """The cluster's topics and their partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = await admin.describe_topics()
    finally:
        await admin.close()
    return {t["topic"]: [p["partition"] for p in t["partitions"]] for t in topics if not t["error_code"]}


async def send_all(bootstrap: str, resends: Sequence[Resend]) -> None:
    """Send every message and wait until the brokers have them all (``acks=all``, idempotent)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send(item.topic, item.value, key=item.key, headers=item.headers)
            for item in resends
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``dead-letters list`` and ``dead-letters redrive``."""
    parser = subparsers.add_parser(
        "dead-letters", help="list the dead-letter topic, and redrive what was fixed", description=__doc__
    )
    commands = parser.add_subparsers(dest="dead_letters_command", required=True)
    listing = commands.add_parser("list", help="one line per dead letter, with a count by service and class")
    listing.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    redrive = commands.add_parser("redrive", help="send the selected dead letters' messages back")
    redrive.add_argument("--dry-run", action="store_true", help="print what would be sent, send nothing")
    for command in (listing, redrive):
        command.add_argument(
            "--bootstrap", default=None, help="Kafka bootstrap servers (default: HYPERCARE_KAFKA_BOOTSTRAP)"
        )
        command.add_argument(
            "--topic", default=DEADLETTER, help=f"the dead-letter topic (default: {DEADLETTER})"
        )
        command.add_argument(
            "--service", action="append", default=[], help="only this service's (repeatable)"
        )
        command.add_argument(
            "--error-class",
            action="append",
            default=[],
            choices=[c.value for c in ErrorClass],
            help="only this class of failure (repeatable)",
        )
        command.add_argument(
            "--source-topic", action="append", default=[], help="only those from this topic (repeatable)"
        )
        command.add_argument(
            "--since", type=aware_datetime, default=None, help="failed at or after (ISO 8601)"
        )
        command.add_argument("--until", type=aware_datetime, default=None, help="failed before (ISO 8601)")
        command.add_argument(
            "--read-within",
            type=float,
            default=60.0,
            help="seconds to read the topic to its end (default 60)",
        )
    listing.set_defaults(run=run_list)
    redrive.set_defaults(run=run_redrive)


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(
        services=frozenset(args.service),
        error_classes=frozenset(ErrorClass(value) for value in args.error_class),
        source_topics=frozenset(args.source_topic),
        since=args.since,
        until=args.until,
    )


def _bootstrap(args: argparse.Namespace) -> str:
    """``--bootstrap``, else ``HYPERCARE_KAFKA_BOOTSTRAP`` (the services' setting)."""
    bootstrap: str = args.bootstrap or ServiceSettings().kafka_bootstrap
    return bootstrap


def _read(args: argparse.Namespace) -> tuple[list[Found], set[str]] | None:
    try:
        return asyncio.run(read_dead_letters(_bootstrap(args), args.topic, within_s=args.read_within))
    except (KafkaReadError, KafkaError, OSError) as exc:
        print(f"hypercare dead-letters: cannot read {args.topic!r}: {exc}", file=sys.stderr)
        return None


def run_list(args: argparse.Namespace) -> int:
    """Print the selected dead letters and a count of them by service and class."""
    read = _read(args)
    if read is None:
        return EXIT_ERROR
    found, _ = read
    selection = _selection(args)
    chosen = [item for item in found if item.letter is None or selection.matches(item.letter)]
    render = _json_line if args.format == "json" else _text_line
    for item in chosen:
        print(render(item))
    if args.format == "text":
        print(summary(chosen, total=len(found)))
    return EXIT_DONE


def run_redrive(args: argparse.Namespace) -> int:
    """Send the selected dead letters' messages back; print each one's fate and a summary."""
    read = _read(args)
    if read is None:
        return EXIT_ERROR
    found, topics = read
    plan = redrive_plan(found, _selection(args), topics=topics, dead_letter_topic=args.topic)
    for item, outcome in plan:
        if isinstance(outcome, Resend):
            verb = "would redrive" if args.dry_run else "redrive"
            print(f"{verb} {item.at} -> {outcome.topic}")
        else:
            print(f"cannot redrive {item.at}: {outcome}")
    resends = [outcome for _, outcome in plan if isinstance(outcome, Resend)]
    if resends and not args.dry_run:
        try:
            asyncio.run(send_all(_bootstrap(args), resends))
        except (KafkaError, OSError) as exc:
            print(f"hypercare dead-letters: sending failed ({exc}); run it again", file=sys.stderr)
            return EXIT_ERROR
    refused = len(plan) - len(resends)
    done = "would be redriven" if args.dry_run else "redriven"
    print(f"{len(resends)} {done}, {refused} cannot be, of {len(found)} on {args.topic}")
    return EXIT_NOT_ALL if refused else EXIT_DONE


def redrive_plan(
    found: Iterable[Found], selection: Selection, *, topics: set[str], dead_letter_topic: str
) -> list[tuple[Found, Resend | str]]:
    """Each selected dead letter with its message to send again, or why it cannot be sent."""
    plan: list[tuple[Found, Resend | str]] = []
    for item in found:
        letter = item.letter
        if letter is None or not selection.matches(letter):
            continue
        outcome = resend_of(letter, origin=f"{dead_letter_topic}/{item.partition}/{item.offset}")
        if isinstance(outcome, Resend) and outcome.topic not in topics:
            outcome = f"its source topic {outcome.topic!r} does not exist"
        plan.append((item, outcome))
    return plan


def summary(found: Sequence[Found], *, total: int) -> str:
    """``N of M dead letters: service/class count, ...``."""
    counts = Counter(
        f"{item.letter.service}/{item.letter.error_class.value}" if item.letter else "not a dead letter"
        for item in found
    )
    by_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
    return f"{len(found)} of {total} dead letters" + (f": {by_kind}" if by_kind else "")


def _text_line(item: Found) -> str:
    letter = item.letter
    if letter is None:
        return f"{item.at:>8}  {item.problem}"
    where = f"{letter.source_topic}/{letter.partition}@{letter.offset}"
    reason = (
        letter.reason if len(letter.reason) <= _REASON_WIDTH else letter.reason[: _REASON_WIDTH - 1] + "…"
    )
    return (
        f"{item.at:>8}  {letter.failed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}  {letter.service:<10} "
        f"{letter.error_class.value:<18} {where}  {reason}"
    )


def _json_line(item: Found) -> str:
    document: dict[str, object] = {"at": item.at}
    if item.letter is None:
        document["problem"] = item.problem
    else:
        document.update(item.letter.model_dump(mode="json"))
    return json.dumps(document, ensure_ascii=False)
