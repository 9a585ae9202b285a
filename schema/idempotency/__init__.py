"""Idempotency keys: a creating or money-moving mutation runs once per key."""
