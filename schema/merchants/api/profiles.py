"""What the public sees of the tenant's merchants: those that trade (the PUBLIC_PROFILE
capability: active or warned, never saying which), and of them only their public
fields, as their own type (``MerchantProfile``, never the ``Merchant`` node), so no
later field of a merchant can reach the public by accident. Ratings and scores come
with orders. Anyone may ask, signed in or not; each tenant shows only its own."""

from __future__ import annotations

from typing import Any

import strawberry
from tortoise.queryset import QuerySet

from schema.core.errors import ErrorCode, PublicError
from schema.core.nodes import Node, register_node, row_id, row_id_of, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import public
from schema.merchants.api.types import logo_url_of
from schema.merchants.models import Merchant
from schema.merchants.status import Capability, MerchantStatus, capabilities

PUBLIC = sorted(s for s in MerchantStatus if Capability.PUBLIC_PROFILE in capabilities(s))
MAX_SEARCH = 100


@strawberry.type(
    name="MerchantProfile", description="What the public sees of a merchant that trades."
)
class MerchantProfile(Node):
    name: str
    category: str | None
    description: str | None
    website: str | None
    logo_file_id: strawberry.Private[int | None]

    @strawberry.field(description="Its logo: a public link that does not expire; null without one.")
    async def logo_url(self, info: strawberry.Info) -> str | None:
        return await logo_url_of(info, self.logo_file_id)

    @classmethod
    def from_model(cls, row: Merchant) -> MerchantProfile:
        return cls(
            id=to_global_id("MerchantProfile", row.id),
            name=row.business_name,
            category=row.category,
            description=row.description,
            website=row.website,
            logo_file_id=row.logo_file_id,
        )


@strawberry.input(name="PublicMerchantFilter")
class PublicMerchantFilter:
    category: str | None = strawberry.field(default=None, description="Exactly this category.")
    search: str | None = strawberry.field(default=None, description="Part of the name.")


def trading_merchants() -> QuerySet[Merchant]:
    return Merchant.filter(status__in=PUBLIC)


def _filtered(query: QuerySet[Merchant], where: PublicMerchantFilter) -> QuerySet[Merchant]:
    if where.category is not None:
        query = query.filter(category=where.category.strip())
    if where.search is not None:
        if len(where.search) > MAX_SEARCH:
            raise PublicError(f"search is at most {MAX_SEARCH} characters", ErrorCode.BAD_REQUEST)
        query = query.filter(business_name__icontains=where.search.strip())
    return query


async def _profile(merchant_id: int | None) -> MerchantProfile | None:
    row = await trading_merchants().get_or_none(id=merchant_id) if merchant_id else None
    return MerchantProfile.from_model(row) if row is not None else None


async def _fetch_profile(key: str, context: Any) -> MerchantProfile | None:
    return await _profile(row_id(key))


register_node("MerchantProfile", _fetch_profile)


@strawberry.type
class ProfilesQuery:
    @strawberry.field(
        permission_classes=[public],
        description="The merchants that trade, as the public sees them, in the order they joined.",
    )
    async def public_merchants(
        self,
        filter: PublicMerchantFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MerchantProfile]:
        query = trading_merchants()
        if filter is not None:
            query = _filtered(query, filter)
        page = PageRequest(first=first, after=after, last=last, before=before)
        return await paginate(query, page, MerchantProfile.from_model)

    @strawberry.field(
        permission_classes=[public],
        description="A merchant that trades, by its MerchantProfile ID (null otherwise).",
    )
    async def public_merchant(self, id: strawberry.ID) -> MerchantProfile | None:
        return await _profile(row_id_of(id, "MerchantProfile"))


QUERIES: list[type] = [ProfilesQuery]
MUTATIONS: list[type] = []
TYPES: list[type] = [MerchantProfile]
