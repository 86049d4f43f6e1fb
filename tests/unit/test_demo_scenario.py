"""The launch-day script: reproducible for a seed, and telling the story the demo promises."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypercare_cli.scenario import texts
from hypercare_cli.scenario.model import Message, Scenario
from hypercare_cli.scenario.script import CHECKOUT_ALERT, FLAPS, LOGIN_ALERT, OVERSIZE_BYTES, build_scenario
from hypercare_contracts.raw import (
    AlertmanagerWebhook,
    GenericTicket,
    InAppFeedback,
    PagerDutyEvent,
    SocialMention,
    ZendeskTicketEvent,
)
from hypercare_contracts.topics import RAW_ALERTS, RAW_FEEDBACK, RAW_SOCIAL, RAW_TICKETS
from pydantic import BaseModel

pytestmark = pytest.mark.unit

START = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
MODELS: dict[str, type[BaseModel]] = {
    "alertmanager": AlertmanagerWebhook,
    "pagerduty": PagerDutyEvent,
    "zendesk": ZendeskTicketEvent,
    "generic_ticket": GenericTicket,
    "feedback": InAppFeedback,
    "social": SocialMention,
}


def make_scenario(**overrides: Any) -> Scenario:
    """The default day (seed 7, run "t1", 60 s at speed 1) with overrides."""
    arguments: dict[str, Any] = {"seed": 7, "started_at": START, "run_id": "t1"}
    arguments.update(overrides)
    return build_scenario(**arguments)


def payloads(scenario: Scenario, kind: str) -> list[dict[str, Any]]:
    """The decoded bodies of every message of one kind, in send order."""
    return [json.loads(m.value) for m in scenario.messages if m.kind == kind]


def good(scenario: Scenario) -> list[Message]:
    return [m for m in scenario.messages if not m.deliberately_bad]


def test_the_same_seed_and_run_give_the_same_bytes_at_the_same_times() -> None:
    first, second = make_scenario(), make_scenario()
    assert [(m.at, m.topic, m.key, m.value) for m in first.messages] == [
        (m.at, m.topic, m.key, m.value) for m in second.messages
    ]
    assert [b.title for b in first.beats] == [b.title for b in second.beats]


def test_another_seed_tells_the_same_story_in_other_words() -> None:
    seven, eight = make_scenario(seed=7), make_scenario(seed=8)
    assert Counter(m.kind for m in seven.messages) == Counter(m.kind for m in eight.messages)
    assert [m.value for m in seven.messages] != [m.value for m in eight.messages]


def test_another_run_id_makes_every_ticket_feedback_and_post_new() -> None:
    def keys(scenario: Scenario) -> set[str | None]:
        return {m.key for m in good(scenario) if m.topic != RAW_ALERTS}

    first, second = make_scenario(run_id="r1"), make_scenario(run_id="r2")
    assert len(keys(first)) > 40
    assert keys(first).isdisjoint(keys(second))


def test_the_default_run_id_differs_between_start_times() -> None:
    now = make_scenario(run_id=None)
    later = make_scenario(run_id=None, started_at=START + timedelta(seconds=1))
    assert now.run_id != later.run_id


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"duration": 0}, "positive"),
        ({"speed": -1}, "positive"),
        ({"started_at": datetime(2025, 6, 4, 12, 0)}, "timezone"),  # noqa: DTZ001 - the naive case itself
        ({"run_id": "Has Spaces"}, "run id"),
    ],
)
def test_bad_arguments_are_refused(arguments: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        make_scenario(**arguments)


def test_every_well_formed_message_validates_against_its_raw_contract() -> None:
    scenario = make_scenario()
    for message in good(scenario):
        MODELS[message.kind].model_validate_json(message.value)
    topics = {m.kind: m.topic for m in good(scenario)}
    assert topics == {
        "alertmanager": RAW_ALERTS,
        "pagerduty": RAW_ALERTS,
        "zendesk": RAW_TICKETS,
        "generic_ticket": RAW_TICKETS,
        "feedback": RAW_FEEDBACK,
        "social": RAW_SOCIAL,
    }


@pytest.mark.parametrize(("duration", "speed", "incident_at"), [(60, 1, 10.0), (120, 1, 20.0), (60, 4, 2.5)])
def test_the_incident_starts_a_sixth_into_the_day_scaled_by_duration_and_speed(
    duration: float, speed: float, incident_at: float
) -> None:
    scenario = make_scenario(duration=duration, speed=speed)
    fired = next(
        m for m in scenario.messages if m.kind == "alertmanager" and CHECKOUT_ALERT.encode() in m.value
    )
    assert fired.at == incident_at
    assert all(m.at < incident_at for m in scenario.messages if m.at < fired.at)
    assert max(m.at for m in scenario.messages) <= scenario.wall_seconds


def test_payload_timestamps_follow_the_wall_clock_from_the_start() -> None:
    scenario = make_scenario(speed=2)
    for message in good(scenario):
        body = json.loads(message.value)
        stamp = body.get("created_at") or body.get("time")
        if stamp is not None:
            assert datetime.fromisoformat(stamp) == START + timedelta(seconds=message.at)


def test_before_the_incident_there_is_only_praise_ideas_and_questions() -> None:
    scenario = make_scenario()
    early = [json.loads(m.value) for m in scenario.messages if m.at < 10.0]
    assert {m.topic for m in scenario.messages if m.at < 10.0} == {RAW_FEEDBACK, RAW_SOCIAL, RAW_TICKETS}
    assert {f["category"] for f in early if "category" in f} <= {"praise", "idea", "question"}
    assert all(p.get("rating", 5) >= 4 for p in early if "platform" in p and "author" in p)


def test_the_checkout_alert_fires_at_10s_and_resolves_at_40s_as_the_same_alert() -> None:
    alerts = [
        a
        for a in payloads(make_scenario(), "alertmanager")
        if a["groupLabels"]["alertname"] == CHECKOUT_ALERT
    ]
    assert [(a["status"], a["alerts"][0]["labels"]["severity"]) for a in alerts] == [
        ("firing", "critical"),
        ("resolved", "critical"),
    ]
    fired, resolved = (a["alerts"][0] for a in alerts)
    assert fired["fingerprint"] == resolved["fingerprint"]
    assert fired["startsAt"] == resolved["startsAt"]
    assert fired["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["endsAt"] == "2025-06-04T12:00:40Z"


def test_pagerduty_triggers_the_checkout_incident_and_later_resolves_it() -> None:
    events = payloads(make_scenario(), "pagerduty")
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    assert events[0]["dedup_key"] == events[1]["dedup_key"]
    assert events[0]["payload"]["severity"] == "critical"


def test_the_complaint_flood_spans_every_source_with_enterprise_customers_and_a_big_account() -> None:
    scenario = make_scenario()
    flood = [m for m in scenario.messages if 11.0 < m.at < 25.0]
    assert Counter(m.kind for m in flood) == {
        "zendesk": 8,
        "generic_ticket": 7,
        "feedback": 10,
        "social": 8,
    }
    bodies = [json.loads(m.value) for m in flood]
    enterprise_zendesk = [b for b in bodies if "enterprise" in b.get("detail", {}).get("tags", [])]
    enterprise_generic = [b for b in bodies if b.get("requester", {}).get("tier") == "enterprise"]
    assert (len(enterprise_zendesk), len(enterprise_generic)) == (3, 2)
    assert all(b["rating"] <= 2 for b in bodies if "rating" in b and "category" in b)
    followers = sorted(b["author"]["followers"] for b in bodies if "author" in b)
    assert followers[-1] >= 100_000


def test_the_flood_says_the_same_thing_in_many_wordings_and_languages() -> None:
    flood = [json.loads(m.value) for m in make_scenario().messages if 11.0 < m.at < 25.0]
    texts = [b.get("text") or b.get("body") or b["detail"]["description"] for b in flood]
    assert len(set(texts)) >= 25
    joined = " ".join(texts)
    assert "funktioniert nicht" in joined
    assert "no funciona" in joined or "no puedo pagar" in joined
    assert "chekout" in joined  # a typo the keyword matcher cannot see
    languages = {b["lang"] for b in flood if "lang" in b}
    assert "en" in languages
    assert len(languages) >= 2


def test_the_login_latency_warning_flaps_six_times() -> None:
    flaps = [
        a for a in payloads(make_scenario(), "alertmanager") if a["groupLabels"]["alertname"] == LOGIN_ALERT
    ]
    assert [a["status"] for a in flaps] == ["firing", "resolved"] * FLAPS
    assert {a["alerts"][0]["labels"]["severity"] for a in flaps} == {"warning"}
    assert len({a["alerts"][0]["startsAt"] for a in flaps}) == FLAPS


def test_double_charges_reach_tickets_and_feedback_at_25s() -> None:
    subjects = [subject.encode() for subject, _ in texts.DOUBLE_CHARGE]
    charges = [m for m in make_scenario().messages if any(s in m.value for s in subjects)]
    assert len(charges) == 2
    assert {m.kind for m in charges} == {"generic_ticket", "feedback"}
    assert min(m.at for m in charges) == 25.0


def test_zendesk_updates_act_on_enterprise_tickets_created_earlier() -> None:
    events = payloads(make_scenario(), "zendesk")
    created = {e["detail"]["id"]: e for e in events if e["type"] == "zen:event-type:ticket.created"}
    updates = [e for e in events if e["type"] != "zen:event-type:ticket.created"]
    assert [(e["type"], e["event"]) for e in updates] == [
        ("zen:event-type:ticket.priority_changed", {"current": "urgent", "previous": "high"}),
        ("zen:event-type:ticket.status_changed", {"current": "pending", "previous": "new"}),
    ]
    assert updates[0]["detail"]["priority"] == "urgent"
    assert updates[1]["detail"]["status"] == "pending"
    for update in updates:
        assert "enterprise" in created[update["detail"]["id"]]["detail"]["tags"]


def test_exactly_two_deliberately_bad_messages_come_last() -> None:
    scenario = make_scenario()
    bad = [m for m in scenario.messages if m.deliberately_bad]
    assert [(m.kind, m.topic) for m in bad] == [("invalid_json", RAW_FEEDBACK), ("oversize", RAW_SOCIAL)]
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad[0].value)
    assert len(bad[1].value) > OVERSIZE_BYTES > 256 * 1024
    assert scenario.messages[-2:] == bad


def test_praise_returns_after_the_recovery() -> None:
    late = [json.loads(m.value) for m in good(make_scenario()) if m.at > 41.0]
    assert len(late) == 5
    assert all(b.get("rating", 5) >= 4 for b in late)
    assert {b["category"] for b in late if "category" in b} == {"praise"}


def test_every_beat_has_a_progress_line_and_the_beats_are_in_time_order() -> None:
    scenario = make_scenario()
    starts = [beat.at for beat in scenario.beats]
    assert starts == sorted(starts)
    assert all(beat.title and beat.messages for beat in scenario.beats)
    assert sum(len(beat.messages) for beat in scenario.beats) == len(scenario.messages)
