"""An issue's list entries are written as changes: the diff between the held version and the new one."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypercare_domain.policy import default_policy_dir
from hypercare_domain.triage import IssueState, load_triage_policies
from hypercare_domain.triage.state import RecentReport, new_state
from hypercare_store.members import SEQ_SHIFT, Held, MemberChanges, held_from, list_diff

from tests.unit.triage_factories import make_report

T0 = datetime(2026, 5, 2, 9, 0, tzinfo=UTC)
ROUTE = load_triage_policies(default_policy_dir()).routes.default.to_route()


def state_with(**lists: Any) -> IssueState:
    """An issue state with the given version and lists."""
    return new_state(make_report(), ROUTE, T0).model_copy(update=lists)


def _rebuilt(
    old: tuple[str, ...], new: tuple[str, ...]
) -> tuple[list[tuple[int, int]], int, tuple[int, ...]]:
    """The diff of ``old`` (seqs 10, 20, ...) to ``new``, checked to rebuild ``new``."""
    seqs = tuple(10 * (i + 1) for i in range(len(old)))
    gone, start, kept = list_diff(old, seqs, new)
    survivors = [
        entry for entry, seq in zip(old, seqs, strict=True) if not any(a <= seq <= b for a, b in gone)
    ]
    assert (*survivors, *new[start:]) == new
    assert kept == tuple(seq for seq in seqs if not any(a <= seq <= b for a, b in gone))
    return gone, start, kept


def test_entries_dropped_at_the_front_and_appended_are_one_range_and_a_tail() -> None:
    old = tuple(f"k{i}" for i in range(8))
    new = (*old[3:], "k8", "k9")
    assert _rebuilt(old, new) == ([(10, 30)], 5, (40, 50, 60, 70, 80))


def test_an_unchanged_list_changes_nothing() -> None:
    old = ("a", "b", "c")
    assert _rebuilt(old, old) == ([], 3, (10, 20, 30))


def test_entries_removed_in_the_middle_are_ranges_of_their_runs() -> None:
    old = ("a", "b", "c", "d", "e", "f")
    gone, start, _ = _rebuilt(old, ("a", "d", "f", "g"))
    assert gone == [(20, 30), (50, 50)]
    assert start == 3


def test_an_emptied_list_and_a_new_list() -> None:
    assert _rebuilt(("a", "b"), ()) == ([(10, 20)], 0, ())
    assert _rebuilt((), ("a", "b")) == ([], 0, ())


def test_any_reordering_still_rebuilds_the_new_list() -> None:
    _rebuilt(("a", "b", "c", "d"), ("d", "c", "b", "a"))
    _rebuilt(("a", "b", "c"), ("x", "a", "b", "c"))


def test_equal_recent_reports_still_rebuild_the_list_entry_for_entry() -> None:
    # Two reports of one monitor in one batch are equal entries; any of them may be the one kept.
    same = [RecentReport(at=T0, reporter=None) for _ in range(4)]
    old = tuple(same[:3])
    new = (*old[1:], same[3])
    seqs = (1, 2, 3)
    gone, start, kept = list_diff(old, seqs, new)
    survivors = [e for e, seq in zip(old, seqs, strict=True) if not any(a <= seq <= b for a, b in gone)]
    assert len(kept) == len(survivors)
    assert (*survivors, *new[start:]) == new


def test_a_write_numbers_added_entries_above_every_earlier_version() -> None:
    prior = state_with(version=3, source_refs=("a", "b"), recent=(RecentReport(at=T0, reporter="u1"),))
    held = held_from(prior, [3 << SEQ_SHIFT, (3 << SEQ_SHIFT) + 1, 3 << SEQ_SHIFT])
    later = prior.model_copy(
        update={
            "version": 5,
            "source_refs": ("b", "c"),
            "recent": (*prior.recent, RecentReport(at=T0 + timedelta(seconds=1), reporter="u2")),
        }
    )
    changes = MemberChanges()
    written = changes.add(held, 3, later)
    first = 5 << SEQ_SHIFT
    assert list(zip(changes.gone_kind, changes.gone_from, changes.gone_to, strict=True)) == [
        (0, 3 << SEQ_SHIFT, 3 << SEQ_SHIFT)
    ]
    assert list(zip(changes.added_kind, changes.added_seq, strict=True)) == [(0, first), (3, first)]
    assert changes.added_value[0] == "c"
    assert RecentReport.model_validate_json(changes.added_value[1]) == later.recent[1]
    assert written.seqs == (((3 << SEQ_SHIFT) + 1, first), (), (), (3 << SEQ_SHIFT, first))


def test_without_the_prior_version_every_row_is_replaced() -> None:
    state = state_with(version=7, source_refs=("a", "b"), reporters=("u1",))
    changes = MemberChanges()
    written = changes.add(None, 4, state)
    below = (7 << SEQ_SHIFT) - 1
    assert list(zip(changes.gone_kind, changes.gone_from, changes.gone_to, strict=True)) == [
        (kind, 0, below) for kind in range(4)
    ]
    assert changes.added_value == ["a", "b", "u1"]
    assert written == Held(state, ((7 << SEQ_SHIFT, (7 << SEQ_SHIFT) + 1), (), (7 << SEQ_SHIFT,), ()))
    fresh = MemberChanges()
    fresh.add(None, 0, state)
    assert fresh.gone_issue == [], "a new issue has no rows to replace"


def test_member_rows_that_do_not_match_the_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="member rows"):
        held_from(state_with(version=1, source_refs=("a",)), [])
