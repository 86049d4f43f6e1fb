"""The triage service's candidate index, kept across batches, answers as a fresh index of each snapshot."""

from hypercare_contracts import NormalizedReport, ReportAction
from hypercare_domain.triage import InMemoryIssues, IssueState, triage_batch
from hypercare_domain.triage.memory import SnapshotIndex

from tests.unit.triage_factories import T0, at, make_alert, make_report, shipped_policies


def _workload() -> list[list[NormalizedReport]]:
    """Batches that create, grow, resolve and reopen issues, with source items seen again."""
    batches: list[list[NormalizedReport]] = []
    for n in range(8):
        batch = [make_report(minutes=n, title=f"Checkout fails with error 500 ({n})") for _ in range(3)]
        batch.append(make_alert(minutes=n, source_ref=f"alertmanager:{n % 3}"))
        if n % 3 == 2:
            batch.append(
                make_alert(minutes=n, source_ref=f"alertmanager:{n % 3}", action=ReportAction.RESOLVE)
            )
        batch.append(
            make_report(minutes=n, title="Login is slow", component="login", fingerprint=f"login:{n}")
        )
        batches.append(batch)
    return batches


def _snapshot(store: dict[str, IssueState], batch: list[NormalizedReport]) -> dict[str, IssueState]:
    """What a store read returns for ``batch``: here, the issues of the batch's components only."""
    components = {report.component for report in batch}
    return {issue_id: s for issue_id, s in store.items() if s.component in components}


def test_kept_index_triages_every_batch_as_a_fresh_index_of_its_snapshot() -> None:
    policies = shipped_policies()
    kept: dict[str, IssueState] = {}
    index = SnapshotIndex()
    fresh: dict[str, IssueState] = {}
    for batch in _workload():
        now = batch[-1].received_at
        expected = triage_batch(batch, InMemoryIssues(_snapshot(fresh, batch).values()), policies, now)
        actual = triage_batch(batch, index.lookup(_snapshot(kept, batch)), policies, now)
        index.committed(actual, batch)
        assert actual == expected
        fresh.update(expected.states_changed)
        kept.update(actual.states_changed)
    assert any(len(s.source_refs) > 3 for s in kept.values()), "issues gained keys across batches"


def _alert_issue(index: SnapshotIndex) -> IssueState:
    """The issue one alert opens through ``index``, committed to it."""
    first = make_alert(minutes=0)
    created = triage_batch([first], index.lookup({}), shipped_policies(), T0)
    index.committed(created, [first])
    (state,) = created.states_changed.values()
    return state


def test_an_issue_left_out_of_the_snapshot_is_no_candidate() -> None:
    index = SnapshotIndex()
    state = _alert_issue(index)

    again = make_alert(minutes=1)  # the same alert: its issue's key
    lookup = index.lookup({})  # the store did not return the issue this time
    assert lookup.find_candidates(again) == []
    assert index.lookup({state.issue_id: state}).find_candidates(again) == [state]


def test_past_its_key_bound_the_index_starts_over_from_the_snapshot() -> None:
    policies = shipped_policies()
    index = SnapshotIndex(max_keys=2)
    reports = [make_report(minutes=n) for n in range(4)]
    result = triage_batch(reports, index.lookup({}), policies, at(4))
    index.committed(result, reports)
    (state,) = result.states_changed.values()
    lookup = index.lookup({state.issue_id: state})
    assert lookup.key_count == len(state.source_refs) == 4
    assert lookup.find_candidates(make_report(source_ref=reports[0].source_ref)) == [state]


def test_an_issue_read_back_changed_after_it_was_left_out_is_found_by_its_new_keys() -> None:
    # Another instance added a source item to the issue while this index left it out: the state read
    # back is a new object, indexed anew rather than restored as it was.
    index = SnapshotIndex()
    state = _alert_issue(index)
    index.lookup({})  # left out

    grown = state.model_copy(update={"source_refs": (*state.source_refs, "alertmanager:elsewhere")})
    lookup = index.lookup({state.issue_id: grown})
    by_key_alone = make_alert(
        minutes=1, source_ref="alertmanager:elsewhere", fingerprint="x", component="search"
    )
    assert lookup.find_candidates(by_key_alone) == [grown]


def test_an_issue_left_out_and_read_back_unchanged_is_found_by_fingerprint_scope_and_keys() -> None:
    index = SnapshotIndex()
    state = _alert_issue(index)
    index.lookup({})  # left out

    lookup = index.lookup({state.issue_id: state})  # the very object left out
    assert lookup.find_candidates(make_alert(minutes=1)) == [state]  # its key
    assert lookup.find_candidates(make_report(minutes=1, fingerprint=state.fingerprint)) == [state]
    scoped = make_report(minutes=1, fingerprint="other", component=state.component, source_ref="zendesk:9")
    assert lookup.find_candidates(scoped) == [state]
