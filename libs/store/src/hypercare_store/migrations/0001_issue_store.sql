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
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issues_fingerprint ON issues (fingerprint);
CREATE INDEX issues_open_component ON issues (component, environment) WHERE status <> 'resolved';
CREATE INDEX issues_status_severity ON issues (status, severity);

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
    issue_id    text NOT NULL,
    at          timestamptz NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    event_id    text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_issue ON audit_log (issue_id, at);
