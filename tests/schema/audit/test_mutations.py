"""Every mutation is audited: refusals, crashes, expected errors and generic successes,
on a toy schema run by the real engine (the product's mutations are built elsewhere)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import orjson
import pytest
import strawberry
from tortoise.transactions import in_transaction

from schema.audit import api as audit_api
from schema.audit.api import AuditMutation, audit_mutations
from schema.audit.models import AuditRecord
from schema.audit.service import record, verify_chain
from schema.core.context import RequestContext
from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.limits import QueryLimits
from schema.core.nodes import Node, to_global_id
from schema.core.permissions import public, requires
from schema.core.principal import ANONYMOUS, Principal
from schema.root import build_schema
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.audit.helpers import trail
from tests.schema.principals import context_for, user_with
from tests.schema.toy import SECRET

WRITER = user_with("things:write", user_id=12)


@strawberry.type
class Thing(Node):
    name: str


@strawberry.enum
class ThingCreateErrorCode(Enum):
    NAME_TAKEN = "name-taken"  # the client sees the member's name
    TOO_LONG = "too-long"


@strawberry.type
class ThingCreateError:
    field: list[str] | None
    message: str
    code: ThingCreateErrorCode


@strawberry.type
class ThingCreatePayload:
    thing: Thing | None = None
    related: list[Thing] = strawberry.field(default_factory=list)
    errors: list[ThingCreateError] = strawberry.field(default_factory=list)


def thing(key: int) -> Thing:
    return Thing(id=to_global_id("Thing", key), name=f"thing {key}")


TAKEN = ThingCreatePayload(
    errors=[
        ThingCreateError(field=["name"], message="taken", code=ThingCreateErrorCode.NAME_TAKEN),
        ThingCreateError(field=None, message="long", code=ThingCreateErrorCode.TOO_LONG),
    ]
)


async def _create(name: str) -> ThingCreatePayload:
    """What a service does for each name."""
    match name:
        case "taken":
            return TAKEN
        case "taken-recorded":  # the service records its own refusal (like a sign-in)
            await record("thingCreate", outcome="NAME_TAKEN", summary={"name": name})
            return TAKEN
        case "boom":
            raise RuntimeError(f"cannot connect with {SECRET}")
        case "half":  # a change and its record, rolled back by a crash
            async with in_transaction(TENANT_ALIAS):
                await record("thingCreate", targets=["Thing:5"])
                raise RuntimeError("crashed after writing")
        case "recorded":
            await record("thingCreate", targets=["Thing:99"], summary={"name": name})
            return ThingCreatePayload(thing=thing(99))
    return ThingCreatePayload(thing=thing(7), related=[thing(8), thing(9)])


@strawberry.type
class ToyQuery:
    @strawberry.field(permission_classes=[public])
    def hello(self) -> str:
        return "world"


@strawberry.type
class ToyMutation:
    @strawberry.mutation(permission_classes=[requires("things:write")])
    async def thing_create(self, name: str) -> ThingCreatePayload:
        return await _create(name)

    @strawberry.mutation(permission_classes=[public])
    def thing_touch(self) -> int:
        return 1  # a synchronous resolver


SCHEMA = strawberry.Schema(query=ToyQuery, mutation=audit_mutations(ToyMutation))
CREATE = "mutation C($name: String!) { thingCreate(name: $name) { errors { code } } }"


async def run(
    tenant: TenantRecord, query: str, principal: Principal = WRITER, **variables: Any
) -> dict[str, Any]:
    engine = GraphQLEngine(SCHEMA, QueryLimits(), introspection=True)
    context = context_for(tenant, principal)
    context.source_address = "198.51.100.4"
    async with tenant_scope(tenant):
        response = await engine.run(GraphQLRequest(query, variables), context)
    return response.payload


async def records(tenant: TenantRecord) -> list[tuple[int, str, str, list[str]]]:
    async with tenant_scope(tenant):
        assert (await verify_chain()).intact
        return await trail()


async def last_record(tenant: TenantRecord) -> AuditRecord:
    async with tenant_scope(tenant):
        return await AuditRecord.all().order_by("-id").first().get()


async def test_a_success_the_service_did_not_record_gets_a_generic_record(
    acme: TenantRecord,
) -> None:
    payload = await run(acme, CREATE, name="plain")
    assert payload["data"] == {"thingCreate": {"errors": []}}
    assert await records(acme) == [(1, "thingCreate", "success", ["Thing:7", "Thing:8", "Thing:9"])]
    row = await last_record(acme)
    assert (row.actor_subject, row.source_address, row.request_id, row.summary) == (
        "user:12",
        "198.51.100.4",
        "req",
        "{}",
    )


async def test_a_success_the_service_recorded_is_not_recorded_twice(acme: TenantRecord) -> None:
    await run(acme, CREATE, name="recorded")
    assert await records(acme) == [(1, "thingCreate", "success", ["Thing:99"])]
    row = await last_record(acme)
    assert (row.actor_subject, row.source_address) == ("user:12", "198.51.100.4")


async def test_expected_errors_are_recorded_with_the_first_code(acme: TenantRecord) -> None:
    payload = await run(acme, CREATE, name="taken")
    assert payload["data"]["thingCreate"]["errors"] == [
        {"code": "NAME_TAKEN"},
        {"code": "TOO_LONG"},
    ]
    assert await records(acme) == [(1, "thingCreate", "NAME_TAKEN", [])]
    assert orjson.loads((await last_record(acme)).summary) == {
        "errors": [{"field": "name", "code": "NAME_TAKEN"}, {"field": "", "code": "TOO_LONG"}]
    }


async def test_errors_the_service_recorded_are_not_recorded_twice(acme: TenantRecord) -> None:
    await run(acme, CREATE, name="taken-recorded")
    assert await records(acme) == [(1, "thingCreate", "NAME_TAKEN", [])]


@pytest.mark.parametrize(
    ("principal", "code"),
    [(ANONYMOUS, "UNAUTHENTICATED"), (user_with("things:read", user_id=3), "FORBIDDEN")],
)
async def test_a_refused_mutation_is_recorded(
    acme: TenantRecord, principal: Principal, code: str
) -> None:
    payload = await run(acme, CREATE, principal, name="plain")
    assert payload["errors"][0]["extensions"]["code"] == code
    assert await records(acme) == [(1, "thingCreate", code, [])]
    row = await last_record(acme)
    assert (row.actor_subject, row.summary) == (principal.subject, "{}")


async def test_a_crash_is_recorded_without_its_message(acme: TenantRecord) -> None:
    payload = await run(acme, CREATE, name="boom")
    assert payload["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert await records(acme) == [(1, "thingCreate", "INTERNAL_SERVER_ERROR", [])]
    row = await last_record(acme)
    assert row.summary == '{"exception":"RuntimeError"}'
    assert SECRET not in row.summary


async def test_a_crash_after_writing_keeps_only_its_failure_record(acme: TenantRecord) -> None:
    """The service's record rolled back with its transaction; the failure is recorded in
    a transaction of its own."""
    await run(acme, CREATE, name="half")
    assert await records(acme) == [(1, "thingCreate", "INTERNAL_SERVER_ERROR", [])]


async def test_a_synchronous_mutation_is_audited(acme: TenantRecord) -> None:
    payload = await run(acme, "mutation { thingTouch }", ANONYMOUS)
    assert payload["data"] == {"thingTouch": 1}
    assert await records(acme) == [(1, "thingTouch", "success", [])]
    assert (await last_record(acme)).actor_subject == "anonymous"


async def test_a_failed_record_does_not_hide_the_mutations_outcome(
    acme: TenantRecord, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside a tenant the record cannot be written: logged, and the answer is intact."""
    engine = GraphQLEngine(SCHEMA, QueryLimits(), introspection=True)
    response = await engine.run(
        GraphQLRequest("mutation { thingTouch }"), RequestContext("req", acme, WRITER)
    )
    assert response.payload["data"] == {"thingTouch": 1}
    assert "audit record of thingTouch not written" in caplog.text


# --- every mutation of the product schema carries it -------------------------------------


def unaudited_mutations(schema: strawberry.Schema) -> list[str]:
    """Mutation fields without ``AuditMutation`` as their outermost extension."""
    root = schema._schema.mutation_type
    if root is None:
        return []
    definition = schema.get_type_by_name(root.name)
    assert definition is not None
    return [
        schema.config.name_converter.get_graphql_name(field)
        for field in definition.fields
        if not (field.extensions and isinstance(field.extensions[-1], AuditMutation))
    ]


def test_every_mutation_of_the_product_schema_is_audited() -> None:
    assert unaudited_mutations(build_schema()) == []


def test_the_root_schema_audits_each_domains_mutations(monkeypatch: pytest.MonkeyPatch) -> None:
    @strawberry.type
    class DomainMutation:
        @strawberry.mutation(permission_classes=[requires("things:write")])
        async def thing_rename(self, name: str) -> int:
            return 1

    monkeypatch.setattr(audit_api, "MUTATIONS", [DomainMutation])
    schema = build_schema()
    assert schema.get_type_by_name("Mutation") is not None
    assert unaudited_mutations(schema) == []


def test_the_walk_finds_an_unaudited_mutation() -> None:
    @strawberry.type
    class Careless:
        @strawberry.mutation(permission_classes=[public])
        def forgotten(self) -> int:
            return 1

    schema = strawberry.Schema(query=ToyQuery, mutation=Careless)
    assert unaudited_mutations(schema) == ["forgotten"]
    again = audit_mutations(audit_mutations(Careless))  # idempotent
    extensions = strawberry.Schema(query=ToyQuery, mutation=again).get_type_by_name("Careless")
    assert extensions is not None
    [field] = extensions.fields
    assert sum(isinstance(e, AuditMutation) for e in field.extensions) == 1
