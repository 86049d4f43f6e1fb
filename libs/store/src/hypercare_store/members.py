"""An issue's bounded lists as rows of ``issue_members``, written as changes.

A hot issue keeps up to a thousand source item keys, open keys and reporters and five hundred recent
reports (the caps of ``grouping`` in the triage policy): nine tenths of its state's JSON. Rewritten in
``issues.state`` with every batch that touched the issue, they made a batch's write as long as its
triage, and the write's cost did not shrink with the batch: a batch of ten reports rewrote the same
100 kB states as a batch of a thousand.

So ``issues.state`` holds the state without these four lists (the *head*), and each entry of a list is
a row ``(issue_id, kind, seq, value)``. ``seq`` orders a list's entries: it is the issue version that
added the entry, shifted left by :data:`SEQ_SHIFT` bits, plus the entry's place among that version's
additions. Triage only appends to these lists and removes entries from them (anywhere), so a write
deletes the entries that left (as ranges of ``seq``) and inserts the ones that came, numbered above
every ``seq`` the issue's previous versions used. Reading puts the lists back in ``seq`` order.

The diff needs the ``seq`` of every entry of the version the new state was derived from; the store
keeps them with the states it holds (:class:`Held`). Without them (a state it no longer holds) the
write replaces the issue's rows: correct, only larger.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from hypercare_domain.triage import IssueState

LISTS: Final = ("source_refs", "open_refs", "reporters", "recent")
"""The lists stored as rows; an entry's ``kind`` is its list's index here."""
RECENT: Final = LISTS.index("recent")
"""The one list whose entries are models (stored as their JSON), not strings."""
SEQ_SHIFT: Final = 24
"""Bits of ``seq`` for an entry's place among the entries one version added (16 million)."""
_EMPTY: Final = dict.fromkeys(LISTS, ())
_SCAN: Final = 64
"""How far into the old list the fast path looks for the new list's first entry."""

Seqs = tuple[tuple[int, ...], ...]
"""Per list of :data:`LISTS`, the ``seq`` of each entry, in order."""


@dataclass(frozen=True)
class Held:
    """An issue state as stored, with the ``seq`` of each entry of its lists."""

    state: IssueState
    seqs: Seqs


def head_json(state: IssueState) -> str:
    """The JSON of ``state`` with its lists empty: what ``issues.state`` holds."""
    return state.model_copy(update=_EMPTY).model_dump_json()


def held_from(state: IssueState, seqs: Sequence[int] | None) -> Held:
    """``state`` (read back whole) with its entries' ``seq``, which the read returns in list order."""
    flat = tuple(seqs or ())
    parts: list[tuple[int, ...]] = []
    start = 0
    for name in LISTS:
        end = start + len(getattr(state, name))
        parts.append(flat[start:end])
        start = end
    if start != len(flat):
        raise ValueError(f"issue {state.issue_id}: {len(flat)} member rows for {start} list entries")
    return Held(state, tuple(parts))


@dataclass
class MemberChanges:
    """The ``issue_members`` rows one write deletes (``seq`` ranges) and inserts, as columns."""

    gone_issue: list[str] = field(default_factory=list)
    gone_kind: list[int] = field(default_factory=list)
    gone_from: list[int] = field(default_factory=list)
    gone_to: list[int] = field(default_factory=list)
    added_issue: list[str] = field(default_factory=list)
    added_kind: list[int] = field(default_factory=list)
    added_seq: list[int] = field(default_factory=list)
    added_value: list[str] = field(default_factory=list)

    def columns(self) -> dict[str, list[str] | list[int]]:
        """The write statement's array parameters for these rows, by name."""
        return {
            "gone_issues": self.gone_issue,
            "gone_kinds": self.gone_kind,
            "gone_from": self.gone_from,
            "gone_to": self.gone_to,
            "added_issues": self.added_issue,
            "added_kinds": self.added_kind,
            "added_seqs": self.added_seq,
            "added_values": self.added_value,
        }

    def add(self, prior: Held | None, prior_version: int, state: IssueState) -> Held:
        """Record what writing ``state`` over ``prior`` changes; returns ``state`` with its ``seq``s.

        ``prior`` is the stored state ``state`` was derived from, or None when the store does not hold
        it (then every row the issue has is replaced; ``prior_version`` 0 means it has none).
        """
        first = state.version << SEQ_SHIFT
        issue_id = state.issue_id
        seqs: list[tuple[int, ...]] = []
        for kind, name in enumerate(LISTS):
            new: tuple[object, ...] = getattr(state, name)
            if prior is not None:
                gone, start, kept = list_diff(getattr(prior.state, name), prior.seqs[kind], new)
            else:
                gone, start, kept = ([(0, first - 1)] if prior_version else []), 0, ()
            for low, high in gone:
                self.gone_issue.append(issue_id)
                self.gone_kind.append(kind)
                self.gone_from.append(low)
                self.gone_to.append(high)
            count = len(new) - start
            self.added_issue.extend([issue_id] * count)
            self.added_kind.extend([kind] * count)
            self.added_seq.extend(range(first, first + count))
            self.added_value.extend(_values(state, kind, start))
            seqs.append((*kept, *range(first, first + count)))
        return Held(state, tuple(seqs))


def _values(state: IssueState, kind: int, start: int) -> list[str]:
    """The stored values of the entries of list ``kind`` of ``state`` from index ``start``."""
    if kind == RECENT:
        return [entry.model_dump_json() for entry in state.recent[start:]]
    keys: tuple[str, ...] = getattr(state, LISTS[kind])
    return list(keys[start:])


def list_diff(
    old: Sequence[object], old_seqs: Sequence[int], new: Sequence[object]
) -> tuple[list[tuple[int, int]], int, tuple[int, ...]]:
    """How ``new`` differs from ``old``, a list it was derived from by removing and appending entries.

    Returns the ``seq`` ranges of the removed entries, the index in ``new`` where the appended entries
    start, and the ``seq``s of the entries of ``new`` before that index (kept from ``old``).

    Whatever the lists, keeping the returned entries in order and appending the rest of ``new`` gives
    ``new``; the answer is smallest when ``new`` really was derived that way. The usual change (a few
    entries dropped at the front, a few appended) is found with one C-level tuple comparison.
    """
    if not new:
        return ([(old_seqs[0], old_seqs[-1])] if old else []), 0, ()
    first = new[0]
    for skip in range(min(len(old), _SCAN)):
        if old[skip] is first or old[skip] == first:
            tail = len(old) - skip
            if tuple(old[skip:]) == tuple(new[:tail]):
                gone = [(old_seqs[0], old_seqs[skip - 1])] if skip else []
                return gone, tail, tuple(old_seqs[skip:])
            break
    return _walk(old, old_seqs, new)


def _walk(
    old: Sequence[object], old_seqs: Sequence[int], new: Sequence[object]
) -> tuple[list[tuple[int, int]], int, tuple[int, ...]]:
    """:func:`list_diff` for any change: keep each old entry that is the next entry of ``new``."""
    gone: list[tuple[int, int]] = []
    kept: list[int] = []
    run: int | None = None  # index in ``old`` where the current run of removed entries starts
    at = 0
    for index, entry in enumerate(old):
        if at < len(new) and (entry is new[at] or entry == new[at]):
            kept.append(old_seqs[index])
            at += 1
            if run is not None:
                gone.append((old_seqs[run], old_seqs[index - 1]))
                run = None
        elif run is None:
            run = index
    if run is not None:
        gone.append((old_seqs[run], old_seqs[-1]))
    return gone, at, tuple(kept)
