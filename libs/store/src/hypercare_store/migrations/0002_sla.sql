-- The SLA service's state: the clock facts of each issue's current cycle, the milestones planned from
-- them (each emitted exactly once), and the lifecycle commands already handled (idempotence).

CREATE TABLE sla_issues (
    issue_id            text PRIMARY KEY,
    cycle               integer NOT NULL,
    status              text NOT NULL,
    severity            text NOT NULL,
    route               text NOT NULL,
    escalation_policy   text,
    team                text NOT NULL,
    suppressed          boolean NOT NULL DEFAULT false,
    opened_at           timestamptz NOT NULL,
    severity_raised_at  timestamptz,
    acknowledged_at     timestamptz,
    resolved_at         timestamptz,
    -- waiting on the customer (lifecycle pause .. resume): [{"start": ..., "end": ... | null}]
    paused_intervals    jsonb NOT NULL DEFAULT '[]'::jsonb,
    snoozes             jsonb NOT NULL DEFAULT '[]'::jsonb,
    version             integer NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sla_milestones (
    key             text PRIMARY KEY,
    issue_id        text NOT NULL,
    kind            text NOT NULL,
    target          text,
    due_at          timestamptz NOT NULL,
    emitted_at      timestamptz,
    claimed_by      text,
    claimed_until   timestamptz,
    -- the SlaEvent to publish, dated as if emitted on time; emitted_at and late are set when sent
    event           jsonb NOT NULL
);
CREATE INDEX sla_milestones_issue ON sla_milestones (issue_id);
-- The scheduler only ever looks at what is still to be emitted.
CREATE INDEX sla_milestones_pending ON sla_milestones (due_at) WHERE emitted_at IS NULL;

CREATE TABLE lifecycle_commands (
    command_id  text PRIMARY KEY,
    issue_id    text NOT NULL,
    action      text NOT NULL,
    outcome     text NOT NULL,
    result      jsonb NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lifecycle_commands_issue ON lifecycle_commands (issue_id);
