-- The notifier: one row per (issue, trigger, escalation step, channel) delivery, keyed by its
-- idempotency key. Pending rows are the work queue; a worker claims one with a lease (claimed_by,
-- claimed_until) before sending, so one instance sends it, and a killed instance's claims expire.

CREATE TABLE deliveries (
    key              text PRIMARY KEY,
    seq              bigserial NOT NULL,
    issue_id         text NOT NULL,
    trigger_id       text NOT NULL,
    trigger_kind     text NOT NULL CHECK (trigger_kind IN ('decision', 'sla', 'digest')),
    step             integer NOT NULL DEFAULT 0,
    channel          text NOT NULL,
    route            text NOT NULL,
    kind             text,
    status           text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'digested', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    claimed_by       text,
    claimed_until    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    digest_id        text,
    payload          jsonb NOT NULL,
    ingested_at      double precision,
    trace_id         text
);
-- The work queue, oldest first.
CREATE INDEX deliveries_pending ON deliveries (seq) WHERE status = 'pending';
-- Per issue and channel, deliveries go out in the order they were planned (a resolve after its trigger).
CREATE INDEX deliveries_pending_issue ON deliveries (issue_id, channel, seq) WHERE status = 'pending';
CREATE INDEX deliveries_digest ON deliveries (digest_id) WHERE digest_id IS NOT NULL;
CREATE INDEX deliveries_issue ON deliveries (issue_id, created_at);

-- One storm window of one route in which at least one notification was folded into a digest.
CREATE TABLE digest_windows (
    digest_id     text PRIMARY KEY,
    route         text NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    planned_at    timestamptz
);
CREATE INDEX digest_windows_due ON digest_windows (window_end) WHERE planned_at IS NULL;

-- The notifier's snapshot of each issue: the last decision (to render SLA events with the issue's
-- title), whether it is acknowledged or resolved (to stop re-paging), and which pagers paged for it.
CREATE TABLE notifier_issues (
    issue_id        text PRIMARY KEY,
    version         integer NOT NULL,
    issue           jsonb,
    acknowledged    boolean NOT NULL DEFAULT false,
    resolved        boolean NOT NULL DEFAULT false,
    paged_channels  text[] NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
