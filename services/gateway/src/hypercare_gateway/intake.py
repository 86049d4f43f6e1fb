"""What the gateway decides about a request before anything is published (no I/O).

A body is accepted when the normalizer would accept it: the same guard (:func:`decode_payload`), the
same shape detection (:func:`detect_format`) and the same contract model (:func:`parse_raw`). Checking
here gives the sender a 400 naming the field instead of a silent dead letter later.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from hypercare_contracts import ErrorClass, SourceFormat
from hypercare_contracts.raw import (
    AlertmanagerWebhook,
    GenericTicket,
    GrafanaWebhook,
    InAppFeedback,
    PagerDutyEvent,
    RawModel,
    SocialMention,
    ZendeskTicketEvent,
)
from hypercare_domain.normalize import InputLimits, Rejected, decode_payload, detect_format, parse_raw

from hypercare_gateway.errors import GatewayError

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,64}$")
_NO_TRACE = "0" * 32


@dataclass(frozen=True)
class Checked:
    """A body that passed validation, ready to publish.

    Attributes:
        body: the bytes to publish: the original ones, except a PagerDuty trigger without ``dedup_key``
            (re-serialized with the generated key added).
        key: the Kafka key (a stable id of the item), or ``None`` when the item has none.
        fmt: the detected format.
        model: the validated contract model.
        dedup_key: a PagerDuty event's dedup key (given or generated); ``None`` for other formats.
    """

    body: bytes
    key: str | None
    fmt: SourceFormat
    model: RawModel
    dedup_key: str | None = None


def check_content_type(value: str | None) -> None:
    """Accept ``application/json`` and ``application/*+json`` (parameters such as charset ignored).

    Raises:
        GatewayError: 415 for any other media type, or none.
    """
    media = (value or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    raise GatewayError(
        415,
        "unsupported_media_type",
        f"content type {media or '(none)'!r} is not accepted; send the body as application/json",
    )


def declared_length(value: str | None, max_bytes: int) -> None:
    """Refuse a request whose ``Content-Length`` already says it is too big.

    Raises:
        GatewayError: 400 for a malformed length, 413 for one above ``max_bytes``.
    """
    if value is None:
        return
    if not value.strip().isdigit():
        raise GatewayError(400, "invalid_request", f"Content-Length {value[:20]!r} is not a byte count")
    if int(value) > max_bytes:
        raise too_large(int(value), max_bytes)


def too_large(size: int, max_bytes: int) -> GatewayError:
    """The 413 for a body of ``size`` bytes (at least) over ``max_bytes``."""
    return GatewayError(
        413,
        ErrorClass.OVERSIZE.value,
        f"body is at least {size} bytes, above the limit of {max_bytes}; split the batch or trim it",
    )


def trace_id_from(headers: Mapping[str, str]) -> str:
    """The trace id of a request: W3C ``traceparent``'s trace id, else ``X-Request-Id``, else a new one."""
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip().lower())
    if match is not None and match.group(1) != _NO_TRACE:
        return match.group(1)
    request_id = headers.get("x-request-id", "").strip()
    if _REQUEST_ID.match(request_id):
        return request_id
    return uuid.uuid4().hex


def pagerduty_dedup_key(event: PagerDutyEvent) -> str:
    """A dedup key for a trigger that has none, stable for the same alert.

    Built from what identifies the alert (routing key, source, summary, component, group, class) and not
    from what changes between repeats (timestamp, severity, details), so a retried or repeated trigger gets
    the same key, and an acknowledge or resolve sent with the key from our response finds the incident.
    """
    payload = event.payload
    parts = [event.routing_key]
    if payload is not None:
        parts += [payload.source, payload.summary, payload.component or "", payload.group or ""]
        parts.append(payload.class_ or "")
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"hc-{digest[:32]}"


def _item_key(model: RawModel) -> str | None:
    if isinstance(model, AlertmanagerWebhook | GrafanaWebhook):
        return model.groupKey or model.alerts[0].fingerprint or None
    if isinstance(model, ZendeskTicketEvent):
        return f"zendesk:{model.detail.id}"
    if isinstance(model, GenericTicket | InAppFeedback):
        return model.id
    if isinstance(model, SocialMention):
        return f"{model.platform}:{model.id}"
    return None


def check_body(
    raw: bytes,
    *,
    source: str,
    formats: frozenset[SourceFormat],
    limits: InputLimits,
    hint: str,
) -> Checked:
    """Validate a request body for an endpoint of ``source`` accepting ``formats``.

    Args:
        raw: the body as received.
        source: the endpoint's source name (``alerts``, ``tickets``, ``feedback``, ``social``).
        formats: the formats this endpoint takes.
        limits: size and depth bounds.
        hint: where to post the other formats, appended to the reason of a wrong-format rejection.

    Raises:
        GatewayError: 400 naming the error class and, where there is one, the field; 413 when a
            PagerDuty trigger without a dedup key would be over the limit once the key is added.
    """
    try:
        payload = decode_payload(raw, limits)
        fmt = detect_format(source, payload)
        if fmt not in formats:
            raise Rejected(
                ErrorClass.UNKNOWN_FORMAT,
                f"body is a {fmt.value} payload, which this endpoint does not take; {hint}",
            )
        model = parse_raw(fmt, payload)
    except Rejected as exc:
        raise GatewayError.rejected(exc) from exc
    if not isinstance(model, PagerDutyEvent):
        return Checked(raw, _item_key(model), fmt, model)
    if model.dedup_key is not None:
        return Checked(raw, model.dedup_key, fmt, model, model.dedup_key)
    dedup_key = pagerduty_dedup_key(model)
    body = json.dumps(
        {**payload, "dedup_key": dedup_key}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")
    if len(body) > limits.max_bytes:  # the key added: the normalizer, with the same limit, would refuse it
        raise too_large(len(body), limits.max_bytes)
    return Checked(body, dedup_key, fmt, model, dedup_key)
