"""Fixtures shared by the integration tests (the stack-wide ones are in ``tests/conftest.py``)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit
from tests.support.receivers import SECRET_ENV, NotifierStack, notifier_stack


@pytest.fixture
async def stack(
    kafka: KafkaTestKit,
    endpoints: Endpoints,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[NotifierStack]:
    """What a notifier under test talks to: its topics, HTTP receivers, an SMTP mailbox, channel secrets.

    The SLA tests define a ``stack`` of their own, which takes precedence in their modules.
    """
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    async with notifier_stack(kafka, endpoints, database_url, tmp_path) as found:
        yield found
