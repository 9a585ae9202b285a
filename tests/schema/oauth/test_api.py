"""The GraphQL face of OAuth clients, on the real schema and engine: every query and
mutation with and without its permission (a refused mutation changes nothing),
merchant-limited grants, payload errors with their own codes, secrets shown once."""

from __future__ import annotations

from typing import Any

import pytest

from schema.core.nodes import to_global_id
from schema.core.principal import ANONYMOUS, Principal
from schema.oauth.clients import ClientSettings, NewClient, create_client
from schema.oauth.models import ClientKind, ClientStatus, GrantType, OAuthClient
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import codes, gql
from tests.schema.principals import user_with

MANAGER = user_with("oauth_clients:manage", "oauth_clients:read")
READER = user_with("oauth_clients:read")
MERCHANT_7 = user_with("oauth_clients:manage", "oauth_clients:read", merchant_id=7)

CLIENT_FIELDS = "id clientId name kind redirectUris grantTypes scopes merchantId firstParty status"
CREATE = f"""
mutation Create($input: OAuthClientCreateInput!) {{
  oauthClientCreate(input: $input) {{
    client {{ {CLIENT_FIELDS} }}
    clientSecret
    errors {{ field message code }}
  }}
}}"""
PUBLIC_APP = {
    "name": "Acme app",
    "kind": "PUBLIC",
    "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
    "redirectUris": ["com.acme.app:/cb"],
    "scopes": ["orders:read", "offline_access"],
    "firstParty": True,
}
SERVER = {
    "name": "Merchant server",
    "kind": "CONFIDENTIAL",
    "grantTypes": ["CLIENT_CREDENTIALS"],
    "scopes": ["listings:*"],
    "merchantId": 7,
}


async def stored(tenant: TenantRecord) -> list[tuple[str, str, str]]:
    async with tenant_scope(tenant):
        rows = await OAuthClient.all().order_by("id")
    return [(r.name, str(r.status), r.secret_hash or "") for r in rows]


async def add(
    tenant: TenantRecord, kind: ClientKind, merchant_id: int | None = None
) -> OAuthClient:
    grants = (
        [GrantType.CLIENT_CREDENTIALS]
        if kind is ClientKind.CONFIDENTIAL
        else [GrantType.AUTHORIZATION_CODE]
    )
    uris = [] if kind is ClientKind.CONFIDENTIAL else ["https://app.example/cb"]
    async with tenant_scope(tenant):
        made = await create_client(
            NewClient(
                kind,
                ClientSettings(
                    name=f"{kind} {merchant_id}",
                    redirect_uris=uris,
                    grant_types=grants,
                    scopes=["orders:read"],
                ),
                merchant_id,
            )
        )
    return made.client


async def test_create_a_public_client(acme: TenantRecord) -> None:
    payload = await gql(acme, MANAGER, CREATE, input=PUBLIC_APP)
    result = payload["data"]["oauthClientCreate"]
    assert result["errors"] == []
    assert result["clientSecret"] is None
    client = result["client"]
    assert client["clientId"].startswith("c_")
    assert {k: client[k] for k in ("name", "kind", "grantTypes", "firstParty", "status")} == {
        "name": "Acme app",
        "kind": "PUBLIC",
        "grantTypes": ["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
        "firstParty": True,
        "status": "ACTIVE",
    }


async def test_a_confidential_clients_secret_is_in_the_payload_once(acme: TenantRecord) -> None:
    payload = await gql(acme, MANAGER, CREATE, input=SERVER)
    result = payload["data"]["oauthClientCreate"]
    secret = result["clientSecret"]
    assert len(secret) >= 43
    assert result["client"]["merchantId"] == 7
    listed = await gql(acme, READER, "{ oauthClients { nodes { clientId } } }")
    assert secret not in str(listed)
    [(_, _, digest)] = await stored(acme)
    assert secret not in digest


@pytest.mark.parametrize(
    ("principal", "code"),
    [
        (ANONYMOUS, "UNAUTHENTICATED"),
        (READER, "FORBIDDEN"),
        (user_with("users:manage"), "FORBIDDEN"),
    ],
)
async def test_creating_needs_manage_and_a_refusal_changes_nothing(
    acme: TenantRecord, principal: Principal, code: str
) -> None:
    payload = await gql(acme, principal, CREATE, input=PUBLIC_APP)
    assert codes(payload) == [code]
    assert payload["data"] is None
    assert await stored(acme) == []


async def test_bad_input_gets_typed_payload_errors(acme: TenantRecord) -> None:
    bad = {**PUBLIC_APP, "name": "", "redirectUris": ["http://evil.example/cb"], "scopes": ["nope"]}
    payload = await gql(acme, MANAGER, CREATE, input=bad)
    result = payload["data"]["oauthClientCreate"]
    assert result["client"] is None
    assert [(e["field"], e["code"]) for e in result["errors"]] == [
        (["name"], "INVALID"),
        (["redirectUris"], "NOT_ALLOWED"),
        (["scopes"], "UNKNOWN_SCOPE"),
    ]
    assert await stored(acme) == []


async def test_a_merchant_limited_manager_manages_its_merchants_clients_only(
    acme: TenantRecord,
) -> None:
    ok = await gql(acme, MERCHANT_7, CREATE, input=SERVER)
    assert ok["data"]["oauthClientCreate"]["errors"] == []
    other = await gql(acme, MERCHANT_7, CREATE, input={**SERVER, "merchantId": 8})
    tenant_wide = await gql(acme, MERCHANT_7, CREATE, input=PUBLIC_APP)
    assert codes(other) == codes(tenant_wide) == ["FORBIDDEN"]
    assert [name for name, _, _ in await stored(acme)] == ["Merchant server"]

    theirs = await add(acme, ClientKind.PUBLIC)
    listed = await gql(acme, MERCHANT_7, "{ oauthClients { nodes { name merchantId } } }")
    assert listed["data"]["oauthClients"]["nodes"] == [{"name": "Merchant server", "merchantId": 7}]
    refused = await gql(
        acme,
        MERCHANT_7,
        "mutation($id: ID!) { oauthClientDisable(id: $id) { errors { code } } }",
        id=to_global_id("OAuthClient", theirs.id),
    )
    assert codes(refused) == ["FORBIDDEN"]
    assert ("public None", "active") in [(n, s) for n, s, _ in await stored(acme)]


async def test_listing_and_node_need_read(acme: TenantRecord) -> None:
    client = await add(acme, ClientKind.PUBLIC)
    await add(acme, ClientKind.CONFIDENTIAL)
    query = "{ oauthClients(status: ACTIVE, first: 1) { nodes { name } pageInfo { hasNextPage } } }"
    listed = await gql(acme, READER, query)
    assert listed["data"]["oauthClients"] == {
        "nodes": [{"name": "public None"}],
        "pageInfo": {"hasNextPage": True},
    }
    assert codes(await gql(acme, user_with("users:read"), query)) == ["FORBIDDEN"]
    node_query = "query($id: ID!) { node(id: $id) { ... on OAuthClient { clientId } } }"
    node_id = to_global_id("OAuthClient", client.id)
    found = await gql(acme, READER, node_query, id=node_id)
    assert found["data"]["node"] == {"clientId": client.client_id}
    assert codes(await gql(acme, user_with("users:read"), node_query, id=node_id)) == ["FORBIDDEN"]


UPDATE = """mutation($id: ID!, $input: OAuthClientUpdateInput!) {
  oauthClientUpdate(id: $id, input: $input) { client { name scopes } errors { field code } } }"""
ROTATE = """mutation($id: ID!) {
  oauthClientSecretRotate(id: $id) { clientSecret errors { field code } } }"""
DISABLE = """mutation($id: ID!) {
  oauthClientDisable(id: $id, reason: "leaked") { client { status } errors { field code } } }"""
ENABLE = """mutation($id: ID!) {
  oauthClientEnable(id: $id) { client { status } errors { field code } } }"""


@pytest.mark.parametrize(
    ("mutation", "variables"),
    [
        (UPDATE, {"input": {"name": "Renamed"}}),
        (ROTATE, {}),
        (DISABLE, {}),
        (ENABLE, {}),
    ],
)
async def test_every_change_needs_manage(
    acme: TenantRecord, mutation: str, variables: dict[str, Any]
) -> None:
    client = await add(acme, ClientKind.CONFIDENTIAL)
    before = await stored(acme)
    payload = await gql(
        acme, READER, mutation, id=to_global_id("OAuthClient", client.id), **variables
    )
    assert codes(payload) == ["FORBIDDEN"]
    assert await stored(acme) == before


async def test_update_rotate_disable_enable(acme: TenantRecord) -> None:
    client = await add(acme, ClientKind.CONFIDENTIAL)
    node_id = to_global_id("OAuthClient", client.id)
    updated = await gql(
        acme, MANAGER, UPDATE, id=node_id, input={"name": "Renamed", "scopes": ["orders:*"]}
    )
    assert updated["data"]["oauthClientUpdate"] == {
        "client": {"name": "Renamed", "scopes": ["orders:*"]},
        "errors": [],
    }
    rotated = await gql(acme, MANAGER, ROTATE, id=node_id)
    assert len(rotated["data"]["oauthClientSecretRotate"]["clientSecret"]) >= 43
    disabled = await gql(acme, MANAGER, DISABLE, id=node_id)
    assert disabled["data"]["oauthClientDisable"]["client"] == {"status": "DISABLED"}
    twice = await gql(acme, MANAGER, DISABLE, id=node_id)
    assert twice["data"]["oauthClientDisable"]["errors"] == [
        {"field": ["id"], "code": "ALREADY_DISABLED"}
    ]
    enabled = await gql(acme, MANAGER, ENABLE, id=node_id)
    assert enabled["data"]["oauthClientEnable"]["client"] == {"status": "ACTIVE"}
    again = await gql(acme, MANAGER, ENABLE, id=node_id)
    assert again["data"]["oauthClientEnable"]["errors"] == [
        {"field": ["id"], "code": "ALREADY_ACTIVE"}
    ]
    async with tenant_scope(acme):
        row = await OAuthClient.get(id=client.id)
    assert (row.name, row.status) == ("Renamed", ClientStatus.ACTIVE)


@pytest.mark.parametrize("mutation", [ROTATE, DISABLE, ENABLE])
async def test_an_unknown_client_is_not_found(acme: TenantRecord, mutation: str) -> None:
    for node_id in (to_global_id("OAuthClient", 999), to_global_id("User", 1)):
        payload = await gql(acme, MANAGER, mutation, id=node_id)
        [result] = payload["data"].values()
        assert result["errors"] == [{"field": ["id"], "code": "NOT_FOUND"}]


async def test_rotating_a_public_clients_secret_is_refused(acme: TenantRecord) -> None:
    client = await add(acme, ClientKind.PUBLIC)
    payload = await gql(acme, MANAGER, ROTATE, id=to_global_id("OAuthClient", client.id))
    assert payload["data"]["oauthClientSecretRotate"] == {
        "clientSecret": None,
        "errors": [{"field": ["id"], "code": "NOT_CONFIDENTIAL"}],
    }
