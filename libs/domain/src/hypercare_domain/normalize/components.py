"""The component map: which product component a report is about (``deploy/policy/components.yaml``)."""

import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import translate
from pathlib import Path

from pydantic import Field, field_validator

from hypercare_domain.normalize.keywords import KeywordMatcher
from hypercare_domain.policy import PolicyModel, load_policy_file

UNKNOWN = "unknown"
POLICY_FILE = "components.yaml"
_NAME_PATTERN = r"^[a-z][a-z0-9_-]*$"


class ComponentRule(PolicyModel):
    """How to recognise one component; every list is optional."""

    description: str = ""
    labels: list[str] = Field(default_factory=list)
    product_areas: list[str] = Field(default_factory=list)
    screens: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)


class ComponentPolicy(PolicyModel):
    """The contents of ``components.yaml``."""

    label_keys: list[str] = Field(default_factory=lambda: ["component", "service", "app", "job", "namespace"])
    components: dict[str, ComponentRule] = Field(min_length=1)

    @field_validator("components")
    @classmethod
    def _names_are_slugs(cls, components: dict[str, ComponentRule]) -> dict[str, ComponentRule]:
        for name in components:
            if name == UNKNOWN:
                raise ValueError(f"component name {UNKNOWN!r} is reserved for reports nothing matches")
            if not re.match(_NAME_PATTERN, name):
                raise ValueError(f"component name {name!r} must be a lowercase slug (a-z, 0-9, _ and -)")
        return components


def _globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex that fully matches what any of the globs matches, as ``fnmatchcase`` would."""
    translated = [f"(?:{translate(pattern)})" for pattern in patterns]
    return re.compile("|".join(translated)) if translated else None


class _Compiled:
    __slots__ = ("keywords", "labels", "name", "product_areas", "screens")

    def __init__(self, name: str, rule: ComponentRule) -> None:
        self.name = name
        self.labels = _globs(value.lower() for value in rule.labels)
        self.product_areas = frozenset(area.lower() for area in rule.product_areas)
        self.screens = _globs(screen.lower() for screen in rule.screens)
        self.keywords = tuple(kw for kw in rule.keywords if kw.strip())


class ComponentMap:
    """Resolves the component of a report from its labels, product area, screen and words.

    Resolution order, first hit wins: alert labels (``label_keys`` in order, values matched exactly or
    as globs), product area, tags (as product areas), screen (globs such as ``/checkout*``), keywords
    in the text (whole words; the component with most distinct keyword hits, ties broken by file order),
    else ``unknown``. Matching ignores case.
    """

    def __init__(self, policy: ComponentPolicy) -> None:
        """Compile a validated policy."""
        self._label_keys = tuple(policy.label_keys)
        self._rules = tuple(_Compiled(name, rule) for name, rule in policy.components.items())
        # One matcher over every rule's keywords; _keyword_rule[i] is the rule the i-th keyword belongs to.
        self._keywords = KeywordMatcher(kw for rule in self._rules for kw in rule.keywords)
        self._keyword_rule = tuple(number for number, rule in enumerate(self._rules) for _ in rule.keywords)

    @property
    def names(self) -> tuple[str, ...]:
        """The component names, in file order."""
        return tuple(rule.name for rule in self._rules)

    def _by_label(self, labels: Mapping[str, str]) -> str | None:
        for key in self._label_keys:
            value = labels.get(key)
            if not value:
                continue
            lowered = value.lower()
            for rule in self._rules:
                if rule.labels is not None and rule.labels.match(lowered):
                    return rule.name
        return None

    def _by_area(self, areas: Sequence[str]) -> str | None:
        for area in areas:
            lowered = area.strip().lower()
            for rule in self._rules:
                if lowered in rule.product_areas:
                    return rule.name
        return None

    def _by_screen(self, screen: str) -> str | None:
        lowered = screen.strip().lower()
        for rule in self._rules:
            if rule.screens is not None and rule.screens.match(lowered):
                return rule.name
        return None

    def _by_keywords(self, text: str) -> str | None:
        found = self._keywords.found(text) if text else ()
        if not found:
            return None
        hits = [0] * len(self._rules)
        for keyword in found:
            hits[self._keyword_rule[keyword]] += 1
        most = max(hits)
        return self._rules[hits.index(most)].name

    def resolve(
        self,
        *,
        labels: Mapping[str, str],
        product_area: str | None,
        screen: str | None,
        text: str,
        tags: Sequence[str] = (),
    ) -> str:
        """The component a report is about.

        Args:
            labels: alert labels (``service``, ``job``, ``component``, ``app``, ``namespace`` ...).
            product_area: the product area a ticket or feedback names.
            screen: the route or screen name feedback was left on.
            text: title and body, searched for keywords.
            tags: ticket tags, matched like product areas.

        Returns:
            A component name from the map, or ``unknown`` when nothing matches.
        """
        return (
            self._by_label(labels)
            or self._by_area([product_area] if product_area else [])
            or self._by_area(tags)
            or (self._by_screen(screen) if screen else None)
            or self._by_keywords(text)
            or UNKNOWN
        )


def load_component_map(policy_dir: Path) -> ComponentMap:
    """Load and compile ``components.yaml`` from a policy folder.

    Raises:
        PolicyError: the file is missing, not YAML, or does not validate.
    """
    return ComponentMap(load_policy_file(policy_dir, POLICY_FILE, ComponentPolicy))
