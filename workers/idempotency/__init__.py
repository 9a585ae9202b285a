"""The daily prune of expired idempotency keys."""
