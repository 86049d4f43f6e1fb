"""Plumbing every Hypercare service shares: settings, logging, metrics endpoints, Kafka, PostgreSQL, Redis."""
