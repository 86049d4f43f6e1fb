-- The version of the last triage decision the SLA service applied to each issue. A decision whose version
-- is not higher (a redelivery, a replay of hypercare.issues.triaged, a decision overtaken by a later one)
-- changes nothing: no replan, no audit row, no event.
--
-- NULL for the issues stored before: nothing is known of them, so their next decision applies and records
-- its version. Adding a column without a default rewrites no row.
ALTER TABLE sla_issues ADD COLUMN triage_version integer;
