"""The component map shipped in ``deploy/policy``, loaded once per test session."""

from functools import cache
from pathlib import Path

from hypercare_domain.normalize import ComponentMap, load_component_map

POLICY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "policy"


@cache
def shipped_component_map() -> ComponentMap:
    """The component map every deployment starts with."""
    return load_component_map(POLICY_DIR)
