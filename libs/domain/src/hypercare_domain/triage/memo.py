"""Answers remembered per policy object, for lookups that every report repeats with the same few inputs.

Policies are immutable once loaded, so an answer computed from one stays right as long as that object
lives. Entries are keyed by the object's identity and hold the object, so its id cannot be reused while
its entry exists; a hot reload brings a new object and so a fresh table. Both levels are bounded (and
simply cleared when full): the inputs (components, sources, severities, labels) are few in practice.
"""

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PolicyMemo(Generic[K, V]):
    """A bounded table of answers per policy object (see the module docstring)."""

    def __init__(self, *, size: int = 4096, policies: int = 16) -> None:
        """Keep up to ``size`` answers for each of up to ``policies`` policy objects."""
        self._tables: dict[int, tuple[object, dict[K, V]]] = {}
        self._size = size
        self._policies = policies

    def get(self, policy: object, key: K, compute: Callable[[], V]) -> V:
        """The answer for ``key`` under ``policy``: remembered, or ``compute()`` remembered now."""
        entry = self._tables.get(id(policy))
        if entry is None or entry[0] is not policy:
            if len(self._tables) >= self._policies:
                self._tables.clear()
            entry = self._tables[id(policy)] = (policy, {})
        known = entry[1]
        try:
            return known[key]
        except KeyError:
            if len(known) >= self._size:
                known.clear()
            value = known[key] = compute()
            return value
