"""E-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

import asyncio
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from hypercare_contracts.common import Severity
from hypercare_contracts.notifications import DeliveryOutcome
from hypercare_domain.notify.render import NotificationKind, RenderedNotification, RouteSummary, Urgency
from hypercare_domain.notify.retry import ErrorKind, RetryPolicy
from hypercare_notifier.channels import EmailChannel, deliver

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps every message; refuses recipients listed in ``refuse`` with their reply."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class EphemeralController(Controller):
    """A Controller that binds port 0 and then uses the port the OS gave it.

    aiosmtpd's start-up check connects to ``self.port``; with port 0 it must first learn the real one.
    """

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves this untyped


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = EphemeralController(mailbox, hostname="127.0.0.1", port=0)
    controller.start()
    yield mailbox, controller.port
    controller.stop()


def make_note(**overrides: object) -> RenderedNotification:
    fields: dict[str, object] = {
        "kind": NotificationKind.TRIGGER,
        "urgency": Urgency.PAGE,
        "trigger_id": "dec-1",
        "issue_id": "iss-42",
        "title": "[CRITICAL] Checkout <fails> & more",
        "headline": "New critical issue",
        "severity": Severity.CRITICAL,
        "occurred_at": NOW,
        "route": RouteSummary(name="payments", team="payments-oncall"),
        "acknowledge_url": "http://127.0.0.1:8080/v1/actions/ack-token",
    }
    fields.update(overrides)
    return RenderedNotification(**fields)  # type: ignore[arg-type]


def make_channel(port: int, recipients: list[str] | None = None) -> EmailChannel:
    return EmailChannel(
        name="email-leads",
        host="127.0.0.1",
        port=port,
        sender="hypercare@localhost",
        recipients=recipients or ["leads@localhost", "cto@localhost"],
        timeout=5.0,
    )


async def no_sleep(delay: float) -> None:
    return None


async def test_multipart_email_with_plain_and_html_parts(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    result = await deliver(make_channel(port), make_note(), "key-mail-1", RetryPolicy())
    assert result.outcome is DeliveryOutcome.SENT
    [message] = mailbox.messages
    assert mailbox.envelopes == [("hypercare@localhost", ["leads@localhost", "cto@localhost"])]
    assert message["Subject"] == "[CRITICAL] Checkout <fails> & more"
    assert message["X-Hypercare-Idempotency-Key"] == "key-mail-1"
    assert message["Importance"] == "high"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert "New critical issue" in plain.get_content()
    assert "Acknowledge: http://127.0.0.1:8080/v1/actions/ack-token" in plain.get_content()
    assert "Checkout &lt;fails&gt; &amp; more" in html.get_content()
    assert "<fails>" not in html.get_content()


async def test_retries_of_one_notification_share_a_message_id(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    channel = make_channel(port)
    await channel.send(make_note(), idempotency_key="same")
    await channel.send(make_note(), idempotency_key="same")
    await channel.send(make_note(), idempotency_key="other")
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert ids[0] == ids[1] != ids[2]


async def test_permanent_refusal_fails_at_once(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.refuse["nobody@localhost"] = "550 5.1.1 no such user"
    result = await deliver(
        make_channel(port, ["nobody@localhost"]), make_note(), "k", RetryPolicy(), sleep=no_sleep
    )
    assert result.outcome is DeliveryOutcome.FAILED
    assert [a.error for a in result.attempts] == [ErrorKind.REJECTED]
    assert mailbox.messages == []


async def test_temporary_refusal_is_retried(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.refuse["busy@localhost"] = "451 4.3.0 try again later"
    policy = RetryPolicy(max_attempts=3)
    result = await deliver(make_channel(port, ["busy@localhost"]), make_note(), "k", policy, sleep=no_sleep)
    assert result.outcome is DeliveryOutcome.FAILED
    assert [a.error for a in result.attempts] == [ErrorKind.TRANSIENT] * 3
