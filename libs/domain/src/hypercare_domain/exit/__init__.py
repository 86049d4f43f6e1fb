"""Exit readiness: whether a launch can leave hypercare, judged from store facts and ``exit.yaml``.

Pure: :func:`evaluate_exit` takes :class:`ExitFacts` (gathered by ``hypercare_store.exit_facts``) and an
:class:`ExitPolicy` and returns an :class:`ExitVerdict` with each criterion's value, threshold and reason.
"""

from hypercare_domain.exit.evaluate import (
    Comparison,
    Criterion,
    CriterionResult,
    ExitVerdict,
    evaluate_exit,
)
from hypercare_domain.exit.facts import ExitFacts
from hypercare_domain.exit.policy import (
    EXIT_FILE,
    AlertsRule,
    ExitPolicy,
    NegativeFeedbackRule,
    OpenIssuesRule,
    SlaRule,
    TrendRule,
    TrendTest,
    load_exit_policy,
)
from hypercare_domain.exit.trend import Trend, trend_of

__all__ = [
    "EXIT_FILE",
    "AlertsRule",
    "Comparison",
    "Criterion",
    "CriterionResult",
    "ExitFacts",
    "ExitPolicy",
    "ExitVerdict",
    "NegativeFeedbackRule",
    "OpenIssuesRule",
    "SlaRule",
    "Trend",
    "TrendRule",
    "TrendTest",
    "evaluate_exit",
    "load_exit_policy",
    "trend_of",
]
