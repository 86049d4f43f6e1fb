-- When commands last set or confirmed each issue's lifecycle in its current cycle (SlaTimeline.marks): the
-- latest acknowledge, resolve, snooze or reopen; the latest reopen; the latest pause or resume. A command
-- made before one of them that it would undo comes in late (an overtaken triage decision's source action,
-- a Kafka acknowledge made before a reopen) and is refused as overtaken. Each has the highest triage
-- version whose command set or confirmed it: a source action of an older decision is overtaken by it
-- whatever the instants. And each has who set its instant (*_set_by): the triage version of that command, or
-- NULL for a person's (API, action link, Kafka). Triage orders its own decisions, so a newer decision's
-- commands are not compared with an instant an older one set; it learns of people's commands only later,
-- so they are compared with a person's instant, allowing for the clocks' skew.
--
-- NULL for the issues stored before. Nothing is backfilled: the SLA service derives the same instants from
-- the stored facts (acknowledged_at, resolved_at, the last snooze, the pauses, opened_at of a cycle after the
-- first) and takes the later of those and these columns, so an issue stored before is compared with what it
-- went through. Adding columns without a default rewrites no row.
ALTER TABLE sla_issues
    ADD COLUMN status_changed_at timestamptz,
    ADD COLUMN reopened_at timestamptz,
    ADD COLUMN waiting_changed_at timestamptz,
    ADD COLUMN status_version integer,
    ADD COLUMN reopened_version integer,
    ADD COLUMN waiting_version integer,
    ADD COLUMN status_set_by integer,
    ADD COLUMN reopened_set_by integer,
    ADD COLUMN waiting_set_by integer;
