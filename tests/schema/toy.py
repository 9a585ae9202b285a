"""A small schema whose resolvers fail on purpose, run by the real ``GraphQLEngine``:
the product schema has no resolver that crashes, nor yet a mutation."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from schema.core.engine import GraphQLEngine
from schema.core.errors import ErrorCode, PublicError
from schema.core.limits import QueryLimits
from schema.core.money import Money
from tenants.errors import NoTenantSelected

SECRET = "password=hunter2"


@strawberry.type
class ToyQuery:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError(f"could not connect with {SECRET}")

    @strawberry.field
    def refused(self) -> str:
        raise PublicError("not for you", ErrorCode.FORBIDDEN)

    @strawberry.field
    def outside_tenant(self) -> str:
        raise NoTenantSelected()

    @strawberry.field
    def price(self, minor: int, currency: str) -> Money:
        return Money.from_minor(minor, currency)


@strawberry.type
class ToyMutation:
    @strawberry.mutation
    def touch(self) -> int:
        return 1


TOY_SCHEMA = strawberry.Schema(query=ToyQuery, mutation=ToyMutation)


@dataclass(slots=True)
class ToyContext:
    request_id: str


def toy_engine(limits: QueryLimits | None = None, *, introspection: bool = True) -> GraphQLEngine:
    return GraphQLEngine(TOY_SCHEMA, limits or QueryLimits(), introspection=introspection)
