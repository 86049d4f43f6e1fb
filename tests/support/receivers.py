"""Real receivers for notification tests (a scripted HTTP server, an SMTP mailbox) and a policy folder
that points the notifier's channels at them, with decision and lifecycle event factories."""

import asyncio
import email
import email.policy
import json
import shutil
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiosmtpd.controller import Controller
from faststream.asgi import AsgiFastStream
from hypercare_contracts.common import ScoreItem, Severity, Source
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.notifications import NotificationRecord
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, Impact, IssueStatus, MergeRule, Route, TriagedIssue
from hypercare_notifier.planning import ChannelInfo, Channels
from hypercare_notifier.settings import NotifierSettings
from prometheus_client.parser import text_string_to_metric_families

from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for

IDEMPOTENCY = "x-hypercare-idempotency-key"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, headers, and how long to wait first (``hang`` never answers)."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False


@dataclass(frozen=True)
class Request:
    """A request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int | None

    @property
    def key(self) -> str:
        """The idempotency key header ('' when absent)."""
        return self.headers.get(IDEMPOTENCY, "")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class HttpReceiver:
    """A tiny HTTP/1.1 server: records every request and answers from a per-path script.

    The last reply of a script repeats. A request is recorded once its answer was written (or, for a
    hanging reply, when it arrived), with the status it got.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def script(self, path: str, *replies: Reply) -> str:
        """Answer ``path`` with ``replies`` in order; returns its URL."""
        self._scripts[path] = list(replies) or [Reply()]
        return self.url(path)

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        assert self._server is not None, "start() first"
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{path}"

    def on(self, path: str) -> list[Request]:
        """The requests to one path."""
        return [r for r in self.requests if r.path == path]

    def key_counts(self, path: str) -> Counter[str]:
        """How many accepted (2xx) requests each idempotency key got on ``path``."""
        return Counter(r.key for r in self.on(path) if r.answered is not None and 200 <= r.answered < 300)

    async def start(self) -> None:
        """Listen on a port the OS picks."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Close the server and drop hanging requests."""
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            script = self._scripts.get(path, [Reply(status=404, body=b"no such path")])
            reply = script.pop(0) if len(script) > 1 else script[0]
            if reply.hang:
                self.requests.append(Request(method, path, headers, body, time.monotonic(), None))
                await asyncio.Event().wait()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            writer.write(
                f"HTTP/1.1 {reply.status} X\r\nContent-Length: {len(reply.body)}\r\n"
                f"Connection: close\r\n{extra}\r\n".encode()
                + reply.body
            )
            await writer.drain()
            self.requests.append(Request(method, path, headers, body, time.monotonic(), reply.status))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client gave up (timeout, or it was killed) before the exchange finished
        finally:
            writer.close()
            self._handlers.discard(task)


@asynccontextmanager
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    """A started :class:`HttpReceiver`, stopped afterwards."""
    server = HttpReceiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Mailbox:
    """aiosmtpd handler keeping every message."""

    messages: list[EmailMessage] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.received_at.append(time.monotonic())
        return "250 Message accepted"


class _EphemeralController(Controller):
    """Binds port 0, then uses the port the OS gave it (aiosmtpd's start-up check needs the real one)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves this untyped


@contextmanager
def smtp_mailbox() -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on 127.0.0.1 (its own thread) and the mailbox it fills; yields (mailbox, port)."""
    mailbox = Mailbox()
    controller = _EphemeralController(mailbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


# --- Pointing the notifier at the receivers -------------------------------------------------------

WEBHOOK_SECRET = "whsec-notifier-tests"
ROUTING_KEY = "pd-routing-key-tests"
SECRET_ENV = {
    "HYPERCARE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "HYPERCARE_PAGERDUTY_PAYMENTS_ROUTING_KEY": ROUTING_KEY,
}
"""The channel secrets the test policy names (set them in the notifier's environment)."""


def receiver_policy_dir(
    target: Path,
    *,
    receiver: HttpReceiver,
    smtp_port: int,
    retry: dict[str, Any] | None = None,
    channel_overrides: dict[str, dict[str, Any]] | None = None,
    storm: dict[str, Any] | None = None,
) -> Path:
    """A policy folder copied from ``deploy/policy`` whose channels point at the test's receivers.

    Channels: ``console`` (never coloured), ``webhook`` (``/hook``), ``slack-payments`` (``/slack``),
    ``pagerduty-payments`` (``/pd``) and ``email-leads`` (the SMTP port). Retries are fast by default.
    """
    shutil.copytree(SHIPPED_POLICY, target, dirs_exist_ok=True)
    channels = yaml.safe_load((SHIPPED_POLICY / "channels.yaml").read_text(encoding="utf-8"))
    channels["retry"] = {
        "max_attempts": 3,
        "base_seconds": 0.05,
        "max_delay_seconds": 0.2,
        "jitter": "none",
        "max_retry_after_seconds": 2,
        "deadline_seconds": 20,
        **(retry or {}),
    }
    found = channels["channels"]
    found["console"]["color"] = "never"
    found["webhook"]["url"] = receiver.url("/hook")
    found["slack-payments"]["url"] = receiver.url("/slack")
    found["pagerduty-payments"]["url"] = receiver.url("/pd")
    found["email-leads"]["port"] = smtp_port
    for name, values in (channel_overrides or {}).items():
        found[name].update(values)
    (target / "channels.yaml").write_text(yaml.safe_dump(channels), encoding="utf-8")
    notifier = yaml.safe_load((SHIPPED_POLICY / "notifier.yaml").read_text(encoding="utf-8"))
    notifier["storm"].update(storm or {})
    (target / "notifier.yaml").write_text(yaml.safe_dump(notifier), encoding="utf-8")
    return target


def make_decision(*, channels: Sequence[str] = ("webhook",), **overrides: Any) -> TriagedIssue:
    """A valid ``created`` critical decision on the payments route, told on ``channels``."""
    issue_id = overrides.pop("issue_id", f"iss-{uuid.uuid4().hex[:10]}")
    version = overrides.get("version", 1)
    fields: dict[str, Any] = {
        "decision_id": f"{issue_id}:v{version}",
        "decision": Decision.CREATED,
        "issue_id": issue_id,
        "version": version,
        "title": "Checkout fails for card payments",
        "component": "checkout",
        "environment": "production",
        "status": IssueStatus.OPEN,
        "severity": Severity.CRITICAL,
        "impact": Impact(score=82, reach=90, financial=70, reputational=40),
        "breakdown": [ScoreItem(rule="reach", contribution=30.0, reason="37 distinct reporters")],
        "route": Route(
            name="payments-urgent",
            team="payments-team",
            escalation_policy="payments-oncall",
            channels=list(channels),
        ),
        "occurrences": 12,
        "distinct_reporters": 7,
        "merged_by": MergeRule.NEW,
        "sources": [Source.TICKETS],
        "first_seen": NOW,
        "last_seen": NOW,
        "decided_at": NOW,
        "notify": True,
    }
    fields.update(overrides)
    return TriagedIssue(**fields)


def make_sla_event(kind: SlaEventKind, step: int = 1) -> SlaEvent:
    """An SLA event of ``kind`` for the critical issue ``iss-1`` on the ``payments`` route (escalation ``step``)."""
    return SlaEvent(
        event_id=f"sla-{kind.value}-{step}",
        kind=kind,
        issue_id="iss-1",
        severity=Severity.CRITICAL,
        route="payments",
        target=SlaTarget.RESPONSE,
        due_at=NOW,
        emitted_at=NOW,
        business_elapsed_seconds=60,
        policy="p",
        escalation_step=step,
        escalation_target="cto",
    )


def make_lifecycle_event(
    issue_id: str, action: LifecycleAction = LifecycleAction.ACKNOWLEDGE, **overrides: Any
) -> LifecycleEvent:
    """The event the SLA service publishes when alice acknowledges (or ``action``s) an issue by the API."""
    to_status = {
        LifecycleAction.ACKNOWLEDGE: IssueStatus.ACKNOWLEDGED,
        LifecycleAction.RESOLVE: IssueStatus.RESOLVED,
        LifecycleAction.SNOOZE: IssueStatus.SNOOZED,
    }.get(action, IssueStatus.OPEN)
    command_id = overrides.pop("command_id", f"cmd-{uuid.uuid4().hex[:10]}")
    fields: dict[str, Any] = {
        "event_id": f"evt-{command_id}",
        "command_id": command_id,
        "issue_id": issue_id,
        "action": action,
        "actor": "alice",
        "via": Via.API,
        "at": NOW,
        "from_status": IssueStatus.RESOLVED if action is LifecycleAction.REOPEN else IssueStatus.OPEN,
        "to_status": to_status,
    }
    fields.update(overrides)
    return LifecycleEvent(**fields)


NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
PLANNING_CHANNELS = Channels(
    known={
        "console": ChannelInfo("console", pager=False),
        "slack": ChannelInfo("slack", pager=False),
        "pd": ChannelInfo("pd", pager=True),
    },
    default="console",
)
"""The channels the notifier's planning tests plan for: two that only tell, and a pager."""
PLANNING_ROUTE = Route(name="payments", team="t", escalation_policy="p", channels=["slack", "pd"])
"""A route to those channels."""
SHIPPED_POLICY = Path(__file__).resolve().parents[2] / "deploy" / "policy"


# --- The notifier's test stack ---------------------------------------------------------------------


@dataclass
class NotifierStack:
    """Per-test topics, receivers, database and Redis prefix for running notifiers against."""

    kafka: KafkaTestKit
    topics: dict[str, str]
    receiver: HttpReceiver
    mailbox: Mailbox
    smtp_port: int
    database_url: str
    endpoints: Endpoints
    tmp: Path
    prefix: str

    def settings(self, group_id: str, policy: Path, **overrides: Any) -> NotifierSettings:
        """Settings for one notifier instance on this stack."""
        return NotifierSettings(**{**self.env_values(group_id, policy), **overrides})

    def env_values(self, group_id: str, policy: Path) -> dict[str, Any]:
        """The settings' values (also what a subprocess gets as ``HYPERCARE_*`` variables)."""
        return {
            "kafka_bootstrap": self.endpoints.kafka_bootstrap,
            "database_url": self.database_url,
            "redis_url": self.endpoints.redis_url,
            "group_id": group_id,
            "triaged_topic": self.topics["triaged"],
            "sla_topic": self.topics["sla"],
            "lifecycle_topic": self.topics["lifecycle"],
            "notifications_topic": self.topics["notifications"],
            "deadletter_topic": self.topics["deadletter"],
            "policy_dir": str(policy),
            "redis_prefix": self.prefix,
            "claim_seconds": 3.0,
            "poll_seconds": 0.1,
            "digest_poll_seconds": 0.3,
        }

    def policy(self, name: str = "policy", **options: Any) -> Path:
        """A policy folder pointing at this stack's receivers (see :func:`receiver_policy_dir`)."""
        return receiver_policy_dir(
            self.tmp / name, receiver=self.receiver, smtp_port=self.smtp_port, **options
        )

    async def decide(self, *decisions: TriagedIssue) -> None:
        """Produce decisions on the triaged topic, keyed by issue."""
        for decision in decisions:
            await self.kafka.send(
                self.topics["triaged"], decision.model_dump_json(), key=decision.issue_id.encode()
            )

    async def lifecycle(self, *events: LifecycleEvent, marked: str | None = "event") -> None:
        """Produce lifecycle events on the lifecycle topic, keyed by issue, with ``hypercare-message: marked``
        (as the SLA service does; ``None`` leaves the header out)."""
        headers = {"hypercare-message": marked} if marked is not None else None
        for event in events:
            await self.kafka.send(
                self.topics["lifecycle"],
                event.model_dump_json(),
                key=event.issue_id.encode(),
                headers=headers,
            )

    async def sla(self, *events: SlaEvent) -> None:
        """Produce SLA events on the SLA topic, keyed by issue."""
        for event in events:
            await self.kafka.send(self.topics["sla"], event.model_dump_json(), key=event.issue_id.encode())

    async def records(
        self, count: int, *, settle: float = 1.5, timeout: float = 30
    ) -> list[NotificationRecord]:
        """The notification records published so far (at least ``count``, or what came by the deadline)."""
        got = await self.kafka.collect(
            [self.topics["notifications"]], count=count, timeout=timeout, settle=settle
        )
        return [NotificationRecord.model_validate_json(m.value) for m in got]


@asynccontextmanager
async def notifier_stack(
    kafka: KafkaTestKit, endpoints: Endpoints, database_url: str, tmp: Path
) -> AsyncIterator[NotifierStack]:
    """Topics, an HTTP receiver answering 2xx on ``/hook``, ``/slack``, ``/pd``, and an SMTP mailbox."""
    topics = await kafka.topics("triaged", "sla", "lifecycle", "notifications", "deadletter")
    with smtp_mailbox() as (mailbox, port):
        async with http_receiver() as receiver:
            receiver.script("/hook", Reply(status=200))
            receiver.script("/slack", Reply(status=200))
            receiver.script("/pd", Reply(status=202))
            prefix = f"test-notifier-{uuid.uuid4().hex[:10]}"
            yield NotifierStack(kafka, topics, receiver, mailbox, port, database_url, endpoints, tmp, prefix)


# --- Watching a notifier under test ----------------------------------------------------------------

QUIET = 1.5
"""How long a count must stay put once the notifier consumed everything, to show nothing more is coming."""


async def metric(app: AsgiFastStream, name: str, **labels: str) -> float:
    """One sample of the notifier's ``/metrics`` (0 when absent), read as a scraper would."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def consumed(app: AsgiFastStream, topic: str, count: int) -> None:
    """Wait until the notifier has handled ``count`` messages of ``topic`` (its consumed counter)."""

    async def done() -> bool:
        return await metric(app, "hypercare_messages_consumed_total", topic=topic) >= count

    await wait_for(done, timeout=30, what=f"{count} messages of {topic} handled")


async def stays(value: Callable[[], int], expected: int, *, seconds: float = QUIET) -> None:
    """Assert ``value()`` is ``expected`` now and keeps that value for ``seconds``."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        assert value() == expected
        await asyncio.sleep(0.1)
    assert value() == expected
