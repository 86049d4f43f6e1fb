-- The notifier reads people's lifecycle events and triage's decisions from different topics, in no
-- common order. Its snapshot of an issue now remembers the last person's acknowledge, resolve or reopen
-- and when it happened (even before the issue's first decision was read, for that decision to honour),
-- and when the issue last turned resolved or was reopened, and whether a person did that (a lifecycle
-- event, ordered against the others by the topic) or a decision (ordered by version; a lifecycle event
-- is weighed against it by instants, within the allowed clock skew). NULL / false in rows written
-- before: nothing remembered, as before.
-- revision counts the writes of a row: a write names the revision it read, so that an instance that
-- still held an issue during a rebalance cannot overwrite what the new owner wrote (a person's
-- acknowledge carries no version).
-- lifecycle_partition and lifecycle_offset are where the last lifecycle event taken in was on the
-- lifecycle topic: one read again at or below it (a replay: a new consumer group, a redelivered batch
-- whose SLA events were read first) changes nothing, even after the cycle it began has ended.
ALTER TABLE notifier_issues
    ADD COLUMN lifecycle_action text CHECK (lifecycle_action IN ('acknowledge', 'resolve', 'reopen')),
    ADD COLUMN lifecycle_at timestamptz,
    ADD COLUMN cycle_at timestamptz,
    ADD COLUMN cycle_by_person boolean NOT NULL DEFAULT false,
    ADD COLUMN revision bigint NOT NULL DEFAULT 0,
    ADD COLUMN lifecycle_partition integer,
    ADD COLUMN lifecycle_offset bigint,
    ADD CONSTRAINT notifier_issues_lifecycle_position
        CHECK ((lifecycle_partition IS NULL) = (lifecycle_offset IS NULL));
