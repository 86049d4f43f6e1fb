"""Derived views of an issue's bounded collections, remembered while the collection lives.

An issue keeps up to a thousand source item keys and reporters and up to five hundred recent report
times, as tuples (stored as JSON arrays). Every report that touches a hot issue asks "is this key
known?", "did anything leave the rate window?": answering from the tuple costs a scan each time. A
state version's tuples are immutable, so their set (or their times as integers) can be computed once
and reused until the state is replaced; :func:`~hypercare_domain.triage.state.absorb` derives the view
of the tuple it builds from the previous one instead of scanning again.

The memo is keyed by the tuple's identity and holds the tuple, so an id cannot be reused while its
entry exists; it keeps the latest hundred or so entries (large tuples only).

A tuple replaced by a new one (a hot issue gains a key per report) hands its set or reporter counts over
to the new tuple, which updates them in place (:func:`derive_set`, :func:`release_recent`): copying a
thousand-key set for every report cost more than the rest of ``absorb``. The old tuple's entry is
forgotten, so asking for its view again computes it afresh: always correct, only slower.
"""

from collections import Counter, OrderedDict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

_MEMO_SIZE = 256
_SMALL = 16
"""Tuples shorter than this are cheaper to scan than to look up."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Recent(Protocol):
    """A recent report: when, and from whom (None for monitors)."""

    @property
    def at(self) -> datetime: ...

    @property
    def reporter(self) -> str | None: ...


@dataclass
class RecentView:
    """What rate rules need of an issue's ``recent`` tuple, computed once per tuple.

    The earliest time is kept as a bound, found again only when a question needs it: a hot issue at its
    cap drops its earliest entry with every report, and scanning the rest for the next earliest (five
    hundred times) cost more than the rest of keeping the tuple. The bound stays no later than the
    earliest entry, so while it is inside a window every entry is; only once it falls out of the window
    is the exact earliest looked up (and kept until the next entry that was the earliest leaves).
    """

    times: tuple[int, ...]
    """The :func:`micros` of each entry, in order."""
    bound: int | None
    """No later than the earliest of ``times`` (None when empty)."""
    reporters: Counter[str | None]
    """How many entries each reporter has (None: monitors)."""
    exact: bool = True
    """Whether ``bound`` is the earliest time itself."""

    @property
    def distinct_reporters(self) -> int:
        """Distinct (non-monitor) reporters among all entries."""
        return len(self.reporters) - (1 if None in self.reporters else 0)

    def all_after(self, instant: int) -> bool:
        """Whether every entry is later than ``instant`` (microseconds); true when there are none."""
        if self.bound is None or self.bound > instant:
            return True
        if not self.exact:
            self.bound, self.exact = min(self.times, default=None), True
        return self.bound is None or self.bound > instant


_sets: OrderedDict[int, tuple[tuple[str, ...], set[str]]] = OrderedDict()
_recent: OrderedDict[int, tuple[tuple[Recent, ...], RecentView]] = OrderedDict()


def as_set(items: tuple[str, ...]) -> AbstractSet[str]:
    """The set of ``items``, remembered for large tuples (read it only; it may change once ``items`` is
    handed over with :func:`derive_set`)."""
    if len(items) < _SMALL:
        return frozenset(items)
    entry = _sets.get(id(items))
    if entry is not None and entry[0] is items:
        return entry[1]
    made = set(items)
    _remember_set(items, made)
    return made


def derive_set(
    old: tuple[str, ...], new: tuple[str, ...], *, added: Iterable[str] = (), removed: Iterable[str] = ()
) -> None:
    """Record the set of ``new``, which is ``old`` plus ``added`` minus ``removed`` (each key once).

    ``old``'s set is updated in place and moves to ``new``; ``old`` is forgotten.
    """
    entry = _sets.pop(id(old), None)
    if len(new) < _SMALL:
        return
    made = entry[1] if entry is not None and entry[0] is old else set(old)
    made.update(added)
    made.difference_update(removed)
    _remember_set(new, made)


def _remember_set(items: tuple[str, ...], made: set[str]) -> None:
    _sets[id(items)] = (items, made)
    _sets.move_to_end(id(items))
    if len(_sets) > _MEMO_SIZE:
        _sets.popitem(last=False)


def micros(at: datetime) -> int:
    """An aware instant as whole microseconds since the epoch: compares exactly as the datetimes do."""
    return (at - _EPOCH) // _MICROSECOND


def recent_view(recent: tuple[Recent, ...]) -> RecentView:
    """The :class:`RecentView` of ``recent``, remembered for large tuples."""
    if len(recent) >= _SMALL:
        entry = _recent.get(id(recent))
        if entry is not None and entry[0] is recent:
            return entry[1]
    times = tuple(micros(item.at) for item in recent)
    view = RecentView(times, min(times, default=None), Counter(item.reporter for item in recent))
    remember_recent(recent, view)
    return view


def release_recent(recent: tuple[Recent, ...]) -> None:
    """Forget ``recent``'s view: its caller is replacing the tuple and updates the view's counts in place
    for the new one (asking for ``recent``'s view again computes it afresh)."""
    _recent.pop(id(recent), None)


def remember_recent(recent: tuple[Recent, ...], view: RecentView) -> None:
    """Record that ``view`` is :func:`recent_view` of ``recent`` (the caller derived it cheaply)."""
    if len(recent) >= _SMALL:
        _recent[id(recent)] = (recent, view)
        _recent.move_to_end(id(recent))
        if len(_recent) > _MEMO_SIZE:
            _recent.popitem(last=False)
