"""The SQL of the issue store: one read statement and one write statement per batch.

Rows travel as JSON arrays expanded with ``jsonb_to_recordset``, so a batch of any size is one
statement with a fixed number of parameters.
"""

from typing import Final


def _candidates(fingerprints: str, refs: str, components: str, environments: str) -> str:
    """Ids of the issues sharing a fingerprint or source item key, and open issues of the scopes."""
    return f"""
    SELECT issue_id FROM issues WHERE fingerprint = ANY({fingerprints}::text[])
    UNION
    SELECT issue_id FROM issue_refs WHERE source_ref = ANY({refs}::text[])
    UNION
    SELECT i.issue_id FROM issues i
    JOIN unnest({components}::text[], {environments}::text[]) AS s(component, environment)
      ON i.component = s.component AND i.environment = s.environment
    WHERE i.status <> 'resolved'
"""  # noqa: S608 - assembled from constants; values are bound parameters


def _members(issue: str, gate: str = "true") -> str:
    """A lateral subquery over the ``issue_members`` of ``issue``: ``lists``, the four lists as a JSONB
    object to merge into the stored head, and ``seqs``, every entry's ``seq`` in list order. It reads
    nothing when ``gate`` is false (a state the caller already holds)."""
    kinds = ", ".join(
        f"'{name}', COALESCE(jsonb_agg({value} ORDER BY m.seq) FILTER (WHERE m.kind = {kind}), '[]')"
        for kind, (name, value) in enumerate(
            (
                ("source_refs", "to_jsonb(m.value)"),
                ("open_refs", "to_jsonb(m.value)"),
                ("reporters", "to_jsonb(m.value)"),
                ("recent", "m.value::jsonb"),
            )
        )
    )
    return f"""LEFT JOIN LATERAL (
    SELECT jsonb_build_object({kinds}) AS lists, array_agg(m.seq ORDER BY m.kind, m.seq) AS seqs
    FROM issue_members m WHERE m.issue_id = {issue} AND {gate}
) members ON true"""  # noqa: S608 - assembled from constants


READ_BATCH: Final = f"""
WITH known AS (
    SELECT event_id FROM reports WHERE event_id = ANY($1::text[])
), candidate_ids AS (
    {_candidates("$2", "$3", "$4", "$5")}
    UNION
    SELECT unnest($6::text[])
)
SELECT 'event' AS kind, event_id AS id, NULL::text AS state, NULL::bigint[] AS seqs FROM known
UNION ALL
SELECT 'issue', i.issue_id,
       CASE WHEN cached.version = i.version THEN NULL ELSE (i.state || members.lists)::text END,
       members.seqs
FROM issues i JOIN candidate_ids c USING (issue_id)
LEFT JOIN unnest($7::text[], $8::integer[]) AS cached(issue_id, version) ON cached.issue_id = i.issue_id
{_members("i.issue_id", "cached.version IS DISTINCT FROM i.version")}
UNION ALL
SELECT 'snapshot', pg_current_snapshot()::text, NULL, NULL
"""  # noqa: S608 - assembled from constants; values are bound parameters
"""$1 event ids, $2 fingerprints, $3 source item keys, $4/$5 scopes, $6 hinted issue ids, $7/$8 the
issue ids and versions the caller already holds: their state comes back NULL when the version is the
same (a version is written once, so it names one state), which spares reading, sending and parsing
the state and list entries of hot issues on every batch. A state read comes back whole (its head with
its lists from ``issue_members``), with the ``seq`` of every list entry."""

LOCK_PREFIX: Final = "BEGIN; SELECT pg_advisory_xact_lock(key) FROM (VALUES {values}) AS k(key) ORDER BY key;"
"""Opens the write transaction and takes its advisory locks in one round trip (keys are integers
formatted by the adapter, sorted so two writers never wait on each other in opposite orders)."""

_ISSUE_COLUMNS: Final = (
    "issue_id text, fingerprint text, component text, environment text, title text, status text,"
    " severity text, impact real, route text, team text, occurrences integer,"
    " distinct_reporters integer, flap_count integer, version integer, opened boolean,"
    " suppressed_by text, first_seen timestamptz, last_seen timestamptz, resolved_at timestamptz,"
    " state jsonb, prior_version integer"
)
_ISSUE_FIELDS: Final = (
    "issue_id, fingerprint, component, environment, title, status, severity, impact, route, team,"
    " occurrences, distinct_reporters, flap_count, version, opened, suppressed_by, first_seen,"
    " last_seen, resolved_at, state"
)
_UPDATES: Final = ", ".join(
    f"{name} = EXCLUDED.{name}" for name in (*_ISSUE_FIELDS.replace(" ", "").split(",")[1:], "written_by")
)

WRITE_PARAMETERS: Final = (
    ("issues", "jsonb"),
    ("decisions", "jsonb"),
    ("snapshot", "text"),
    ("seen_writers", "text[]"),
    ("recheck_fingerprints", "text[]"),
    ("recheck_refs", "text[]"),
    ("recheck_components", "text[]"),
    ("recheck_environments", "text[]"),
    ("ref_keys", "text[]"),
    ("ref_issues", "text[]"),
    ("report_event_ids", "text[]"),
    ("report_issues", "text[]"),
    ("report_fingerprints", "text[]"),
    ("report_sources", "text[]"),
    ("report_formats", "text[]"),
    ("report_rules", "text[]"),
    ("report_occurred", "timestamptz[]"),
    ("report_received", "timestamptz[]"),
    ("report_json", "text[]"),
    ("audit_keys", "text[]"),
    ("audit_issues", "text[]"),
    ("audit_at", "timestamptz[]"),
    ("audit_actions", "text[]"),
    ("audit_actors", "text[]"),
    ("audit_event_ids", "text[]"),
    ("audit_details", "text[]"),
    ("gone_issues", "text[]"),
    ("gone_kinds", "smallint[]"),
    ("gone_from", "bigint[]"),
    ("gone_to", "bigint[]"),
    ("added_issues", "text[]"),
    ("added_kinds", "smallint[]"),
    ("added_seqs", "bigint[]"),
    ("added_values", "text[]"),
)
"""The parameters of :data:`WRITE_BATCH`, in order, with their types. The issue heads and decisions
travel as JSON arrays (few rows, many columns); the rest as one array per column, which asyncpg sends
in binary and PostgreSQL reads without parsing a JSON document of every row first."""


def _p(name: str) -> str:
    """The placeholder of a :data:`WRITE_PARAMETERS` entry, with its cast."""
    for number, (known, kind) in enumerate(WRITE_PARAMETERS, start=1):
        if known == name:
            return f"${number}::{kind}"
    raise KeyError(name)


def _unnest(*names: str) -> str:
    return f"unnest({', '.join(_p(name) for name in names)})"


WRITE_BATCH: Final = f"""
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset({_p("issues")}) AS x({_ISSUE_COLUMNS})
), conflict AS (
    SELECT i.issue_id FROM issues i
    WHERE NOT pg_visible_in_snapshot(i.written_by, {_p("snapshot")}::pg_snapshot)
      AND i.written_by <> ALL({_p("seen_writers")}::xid8[])
      AND i.issue_id IN ({
    _candidates(
        _p("recheck_fingerprints"), _p("recheck_refs"), _p("recheck_components"), _p("recheck_environments")
    )
})
    UNION ALL
    SELECT w.issue_id FROM incoming w LEFT JOIN issues i USING (issue_id)
    WHERE COALESCE(i.version, 0) <> w.prior_version
), ok AS (
    SELECT NOT EXISTS (SELECT 1 FROM conflict) AS ok
), upserted AS (
    INSERT INTO issues ({_ISSUE_FIELDS}, written_by, updated_at)
    SELECT {_ISSUE_FIELDS}, pg_current_xact_id(), now() FROM incoming WHERE (SELECT ok FROM ok)
    ON CONFLICT (issue_id) DO UPDATE SET {_UPDATES}, updated_at = now()
    RETURNING issue_id
), refs AS (
    INSERT INTO issue_refs (source_ref, issue_id)
    SELECT DISTINCT r.source_ref, r.issue_id
    FROM {_unnest("ref_keys", "ref_issues")} AS r(source_ref, issue_id)
    WHERE (SELECT ok FROM ok)
    ON CONFLICT DO NOTHING
    RETURNING 1
), stored AS (
    INSERT INTO reports (event_id, issue_id, fingerprint, source, source_format, merged_by,
                         occurred_at, received_at, report)
    SELECT r.event_id, r.issue_id, r.fingerprint, r.source, r.source_format, r.merged_by,
           r.occurred_at, r.received_at, r.report::jsonb
    FROM {
    _unnest(
        "report_event_ids",
        "report_issues",
        "report_fingerprints",
        "report_sources",
        "report_formats",
        "report_rules",
        "report_occurred",
        "report_received",
        "report_json",
    )
} AS r(event_id, issue_id, fingerprint, source, source_format, merged_by, occurred_at, received_at, report)
    WHERE (SELECT ok FROM ok)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
), audited AS (
    INSERT INTO audit_log (dedup_key, issue_id, at, action, actor, event_id, detail)
    SELECT a.dedup_key, a.issue_id, a.at, a.action, a.actor, a.event_id, a.detail::jsonb
    FROM {
    _unnest(
        "audit_keys",
        "audit_issues",
        "audit_at",
        "audit_actions",
        "audit_actors",
        "audit_event_ids",
        "audit_details",
    )
} AS a(dedup_key, issue_id, at, action, actor, event_id, detail)
    WHERE (SELECT ok FROM ok)
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING 1
), members_gone AS (
    DELETE FROM issue_members m
    USING {_unnest("gone_issues", "gone_kinds", "gone_from", "gone_to")} AS g(issue_id, kind, low, high)
    WHERE (SELECT ok FROM ok)
      AND m.issue_id = g.issue_id AND m.kind = g.kind AND m.seq BETWEEN g.low AND g.high
    RETURNING 1
), members_added AS (
    INSERT INTO issue_members (issue_id, kind, seq, value)
    SELECT a.issue_id, a.kind, a.seq, a.value
    FROM {
    _unnest("added_issues", "added_kinds", "added_seqs", "added_values")
} AS a(issue_id, kind, seq, value)
    WHERE (SELECT ok FROM ok)
    RETURNING 1
), outbox AS (
    INSERT INTO triage_outbox (decision_id, issue_id, event_id, payload, headers)
    SELECT o.decision_id, o.issue_id, o.event_id, o.payload, o.headers
    FROM jsonb_to_recordset({_p("decisions")}) AS o(decision_id text, issue_id text, event_id text,
        payload jsonb, headers jsonb)
    WHERE (SELECT ok FROM ok)
    ON CONFLICT (decision_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT ok FROM ok) AS ok, pg_current_xact_id()::text AS writer,
       (SELECT count(*) FROM upserted) AS issues,
       (SELECT count(*) FROM refs) AS refs,
       (SELECT count(*) FROM stored) AS reports,
       (SELECT count(*) FROM audited) AS audit,
       (SELECT count(*) FROM outbox) AS decisions,
       (SELECT count(*) FROM members_gone) AS members_gone,
       (SELECT count(*) FROM members_added) AS members_added
"""  # noqa: S608 - assembled from constants; values are bound parameters
"""One batch's write; its parameters are :data:`WRITE_PARAMETERS`. ``snapshot`` is the read's snapshot
(NULL: no recheck) and ``recheck_*`` the candidate query rechecked against it, where changes by
``seen_writers`` (transaction ids) do not count; ``gone_*`` are the
``issue_members`` ranges deleted (issue, kind, lowest and highest seq) and ``added_*`` the rows inserted
(:class:`~hypercare_store.members.MemberChanges`)."""

LOAD_ISSUE: Final = f"""
SELECT (i.state || members.lists)::text AS state, members.seqs FROM issues i
{_members("i.issue_id")}
WHERE i.issue_id = $1
"""  # noqa: S608 - assembled from constants; values are bound parameters

SUPPRESSED_OPEN: Final = f"""
SELECT (i.state || members.lists)::text AS state FROM issues i
{_members("i.issue_id")}
WHERE i.suppressed_by IS NOT NULL AND i.status <> 'resolved' AND i.opened ORDER BY i.issue_id
"""  # noqa: S608 - assembled from constants

OPEN_COUNTS: Final = (
    "SELECT severity, route, count(*) AS n FROM issues"
    " WHERE status <> 'resolved' AND opened GROUP BY severity, route ORDER BY severity, route"
)

UNPUBLISHED: Final = (
    "SELECT payload::text, headers::text FROM triage_outbox"
    " WHERE created_at < now() - make_interval(secs => $1)"
    " ORDER BY created_at LIMIT $2"
)

MARK_PUBLISHED: Final = "DELETE FROM triage_outbox WHERE decision_id = ANY($1::text[])"
"""A confirmed decision leaves the outbox: what is left is what Kafka has not confirmed."""
