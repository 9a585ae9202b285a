"""``auditRecords`` and ``auditChainStatus`` through the product schema and engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schema.audit.models import AuditRecord
from schema.audit.service import Acting, acting_as, record
from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.limits import QueryLimits
from schema.core.nodes import to_global_id
from schema.core.principal import ANONYMOUS, Principal
from schema.root import build_schema
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.audit.helpers import tamper
from tests.schema.principals import context_for, user_with

AUDITOR = user_with("audit:read", user_id=1)
RECORDS = """query R($filter: AuditRecordFilter, $first: Int, $after: String) {
  auditRecords(filter: $filter, first: $first, after: $after) {
    nodes { sequence operation outcome actor targets }
    pageInfo { hasNextPage endCursor }
  }
}"""
STATUS = """{ auditChainStatus { intact checkedRecords headSequence headHash
  problem { kind sequence message } } }"""


async def query(
    tenant: TenantRecord, text: str, principal: Principal = AUDITOR, **variables: Any
) -> dict[str, Any]:
    engine = GraphQLEngine(build_schema(), QueryLimits(), introspection=True)
    async with tenant_scope(tenant):
        response = await engine.run(GraphQLRequest(text, variables), context_for(tenant, principal))
    return response.payload


async def fill(tenant: TenantRecord) -> None:
    """Five records by two users, on orders and users, one refused."""
    entries = [
        (1, "orderCreate", ["Order:1"], "success"),
        (2, "orderCreate", ["Order:2"], "success"),
        (1, "orderCancel", ["Order:1", "Payment:1"], "success"),
        (2, "userDeactivate", ["User:1"], "FORBIDDEN"),
        (1, "orderCancel", ["Order:10"], "success"),  # Order:10 must not match Order:1
    ]
    async with tenant_scope(tenant):
        for user_id, operation, targets, outcome in entries:
            with acting_as(Acting(user_with(user_id=user_id))):
                await record(operation, targets=targets, outcome=outcome)


def listed(payload: dict[str, Any]) -> list[int]:
    return [n["sequence"] for n in payload["data"]["auditRecords"]["nodes"]]


async def test_records_are_listed_newest_first_and_paged(acme: TenantRecord) -> None:
    await fill(acme)
    first = await query(acme, RECORDS, first=2)
    assert first["data"]["auditRecords"]["nodes"] == [
        {
            "sequence": 5,
            "operation": "orderCancel",
            "outcome": "success",
            "actor": "user:1",
            "targets": ["Order:10"],
        },
        {
            "sequence": 4,
            "operation": "userDeactivate",
            "outcome": "FORBIDDEN",
            "actor": "user:2",
            "targets": ["User:1"],
        },
    ]
    cursor = first["data"]["auditRecords"]["pageInfo"]["endCursor"]
    rest = await query(acme, RECORDS, first=10, after=cursor)
    assert listed(rest) == [3, 2, 1]
    assert rest["data"]["auditRecords"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"actor": "user:1"}, [5, 3, 1]),
        ({"operation": "orderCancel"}, [5, 3]),
        ({"target": "Order:1"}, [3, 1]),
        ({"target": "Payment:1"}, [3]),
        ({"outcome": "FORBIDDEN"}, [4]),
        ({"actor": "user:1", "target": "Order:1", "operation": "orderCancel"}, [3]),
        ({"actor": "user:9"}, []),
        ({"target": "Order:%"}, []),  # no wildcards
        ({}, [5, 4, 3, 2, 1]),
    ],
)
async def test_records_are_filtered(
    acme: TenantRecord, where: dict[str, str], expected: list[int]
) -> None:
    await fill(acme)
    assert listed(await query(acme, RECORDS, filter=where)) == expected


async def test_records_are_filtered_by_time(acme: TenantRecord) -> None:
    await fill(acme)
    async with tenant_scope(acme):
        times = dict(await AuditRecord.all().values_list("id", "occurred_at"))
    after, before = times[2].isoformat(), times[4].isoformat()
    assert listed(await query(acme, RECORDS, filter={"occurredAfter": after})) == [5, 4, 3, 2]
    assert listed(await query(acme, RECORDS, filter={"occurredBefore": before})) == [3, 2, 1]
    both = {"occurredAfter": after, "occurredBefore": before}
    assert listed(await query(acme, RECORDS, filter=both)) == [3, 2]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert listed(await query(acme, RECORDS, filter={"occurredAfter": later})) == []


async def test_an_oversized_filter_is_a_bad_request(acme: TenantRecord) -> None:
    payload = await query(acme, RECORDS, filter={"target": "Order:" + "1" * 300})
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert payload["errors"][0]["message"] == "the target filter is longer than 200 characters"


@pytest.mark.parametrize("text", [RECORDS, STATUS])
@pytest.mark.parametrize(
    ("principal", "code"),
    [(ANONYMOUS, "UNAUTHENTICATED"), (user_with("users:read"), "FORBIDDEN")],
)
async def test_only_auditors_read_the_trail(
    acme: TenantRecord, text: str, principal: Principal, code: str
) -> None:
    await fill(acme)
    payload = await query(acme, text, principal)
    assert payload["data"] is None
    assert [e["extensions"]["code"] for e in payload["errors"]] == [code]


async def test_a_record_is_a_node_for_auditors_only(acme: TenantRecord) -> None:
    await fill(acme)
    node = "query N($id: ID!) { node(id: $id) { id ... on AuditRecord { sequence operation } } }"
    global_id = to_global_id("AuditRecord", 2)
    found = await query(acme, node, id=global_id)
    assert found["data"] == {"node": {"id": global_id, "sequence": 2, "operation": "orderCreate"}}
    missing = await query(acme, node, id=to_global_id("AuditRecord", 99))
    assert missing["data"] == {"node": None}
    refused = await query(acme, node, user_with("users:read"), id=global_id)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_chain_status_reports_intact_then_the_first_break(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    await fill(acme)
    async with tenant_scope(acme):
        last_hash = (await AuditRecord.get(id=5)).hash
    assert (await query(acme, STATUS))["data"]["auditChainStatus"] == {
        "intact": True,
        "checkedRecords": 5,
        "headSequence": 5,
        "headHash": last_hash,
        "problem": None,
    }
    await tamper(tenancy, acme, "DELETE FROM audit_record WHERE id = 2")
    assert (await query(acme, STATUS))["data"]["auditChainStatus"] == {
        "intact": False,
        "checkedRecords": 1,
        "headSequence": 5,
        "headHash": last_hash,
        "problem": {
            "kind": "GAP",
            "sequence": 2,
            "message": "record 2 is missing (the next one is 3): it was deleted",
        },
    }
