"""Uploaded files: checked by content, kept in the tenant's file store, served back only
through short-lived signed links that a resolver hands out after its own permission check."""
