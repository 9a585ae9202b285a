"""The root schema: every domain's queries and mutations, merged."""

from __future__ import annotations

from pathlib import Path

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.core.nodes import Node, fetch_node
from schema.core.permissions import public
from schema.settings.api import SettingsChangeType, SettingsQuery

SDL_PATH = Path(__file__).with_name("schema.graphql")


@strawberry.type
class NodeQuery:
    @strawberry.field(
        permission_classes=[public],
        description="Fetch any object by its global ID (null when absent or not visible).",
    )
    async def node(self, id: strawberry.ID, info: strawberry.Info) -> Node | None:
        return await fetch_node(id, info.context)


Query = merge_types("Query", (NodeQuery, SettingsQuery))


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        types=[SettingsChangeType],
        config=StrawberryConfig(auto_camel_case=True),
    )


def export_sdl(schema: strawberry.Schema) -> str:
    return schema.as_str() + "\n"
