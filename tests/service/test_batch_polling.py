"""Every batch consumer of the stream services polls without FastStream's idle sleep.

FastStream's own batch loop sleeps its timeout after every empty poll (``tests/unit/test_runtime_polling.py``);
a batch subscriber made with ``broker.subscriber(batch=True)`` instead of ``hypercare_runtime.kafka.
batch_subscriber`` would bring that sleep back. The SLA service consumes one message at a time.
"""

from collections.abc import Callable

import pytest
from faststream.asgi import AsgiFastStream
from faststream.kafka.subscriber.usecase import BatchSubscriber
from hypercare_normalizer.app import create_app as create_normalizer
from hypercare_normalizer.settings import NormalizerSettings
from hypercare_notifier.app import create_app as create_notifier
from hypercare_notifier.settings import NotifierSettings
from hypercare_triage.app import create_app as create_triage
from hypercare_triage.settings import TriageSettings

pytestmark = pytest.mark.service


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: create_normalizer(NormalizerSettings()), id="normalizer"),
        pytest.param(lambda: create_triage(TriageSettings()), id="triage"),
        pytest.param(lambda: create_notifier(NotifierSettings()), id="notifier"),
    ],
)
def test_batch_subscribers_poll_without_idle_sleep(build: Callable[[], AsgiFastStream]) -> None:
    app = build()
    assert app.broker is not None
    batch = [sub for sub in app.broker.subscribers if isinstance(sub, BatchSubscriber)]

    assert batch, "the service has no batch subscriber"
    for sub in batch:
        assert "get_msg" in vars(sub), f"{sub} polls with FastStream's own get_msg"
