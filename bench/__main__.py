"""``python -m bench``: the raw Kafka ceiling, then the pipeline at saturation and at a fixed rate.

Order of one run (every run has its own topics ``bench.<run>.*``, consumer groups and database):

1. generate ``--count`` + ``--rate`` x ``--duration`` raw messages in memory;
2. ceiling: the raw pass-through over the first ``--count`` messages (unless ``--skip-passthrough``);
3. saturation: preload the same ``--count`` messages on the raw topics, start the services, time the drain;
4. latency: with the services warm, produce ``--rate`` messages/s for ``--duration`` s;
5. correctness checks, results files, then the services are stopped and the topics and database dropped.
"""

import argparse
import asyncio
import functools
import gc
import importlib.util
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from hypercare_runtime.settings import ServiceSettings

from bench.checks import Check, kafka_checks, store_checks
from bench.domain import reference
from bench.generate import RawMessage, generate
from bench.passthrough import OffsetWatcher, create_topics, delete_topics, passthrough, preload
from bench.pipeline import (
    BenchTopics,
    OutputLatency,
    Targets,
    busy_while_draining,
    percentiles,
    produce_at_rate,
    progress_probes,
    stored_latency,
    stored_latency_by_second,
    stored_throughput,
    timeline,
    watch,
)
from bench.processes import (
    PEERS,
    HistogramReading,
    MachineReading,
    OwnCollections,
    RssSampler,
    Service,
    bucket_quantiles,
    collector_paused,
    cpu_seconds,
    create_database,
    drop_database,
    drop_redis_keys,
    histogram_buckets,
    maintenance_during,
    metric_total,
    redis_prefix,
    settle_maintenance,
    start_service,
    stop_service,
)
from bench.profile import Recording, finish, record, summarize
from bench.report import environment, git_commit, markdown, summary_rows, write_results

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="messages/s of the latency phase")
    parser.add_argument("--duration", type=int, default=20, help="seconds of the latency phase")
    parser.add_argument("--count", type=int, default=200_000, help="messages of the saturation phase")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of every bench topic")
    parser.add_argument(
        "--triage-instances", type=int, default=1, help="triage processes in one consumer group"
    )
    parser.add_argument("--seed", type=int, default=20240502, help="seed of the generated content")
    parser.add_argument("--skip-passthrough", action="store_true", help="do not measure the raw ceiling")
    parser.add_argument("--normalizer-only", action="store_true", help="leave triage out even if present")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the topics, database and Redis keys for inspection (python -m bench.clean removes them)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the services during saturation and the fixed rate"
    )
    parser.add_argument(
        "--settle-within",
        type=float,
        default=150.0,
        help="seconds to wait, before the fixed rate, for the autovacuum runs the backlog made due (0: none)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="results folder")
    return parser.parse_args(argv)


def targets_of(messages: list[RawMessage]) -> Targets:
    """What draining these messages must produce."""
    return Targets(
        raw_messages=len(messages),
        normalized_reports=sum(m.reports for m in messages),
        dead_letters=sum(1 for m in messages if m.dead),
    )


def plus(a: Targets, b: Targets) -> Targets:
    """Cumulative targets of two phases."""
    return Targets(
        a.raw_messages + b.raw_messages,
        a.normalized_reports + b.normalized_reports,
        a.dead_letters + b.dead_letters,
    )


def shown(path: Path) -> str:
    """A path as the results show it: relative to the checkout when inside it (results are committed)."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def triage_available() -> bool:
    """Whether ``python -m hypercare_triage`` exists in this checkout yet."""
    return importlib.util.find_spec("hypercare_triage.__main__") is not None


def normalizer_env(names: BenchTopics, group: str) -> dict[str, str]:
    """Point the normalizer at the run's topics."""
    return {
        "HYPERCARE_GROUP_ID": group,
        "HYPERCARE_RAW_TICKETS_TOPIC": names.raw["hypercare.raw.tickets"],
        "HYPERCARE_RAW_FEEDBACK_TOPIC": names.raw["hypercare.raw.feedback"],
        "HYPERCARE_RAW_SOCIAL_TOPIC": names.raw["hypercare.raw.social"],
        "HYPERCARE_RAW_ALERTS_TOPIC": names.raw["hypercare.raw.alerts"],
        "HYPERCARE_NORMALIZED_TOPIC": names.normalized,
        "HYPERCARE_DEADLETTER_TOPIC": names.deadletter,
    }


def triage_env(names: BenchTopics, group: str, database_url: str) -> dict[str, str]:
    """Point triage at the run's topics, database and its own Redis key prefix."""
    return {
        "HYPERCARE_GROUP_ID": group,
        "HYPERCARE_NORMALIZED_TOPIC": names.normalized,
        "HYPERCARE_TRIAGED_TOPIC": names.triaged,
        "HYPERCARE_LIFECYCLE_TOPIC": names.lifecycle,
        "HYPERCARE_DEADLETTER_TOPIC": names.deadletter,
        "HYPERCARE_DATABASE_URL": database_url,
        "HYPERCARE_REDIS_PREFIX": redis_prefix(names.run),
    }


def cpu_share(service: Service, start: str, end: str, seconds: float) -> float | None:
    """CPU used between two marks, as a fraction of one core."""
    if start not in service.cpu_marks or end not in service.cpu_marks or seconds <= 0:
        return None
    return (service.cpu_marks[end] - service.cpu_marks[start]) / seconds


TRIAGE_STEPS = ("hints", "load", "decide", "save", "publish")
"""The steps of a triage batch the service times (``hypercare_stage_duration_seconds{stage="triage.<step>"}``)."""


def service_histograms(services: list[Service]) -> dict[str, Callable[[], Awaitable[HistogramReading]]]:
    """The services' own latency histograms: raw->stage end to end, and one batch's processing time."""
    reads: dict[str, Callable[[], Awaitable[HistogramReading]]] = {}
    for service in services:
        kind = service.name.split("-")[0]  # "triage-2" is the second triage instance
        stage = "normalized" if kind == "normalizer" else "triaged"
        reads[f"raw->{stage} ({service.name} metric)"] = functools.partial(
            histogram_buckets, service, "hypercare_end_to_end_latency_seconds", stage=stage
        )
        reads[f"{service.name} GC pause"] = functools.partial(
            histogram_buckets, service, "hypercare_gc_pause_seconds"
        )
        batch_stage = "normalize" if kind == "normalizer" else "triage"
        reads[f"{service.name} batch processing"] = functools.partial(
            histogram_buckets, service, "hypercare_stage_duration_seconds", service=kind, stage=batch_stage
        )
        if kind == "triage":
            for step in TRIAGE_STEPS:
                reads[f"{service.name} batch, {step}"] = functools.partial(
                    histogram_buckets,
                    service,
                    "hypercare_stage_duration_seconds",
                    service=kind,
                    stage=f"triage.{step}",
                )
    return reads


def cpu_cost(service: Service, messages: int) -> float | None:
    """CPU milliseconds the service spent per raw message of the saturation phase (window-independent)."""
    if "saturation.start" not in service.cpu_marks or "saturation.end" not in service.cpu_marks:
        return None
    used = service.cpu_marks["saturation.end"] - service.cpu_marks["saturation.start"]
    return round(used * 1000 / max(1, messages), 3)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """One benchmark run; returns the results (also written to ``--out``)."""
    # The stack the services would use: HYPERCARE_KAFKA_BOOTSTRAP, _DATABASE_URL, _REDIS_URL or the defaults.
    stack = ServiceSettings()
    bootstrap = stack.kafka_bootstrap
    base_db = stack.database_url.get_secret_value()
    redis_url = stack.redis_url.get_secret_value()
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%d%H%M%S}{uuid.uuid4().hex[:6]}"
    with_triage = triage_available() and not args.normalizer_only
    workload = generate(args.count + args.rate * args.duration, run_tag=run_id, seed=args.seed)
    # Generated once and kept to the end: later collections need not traverse it (the pass-through, the
    # probes and the readers run in this process).
    gc.collect()
    gc.freeze()
    saturation_msgs = list(workload.messages[: args.count])
    rate_msgs = list(workload.messages[args.count :])
    names = BenchTopics.for_run(run_id)
    groups = {"normalizer": f"bench-{run_id}-normalizer", "triage": f"bench-{run_id}-triage"}
    db_name = f"hypercare_bench_{run_id}"
    log_dir = Path(tempfile.mkdtemp(prefix=f"hypercare-bench-{run_id}-"))
    results: dict[str, Any] = {
        "run": run_id,
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(ROOT),
        "environment": environment(),
        "settings": {k: shown(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "with_triage": with_triage,
        "rate": args.rate,
        "latency_output": "triaged" if with_triage else "normalized",
        "workload": workload.describe(),
        "latency": {},
    }
    print(
        f"run {run_id}: {len(workload.messages):,} messages,"
        f" triage {'on' if with_triage else 'absent'}; logs in {log_dir}"
    )
    services: list[Service] = []
    sampler = RssSampler(services)
    watcher = OffsetWatcher(bootstrap, partitions=args.partitions)
    conn: asyncpg.Connection | None = None
    recordings: list[Recording] = []
    results["reference"] = {"before": reference()}
    print("the domain alone, in process:", results["reference"]["before"])
    await create_topics(bootstrap, names.all(), partitions=args.partitions)
    try:
        await watcher.start()
        if not args.skip_passthrough:
            ceiling = await passthrough(
                bootstrap,
                saturation_msgs,
                source=names.pass_in,
                target=names.pass_out,
                group_id=f"bench-{run_id}-pass",
            )
            results["passthrough"] = {
                "messages": ceiling.messages,
                "seconds": round(ceiling.seconds, 3),
                "per_s": ceiling.rate,
                "mib": round(ceiling.mib, 1),
            }
            print(f"pass-through: {ceiling.rate:,.0f} msg/s")

        results["preload_seconds"] = round(await preload(bootstrap, saturation_msgs, names.topic_of), 2)
        env_db: dict[str, str] = {}
        if with_triage:
            db_url = await create_database(base_db, db_name)
            env_db = {"HYPERCARE_DATABASE_URL": db_url}
        services.append(
            await start_service(
                "normalizer", "hypercare_normalizer", normalizer_env(names, groups["normalizer"]), log_dir
            )
        )
        if with_triage:
            for instance in range(1, args.triage_instances + 1):
                services.append(
                    await start_service(
                        "triage" if instance == 1 else f"triage-{instance}",
                        "hypercare_triage",
                        triage_env(names, groups["triage"], env_db["HYPERCARE_DATABASE_URL"]),
                        log_dir,
                    )
                )
            conn = await asyncpg.connect(env_db["HYPERCARE_DATABASE_URL"])
        if args.profile:
            recordings.extend([await record(s.name, s.pid, log_dir) for s in services])
        sampler.phase = "saturation"
        sampler.start()
        t0 = time.time()
        for service in services:
            service.mark_cpu("saturation.start")
        machine_before = MachineReading.now()
        sat_targets = targets_of(saturation_msgs)
        triage_group = groups["triage"] if with_triage else None
        probes = progress_probes(
            watcher, names, sat_targets, normalizer_group=groups["normalizer"], triage_group=triage_group
        )
        series = await watch(
            probes, meters={f"cpu:{s.name}": functools.partial(cpu_seconds, s.pid) for s in services}
        )
        sat_seconds = time.time() - t0
        # Each service's CPU while it worked through its backlog: the share of a core it could use.
        draining = {
            s.name: busy_while_draining(
                *(
                    (series["normalizer_committed"], sat_targets.raw_messages)
                    if s.name == "normalizer"
                    else (series["triage_committed"], sat_targets.normalized_reports)
                ),
                series[f"cpu:{s.name}"],
            )
            for s in services
        }
        for service in services:
            service.mark_cpu("saturation.end")
        machine_after = MachineReading.now()
        used = machine_after.seconds_since(machine_before)
        results["machine"] = {
            "busy_cores_saturation": round(machine_after.cores_since(machine_before)["busy"], 2),
            "peers_cpu_ms_per_raw_message_saturation": {
                peer: round(used[peer] * 1000 / max(1, len(saturation_msgs)), 3) for peer in PEERS
            },
        }
        for recording in recordings:
            await finish(recording)
            results.setdefault("profile", {})[recording.name] = summarize(recording.output)
        saturation: dict[str, Any] = {
            "timeline": timeline({name: series[name] for name in probes}),
            "drain_seconds": round(sat_seconds, 2),
            "normalizer_messages_per_s": series["normalizer_committed"].sustained_rate(
                sat_targets.raw_messages
            ),
            "normalized_reports_per_s": series["normalized_written"].sustained_rate(
                sat_targets.normalized_reports
            ),
        }
        boundary = datetime.now(UTC)
        if with_triage and conn is not None:
            saturation["triage_committed_per_s"] = series["triage_committed"].sustained_rate(
                sat_targets.normalized_reports
            )
            stored = await stored_throughput(conn, before=boundary)
            saturation["stored"] = stored
            saturation["pipeline_reports_per_s"] = stored["sustained_per_s"]
            results["latency"]["saturation"] = {
                "persisted": await stored_latency(conn, since=datetime.fromtimestamp(0, UTC), until=boundary)
            }
        results["saturation"] = saturation
        print("saturation:", {k: v for k, v in saturation.items() if k != "timeline"})

        if conn is not None and args.settle_within > 0:
            settled = await settle_maintenance(conn, within_s=args.settle_within)
            results["latency"]["maintenance_before_rate"] = settled
            print("maintenance before the fixed rate:", settled)

        sampler.phase = "at_rate"
        for service in services:
            service.mark_cpu("at_rate.start")
        if args.profile:
            recordings = [await record(f"{s.name}.at_rate", s.pid, log_dir) for s in services]
        stage_metrics = service_histograms(services)
        before = {key: await read() for key, read in stage_metrics.items()}
        since = time.time()
        output = OutputLatency(
            bootstrap,
            names.triaged if with_triage else names.normalized,
            partitions=args.partitions,
            since=since,
        )
        await output.start()
        machine_before = MachineReading.now()
        with collector_paused(), OwnCollections() as own:
            achieved = await produce_at_rate(bootstrap, rate_msgs, names, args.rate)
        results["latency"]["bench_collections_at_rate"] = own.summary()
        produced_at = time.time()
        # While messages arrive at the rate (the drain after it is mostly idle).
        results["machine"]["cores_at_rate"] = MachineReading.now().cores_since(machine_before)
        all_targets = plus(sat_targets, targets_of(rate_msgs))
        await watch(
            progress_probes(
                watcher, names, all_targets, normalizer_group=groups["normalizer"], triage_group=triage_group
            ),
        )
        await asyncio.sleep(1.0)  # the last outputs reach the latency reader
        await output.stop()
        rate_seconds = time.time() - since
        drained_after = rate_seconds - (produced_at - since) - 1.0
        for service in services:
            service.mark_cpu("at_rate.end")
        for recording in recordings:
            await finish(recording)
            results.setdefault("profile", {})[recording.name] = summarize(recording.output)
        recordings = []
        at_rate: dict[str, Any] = {
            "achieved_rate": round(achieved, 1),
            "drained_s_after_last_send": round(drained_after, 2),
            "output": percentiles(output.samples),
            "seconds": round(rate_seconds, 2),
        }
        if conn is not None:
            at_rate["maintenance"] = await maintenance_during(conn, since, time.time())
            at_rate["persisted"] = await stored_latency(conn, since=datetime.fromtimestamp(since, UTC))
            at_rate["persisted_by_second"] = await stored_latency_by_second(
                conn, since=datetime.fromtimestamp(since, UTC)
            )
        at_rate["services_view"] = {
            key: bucket_quantiles(before[key], await read()) for key, read in stage_metrics.items()
        }
        results["latency"]["at_rate"] = at_rate
        sampler.sample()

        checks: list[Check] = await kafka_checks(
            watcher, names, workload, normalizer_group=groups["normalizer"], triage_group=triage_group
        )
        normalizer = services[0]
        checks.extend(
            [
                Check(
                    "normalizer metrics: raw consumed",
                    len(workload.messages),
                    int(await metric_total(normalizer, "hypercare_messages_consumed_total")),
                ),
                Check(
                    "normalizer metrics: dead letters",
                    workload.expected_dead,
                    int(await metric_total(normalizer, "hypercare_dead_letters_total")),
                ),
            ]
        )
        if conn is not None:
            checks.extend(await store_checks(conn, workload))
        results["checks"] = [
            {"name": c.name, "expected": c.expected, "actual": c.actual, "ok": c.ok} for c in checks
        ]
        results["services"] = {
            s.name: {
                "peak_rss_kib": s.peak_rss_kib,
                "peak_rss_at": s.peak_rss_at,
                "rss_kib_by_phase": s.rss_by_phase,
                "cpu_per_phase": {
                    k: v
                    for k, v in (
                        ("saturation", cpu_share(s, "saturation.start", "saturation.end", sat_seconds)),
                        ("at_rate", cpu_share(s, "at_rate.start", "at_rate.end", rate_seconds)),
                    )
                    if v is not None
                },
                "cpu_ms_per_raw_message_saturation": cpu_cost(s, len(saturation_msgs)),
                "cpu_while_draining": draining.get(s.name),
            }
            for s in services
        }
        results["reference"]["after"] = reference()
    finally:
        for recording in recordings:
            await finish(recording)
        await sampler.stop()
        for service in reversed(services):
            code = await stop_service(service)
            results.setdefault("exit_codes", {})[service.name] = code
        if conn is not None:
            await conn.close()
        await watcher.stop()
        if not args.keep:
            await delete_topics(bootstrap, names.all())
            if with_triage:
                await drop_database(base_db, db_name)
                await drop_redis_keys(redis_url, redis_prefix(run_id))
    return results


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the files; exit 1 if a correctness check failed."""
    args = parse_args(argv)
    results = asyncio.run(run(args))
    json_path, md_path = write_results(results, args.out)
    print()
    print(markdown(results))
    print(f"results: {json_path} and {md_path}")
    failed = [r for r in summary_rows(results) if r.metric == "correctness checks" and r.verdict == "FAIL"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
