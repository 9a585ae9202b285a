"""Fixtures of the merchants tests: an applicant and a draft application in ``acme``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from schema.core.principal import Principal
from schema.identity.models import User
from schema.merchants.models import Merchant
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.principals import user_with


async def make_user(email: str, full_name: str = "Ada Applicant") -> User:
    return await User.create(email=email, full_name=full_name)


async def make_draft(owner: User, business_name: str = "Ada's Bakery") -> Merchant:
    return await Merchant.create(owner_user_id=owner.id, business_name=business_name)


@pytest.fixture
async def applicant(acme: TenantRecord) -> AsyncIterator[User]:
    async with tenant_scope(acme):
        yield await make_user("ada@example.com")


@pytest.fixture
async def draft(acme: TenantRecord, applicant: User) -> Merchant:
    async with tenant_scope(acme):
        return await make_draft(applicant)


@pytest.fixture
def applicant_principal(applicant: User) -> Principal:
    return user_with(user_id=applicant.id)
