"""Every error the lifecycle API answers, as one JSON shape: ``{"error", "reason", "status"}``."""

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    error: str
    """Machine-readable: a domain rejection reason (``already_done``, ``invalid_transition``,
    ``snooze_in_past``) or an HTTP one (``unauthorized``, ``not_found``, ``invalid_request``,
    ``idempotency_key_reused``)."""
    reason: str
    """What is wrong, for a person."""
    status: str | None = None
    """The issue's current status, when the command was refused because of it."""


class ApiError(Exception):
    """An error answered to the caller."""

    def __init__(
        self,
        status_code: int,
        error: str,
        reason: str,
        *,
        status: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.body = ErrorBody(error=error, reason=reason, status=status)
        self.headers = dict(headers or {})


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body.model_dump(), status_code=exc.status_code, headers=exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    body = ErrorBody(error="invalid_request", reason=f"{where}: {first.get('msg', 'invalid request')}")
    return JSONResponse(body.model_dump(), status_code=422)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = ErrorBody(error=error, reason=str(exc.detail))
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with :class:`ErrorBody`."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
