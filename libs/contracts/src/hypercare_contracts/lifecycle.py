"""Lifecycle commands (``hypercare.issues.lifecycle``) and the events they produce."""

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from hypercare_contracts.common import Contract, Instant, Key
from hypercare_contracts.triaged import IssueStatus


class LifecycleAction(StrEnum):
    """What a person (or a source) does to an issue."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    SNOOZE = "snooze"
    REASSIGN = "reassign"
    COMMENT = "comment"
    PAUSE = "pause"
    """The source waits on the customer (a Zendesk ticket set to pending): SLA clocks pause."""
    RESUME = "resume"


class Via(StrEnum):
    """Which way a change came in."""

    API = "api"
    LINK = "link"
    KAFKA = "kafka"
    SOURCE = "source"
    TRIAGE = "triage"


class LifecycleCommand(Contract):
    """A request to change an issue, idempotent by ``command_id``."""

    schema_version: Literal[1] = 1
    command_id: str = Field(min_length=1, max_length=200)
    issue_id: str = Field(min_length=1, max_length=200)
    action: LifecycleAction
    actor: str = Field(min_length=1, max_length=200)
    via: Via = Via.KAFKA
    at: Instant | None = None
    snooze_until: Instant | None = None
    team: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _needs_arguments(self) -> "LifecycleCommand":
        if self.action is LifecycleAction.SNOOZE and self.snooze_until is None:
            raise ValueError("snooze needs snooze_until")
        if self.action is LifecycleAction.REASSIGN and not self.team:
            raise ValueError("reassign needs team")
        if self.action is LifecycleAction.COMMENT and not self.comment:
            raise ValueError("comment needs comment")
        return self


class LifecycleEvent(Contract):
    """A change that happened to an issue (also written to the audit log)."""

    schema_version: Literal[1] = 1
    event_id: Key
    command_id: Key
    issue_id: Key
    action: LifecycleAction
    actor: str
    via: Via
    at: Instant
    from_status: IssueStatus
    to_status: IssueStatus
    team: str | None = None
    snooze_until: Instant | None = None
    comment: str | None = None
