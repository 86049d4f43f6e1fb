"""Every error the gateway answers, as one JSON shape: ``{"error", "reason", "field"}``."""

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from hypercare_domain.normalize import Rejected
from hypercare_runtime.logging import get_logger
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

log = get_logger(__name__)


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    error: str
    """A stable, machine-readable class: an ingestion error class (``schema_violation``) or an HTTP one
    (``unauthorized``, ``forbidden``, ``oversize``, ``unsupported_media_type``, ``overloaded``,
    ``delivery_failed``, ``invalid_signature``, ``not_found``)."""
    reason: str
    """What is wrong and what to do, for a person."""
    field: str | None = None
    """Dotted path of the offending field (``alerts.0.labels``) when there is one."""


class GatewayError(Exception):
    """An error answered to the sender; raised anywhere in request handling."""

    def __init__(
        self,
        status: int,
        error: str,
        reason: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.body = ErrorBody(error=error, reason=reason, field=field)
        self.headers = dict(headers or {})

    @classmethod
    def rejected(cls, exc: Rejected) -> "GatewayError":
        """A 400 for a body the ingestion rules reject."""
        return cls(400, exc.error_class.value, exc.reason, field=exc.field)


def error_response(status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The JSON response of an error."""
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed"}


async def _on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    log.info(
        "gateway.rejected",
        path=request.url.path,
        status=exc.status,
        error=exc.body.error,
        field=exc.body.field,
        producer=getattr(request.state, "producer", None),
    )
    return error_response(exc.status, exc.body, exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = _HTTP_ERRORS.get(exc.status_code, "http_error")
    body = ErrorBody(error=error, reason=str(exc.detail))
    return error_response(exc.status_code, body, exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(p) for p in first.get("loc", ())) or None
    body = ErrorBody(error="invalid_request", reason=str(first.get("msg")), field=field)
    return error_response(400, body)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, FastAPI's own included, answer with :class:`ErrorBody`."""
    app.add_exception_handler(GatewayError, _on_gateway_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
