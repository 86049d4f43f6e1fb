"""PostgreSQL adapters and the versioned schema (``migrations/NNNN_name.sql``)."""
