"""Factory functions for test payloads, shared by unit, service and integration tests."""
