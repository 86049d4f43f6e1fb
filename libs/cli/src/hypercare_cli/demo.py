"""``hypercare demo``: play a scripted launch day into a cluster and summarize what the pipeline made of it.

    hypercare demo                          # 60 s against $HYPERCARE_KAFKA_BOOTSTRAP (default 127.0.0.1:9092)
    hypercare demo --speed 4 --seed 3       # the same day, four times faster, told another way
    hypercare demo --gateway-url http://127.0.0.1:8080 --token "$TOKEN"   # through the HTTP gateway
    hypercare demo --json                   # progress on stderr, the summary as JSON on stdout

The output topics are read from where they ended when the demo started, so the summary counts only what
this run caused.
"""

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, TextIO

from hypercare_contracts import topics
from hypercare_runtime.settings import ServiceSettings

from hypercare_cli.scenario.drain import DrainCheck, GroupOffsets, Partition, is_drained, pipeline_lag
from hypercare_cli.scenario.kafka_io import (
    DemoError,
    GatewaySink,
    KafkaSink,
    LagProbe,
    OutputReader,
    client_options,
    dumps_json,
    metrics_answer,
)
from hypercare_cli.scenario.model import Scenario
from hypercare_cli.scenario.script import build_scenario
from hypercare_cli.scenario.summary import render_text, summarize, summary_json
from hypercare_cli.scenario.timeline import Played, Sink, play

SERVICE_PORTS = {"gateway": 8080, "sla": 8081, "normalizer": 9101, "triage": 9102, "notifier": 9104}
"""Where each service of the Procfile serves /metrics (the same ports as deploy/stack/config.py)."""
DASHBOARDS = ("deploy/prometheus/ (scrape config)", "deploy/grafana/ (dashboards)")
WATCHED = (
    *topics.RAW_TOPICS,
    topics.ISSUES_NORMALIZED,
    topics.ISSUES_TRIAGED,
    topics.ISSUES_LIFECYCLE,
    topics.SLA_EVENTS,
)
"""Topics the pipeline's consumer groups read: drained means they have all caught up."""


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand to the ``hypercare`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="play a scripted launch day into a cluster and summarize what the pipeline did",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $HYPERCARE_KAFKA_BOOTSTRAP)")
    parser.add_argument("--gateway-url", help="post through this HTTP gateway instead of writing to Kafka")
    parser.add_argument(
        "--token",
        default=os.environ.get("HYPERCARE_DEMO_TOKEN"),
        help="gateway bearer token ($HYPERCARE_DEMO_TOKEN)",
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="chooses wordings, reporters and timing (default 7)"
    )
    parser.add_argument(
        "--duration", type=_positive, default=60.0, help="story length in seconds (default 60)"
    )
    parser.add_argument("--speed", type=_positive, default=1.0, help="playback factor: 2 is twice as fast")
    parser.add_argument(
        "--run-id", help="id inside every item id (default: derived from seed and start time)"
    )
    parser.add_argument(
        "--drain-timeout", type=_positive, default=60.0, help="longest wait for the pipeline (default 60 s)"
    )
    parser.add_argument(
        "--settle",
        type=_positive,
        default=4.0,
        help="quiet seconds on the outputs that mean done (default 4)",
    )
    parser.add_argument(
        "--group-prefix", default="hypercare-", help="consumer groups of the pipeline (default hypercare-)"
    )
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        type=_topic_override,
        metavar="NAME=ACTUAL",
        help="use ACTUAL wherever the contract topic NAME is meant (repeatable)",
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", help="host of the services' /metrics URLs")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (progress on stderr)")
    parser.set_defaults(run=run)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _topic_override(text: str) -> tuple[str, str]:
    name, sep, actual = text.partition("=")
    if not sep or not actual:
        raise argparse.ArgumentTypeError(f"expected NAME=ACTUAL, got {text!r}")
    if name not in topics.ALL_TOPICS:
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a Hypercare topic ({', '.join(topics.ALL_TOPICS)})"
        )
    return name, actual


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when it played and the pipeline drained, 1 when it did not drain, 2 on errors."""
    out = sys.stderr if args.json else sys.stdout
    try:
        return asyncio.run(_demo(args, out))
    except DemoError as exc:
        print(f"hypercare demo: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("hypercare demo: interrupted", file=sys.stderr, flush=True)
        return 130


def _say(stream: TextIO) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"demo {line}", file=stream, flush=True)

    return say


async def _demo(args: argparse.Namespace, out: TextIO) -> int:
    say = _say(out)
    settings = ServiceSettings(kafka_bootstrap=args.bootstrap) if args.bootstrap else ServiceSettings()
    options = client_options(settings)
    renamed: dict[str, str] = dict(args.topic)
    try:
        scenario = build_scenario(
            seed=args.seed,
            started_at=datetime.now(UTC),
            run_id=args.run_id,
            duration=args.duration,
            speed=args.speed,
        )
    except ValueError as exc:
        raise DemoError(str(exc)) from exc
    target = f"gateway {args.gateway_url}" if args.gateway_url else f"Kafka {settings.kafka_bootstrap}"
    say(
        f"run {scenario.run_id}: a launch day of {len(scenario.messages)} messages in "
        f"{scenario.wall_seconds:.0f}s (seed {scenario.seed}, speed {scenario.speed:g}) into {target}"
    )
    reader = OutputReader(options, renamed)
    probe = LagProbe(options, [renamed.get(t, t) for t in WATCHED], group_prefix=args.group_prefix)
    kafka_sink = None if args.gateway_url else KafkaSink(options, renamed, scenario.run_id)
    sink: Sink = kafka_sink if kafka_sink is not None else GatewaySink(args.gateway_url, args.token)
    async with AsyncExitStack() as running:
        try:
            async with asyncio.timeout(30):
                await _start(running, reader, probe, kafka_sink, renamed)
        except TimeoutError as exc:
            raise DemoError(f"Kafka at {settings.kafka_bootstrap} did not answer within 30s") from exc
        at_start = (await probe.committed(), await probe.end_offsets())
        played = await _play_while_reading(scenario, sink, reader, say)
        say(
            f"sent {len(played.sent)} messages; waiting for the pipeline to drain (up to {args.drain_timeout:g}s)"
        )
        drained, waited = await _wait_for_drain(reader, probe, at_start, args, say)
    metrics = await _metrics(args.metrics_host)
    summary = summarize(
        run_id=scenario.run_id,
        seed=scenario.seed,
        sent=played.sent,
        readback=reader.readback(),
        gateway_rejections=played.rejections(),
        drained=drained,
        waited_seconds=waited,
    )
    if args.json:
        print(dumps_json(summary_json(summary, metrics)), flush=True)
    else:
        print(render_text(summary, metrics, dashboards=DASHBOARDS), flush=True)
    return 0 if drained else 1


async def _start(
    running: AsyncExitStack,
    reader: OutputReader,
    probe: LagProbe,
    sink: KafkaSink | None,
    renamed: dict[str, str],
) -> None:
    """Connect everything, registering each stop as soon as its start succeeded."""
    await probe.start()
    running.push_async_callback(probe.stop)
    raw = [renamed.get(t, t) for t in topics.RAW_TOPICS] if sink is not None else []
    layout = await probe.partitions([*reader.topics, *raw])
    await reader.start(layout)
    running.push_async_callback(reader.stop)
    if sink is not None:
        await sink.start()
        running.push_async_callback(sink.stop)


async def _play_while_reading(
    scenario: Scenario, sink: Sink, reader: OutputReader, say: Callable[[str], None]
) -> Played:
    """Play the scenario while a background task keeps reading the outputs (so nothing piles up)."""
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            await reader.poll(timeout_ms=200)

    loop = asyncio.get_running_loop()
    reading = asyncio.create_task(keep_reading())
    try:
        return await play(scenario, sink, progress=say, clock=loop.time, sleep=asyncio.sleep)
    finally:
        stop.set()
        await reading


async def _wait_for_drain(
    reader: OutputReader,
    probe: LagProbe,
    at_start: tuple[GroupOffsets, dict[Partition, int]],
    args: argparse.Namespace,
    say: Callable[[str], None],
) -> tuple[bool, float]:
    """Poll until no pipeline group lags and the outputs were quiet for ``--settle`` seconds."""
    began = time.monotonic()
    reader.last_record_at = max(reader.last_record_at, began)
    while True:
        await reader.poll(timeout_ms=250)
        now = await probe.committed()
        lag = pipeline_lag(
            at_start=at_start[0], start_ends=at_start[1], now=now, end_offsets=await probe.end_offsets()
        )
        check = DrainCheck(lag=lag.behind, quiet_seconds=time.monotonic() - reader.last_record_at)
        waited = time.monotonic() - began
        done = is_drained(check, settle_seconds=args.settle)
        if done or waited >= args.drain_timeout:
            break
    live = [group for group, offsets in now.items() if offsets and group not in lag.idle]
    if lag.idle:
        say(f"did not wait for idle consumer groups (behind since before the demo): {', '.join(lag.idle)}")
    if not live:
        say(
            f"no live consumer group named {args.group_prefix}* reads the pipeline topics: is the pipeline running?"
        )
    if not done:
        behind = (
            ", ".join(f"{group} {n}" for group, n in lag.behind.items()) or "none behind, outputs still busy"
        )
        say(f"the pipeline did not drain within {args.drain_timeout:g}s (lagging: {behind})")
    return done, waited


async def _metrics(host: str) -> dict[str, str]:
    """Each service's /metrics URL, marked when it does not answer."""
    urls = {name: f"http://{host}:{port}/metrics" for name, port in SERVICE_PORTS.items()}
    answers = await asyncio.gather(*(asyncio.to_thread(metrics_answer, url) for url in urls.values()))
    return {
        name: url if ok else f"{url} (not answering)"
        for (name, url), ok in zip(urls.items(), answers, strict=True)
    }
