"""The notifier policy (``deploy/policy/notifier.yaml``): storm control and paging channels."""

from pathlib import Path

from hypercare_domain.policy import PolicyModel, load_policy_file
from pydantic import Field

POLICY_FILE = "notifier.yaml"


class StormPolicy(PolicyModel):
    """Per-route fixed-window rate limit; what exceeds it is folded into one digest per window."""

    window_seconds: int = Field(default=60, ge=1, le=24 * 3600)
    max_per_window: int = Field(default=10, ge=0)
    routes: dict[str, int] = Field(default_factory=dict)
    digest_max_entries: int = Field(default=20, ge=1, le=500)
    digest_grace_seconds: float = Field(default=2.0, ge=0)

    def limit_for(self, route: str) -> int:
        """Notifications ``route`` may send in one window."""
        return self.routes.get(route, self.max_per_window)


class PagingPolicy(PolicyModel):
    """Which channel types page (and so only get page-urgency notifications)."""

    pager_types: list[str] = Field(default_factory=lambda: ["pagerduty"])


class NotifierPolicy(PolicyModel):
    """The whole ``notifier.yaml``."""

    storm: StormPolicy = Field(default_factory=StormPolicy)
    paging: PagingPolicy = Field(default_factory=PagingPolicy)


def load_notifier_policy(policy_dir: Path) -> NotifierPolicy:
    """Load and validate ``notifier.yaml`` from ``policy_dir``.

    Raises:
        PolicyError: the file is missing or invalid.
    """
    return load_policy_file(policy_dir, POLICY_FILE, NotifierPolicy)
