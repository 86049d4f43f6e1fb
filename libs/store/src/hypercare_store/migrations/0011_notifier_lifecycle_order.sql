-- The notifier reads people's lifecycle events and triage's decisions from different topics, in no
-- common order. Its snapshot of an issue now remembers the last person's acknowledge, resolve or reopen
-- and when it happened (even before the issue's first decision was read, for that decision to honour),
-- and when the issue last turned resolved or was reopened (a lifecycle event older than that belongs to
-- an earlier cycle and changes nothing). NULL in rows written before: nothing remembered, as before.
ALTER TABLE notifier_issues
    ADD COLUMN lifecycle_action text CHECK (lifecycle_action IN ('acknowledge', 'resolve', 'reopen')),
    ADD COLUMN lifecycle_at timestamptz,
    ADD COLUMN cycle_at timestamptz;
