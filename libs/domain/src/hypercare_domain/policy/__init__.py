"""Policy files: YAML in one folder (``deploy/policy/`` by default, ``HYPERCARE_POLICY_DIR`` to override).

Each area (components, triage, routes, suppression, sla, channels, exit) has its own file and its own
pydantic model; :func:`load_policy_file` reads and validates one, naming the file and the field on error.
"""

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class PolicyModel(BaseModel):
    """Base of every policy model: immutable, typos in keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyError(ValueError):
    """A policy file is missing, not YAML, or does not validate; the message names file and field."""


def default_policy_dir() -> Path:
    """The policy folder shipped with the repository (``deploy/policy``)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "deploy" / "policy"
        if candidate.is_dir():
            return candidate
    raise PolicyError("no deploy/policy folder found; set HYPERCARE_POLICY_DIR")


def load_policy_file(policy_dir: Path, name: str, model: type[ModelT]) -> ModelT:
    """Read ``policy_dir/name`` and validate it as ``model``.

    Args:
        policy_dir: the policy folder.
        name: the file name, such as ``triage.yaml``.
        model: the pydantic model of that file.

    Raises:
        PolicyError: the file is missing, is not valid YAML, or does not match the model.
    """
    path = policy_dir / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyError(f"policy file {path} is missing") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {path} is not valid YAML: {exc}") from exc
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"policy file {path} is invalid: {details}") from exc
