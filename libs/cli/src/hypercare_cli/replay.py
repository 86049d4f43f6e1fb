"""``hypercare triage replay FILE.jsonl``: normalize and triage a file of raw events offline.

The same normalization and triage code as the services, with issues kept in memory: no Kafka, no
database, and the same output for the same file every time (each report is judged at its envelope's
timestamp, and its trace id comes from its line number).
"""

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from hypercare_contracts import ErrorClass, NormalizedReport, TriagedIssue
from hypercare_contracts.topics import RAW_TOPICS
from hypercare_domain.normalize import ComponentMap, Rejected, load_component_map, normalize_bytes
from hypercare_domain.policy import PolicyError, default_policy_dir
from hypercare_domain.triage import (
    InMemoryIssues,
    TriagePolicies,
    load_triage_policies,
    triage_batch,
    written_breakdown,
)

Row = dict[str, Any]


@dataclass(frozen=True)
class Envelope:
    """One line of the file: the raw topic, the message body and when it entered Kafka."""

    topic: str
    body: bytes
    received_at: datetime


def _timestamp(value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)  # kcat -J: milliseconds since the epoch
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise Rejected(
        ErrorClass.SCHEMA_VIOLATION,
        f"envelope time {value!r} is neither an ISO 8601 time with a zone nor kcat's ts in milliseconds",
    )


def parse_envelope(line: str) -> Envelope:
    """Read ``{topic, value, key, timestamp}`` or kcat -J's ``{topic, partition, offset, ts, key, payload}``.

    Raises:
        Rejected: not JSON, not an object, not an envelope, or a topic other than the raw topics.
    """
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise Rejected(
            ErrorClass.INVALID_JSON, f"the line is not JSON ({exc.msg} at column {exc.colno})"
        ) from exc
    if not isinstance(data, dict):
        raise Rejected(ErrorClass.NOT_AN_OBJECT, "the line is not a JSON object envelope")
    if isinstance(data.get("topic"), str) and isinstance(data.get("payload"), str) and "ts" in data:
        body, when = data["payload"].encode(), data["ts"]
    elif isinstance(data.get("topic"), str) and "value" in data and "timestamp" in data:
        value = data["value"]
        body = value.encode() if isinstance(value, str) else json.dumps(value).encode()
        when = data["timestamp"]
    else:
        raise Rejected(
            ErrorClass.SCHEMA_VIOLATION,
            "not an envelope: expected topic, value and timestamp (or kcat -J's topic, payload and ts)",
        )
    if data["topic"] not in RAW_TOPICS:
        raise Rejected(
            ErrorClass.UNKNOWN_TOPIC, f"topic {data['topic']!r} is not a raw topic ({', '.join(RAW_TOPICS)})"
        )
    return Envelope(topic=data["topic"], body=body, received_at=_timestamp(when))


class Replay:
    """Normalizes and triages lines one by one, keeping issues and what the summary needs."""

    def __init__(self, policies: TriagePolicies, components: ComponentMap) -> None:
        """Start with no issues."""
        self._policies = policies
        self._components = components
        self.issues = InMemoryIssues()
        self.reports_per_issue: Counter[str] = Counter()
        self.dead: Counter[str] = Counter()
        self.notifications: list[tuple[int, TriagedIssue]] = []
        self.reports = 0

    def line(self, number: int, text: str) -> Iterator[Row]:
        """The output rows of one input line (one per report, or one dead letter)."""
        try:
            envelope = parse_envelope(text)
            reports = normalize_bytes(
                envelope.topic,
                envelope.body,
                received_at=envelope.received_at,
                trace_id=f"replay-line-{number}",
                components=self._components,
            )
        except Rejected as exc:
            self.dead[exc.error_class.value] += 1
            yield {
                "input_line": number,
                "outcome": "deadletter",
                "error_class": exc.error_class.value,
                "reason": exc.reason,
            }
            return
        for report in reports:
            yield self._triage(number, report)

    def _triage(self, number: int, report: NormalizedReport) -> Row:
        self.reports += 1
        result = triage_batch([report], self.issues, self._policies, report.received_at)
        if result.failed:  # a defect: the service dead-letters the report the same way
            self.dead[ErrorClass.PROCESSING_ERROR.value] += 1
            return {
                "input_line": number,
                "outcome": "deadletter",
                "error_class": ErrorClass.PROCESSING_ERROR.value,
                "reason": result.failed[0].reason,
            }
        self.issues.apply(result)
        link = next((link for link in result.report_links if link.event_id == report.event_id), None)
        decision = next((d for d in result.decisions if d.event_id == report.event_id), None)
        state = result.states_changed.get(link.issue_id) if link else None
        if link is not None:
            self.reports_per_issue[link.issue_id] += 1
        if decision is not None and decision.notify:
            self.notifications.append((number, decision))
        return {
            "input_line": number,
            "outcome": "accepted",
            "fingerprint": report.fingerprint,
            "event_id": report.event_id,
            "issue_id": link.issue_id if link else None,
            "merged_by": link.rule.value if link else None,
            "decision": decision.decision.value if decision else None,
            "severity": state.severity.value if state else None,
            "impact": state.impact.model_dump(mode="json") if state else None,
            "breakdown": (
                [item.model_dump(mode="json") for item in written_breakdown(state, self._policies)]
                if state
                else []
            ),
            "route": state.route.model_dump(mode="json") if state else None,
            "notify": bool(decision and decision.notify),
        }

    def summary(self, out: TextIO) -> None:
        """Issues by severity, groups with their report counts, dead letters, notifications."""
        issues = [issue for issue in self.issues.all() if issue.issue_id in self.reports_per_issue]
        severities = Counter(issue.severity.value for issue in issues)
        print(f"replayed {self.reports} reports into {len(issues)} issues", file=out)
        print("issues by severity: " + _counts(severities, ("critical", "high", "medium", "low")), file=out)
        print("groups:", file=out)
        ordered = sorted(
            issues, key=lambda i: (-i.severity.rank, -self.reports_per_issue[i.issue_id], i.issue_id)
        )
        for issue in ordered:
            reports = self.reports_per_issue[issue.issue_id]
            flaps = f", flap_count {issue.flap_count}" if issue.flap_count else ""
            print(
                f"  {issue.issue_id} {issue.severity.value:<8} {issue.status.value:<8} {reports:>3} reports"
                f"{flaps}  {issue.title}",
                file=out,
            )
        print("dead letters by reason: " + (_counts(self.dead, sorted(self.dead)) or "none"), file=out)
        print(f"notifications that would be sent: {len(self.notifications)}", file=out)
        for number, decision in self.notifications:
            print(
                f"  line {number}: {decision.decision.value} {decision.severity.value} {decision.issue_id}"
                f" -> {decision.route.team}  {decision.title}",
                file=out,
            )


def _counts(counter: Counter[str], order: Any) -> str:
    return ", ".join(f"{name} {counter[name]}" for name in order if counter[name])


def run(args: argparse.Namespace) -> int:
    """Replay ``args.file``; 0 on success, 2 when the file or the policy cannot be read."""
    path: Path = args.file
    policy_dir: Path = args.policy_dir or default_policy_dir()
    if not path.is_file():
        print(f"hypercare triage replay: no such file: {path}", file=sys.stderr)
        return 2
    try:
        replay = Replay(load_triage_policies(policy_dir), load_component_map(policy_dir))
    except PolicyError as exc:
        print(f"hypercare triage replay: invalid policy in {policy_dir}: {exc}", file=sys.stderr)
        return 2
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            for row in replay.line(number, text):
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    replay.summary(sys.stderr)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``triage replay`` to the ``hypercare`` command."""
    triage = subparsers.add_parser("triage", help="triage tools")
    commands = triage.add_subparsers(dest="triage_command", required=True)
    replay = commands.add_parser(
        "replay",
        help="normalize and triage a JSON Lines file of raw events offline; one JSON result per line",
        description=__doc__,
    )
    replay.add_argument("file", type=Path, help="JSON Lines: {topic, value, key, timestamp} or kcat -J lines")
    replay.add_argument(
        "--policy-dir", type=Path, default=None, help="policy folder (default: deploy/policy)"
    )
    replay.set_defaults(run=run)
