"""Public merchant profiles: anyone sees the merchants that trade, and only their public
fields, as a type of their own."""

from __future__ import annotations

from graphql import get_named_type

from schema.core.nodes import to_global_id
from schema.core.principal import ANONYMOUS
from schema.merchants.models import Merchant
from schema.merchants.status import MerchantStatus
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import make_user
from tests.schema.files.samples import PNG, upload
from tests.schema.graphql import codes, engine, gql
from tests.schema.merchants.people import make_shop

S = MerchantStatus
PUBLIC_FIELDS = {"id", "name", "category", "description", "website", "logoUrl"}
PROFILES = """
query P($filter: PublicMerchantFilter, $first: Int, $after: String) {
  publicMerchants(filter: $filter, first: $first, after: $after) {
    nodes { name category description website logoUrl }
    pageInfo { hasNextPage endCursor }
  }
}"""
ONE = "query O($id: ID!) { publicMerchant(id: $id) { id name } }"


async def merchants(*rows: tuple[str, MerchantStatus, str]) -> list[Merchant]:
    """Merchants of user 1 with public and private fields filled."""
    return [
        await Merchant.create(
            owner_user_id=1, business_name=name, status=status, category=category,
            description=f"{name}, since 19{n}0", website=f"https://{n}.example",
            registration_number=f"REG-{n}", contact_email=f"owner{n}@example.com",
            bank_account_last4="1234",
        )
        for n, (name, status, category) in enumerate(rows)
    ]  # fmt: skip


async def make_world(acme: TenantRecord) -> list[Merchant]:
    async with tenant_scope(acme):
        await make_user("owner@example.com")  # user 1, who owns them all
        return await merchants(
            ("Ada's Bakery", S.ACTIVE, "food"),
            ("Bob's Bikes", S.WARNED, "sport"),
            ("Cy's Cafe", S.SUSPENDED, "food"),
            ("Di's Deli", S.AGREEMENT_PENDING, "food"),
            ("Ed's Eggs", S.IN_REVIEW, "food"),
            ("Fay's Fish", S.OFFBOARDING, "food"),
            ("Gus's Gym", S.ACTIVE, "sport"),
        )


def test_the_profile_type_has_only_public_fields() -> None:
    schema = engine().schema._schema
    assert set(schema.get_type("MerchantProfile").fields) == PUBLIC_FIELDS
    query = schema.query_type.fields
    connection = get_named_type(query["publicMerchants"].type)
    assert get_named_type(connection.fields["nodes"].type).name == "MerchantProfile"
    assert get_named_type(query["publicMerchant"].type).name == "MerchantProfile"


async def test_anyone_sees_the_trading_merchants_only(acme: TenantRecord) -> None:
    await make_world(acme)
    payload = await gql(acme, ANONYMOUS, PROFILES)
    assert codes(payload) == []
    assert payload["data"]["publicMerchants"]["nodes"] == [
        {"name": "Ada's Bakery", "category": "food", "description": "Ada's Bakery, since 1900",
         "website": "https://0.example", "logoUrl": None},
        {"name": "Bob's Bikes", "category": "sport", "description": "Bob's Bikes, since 1910",
         "website": "https://1.example", "logoUrl": None},
        {"name": "Gus's Gym", "category": "sport", "description": "Gus's Gym, since 1960",
         "website": "https://6.example", "logoUrl": None},
    ]  # fmt: skip


async def test_filters_and_pages(acme: TenantRecord) -> None:
    await make_world(acme)

    async def names(**variables: object) -> list[str]:
        payload = await gql(acme, ANONYMOUS, PROFILES, **variables)
        return [n["name"] for n in payload["data"]["publicMerchants"]["nodes"]]

    assert await names(filter={"category": "sport"}) == ["Bob's Bikes", "Gus's Gym"]
    assert await names(filter={"search": "BAK"}) == ["Ada's Bakery"]
    assert await names(filter={"search": "Cafe"}) == []  # suspended
    first = await gql(acme, ANONYMOUS, PROFILES, first=2)
    page = first["data"]["publicMerchants"]["pageInfo"]
    assert page["hasNextPage"] is True
    assert await names(first=2, after=page["endCursor"]) == ["Gus's Gym"]
    long = await gql(acme, ANONYMOUS, PROFILES, filter={"search": "x" * 101})
    assert codes(long) == ["BAD_REQUEST"]


async def test_one_profile_by_id(acme: TenantRecord) -> None:
    made = await make_world(acme)
    active, suspended = made[0], made[2]
    for row, expected in ((active, "Ada's Bakery"), (suspended, None)):
        gid = to_global_id("MerchantProfile", row.id)
        payload = await gql(acme, ANONYMOUS, ONE, id=gid)
        found = payload["data"]["publicMerchant"]
        assert (found and found["name"]) == expected
    # A Merchant node ID is not a profile's, and the node field applies the same rule.
    as_node = await gql(acme, ANONYMOUS, ONE, id=to_global_id("Merchant", active.id))
    assert as_node["data"]["publicMerchant"] is None
    node = "query N($id: ID!) { node(id: $id) { ... on MerchantProfile { name } } }"
    for row, expected in ((active, {"name": "Ada's Bakery"}), (suspended, None)):
        seen = await gql(acme, ANONYMOUS, node, id=to_global_id("MerchantProfile", row.id))
        assert seen["data"]["node"] == expected


async def test_the_logo_is_the_merchants_public_link(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        shop = await make_shop("Ada's Bakery", "ada@example.com")
        owner = await shop.principal()
    logo = """mutation L($m: ID!, $file: Upload!) {
      merchantLogoUpload(merchantId: $m, file: $file) { merchant { logoUrl } errors { code } }
    }"""
    uploaded = await gql(acme, owner, logo, m=shop.gid, file=upload(PNG, "logo.png"))
    url = uploaded["data"]["merchantLogoUpload"]["merchant"]["logoUrl"]
    assert url.startswith("http://localhost:8000/t/acme/files/")
    payload = await gql(acme, ANONYMOUS, "{ publicMerchants { nodes { name logoUrl } } }")
    assert payload["data"]["publicMerchants"]["nodes"] == [{"name": "Ada's Bakery", "logoUrl": url}]
