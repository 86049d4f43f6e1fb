"""Zendesk webhook signatures: ``base64(HMAC-SHA256(secret, timestamp + raw_body))``."""

import base64
import hashlib
import hmac

from hypercare_gateway.errors import GatewayError

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for a body signed at ``timestamp`` (its header value, as text)."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_zendesk_signature(
    secret: str, *, signature: str | None, timestamp: str | None, body: bytes
) -> None:
    """Check that a webhook body was signed by Zendesk with the webhook's signing secret.

    Raises:
        GatewayError: 401 ``invalid_signature`` when a header is missing or the signature does not match.
    """
    if not signature or not timestamp:
        raise GatewayError(
            401,
            "invalid_signature",
            f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}; this endpoint only takes signed Zendesk "
            "webhooks",
        )
    expected = zendesk_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace")):
        raise GatewayError(
            401,
            "invalid_signature",
            "Zendesk signature does not match the body; check HYPERCARE_ZENDESK_WEBHOOK_SECRET against the "
            "webhook's signing secret",
        )
