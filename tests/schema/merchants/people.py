"""The people of the merchant lifecycle tests: merchants with their owners and staff,
and the tenant's officers, holding real roles (so their principals are what a request
of theirs would carry), plus GraphQL requests from a given source address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schema.access.service import assign_role
from schema.core.nodes import to_global_id
from schema.core.principal import Principal
from schema.identity.models import User, UserType
from schema.merchants.models import Merchant
from schema.merchants.status import MerchantStatus
from tenants.records import TenantRecord
from tests.schema.access.helpers import make_user, principal_of
from tests.schema.graphql import gql_in
from tests.schema.principals import context_for


@dataclass
class Shop:
    merchant: Merchant
    owner: User

    @property
    def gid(self) -> str:
        return to_global_id("Merchant", self.merchant.id)

    async def principal(self) -> Principal:
        return await principal_of(self.owner)


async def make_shop(
    name: str, owner_email: str, status: MerchantStatus = MerchantStatus.ACTIVE, **fields: Any
) -> Shop:
    """A merchant in ``status`` whose owner holds ``merchant_owner`` for it, as approval
    leaves them."""
    owner = await make_user(owner_email, user_type=UserType.USER)
    submitted = {"submitted_at": datetime.now(UTC), "submission_count": 1}
    merchant = await Merchant.create(
        owner_user_id=owner.id, business_name=name, status=status, **(submitted | fields)
    )
    await assign_role(owner.id, "merchant_owner", merchant_id=merchant.id)
    await User.filter(id=owner.id).update(merchant_id=merchant.id)
    return Shop(merchant, await User.get(id=owner.id))


async def make_staff(shop: Shop, email: str, role_key: str = "merchant_staff") -> User:
    """Someone working for ``shop`` with ``role_key`` limited to it."""
    user = await make_user(email, user_type=UserType.MERCHANT_STAFF, merchant_id=shop.merchant.id)
    await assign_role(user.id, role_key, merchant_id=shop.merchant.id)
    return user


async def make_officer(email: str, role_key: str = "operations_director") -> User:
    """Tenant staff holding ``role_key`` for the whole tenant."""
    user = await make_user(email)
    await assign_role(user.id, role_key)
    return user


async def reload(shop: Shop) -> Merchant:
    shop.merchant = await Merchant.get(id=shop.merchant.id)
    return shop.merchant


async def gql_from(
    tenant: TenantRecord, principal: Principal, query: str, source_address: str, **variables: Any
) -> dict[str, Any]:
    """``gql`` from ``source_address``."""
    context = context_for(tenant, principal)
    context.source_address = source_address
    return await gql_in(context, query, **variables)
