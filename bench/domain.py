"""The domain code alone, in process: normalize and triage the bench workload without Kafka or a database.

``uv run python -m bench.domain [--count N] [--batch N] [--profile]`` prints the CPU per message of
``normalize_bytes`` and per report of ``triage_batch`` (against :class:`InMemoryIssues`, in batches as the
service reads them). It separates what the domain costs from what the services add, and ``--profile``
prints cProfile's top functions of the triage step (``--profile-normalize``: of the normalize step).

The cycle collector runs as in the services (their ``HYPERCARE_GC_*`` settings): what is loaded before
the measured loops is frozen, young collections come every 20,000 allocations, and triage freezes what
is alive after each batch (:class:`~hypercare_runtime.process.BatchCollector`). With the interpreter's
defaults the domain was charged for collections the services do not run: normalizing took 122 instead of
107 µs per message, triaging 200,000 messages in batches of 1,000 247 instead of 226 µs per report.
"""

import argparse
import cProfile
import gc
import hashlib
import pstats
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from hypercare_contracts import NormalizedReport
from hypercare_domain.normalize import Rejected, load_component_map, normalize_bytes
from hypercare_domain.policy import default_policy_dir
from hypercare_domain.triage import InMemoryIssues, load_triage_policies, triage_batch
from hypercare_runtime.process import BatchCollector, tune_garbage_collector
from hypercare_runtime.settings import ServiceSettings

from bench.generate import generate


@contextmanager
def collected_as_in_the_services() -> Iterator[BatchCollector | None]:
    """The services' collector settings for the measured loops; yields triage's per-batch collector
    (None when the settings leave the interpreter's defaults). The young threshold is put back after;
    what was frozen stays frozen (the bench process freezes its own generated messages too)."""
    settings = ServiceSettings()
    before = gc.get_threshold()
    tune_garbage_collector(settings.gc_threshold)
    try:
        yield (
            BatchCollector(
                full_every_s=settings.gc_full_every_s, full_after_growth_mib=settings.gc_full_after_growth_mib
            )
            if settings.gc_threshold > 0
            else None
        )
    finally:
        gc.set_threshold(*before)


def normalized(
    count: int, seed: int, digest: "hashlib._Hash | None" = None, profiler: cProfile.Profile | None = None
) -> tuple[list[NormalizedReport], float]:
    """The workload's reports and the CPU seconds normalizing them took.

    With ``digest``, every report's JSON and every rejection's reason are hashed into it, in order, after
    the measured loop. With ``profiler``, the loop runs under it.
    """
    workload = generate(count, run_tag="domain", seed=seed)
    components = load_component_map(default_policy_dir())
    received = datetime(2026, 5, 2, 9, 0, tzinfo=UTC)
    reports: list[NormalizedReport] = []
    # What each message became, in order (its reports or its rejection reason), for the digest.
    outcomes: list[list[NormalizedReport] | str] = []
    if profiler is not None:
        profiler.enable()
    started = time.process_time()
    for index, message in enumerate(workload.messages):
        try:
            produced = normalize_bytes(
                message.role,
                message.value,
                received_at=received,
                trace_id=f"t{index}",
                components=components,
            )
        except Rejected as rejected:
            outcomes.append(rejected.reason)
            continue
        outcomes.append(produced)
        reports.extend(produced)
    spent = time.process_time() - started
    if profiler is not None:
        profiler.disable()
    if digest is not None:
        for outcome in outcomes:
            if isinstance(outcome, str):
                digest.update(b"rejected:" + outcome.encode())
            else:
                for report in outcome:
                    digest.update(report.model_dump_json().encode())
    return reports, spent


def triage_all(
    reports: list[NormalizedReport],
    batch: int,
    digest: "hashlib._Hash | None" = None,
    collector: BatchCollector | None = None,
) -> float:
    """CPU seconds of triaging ``reports`` in batches of ``batch`` against an in-memory store.

    With ``digest``, what each batch produced and the final states are hashed into it (outside the
    measured time). ``collector`` is told of each batch's end, as the service tells it (measured).
    """
    policies = load_triage_policies(default_policy_dir())
    store = InMemoryIssues()
    seen: set[str] = set()
    spent = 0.0
    for start in range(0, len(reports), batch):
        chunk = [r for r in reports[start : start + batch] if r.event_id not in seen]
        seen.update(r.event_id for r in chunk)
        if not chunk:
            continue
        started = time.process_time()
        result = triage_batch(chunk, store, policies, chunk[-1].received_at)
        if result.failed:  # measuring an engine that fails would measure nothing
            raise result.failed[0].error
        store.apply(result, chunk)
        if collector is not None:
            collector.after_batch()
        spent += time.process_time() - started
        if digest is not None:
            for decision in result.decisions:
                digest.update(decision.model_dump_json().encode())
            digest.update(repr([tuple(link) for link in result.report_links]).encode())
            digest.update(repr(result.audit).encode())
    if digest is not None:
        for state in store.all():
            digest.update(state.model_dump_json().encode())
    return spent


def reference(count: int = 10_000, seed: int = 20240502) -> dict[str, float]:
    """The domain's CPU per raw message (normalize) and per report (triage, batches of 12) now.

    A yardstick for ``make bench``: the machine's speed drifts by 10-20 % within an hour, and every
    process's CPU with it, so two runs compare only as far as their yardsticks agree. Four calls in a
    row agreed within 1 % (10,000 messages, ~3 s).
    """
    with collected_as_in_the_services() as collector:
        reports, normalize_s = normalized(count, seed)
        triage_s = triage_all(reports, 12, collector=collector)
    return {
        "normalize_us_per_message": round(normalize_s / count * 1e6, 1),
        "triage_us_per_report": round(triage_s / len(reports) * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the domain's CPU cost per message and per report."""
    parser = argparse.ArgumentParser(prog="python -m bench.domain", description=__doc__)
    parser.add_argument("--count", type=int, default=20_000, help="raw messages generated")
    parser.add_argument("--batch", type=int, default=1000, help="reports per triage batch")
    parser.add_argument("--seed", type=int, default=20240502)
    parser.add_argument("--profile", action="store_true", help="cProfile the triage step")
    parser.add_argument("--profile-normalize", action="store_true", help="cProfile the normalize step")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    parser.add_argument(
        "--digest", action="store_true", help="print SHA-256s of normalize's and triage's output"
    )
    args = parser.parse_args(argv)
    with collected_as_in_the_services() as collector:
        normalize_digest = hashlib.sha256() if args.digest else None
        normalize_profiler = cProfile.Profile() if args.profile_normalize else None
        reports, normalize_s = normalized(args.count, args.seed, normalize_digest, normalize_profiler)
        if normalize_profiler is not None:
            pstats.Stats(normalize_profiler).sort_stats(args.sort).print_stats(30)
        print(
            f"normalize: {normalize_s / args.count * 1e6:,.0f} µs CPU per raw message ({args.count:,} messages)"
        )
        if normalize_digest is not None:
            print(f"normalize digest: {normalize_digest.hexdigest()}")
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        digest = hashlib.sha256() if args.digest else None
        triage_s = triage_all(reports, args.batch, digest, collector)
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(30)
    print(f"triage: {triage_s / len(reports) * 1e6:,.0f} µs CPU per report ({len(reports):,} reports)")
    if digest is not None:
        print(f"digest: {digest.hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
