"""The lifecycle HTTP API: commands on issues, the issue view, and signed one-click action links."""

import hashlib
import html
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import Body, FastAPI, Header, Path, Request
from fastapi.responses import HTMLResponse
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, LifecycleEvent, Via
from hypercare_domain.notify.links import ActionTokenError, verify_action
from hypercare_domain.sla import Clock
from hypercare_runtime.deadletter import NUL_REASON
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hypercare_sla.auth import ApiAuth
from hypercare_sla.errors import ApiError
from hypercare_sla.service import CommandResult, Outcome, SlaService, rejection_status
from hypercare_sla.views import IssueView

LINK_ACTOR = "action-link"
_MAX_KEY = 150


class ApiAction(StrEnum):
    """The commands the API offers (pause and resume come from sources only)."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    SNOOZE = "snooze"
    REASSIGN = "reassign"
    COMMENT = "comment"


class CommandBody(BaseModel):
    """Arguments of a command: ``snooze_until`` for snooze, ``team`` for reassign, ``comment`` for comment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    snooze_until: AwareDatetime | None = None
    team: str | None = Field(default=None, min_length=1, max_length=200)
    comment: str | None = Field(default=None, min_length=1, max_length=4000)


class CommandResponse(BaseModel):
    """A command that was applied (now, or earlier under the same idempotency key)."""

    model_config = ConfigDict(frozen=True)

    outcome: Literal["applied", "replayed"]
    event: LifecycleEvent


def _refuse_nul(*texts: str | None) -> None:
    """422 for a text PostgreSQL cannot store (a path or body that holds U+0000), instead of a 500."""
    if any(text is not None and "\x00" in text for text in texts):
        raise ApiError(422, "invalid_request", NUL_REASON)


def add_api_routes(app: FastAPI, *, auth: ApiAuth, service: Callable[[], SlaService]) -> None:
    """``POST /v1/issues/{id}/{action}`` and ``GET /v1/issues/{id}``, behind bearer tokens."""

    @app.post("/v1/issues/{issue_id}/{action}", response_model=CommandResponse)
    async def command(
        issue_id: Annotated[str, Path(min_length=1, max_length=200)],
        action: ApiAction,
        body: Annotated[CommandBody | None, Body()] = None,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header(max_length=_MAX_KEY)] = None,
    ) -> CommandResponse:
        user = auth.identify(authorization)
        args = body or CommandBody()
        _refuse_nul(issue_id, args.team, args.comment, idempotency_key)
        key = idempotency_key or uuid.uuid4().hex
        try:
            cmd = LifecycleCommand(
                command_id=f"api:{user}:{key}",
                issue_id=issue_id,
                action=LifecycleAction(action.value),
                actor=user,
                via=Via.API,
                snooze_until=args.snooze_until,
                team=args.team,
                comment=args.comment,
            )
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            raise ApiError(422, "invalid_request", reason) from exc
        return _answer(await service().execute(cmd))

    @app.get("/v1/issues/{issue_id}", response_model=IssueView)
    async def issue(
        issue_id: Annotated[str, Path(min_length=1, max_length=200)],
        authorization: Annotated[str | None, Header()] = None,
    ) -> IssueView:
        auth.identify(authorization)
        _refuse_nul(issue_id)
        view = await service().view(issue_id)
        if view is None:
            raise ApiError(404, "not_found", f"issue {issue_id} is unknown to the SLA service")
        return view


def add_action_routes(
    app: FastAPI, *, secret: SecretStr | None, clock: Clock, service: Callable[[], SlaService]
) -> None:
    """``GET /v1/actions/{token}`` (a confirmation page) and ``POST`` (performs it).

    GET never changes anything, so link scanners and mail prefetchers that follow links acknowledge nothing;
    the page's button posts to the same URL. The token is the credential: no login is needed.
    """
    app.add_exception_handler(LinkPageError, _on_link_error)

    def verified(token: str) -> tuple[str, LifecycleAction]:
        if secret is None:
            raise LinkPageError(
                503, "Links are switched off", "HYPERCARE_ACTION_SECRET is not set on the SLA service."
            )
        try:
            issue_id, action = verify_action(token, secret.get_secret_value(), clock.now())
        except ActionTokenError as exc:
            raise LinkPageError(403, "This link cannot be used", str(exc)) from exc
        return issue_id, LifecycleAction(action.value)

    @app.get("/v1/actions/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def confirm(token: str) -> HTMLResponse:
        issue_id, action = verified(token)
        verb = html.escape(action.value.capitalize())
        form = f'<form method="post"><button type="submit">{verb}</button></form>'
        return _html(200, f"{action.value.capitalize()} issue {issue_id}?", form)

    @app.post("/v1/actions/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def perform(token: str) -> HTMLResponse:
        issue_id, action = verified(token)
        digest = hashlib.sha256(token.encode()).hexdigest()[:40]
        cmd = LifecycleCommand(
            command_id=f"link:{digest}", issue_id=issue_id, action=action, actor=LINK_ACTOR, via=Via.LINK
        )
        result = await service().execute(cmd)
        if result.outcome is Outcome.APPLIED:
            return _html(200, f"Issue {issue_id}: {action.value} done", "You can close this page.")
        status, error = _failure(result)
        raise LinkPageError(status, f"Issue {issue_id} was not changed", error.body.reason)


class LinkPageError(Exception):
    """An action-link failure, shown as an HTML page (links are opened by people in a browser)."""

    def __init__(self, status_code: int, title: str, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.title = title
        self.reason = reason


async def _on_link_error(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, LinkPageError)
    return _html(exc.status_code, exc.title, html.escape(exc.reason))


def _html(status: int, title: str, body: str) -> HTMLResponse:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'><meta name='robots' content='noindex'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{body}</p></body></html>"
    )
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(text, status_code=status, headers=headers)


def _answer(result: CommandResult) -> CommandResponse:
    if result.outcome is Outcome.APPLIED and result.event is not None:
        return CommandResponse(outcome="replayed" if result.replayed else "applied", event=result.event)
    raise _failure(result)[1]


def _failure(result: CommandResult) -> tuple[int, ApiError]:
    issue_id = result.command.issue_id
    if result.outcome is Outcome.NOT_FOUND:
        return 404, ApiError(404, "not_found", f"issue {issue_id} is unknown to the SLA service")
    if result.outcome is Outcome.KEY_REUSED:
        reason = "this Idempotency-Key was already used for another issue or action"
        return 422, ApiError(422, "idempotency_key_reused", reason)
    rejection = result.rejection
    assert rejection is not None, "a command is applied, rejected, unknown or a reused key"
    code = rejection_status(rejection)
    return code, ApiError(code, rejection.reason.value, rejection.message, status=rejection.status.value)
