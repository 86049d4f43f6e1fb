-- The issue store: issues (groups of reports), the reports themselves (unique by event_id), the source
-- item keys that attach later events to their issue, and an audit log of every state change.

CREATE TABLE issues (
    issue_id        text PRIMARY KEY,
    fingerprint     text NOT NULL,
    component       text NOT NULL,
    environment     text NOT NULL,
    title           text NOT NULL,
    status          text NOT NULL,
    severity        text NOT NULL,
    impact          real NOT NULL,
    route           text NOT NULL,
    team            text NOT NULL,
    occurrences     integer NOT NULL,
    distinct_reporters integer NOT NULL,
    flap_count      integer NOT NULL DEFAULT 0,
    version         integer NOT NULL,
    opened          boolean NOT NULL,
    suppressed_by   text,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    resolved_at     timestamptz,
    state           jsonb NOT NULL,
    -- The transaction that wrote this version: a writer compares it with the snapshot it read under
    -- (pg_visible_in_snapshot) to find issues another triage instance changed in the meantime.
    written_by      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issues_fingerprint ON issues (fingerprint);
CREATE INDEX issues_open_component ON issues (component, environment) WHERE status <> 'resolved';
CREATE INDEX issues_status_severity ON issues (status, severity);
CREATE INDEX issues_suppressed ON issues (issue_id) WHERE suppressed_by IS NOT NULL AND status <> 'resolved';

CREATE TABLE issue_refs (
    source_ref  text NOT NULL,
    issue_id    text NOT NULL REFERENCES issues (issue_id) ON DELETE CASCADE,
    PRIMARY KEY (source_ref, issue_id)
);
CREATE INDEX issue_refs_issue ON issue_refs (issue_id);

CREATE TABLE reports (
    event_id      text PRIMARY KEY,
    issue_id      text,
    fingerprint   text NOT NULL,
    source        text NOT NULL,
    source_format text NOT NULL,
    merged_by     text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    report        jsonb NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_issue ON reports (issue_id);
CREATE INDEX reports_received ON reports (received_at);

CREATE TABLE audit_log (
    audit_id    bigserial PRIMARY KEY,
    dedup_key   text NOT NULL UNIQUE,
    issue_id    text,           -- NULL for a report that matched no issue (a resolve for an unknown item)
    at          timestamptz NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    event_id    text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_issue ON audit_log (issue_id, at);

-- Decisions written in the same transaction as the issue change and marked published once Kafka
-- confirmed them: a crash between commit and publish leaves them here for the sweep to publish.
CREATE TABLE triage_outbox (
    decision_id   text PRIMARY KEY,
    issue_id      text NOT NULL,
    event_id      text,
    payload       jsonb NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX triage_outbox_unpublished ON triage_outbox (created_at) WHERE published_at IS NULL;
