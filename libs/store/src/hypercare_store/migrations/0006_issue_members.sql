-- An issue's four bounded lists (source item keys, open keys, reporters, recent reports) move out of
-- issues.state into one row per entry, so that a batch writes the entries that changed instead of the
-- whole 60-110 kB state of every hot issue it touched (hypercare_store.members says how).
--
-- Upgrading: stop every triage instance of an earlier version before starting one of this version (no
-- rolling upgrade across this migration). An older instance still running would read issues without
-- their lists and write its lists into issues.state, where this version no longer reads them.
--
-- seq orders a list's entries: (issue version that added the entry) << 24 | (its place among that
-- version's additions). kind: 0 source_refs, 1 open_refs, 2 reporters, 3 recent (a JSON object).

CREATE TABLE issue_members (
    issue_id  text NOT NULL,
    kind      smallint NOT NULL CHECK (kind BETWEEN 0 AND 3),
    seq       bigint NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (issue_id, kind, seq)
);

INSERT INTO issue_members (issue_id, kind, seq, value)
SELECT i.issue_id, l.kind, (i.version::bigint << 24) | (e.place - 1), e.value
FROM issues i
CROSS JOIN (VALUES (0, 'source_refs'), (1, 'open_refs'), (2, 'reporters')) AS l(kind, name)
CROSS JOIN LATERAL jsonb_array_elements_text(COALESCE(i.state -> l.name, '[]')) WITH ORDINALITY AS e(value, place);

INSERT INTO issue_members (issue_id, kind, seq, value)
SELECT i.issue_id, 3, (i.version::bigint << 24) | (e.place - 1), e.value::text
FROM issues i
CROSS JOIN LATERAL jsonb_array_elements(COALESCE(i.state -> 'recent', '[]')) WITH ORDINALITY AS e(value, place);

UPDATE issues
SET state = state || '{"source_refs": [], "open_refs": [], "reporters": [], "recent": []}'::jsonb;
