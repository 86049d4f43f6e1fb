"""The `hypercare demo` command line: defaults, topic renames, and refused arguments."""

import pytest
from hypercare_cli.demo import run
from hypercare_cli.main import build_parser

pytestmark = pytest.mark.unit


def test_demo_defaults_to_a_one_minute_day_at_normal_speed_on_kafka() -> None:
    args = build_parser().parse_args(["demo"])
    assert args.run is run
    assert (args.duration, args.speed, args.seed) == (60.0, 1.0, 7)
    assert args.gateway_url is None
    assert args.topic == []
    assert args.json is False


def test_topics_can_be_renamed_and_the_gateway_targeted() -> None:
    args = build_parser().parse_args(
        [
            "demo",
            "--topic",
            "hypercare.raw.alerts=test.alerts.1",
            "--topic=hypercare.deadletter=test.dlq",
            "--gateway-url",
            "http://gw:8080",
            "--token",
            "secret",
            "--speed",
            "4",
        ]
    )
    assert dict(args.topic) == {"hypercare.raw.alerts": "test.alerts.1", "hypercare.deadletter": "test.dlq"}
    assert (args.gateway_url, args.token, args.speed) == ("http://gw:8080", "secret", 4.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--topic", "hypercare.raw.nope=x"],
        ["demo", "--topic", "hypercare.raw.alerts"],
        ["demo", "--speed", "0"],
        ["demo", "--duration", "-5"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "demo: error" in capsys.readouterr().err
