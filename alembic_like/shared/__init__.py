"""Revisions of the shared store (the tenant registry)."""

from alembic_like.revision import load_track

TRACK = load_track("shared", __name__)
