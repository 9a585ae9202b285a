"""Revisions of every tenant's own schema."""

from alembic_like.revision import load_track

TRACK = load_track("tenant", __name__)
