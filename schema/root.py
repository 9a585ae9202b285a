"""The root schema: every domain's queries, mutations and types, merged.

Each domain's ``api`` module lists what it adds in ``QUERIES``, ``MUTATIONS`` and
``TYPES``; this is the one place that names the domains.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from types import ModuleType

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.access import api as access_api
from schema.audit import api as audit_api
from schema.audit.api import audit_mutations
from schema.backups import api as backups_api
from schema.core.nodes import Node, fetch_node
from schema.core.permissions import public
from schema.files.api import SCALARS as FILE_SCALARS
from schema.identity import api as identity_api
from schema.merchants import api as merchants_api
from schema.oauth import api as oauth_api
from schema.settings import api as settings_api

SDL_PATH = Path(__file__).with_name("schema.graphql")
DOMAINS: tuple[ModuleType, ...] = (
    settings_api,
    identity_api,
    access_api,
    oauth_api,
    audit_api,
    backups_api,
    merchants_api,
)


@strawberry.type
class NodeQuery:
    @strawberry.field(
        permission_classes=[public],
        description="Fetch any object by its global ID (null when absent or not visible).",
    )
    async def node(self, id: strawberry.ID, info: strawberry.Info) -> Node | None:
        return await fetch_node(id, info.context)


def build_schema() -> strawberry.Schema:
    query = merge_types("Query", (NodeQuery, *chain.from_iterable(d.QUERIES for d in DOMAINS)))
    mutations = tuple(chain.from_iterable(d.MUTATIONS for d in DOMAINS))
    return strawberry.Schema(
        query=query,
        # Every mutation is audited (schema.audit.api.AuditMutation).
        mutation=audit_mutations(merge_types("Mutation", mutations)) if mutations else None,
        types=list(chain.from_iterable(d.TYPES for d in DOMAINS)),
        config=StrawberryConfig(auto_camel_case=True, scalar_map=FILE_SCALARS),
    )


def export_sdl(schema: strawberry.Schema) -> str:
    return schema.as_str() + "\n"
