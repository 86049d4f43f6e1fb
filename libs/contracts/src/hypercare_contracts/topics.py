"""Kafka topic names: the public contract other tools depend on."""

from typing import Final

RAW_TICKETS: Final = "hypercare.raw.tickets"
RAW_FEEDBACK: Final = "hypercare.raw.feedback"
RAW_SOCIAL: Final = "hypercare.raw.social"
RAW_ALERTS: Final = "hypercare.raw.alerts"
ISSUES_NORMALIZED: Final = "hypercare.issues.normalized"
ISSUES_TRIAGED: Final = "hypercare.issues.triaged"
ISSUES_LIFECYCLE: Final = "hypercare.issues.lifecycle"
SLA_EVENTS: Final = "hypercare.sla.events"
NOTIFICATIONS: Final = "hypercare.notifications"
DEADLETTER: Final = "hypercare.deadletter"

RAW_TOPICS: Final = (RAW_TICKETS, RAW_FEEDBACK, RAW_SOCIAL, RAW_ALERTS)
ALL_TOPICS: Final = (
    *RAW_TOPICS,
    ISSUES_NORMALIZED,
    ISSUES_TRIAGED,
    ISSUES_LIFECYCLE,
    SLA_EVENTS,
    NOTIFICATIONS,
    DEADLETTER,
)

# Kafka header names carried from the raw message onwards.
HEADER_TRACE_ID: Final = "hypercare-trace-id"
HEADER_INGESTED_AT: Final = "hypercare-ingested-at"
"""Unix time (seconds, float as text) at which the raw message entered Kafka; feeds end-to-end latency."""
HEADER_DEADLETTER_REASON: Final = "hypercare-deadletter-reason"

# Kafka header telling the two kinds of message on ISSUES_LIFECYCLE apart.
HEADER_MESSAGE_KIND: Final = "hypercare-message"
"""``event`` on lifecycle events (published by the SLA service), ``command`` (or absent) on the commands
sharing their topic."""
MESSAGE_KIND_EVENT: Final = "event"
MESSAGE_KIND_COMMAND: Final = "command"
