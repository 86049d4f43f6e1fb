"""The SLA service's signed action links in memory: GET only confirms, POST acts once, bad links are 403."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypercare_contracts.lifecycle import LifecycleAction
from hypercare_domain.notify.links import Action, sign_action

from tests.support.sla_in_memory import AUTH, SECRET, opened, sla_service

pytestmark = pytest.mark.service


def link(
    issue_id: str, action: Action = Action.ACKNOWLEDGE, *, hours: float = 1, secret: str = SECRET
) -> str:
    token = sign_action(issue_id, action, datetime.now(UTC) + timedelta(hours=hours), secret)
    return f"/v1/actions/{token}"


async def test_action_link_get_only_confirms_and_post_acknowledges_once() -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        url = link(issue_id)
        page = await sla.client.get(url)
        status_after_get = (await sla.client.get(f"/v1/issues/{issue_id}", headers=AUTH)).json()["status"]
        done = await sla.client.post(url)
        again = await sla.client.post(url)
        events = sla.lifecycle_events()
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert issue_id in page.text
    assert page.headers["cache-control"] == "no-store"
    assert status_after_get == "open"
    assert (done.status_code, again.status_code) == (200, 200)
    assert [(e.action, e.via.value, e.actor) for e in events] == [
        (LifecycleAction.ACKNOWLEDGE, "link", "action-link")
    ]


@pytest.mark.parametrize(
    ("make_url", "reason"),
    [
        (lambda issue_id: link(issue_id, secret="another-secret"), "signature does not match"),
        (lambda issue_id: link(issue_id, hours=-1), "expired"),
        (lambda issue_id: link(issue_id)[:-3] + "AAA", "signature does not match"),
        (lambda issue_id: "/v1/actions/not-a-token", "two base64 parts"),
    ],
)
async def test_bad_action_links_are_403_with_the_reason(make_url: Any, reason: str) -> None:
    async with sla_service() as sla:
        issue_id = await opened(sla)
        url = make_url(issue_id)
        shown = await sla.client.get(url)
        posted = await sla.client.post(url)
        events = sla.lifecycle_events()
    assert (shown.status_code, posted.status_code) == (403, 403)
    assert reason in shown.text
    assert reason in posted.text
    assert events == []


async def test_action_links_without_a_secret_are_switched_off() -> None:
    async with sla_service(secret=None) as sla:
        issue_id = await opened(sla)
        response = await sla.client.post(link(issue_id))
    assert response.status_code == 503
    assert "HYPERCARE_ACTION_SECRET" in response.text
