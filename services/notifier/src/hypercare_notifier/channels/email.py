"""E-mail over SMTP (aiosmtplib): multipart/alternative with the plain-text and HTML renderings."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from hypercare_domain.notify.formats import to_html, to_text
from hypercare_domain.notify.render import RenderedNotification, Urgency
from hypercare_domain.notify.retry import ErrorKind
from hypercare_domain.notify.signing import IDEMPOTENCY_HEADER

from hypercare_notifier.channels.base import Attempt, Clock

MESSAGE_ID_DOMAIN = "hypercare.invalid"


def message_id(idempotency_key: str) -> str:
    """A Message-ID derived from the idempotency key, so a retried e-mail can be recognised as the same."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_message(
    note: RenderedNotification, *, sender: str, recipients: Sequence[str], idempotency_key: str
) -> EmailMessage:
    """The e-mail: subject is the notification title, text part first, HTML alternative second."""
    message = EmailMessage()
    message["Subject"] = _one_line(note.title)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(note.occurred_at.timestamp(), usegmt=True)
    message["Message-ID"] = message_id(idempotency_key)
    message[IDEMPOTENCY_HEADER] = idempotency_key
    if note.urgency is Urgency.PAGE:
        message["Importance"] = "high"
    message.set_content(to_text(note))
    message.add_alternative(to_html(note), subtype="html")
    return message


def smtp_error_kind(exc: aiosmtplib.SMTPException) -> ErrorKind:
    """Map an aiosmtplib exception to an :class:`ErrorKind` by its type and SMTP reply code.

    SMTP 4xx replies are temporary by definition (retried), 5xx are permanent (not retried).
    """
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
        return ErrorKind.TRANSIENT if codes and all(400 <= c < 500 for c in codes) else ErrorKind.REJECTED
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return ErrorKind.TRANSIENT if 400 <= exc.code < 500 else ErrorKind.REJECTED
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return ErrorKind.CONNECTION
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return ErrorKind.INVALID
    return ErrorKind.PROTOCOL


class EmailChannel:
    """Sends one e-mail per attempt through an SMTP server."""

    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        timeout: float,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        if not recipients:
            raise ValueError(f"e-mail channel {name} needs at least one recipient")
        self._name = name
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = tuple(recipients)
        self._timeout = timeout
        self._username = username
        self._password = password
        self._starttls = starttls
        self._use_tls = use_tls
        self._clock = clock

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    async def send(self, note: RenderedNotification, *, idempotency_key: str) -> Attempt:
        """Send the e-mail once; SMTP refusals and network failures become an attempt with an error."""
        started = self._clock()
        message = build_message(
            note, sender=self._sender, recipients=self._recipients, idempotency_key=idempotency_key
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                timeout=self._timeout,
                start_tls=self._starttls,
                use_tls=self._use_tls,
            )
        except aiosmtplib.SMTPException as exc:
            return Attempt(
                error=smtp_error_kind(exc), detail=type(exc).__name__, elapsed=self._clock() - started
            )
        except OSError as exc:
            return Attempt(
                error=ErrorKind.CONNECTION, detail=type(exc).__name__, elapsed=self._clock() - started
            )
        return Attempt(elapsed=self._clock() - started)
