"""Relay global IDs and the root ``node(id:)`` field."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from schema.core.context import RequestContext
from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.errors import PublicError
from schema.core.limits import QueryLimits
from schema.core.nodes import from_global_id, to_global_id
from schema.root import build_schema
from schema.settings.models import SettingsChange
from schema.settings.service import SettingsChanges, update_settings
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.principals import context_for, user_with

NODE_QUERY = "query N($id: ID!) { node(id: $id) { id ... on SettingsChange { field newValue } } }"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("type_name", "key"), [("SettingsChange", 42), ("Order", "ord_01H"), ("Pair", "a:b")]
)
def test_global_id_round_trips(type_name: str, key: object) -> None:
    global_id = to_global_id(type_name, key)
    assert global_id == b64(f"{type_name}:{key}".encode())
    assert from_global_id(global_id) == (type_name, str(key))


@pytest.mark.parametrize(
    "global_id",
    ["not base64!", "", b64(b"no-colon"), b64(b":42"), b64(b"SettingsChange:"), b64(b"\xff:1")],
)
def test_invalid_global_id_is_bad_request(global_id: str) -> None:
    with pytest.raises(PublicError) as caught:
        from_global_id(global_id)
    assert caught.value.extensions == {"code": "BAD_REQUEST"}
    assert caught.value.message == "invalid ID"


async def fetch(tenant: TenantRecord, global_id: str, context: Any = None) -> dict[str, Any]:
    engine = GraphQLEngine(build_schema(), QueryLimits(), introspection=True)
    async with tenant_scope(tenant):
        response = await engine.run(
            GraphQLRequest(NODE_QUERY, {"id": global_id}),
            context or RequestContext(request_id="req", tenant=tenant),
        )
    return response.payload


async def make_change(tenant: TenantRecord) -> SettingsChange:
    async with tenant_scope(tenant):
        await update_settings(SettingsChanges(currency="EUR"), actor="test")
        return await SettingsChange.get(field="currency")


async def test_settings_change_node_needs_the_history_permission(acme: TenantRecord) -> None:
    change = await make_change(acme)
    global_id = to_global_id("SettingsChange", change.id)
    anonymous = await fetch(acme, global_id)
    assert anonymous["data"] == {"node": None}
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    signed_in = await fetch(acme, global_id, context_for(acme, user_with("settings:read")))
    assert signed_in["data"] == {"node": None}
    [error] = signed_in["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert error["message"] == "this needs the 'settings:history' permission"


async def test_settings_change_node_with_the_permission(acme: TenantRecord) -> None:
    change = await make_change(acme)
    global_id = to_global_id("SettingsChange", change.id)
    context = context_for(acme, user_with("settings:history"))
    payload = await fetch(acme, global_id, context)
    assert payload["data"] == {"node": {"id": global_id, "field": "currency", "newValue": "EUR"}}
    missing = await fetch(acme, to_global_id("SettingsChange", change.id + 1000), context)
    assert missing["data"] == {"node": None}
    assert "errors" not in missing


@pytest.mark.parametrize(
    ("global_id", "code"),
    [("garbage!", "BAD_REQUEST"), (b64(b"SettingsChange"), "BAD_REQUEST")],
)
async def test_node_with_an_invalid_id_is_bad_request(
    acme: TenantRecord, global_id: str, code: str
) -> None:
    payload = await fetch(acme, global_id)
    assert payload["data"] == {"node": None}
    assert [e["extensions"]["code"] for e in payload["errors"]] == [code]


async def test_node_of_an_unknown_type_is_null(acme: TenantRecord) -> None:
    payload = await fetch(acme, to_global_id("Nothing", 1))
    assert payload == {
        "data": {"node": None},
        "extensions": {"cost": {"requested": 1, "maximum": 1000}},
    }
