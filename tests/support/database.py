"""A rule of the database that refuses some reports, as an operator might add one, for tests of what the
services do with a write PostgreSQL refuses for a reason no check before it knows of."""

from hypercare_runtime.db import apply_migrations, open_pool

REFUSED_MARK = "refuse me"
"""Reports whose title holds this are refused while the rule is in place."""

REFUSED_MESSAGE = 'reports marked "refuse me" are not stored here'

_REFUSE = f"""
CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{REFUSED_MESSAGE}' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER refuse_marked BEFORE INSERT ON reports FOR EACH ROW
    WHEN (NEW.report ->> 'title' LIKE '%{REFUSED_MARK}%') EXECUTE FUNCTION refuse_marked();
"""

_ALLOW = "DROP TRIGGER refuse_marked ON reports; DROP FUNCTION refuse_marked();"


async def refuse_marked_reports(database_url: str) -> None:
    """Migrate the database and put the rule in place."""
    pool = await open_pool(database_url)
    try:
        await apply_migrations(pool)
        await pool.execute(_REFUSE)
    finally:
        await pool.close()


async def allow_marked_reports(database_url: str) -> None:
    """Take the rule away again (the cause of the dead letters fixed)."""
    pool = await open_pool(database_url)
    try:
        await pool.execute(_ALLOW)
    finally:
        await pool.close()
