"""Pure SLA domain: business calendars, SLA and escalation policy, deadline planning, the lifecycle machine.

Nothing here does I/O except :func:`load_sla_policy`, which reads the two policy files.
"""

from hypercare_domain.sla.calendar import (
    BusinessCalendar,
    CalendarError,
    ClockStoppedError,
    Holiday,
    OpeningHours,
    Pause,
    add_business_seconds,
    add_business_time,
    business_seconds_between,
    business_time_between,
    find_due,
)
from hypercare_domain.sla.clock import Clock, ManualClock, SystemClock
from hypercare_domain.sla.deadlines import LATE_AFTER, plan, to_event
from hypercare_domain.sla.durations import DurationError, format_duration, parse_duration
from hypercare_domain.sla.lifecycle import (
    Rejection,
    RejectionReason,
    StatusMarks,
    apply_command,
    lifecycle_event_id,
    overtaken_by,
)
from hypercare_domain.sla.milestone import Milestone
from hypercare_domain.sla.policy import (
    EscalationPolicy,
    EscalationStep,
    PauseReason,
    SlaPolicy,
    Targets,
    build_sla_policy,
    load_sla_policy,
)
from hypercare_domain.sla.timeline import SlaTimeline, change_severity, record_event, record_refusal

__all__ = [
    "LATE_AFTER",
    "BusinessCalendar",
    "CalendarError",
    "Clock",
    "ClockStoppedError",
    "DurationError",
    "EscalationPolicy",
    "EscalationStep",
    "Holiday",
    "ManualClock",
    "Milestone",
    "OpeningHours",
    "Pause",
    "PauseReason",
    "Rejection",
    "RejectionReason",
    "SlaPolicy",
    "SlaTimeline",
    "StatusMarks",
    "SystemClock",
    "Targets",
    "add_business_seconds",
    "add_business_time",
    "apply_command",
    "build_sla_policy",
    "business_seconds_between",
    "business_time_between",
    "change_severity",
    "find_due",
    "format_duration",
    "lifecycle_event_id",
    "load_sla_policy",
    "overtaken_by",
    "parse_duration",
    "plan",
    "record_event",
    "record_refusal",
    "to_event",
]
