"""What every report builder needs besides the payload, and helpers they share."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from hypercare_contracts import Signals
from hypercare_contracts.common import COUNT_MAX
from hypercare_contracts.raw import RawModel

from hypercare_domain.normalize.components import ComponentMap
from hypercare_domain.normalize.text import scalar_labels

DEFAULT_ENVIRONMENT = "production"
_SIGNALS_CACHE_SIZE = 1 << 12

_ENVIRONMENT_KEYS = ("environment", "env", "deployment_environment", "stage")
_ENVIRONMENT_ALIASES: Mapping[str, str] = {
    **dict.fromkeys(("production", "prod", "prd", "live"), "production"),
    **dict.fromkeys(("staging", "stage", "stg", "preprod", "pre-prod"), "staging"),
    **dict.fromkeys(("development", "dev"), "development"),
    **dict.fromkeys(("test", "testing", "qa", "uat"), "test"),
    **dict.fromkeys(("sandbox",), "sandbox"),
}


@dataclass(frozen=True)
class BuildContext:
    """Caller-supplied values: the report builders stay deterministic because time and ids come in."""

    received_at: datetime
    trace_id: str
    components: ComponentMap


def environment_of(labels: Mapping[str, str]) -> str:
    """The deployment environment an alert names.

    An explicit ``environment``/``env``/``deployment_environment``/``stage`` label wins (aliases such as
    ``prod`` normalised, other values kept lowercased); otherwise a ``namespace`` whose dash-separated
    parts contain an alias (``shop-prod``); otherwise ``production``.
    """
    for key in _ENVIRONMENT_KEYS:
        value = labels.get(key, "").strip().lower()
        if value:
            return _ENVIRONMENT_ALIASES.get(value, value[:64])
    namespace = labels.get("namespace", "").lower()
    for part in namespace.replace("_", "-").split("-"):
        if part in _ENVIRONMENT_ALIASES:
            return _ENVIRONMENT_ALIASES[part]
    return DEFAULT_ENVIRONMENT


def count_of(value: object) -> int | None:
    """A non-negative integer count from a JSON value (ints, or ASCII digit strings from label values),
    at most :data:`~hypercare_contracts.common.COUNT_MAX` (a larger one is taken as that)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return capped_count(value) if value >= 0 else None
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit():  # "²" is a digit to isdigit(), not to int()
            # int() of thousands of digits is slow: a count that long is above the cap anyway.
            return capped_count(int(digits)) if len(digits.lstrip("0")) <= _COUNT_DIGITS else COUNT_MAX
    return None


_COUNT_DIGITS = len(str(COUNT_MAX))


def capped_count(value: int) -> int:
    """``value``, or :data:`~hypercare_contracts.common.COUNT_MAX` if larger: no real count is."""
    return min(value, COUNT_MAX)


def extra_labels(model: RawModel) -> dict[str, str]:
    """Unknown scalar top-level fields of a raw model as ``extra.<name>`` labels (objects are dropped)."""
    return scalar_labels("extra", model.model_extra)


def as_utc(moment: datetime) -> datetime:
    """An aware datetime in UTC."""
    return moment.astimezone(UTC)


@lru_cache(maxsize=_SIGNALS_CACHE_SIZE, typed=True)
def shared_signals(**values: Any) -> Signals:
    """``Signals(**values)``, one shared object per distinct set of values.

    Signals are frozen and take few distinct values (ratings, priorities, statuses, categories), so reports
    can share them: fewer objects to validate and for the garbage collector to track. ``typed`` keeps
    ``True`` and ``1`` apart, as validation may not treat them alike; only the keywords given are passed,
    so the shared object's set fields are those of the one it replaces.
    """
    return Signals(**values)
