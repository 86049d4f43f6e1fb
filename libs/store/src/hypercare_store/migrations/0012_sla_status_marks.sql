-- When commands last set or confirmed each issue's lifecycle in its current cycle (SlaTimeline.marks): the
-- latest acknowledge, resolve, snooze or reopen; the latest reopen; the latest pause or resume. A command
-- made before one of them that it would undo comes in late (an overtaken triage decision's source action,
-- a Kafka acknowledge made before a reopen) and is refused as overtaken.
--
-- NULL for the issues stored before: their reopen is taken from their cycle's opening (cycle > 1), and the
-- next command records the rest. Adding columns without a default rewrites no row.
ALTER TABLE sla_issues
    ADD COLUMN status_changed_at timestamptz,
    ADD COLUMN reopened_at timestamptz,
    ADD COLUMN waiting_changed_at timestamptz;
