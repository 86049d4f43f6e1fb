"""Which triage decisions the SLA service applies: newer versions only (hypercare_sla.triaged.is_superseded)."""

import pytest
from hypercare_sla.triaged import is_superseded

from tests.factories.sla import make_triaged

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("version", "applied", "superseded"),
    [
        (1, None, False),  # an issue not seen yet, or stored before versions were recorded
        (5, None, False),
        (2, 1, False),  # the next decision
        (9, 2, False),  # versions skip the changes triage published no decision for
        (2, 2, True),  # the same decision again: a redelivery or a replay
        (1, 2, True),  # an older one: a replay, or one published after a later decision
    ],
)
def test_only_a_version_above_the_last_applied_is_news(
    version: int, applied: int | None, superseded: bool
) -> None:
    decision = make_triaged(issue_id="iss_1", decision_id=f"iss_1:{version}", version=version)
    assert is_superseded(decision, applied) is superseded
