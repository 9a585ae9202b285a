"""GraphQL face of this domain: ``QUERIES``, ``MUTATIONS`` and extra ``TYPES`` are merged
into the root schema by ``schema.root``."""

from __future__ import annotations

QUERIES: list[type] = []
MUTATIONS: list[type] = []
TYPES: list[type] = []
