-- A decision stays in triage_outbox only until Kafka confirmed it; then it leaves (the audit log keeps
-- the issue's history, the triaged topic the decision). Before, confirmed rows were kept and marked
-- published_at: an UPDATE that rewrote each ~3.5 kB row, and a table that grew by every decision for as
-- long as the store lived (some 3 million rows and 10 GB a day at a sustained 1,000 reports/s).
-- The sweep reads what is left by age.
DELETE FROM triage_outbox WHERE published_at IS NOT NULL;
DROP INDEX IF EXISTS triage_outbox_unpublished;
ALTER TABLE triage_outbox DROP COLUMN published_at;
CREATE INDEX triage_outbox_created ON triage_outbox (created_at);
