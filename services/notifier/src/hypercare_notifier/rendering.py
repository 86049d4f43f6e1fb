"""Render a claimed delivery into the notification its channel sends."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypercare_contracts.lifecycle import LifecycleEvent
from hypercare_contracts.sla import SlaEvent
from hypercare_contracts.triaged import TriagedIssue
from hypercare_domain.notify.digest import render_digest
from hypercare_domain.notify.links import ActionLinks
from hypercare_domain.notify.render import (
    NotificationKind,
    RenderedNotification,
    render,
    render_lifecycle,
    render_sla,
)
from hypercare_store.deliveries import ClaimedDelivery

from hypercare_notifier.planning import TriggerKind

DigestMembers = Callable[[str], Awaitable[list[str]]]


class RenderError(ValueError):
    """A stored delivery cannot be rendered (a defect, or a digest with nothing folded into it)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """The notification and, for a digest, how many folded notifications it accounts for."""

    note: RenderedNotification
    digest_count: int | None = None


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Signs the action links of an issue, when a link secret is configured."""

    base_url: str
    secret: str | None
    ttl: timedelta

    def links(self, issue_id: str, now: datetime) -> ActionLinks | None:
        """The issue's links, or ``None`` without a secret."""
        if self.secret is None:
            return None
        return ActionLinks.sign(
            base_url=self.base_url, issue_id=issue_id, secret=self.secret, expires_at=now + self.ttl
        )


class Renderer:
    """Turns a stored trigger back into a :class:`RenderedNotification`."""

    def __init__(self, *, signer: LinkSigner, members: DigestMembers, digest_max_entries: int) -> None:
        self._signer = signer
        self._members = members
        self._max_entries = digest_max_entries

    async def render(self, row: ClaimedDelivery, now: datetime) -> Rendered:
        """Render ``row``.

        Rendering is pure once a digest's members are read: whatever it raises (a payload that no
        longer validates, a time out of range, a defect) it would raise on every attempt, so it is a
        :class:`RenderError` and the delivery fails. Reading the members is the one part that can fail
        for a while (the database); that failure is raised as it is, and the delivery is tried again.

        Raises:
            RenderError: the stored trigger does not render.
        """
        members: list[str] = []
        if row.trigger_kind == TriggerKind.DIGEST.value:
            members = await self._members(row.trigger_id)
        try:
            return self._render(row, now, members)
        except RenderError:
            raise
        except Exception as exc:  # pure code failing on this row: it would fail on every attempt
            raise RenderError(
                f"cannot render {row.trigger_kind} {row.trigger_id}: {type(exc).__name__}"
            ) from exc

    def _render(self, row: ClaimedDelivery, now: datetime, members: list[str]) -> Rendered:
        kind = TriggerKind(row.trigger_kind)
        if kind is TriggerKind.DECISION:
            issue = TriagedIssue.model_validate_json(row.payload)
            override = NotificationKind(row.kind) if row.kind else None
            links = self._signer.links(issue.issue_id, now)
            return Rendered(render(issue, links=links, sla=None, kind=override))
        if kind is TriggerKind.SLA:
            stored = json.loads(row.payload)
            event = SlaEvent.model_validate(stored["event"])
            known = TriagedIssue.model_validate(stored["issue"]) if stored.get("issue") else None
            return Rendered(render_sla(event, known, self._signer.links(event.issue_id, now)))
        if kind is TriggerKind.LIFECYCLE:
            stored = json.loads(row.payload)
            change = LifecycleEvent.model_validate(stored["event"])
            issue = TriagedIssue.model_validate(stored["issue"])
            return Rendered(render_lifecycle(change, issue, self._signer.links(change.issue_id, now)))
        return self._digest(row, members)

    def _digest(self, row: ClaimedDelivery, members: list[str]) -> Rendered:
        if not members:
            raise RenderError(f"digest {row.trigger_id} has no folded notifications")
        window = json.loads(row.payload)
        note = render_digest(
            [TriagedIssue.model_validate_json(text) for text in members],
            route=window["route"],
            window_start=datetime.fromisoformat(window["window_start"]),
            window_end=datetime.fromisoformat(window["window_end"]),
            max_entries=self._max_entries,
        )
        return Rendered(note, digest_count=len(members))
