"""``hypercare retention prune``: its arguments, the ages it refuses, and the Kafka settings it is tied to."""

import importlib.util
import re
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypercare_cli.main import build_parser, main
from hypercare_cli.retention import (
    DEAD_LETTER_RETENTION,
    DEFAULT_AGE,
    EXIT_REFUSED,
    SAFE_MINIMUM,
    TOPIC_RETENTION,
    exit_floor,
    refusal,
    render,
)
from hypercare_domain.exit import ExitPolicy

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FLOOR = exit_floor(ExitPolicy())


def _stack_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stack_config", ROOT / "deploy" / "stack" / "config.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_prune_defaults_to_the_safe_age_and_batches_of_a_thousand() -> None:
    args = build_parser().parse_args(["retention", "prune"])

    assert (args.older_than, args.batch, args.dry_run, args.force) == (DEFAULT_AGE, 1000, False, False)
    assert args.database_url is None
    assert DEFAULT_AGE >= SAFE_MINIMUM


def test_prune_takes_an_age_with_a_unit_a_batch_and_its_flags() -> None:
    args = build_parser().parse_args(
        ["retention", "prune", "--older-than", "16w", "--dry-run", "--batch", "50", "--force"]
    )

    assert (args.older_than, args.batch, args.dry_run, args.force) == (timedelta(weeks=16), 50, True, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["--older-than", "90"],
        ["--older-than", "ninety days"],
        ["--older-than", "0d"],
        ["--batch", "0"],
        ["--batch", "many"],
    ],
)
def test_prune_refuses_what_is_not_an_age_or_a_batch_size(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["retention", "prune", *argv])

    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_the_safe_minimum_outlasts_the_dead_letter_topic_and_the_topic_a_message_came_from() -> None:
    assert SAFE_MINIMUM.days == 125, "7 + 7 on its topic, 90 + 7 dead-lettered, 7 + 7 on its topic again"
    assert DEFAULT_AGE.days == 130
    assert refusal(SAFE_MINIMUM, force=False, floor=FLOOR) is None
    assert refusal(DEFAULT_AGE, force=False, floor=FLOOR) is None
    reason = refusal(timedelta(days=120), force=False, floor=FLOOR)
    assert reason is not None
    assert "125d" in reason
    assert "--force" in reason


def test_force_allows_a_younger_age_but_never_one_within_the_exit_windows() -> None:
    assert refusal(timedelta(days=30), force=True, floor=FLOOR) is None
    assert FLOOR.days == 8, "the default exit windows are 7 days, plus the hour the first starts in"
    reason = refusal(timedelta(days=7), force=True, floor=FLOOR)
    assert reason is not None
    assert "exit report" in reason


def test_a_refused_age_deletes_nothing_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["retention", "prune", "--older-than", "90d", "--database-url", "postgresql://nowhere.invalid/x"]
    )

    assert code == EXIT_REFUSED
    captured = capsys.readouterr()
    assert "below the safe minimum" in captured.err
    assert captured.out == ""


def test_the_retention_periods_are_the_stack_s() -> None:
    config = _stack_config()
    assert int(
        config.TOPIC_CONFIGS["hypercare.deadletter"]["retention.ms"]
    ) == DEAD_LETTER_RETENTION // timedelta(milliseconds=1)
    assert set(config.TOPIC_CONFIGS) == {"hypercare.deadletter"}, "every other topic keeps the broker's"
    template = (ROOT / "deploy" / "stack" / "kafka" / "server.properties.template").read_text()
    hours = re.search(r"^log\.retention\.hours=(\d+)$", template, re.MULTILINE)
    assert hours is not None
    assert int(hours.group(1)) == TOPIC_RETENTION // timedelta(hours=1)
    assert "log.roll" not in template, "segments roll after Kafka's default 7 days"
    compose = (ROOT / "docker-compose.yml").read_text()
    assert f"retention.ms={DEAD_LETTER_RETENTION // timedelta(milliseconds=1)}" in compose
    segment = timedelta(days=7)
    on_a_topic = timedelta(hours=int(hours.group(1))) + segment
    dead_lettered = timedelta(milliseconds=int(config.TOPIC_CONFIGS["hypercare.deadletter"]["retention.ms"]))
    assert on_a_topic + dead_lettered + segment + on_a_topic == SAFE_MINIMUM, (
        "read from its topic, dead-lettered and redriven, then read from its topic again"
    )


def test_the_counts_are_printed_per_table_with_their_total() -> None:
    text = render({"issues": 3, "deliveries": 1200}, dry_run=True)

    assert text.splitlines() == [
        "  issues               3",
        "  deliveries       1,200",
        "would delete 1,203 rows; never pruned: triage_outbox, notifier_outbox, schema_migrations",
    ]
