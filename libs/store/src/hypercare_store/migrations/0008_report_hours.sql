-- Exit readiness counts the reports of the last days every 30 seconds. Even from the time index
-- (0007) that read every report of the window: 300 ms of a core on 2 million reports, growing with
-- every report a launch receives. The reports are now also counted by the hour as they are written, by
-- the facts exit readiness filters on, so the count reads at most a few hundred rows per hour of the
-- window, plus the reports of the partial hours at the days' edges.
--
-- A row counts the reports (action "report") received in one hour [hour, hour + 1 h) from one source with
-- one rating and one sentiment, the sentiment rounded up to hundredths (ceil(sentiment x 100)): with a
-- threshold in hundredths, "sentiment <= threshold" holds exactly when "sentiment_ceil <= threshold x 100"
-- does, and rounding keeps the rows per hour few however varied the texts.
--
-- Every batch of triage updates the rows of the current hour: half of each page is left free so that an
-- update can stay on its row's page (a HOT update, no new index entry) until vacuum prunes it.

CREATE TABLE report_hours (
    hour timestamptz NOT NULL,
    source text NOT NULL,
    rating smallint,
    sentiment_ceil smallint,
    reports bigint NOT NULL,
    CONSTRAINT report_hours_key UNIQUE NULLS NOT DISTINCT (hour, source, rating, sentiment_ceil)
) WITH (fillfactor = 50);

-- Statement-level, from the rows a statement actually inserted or removed (an INSERT ... ON CONFLICT DO
-- NOTHING that skips a report already stored adds nothing), in the writer's transaction: a snapshot sees
-- the reports and their counts together. Each statement upserts its keys in one order, so two writers
-- that insert never deadlock (an UPDATE of reports, which nothing does today, locks the keys it removes
-- before those it adds, and could).
-- An UPDATE counts as the old rows removed and the new ones added. Each transition table is read by its
-- own statement: a statement naming one the trigger lacks would not even parse.
CREATE FUNCTION report_hours_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE report_hours;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO report_hours AS h (hour, source, rating, sentiment_ceil, reports)
        SELECT date_bin('1 hour', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, rating,
               ceil(sentiment::numeric * 100)::smallint, -count(*)
        FROM removed_reports WHERE coalesce(action, 'report') = 'report'
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (hour, source, rating, sentiment_ceil) DO UPDATE SET reports = h.reports + excluded.reports;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO report_hours AS h (hour, source, rating, sentiment_ceil, reports)
        SELECT date_bin('1 hour', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, rating,
               ceil(sentiment::numeric * 100)::smallint, count(*)
        FROM added_reports WHERE coalesce(action, 'report') = 'report'
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (hour, source, rating, sentiment_ceil) DO UPDATE SET reports = h.reports + excluded.reports;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_hours_on_insert AFTER INSERT ON reports
    REFERENCING NEW TABLE AS added_reports FOR EACH STATEMENT EXECUTE FUNCTION report_hours_count();
CREATE TRIGGER report_hours_on_update AFTER UPDATE ON reports
    REFERENCING OLD TABLE AS removed_reports NEW TABLE AS added_reports
    FOR EACH STATEMENT EXECUTE FUNCTION report_hours_count();
CREATE TRIGGER report_hours_on_delete AFTER DELETE ON reports
    REFERENCING OLD TABLE AS removed_reports FOR EACH STATEMENT EXECUTE FUNCTION report_hours_count();
CREATE TRIGGER report_hours_on_truncate AFTER TRUNCATE ON reports
    FOR EACH STATEMENT EXECUTE FUNCTION report_hours_count();

-- The reports already stored, counted the same way.
INSERT INTO report_hours (hour, source, rating, sentiment_ceil, reports)
SELECT date_bin('1 hour', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), source, rating,
       ceil(sentiment::numeric * 100)::smallint, count(*)
FROM reports WHERE coalesce(action, 'report') = 'report'
GROUP BY 1, 2, 3, 4;
