"""The operator API over real HTTP through the app, on each backend: who may call it,
where it is served, and each mutation with its refusals (which change nothing)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import pytest

from saas.app import make_tenancy
from saas.cli import _actor
from saas.config import load_settings
from schema.access.models import RoleAssignment
from schema.core.nodes import to_global_id
from schema.identity.models import User
from schema.identity.service import MAIL_ACTOR
from schema.operator.credentials import (
    authenticate,
    create_operator,
    disable_operator,
    rotate_key,
)
from tenants.models import Operator, Tenant, TenantEvent
from tenants.outbox import JobOutbox
from tenants.scope import tenant_scope
from tests.saas.harness import SETTINGS_QUERY, AppStarter, RunningApp, error_code
from tests.saas.test_cli import cli_env, run

__all__ = ["cli_env"]  # a fixture of the command-line tests, used here too
T = TypeVar("T")

URL = "/operator/graphql"
TENANT_FIELDS = "slug name status statusReason domains schemaVersion"
CREATE = f"""mutation Create($slug: String!, $name: String!, $domains: [String!]) {{
  tenantCreate(slug: $slug, name: $name, domains: $domains) {{
    tenant {{ {TENANT_FIELDS} }} errors {{ field message code }} }} }}"""
SUSPEND = f"""mutation Suspend($slug: String!, $reason: String!) {{
  tenantSuspend(slug: $slug, reason: $reason) {{
    tenant {{ {TENANT_FIELDS} }} errors {{ field message code }} }} }}"""
RESUME = f"""mutation Resume($slug: String!, $reason: String!) {{
  tenantResume(slug: $slug, reason: $reason) {{
    tenant {{ {TENANT_FIELDS} }} errors {{ field message code }} }} }}"""
DELETE = """mutation Delete($slug: String!, $reason: String!) {
  tenantDelete(slug: $slug, reason: $reason) {
    deletedTenant { slug status } errors { field message code } } }"""
LIST = """query List($status: TenantStatus, $first: Int, $after: String) {
  tenants(status: $status, first: $first, after: $after) {
    nodes { slug status } pageInfo { hasNextPage endCursor } } }"""


class OperatorClient:
    """Requests of one operator, with its key."""

    def __init__(self, running: RunningApp, key: str) -> None:
        self.running = running
        self.key = key

    async def post(self, query: str, url: str = URL, **variables: Any) -> httpx.Response:
        return await self.running.graphql(
            query, url=url, variables=variables, headers={"authorization": f"Bearer {self.key}"}
        )

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(query, **variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture
async def running(dialect: str, start_app: AppStarter) -> AsyncIterator[RunningApp]:
    # A short registry TTL: deleting waits until every process has seen the suspension.
    async with start_app(dialect, SAAS_REGISTRY_TTL="0.1") as running:
        yield running


@pytest.fixture
async def alice(running: RunningApp) -> OperatorClient:
    issued = await create_operator("alice", created_by="test")
    return OperatorClient(running, issued.key)


async def registry_state() -> tuple[list[tuple[Any, ...]], int]:
    """Every tenant row and how many lifecycle events: what a refusal must not change."""
    rows = await Tenant.all().order_by("slug").values_list("slug", "status", "status_reason")
    return list(rows), await TenantEvent.all().count()


def payload_errors(data: Mapping[str, Any], field: str) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in data[field]["errors"]]


# --- who may call it --------------------------------------------------------------------------


async def test_a_missing_wrong_or_disabled_key_is_401(
    running: RunningApp, alice: OperatorClient
) -> None:
    bob = await create_operator("bob", created_by="test")
    old_carol = await create_operator("carol", created_by="test")
    await rotate_key("carol")
    await disable_operator("bob")
    refused = {
        "no header": {},
        "empty bearer": {"authorization": "Bearer "},
        "another scheme": {"authorization": f"Basic {alice.key}"},
        "unknown key": {"authorization": "Bearer sop_" + "x" * 43},
        "alice's key altered": {"authorization": f"Bearer {alice.key[:-1]}!"},
        "not a key at all": {"authorization": "Bearer " + "a" * 5000},
        "disabled operator": {"authorization": f"Bearer {bob.key}"},
        "rotated-out key": {"authorization": f"Bearer {old_carol.key}"},
    }
    before = await registry_state()
    for what, headers in refused.items():
        response = await running.graphql(
            CREATE, url=URL, variables={"slug": "sneaky", "name": "S"}, headers=headers
        )
        assert response.status_code == 401, what
        assert error_code(response) == "UNAUTHENTICATED", what
        assert response.headers["www-authenticate"] == 'Bearer realm="operator"'
        assert "data" not in response.json()
    assert await registry_state() == before

    assert (await alice.data(LIST))["tenants"]["nodes"] == []
    bearer_in_lower_case = await running.graphql(
        LIST, url=URL, headers={"authorization": f"bearer {alice.key}"}
    )
    assert bearer_in_lower_case.status_code == 200


async def test_a_used_key_notes_when(running: RunningApp, alice: OperatorClient) -> None:
    assert (await Operator.get(name="alice")).last_used_at is None
    await alice.data(LIST)
    assert (await Operator.get(name="alice")).last_used_at is not None


async def test_operator_routes_are_not_reachable_through_a_tenant(
    running: RunningApp, alice: OperatorClient
) -> None:
    await running.add_tenant("acme", "Acme Ltd", domains=("shop.acme.example",))
    for url in (
        "http://acme.localhost/operator/graphql",
        "http://shop.acme.example/operator/graphql",
    ):
        response = await alice.post(LIST, url=url)
        assert (response.status_code, error_code(response)) == (404, "NOT_FOUND"), url
    response = await alice.post(LIST, url="/t/acme/operator/graphql")
    assert response.status_code == 404
    # A tenant's own endpoint takes no operator key: it is not one of its access tokens.
    response = await alice.post("{ tenants { nodes { slug } } }", url="/t/acme/graphql")
    assert (response.status_code, error_code(response)) == (401, "UNAUTHENTICATED")
    # Nor has it the operator's fields.
    response = await running.graphql("{ tenants { nodes { slug } } }")
    assert error_code(response) == "GRAPHQL_VALIDATION_FAILED"
    assert (
        response.json()["errors"][0]["message"] == "Cannot query field 'tenants' on type 'Query'."
    )


async def test_get_runs_queries_and_refuses_mutations(
    running: RunningApp, alice: OperatorClient
) -> None:
    headers = {"authorization": f"Bearer {alice.key}", "accept": "application/json"}
    query = await running.client.get(URL, params={"query": "{ tenant(slug: \"x\") { slug } }"},
                                     headers=headers)  # fmt: skip
    assert (query.status_code, query.json()["data"]) == (200, {"tenant": None})
    suspend = 'mutation { tenantSuspend(slug: "x", reason: "r") { errors { code } } }'
    mutation = await running.client.get(URL, params={"query": suspend}, headers=headers)
    assert mutation.status_code == 405


# --- the lifecycle ----------------------------------------------------------------------------


async def test_an_operator_runs_a_tenant_s_whole_lifecycle(
    running: RunningApp, alice: OperatorClient
) -> None:
    created = await alice.data(
        CREATE, slug="initech", name=" Initech ", domains=["API.Initech.example"]
    )
    assert created["tenantCreate"] == {
        "tenant": {
            "slug": "initech", "name": "Initech", "status": "ACTIVE", "statusReason": None,
            "domains": ["api.initech.example"],
            "schemaVersion": running.tenancy.tenant_track.head,
        },
        "errors": [],
    }  # fmt: skip
    served = await running.graphql(SETTINGS_QUERY, url="http://api.initech.example/graphql")
    assert served.json()["data"] == {"tenantSettings": {"name": "Initech", "currency": "USD"}}

    suspended = await alice.data(SUSPEND, slug="initech", reason="unpaid invoice")
    assert suspended["tenantSuspend"]["tenant"]["status"] == "SUSPENDED"
    assert suspended["tenantSuspend"]["tenant"]["statusReason"] == "unpaid invoice"
    refused = await running.graphql(SETTINGS_QUERY, url="/t/initech/graphql")
    assert (refused.status_code, error_code(refused)) == (403, "TENANT_SUSPENDED")

    resumed = await alice.data(RESUME, slug="initech", reason="paid")
    assert resumed["tenantResume"]["tenant"]["status"] == "ACTIVE"
    assert (await running.graphql(SETTINGS_QUERY, url="/t/initech/graphql")).status_code == 200

    await alice.data(SUSPEND, slug="initech", reason="contract ended")
    deleted = await alice.data(DELETE, slug="initech", reason="contract ended")
    assert deleted["tenantDelete"] == {
        "deletedTenant": {"slug": "initech", "status": "SUSPENDED"}, "errors": [],
    }  # fmt: skip
    gone = await running.graphql(SETTINGS_QUERY, url="/t/initech/graphql")
    assert (gone.status_code, error_code(gone)) == (404, "TENANT_NOT_FOUND")
    assert (await alice.data('{ tenant(slug: "initech") { slug } }')) == {"tenant": None}

    events = await TenantEvent.filter(slug="initech").order_by("id").values_list("action", "actor")
    assert events == [
        ("create", "operator:alice"), ("activate", "operator:alice"),
        ("suspend", "operator:alice"), ("resume", "operator:alice"),
        ("suspend", "operator:alice"), ("delete", "operator:alice"),
        ("purge", "operator:alice"),
    ]  # fmt: skip


async def test_tenants_are_listed_by_slug_a_page_at_a_time(
    running: RunningApp, alice: OperatorClient
) -> None:
    for slug in ("delta", "alpha", "charlie", "bravo"):
        await running.add_tenant(slug, slug.title())
    await alice.data(SUSPEND, slug="charlie", reason="audit")

    first = (await alice.data(LIST, first=3))["tenants"]
    assert [n["slug"] for n in first["nodes"]] == ["alpha", "bravo", "charlie"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await alice.data(LIST, first=3, after=first["pageInfo"]["endCursor"]))["tenants"]
    assert [n["slug"] for n in rest["nodes"]] == ["delta"]
    assert rest["pageInfo"]["hasNextPage"] is False
    suspended = (await alice.data(LIST, status="SUSPENDED"))["tenants"]["nodes"]
    assert suspended == [{"slug": "charlie", "status": "SUSPENDED"}]

    one = await alice.data('{ tenant(slug: "bravo") { slug name status } }')
    assert one == {"tenant": {"slug": "bravo", "name": "Bravo", "status": "ACTIVE"}}
    too_many = await alice.post(LIST, first=101)
    assert error_code(too_many) == "BAD_REQUEST"


# --- refusals ---------------------------------------------------------------------------------


async def test_tenant_create_refuses_bad_input_with_typed_errors(
    running: RunningApp, alice: OperatorClient
) -> None:
    await running.add_tenant("acme", "Acme Ltd", domains=("shop.acme.example",))
    before = await registry_state()
    cases = [
        ({"slug": "Not A Slug", "name": "X"}, [(["slug"], "SLUG_INVALID")]),
        ({"slug": "a" * 64, "name": "X"}, [(["slug"], "SLUG_INVALID")]),
        ({"slug": "operator", "name": "X"}, [(["slug"], "SLUG_RESERVED")]),
        ({"slug": "acme", "name": "X"}, [(["slug"], "SLUG_TAKEN")]),
        ({"slug": "newco", "name": "  "}, [(["name"], "NAME_INVALID")]),
        ({"slug": "newco", "name": "n" * 201}, [(["name"], "NAME_INVALID")]),
        ({"slug": "newco", "name": "N", "domains": ["not a domain"]},
         [(["domains", "0"], "DOMAIN_INVALID")]),
        ({"slug": "newco", "name": "N", "domains": ["a.example.com", "A.example.com"]},
         [(["domains", "1"], "DOMAIN_DUPLICATE")]),
        ({"slug": "newco", "name": "N", "domains": ["shop.acme.example"]},
         [(["domains", "0"], "DOMAIN_TAKEN")]),
        ({"slug": "newco", "name": "N", "domains": [f"d{i}.example.com" for i in range(21)]},
         [(["domains"], "TOO_MANY_DOMAINS")]),
        ({"slug": "-", "name": "", "domains": ["x"]},
         [(["slug"], "SLUG_INVALID"), (["name"], "NAME_INVALID"),
          (["domains", "0"], "DOMAIN_INVALID")]),
    ]  # fmt: skip
    for variables, expected in cases:
        data = await alice.data(CREATE, **variables)
        assert data["tenantCreate"]["tenant"] is None, variables
        assert payload_errors(data, "tenantCreate") == expected, variables
    assert await registry_state() == before


async def test_lifecycle_changes_refuse_the_wrong_state_and_bad_reasons(
    running: RunningApp, alice: OperatorClient
) -> None:
    await running.add_tenant("acme", "Acme Ltd")
    await running.add_tenant("globex", "Globex")
    await alice.data(SUSPEND, slug="globex", reason="audit")
    before = await registry_state()
    cases = [
        (SUSPEND, "tenantSuspend", "nobody", "r", [(["slug"], "NOT_FOUND")]),
        (SUSPEND, "tenantSuspend", "x" * 500, "r", [(["slug"], "NOT_FOUND")]),
        (SUSPEND, "tenantSuspend", "globex", "again", [(["slug"], "WRONG_STATE")]),
        (SUSPEND, "tenantSuspend", "acme", " ", [(["reason"], "REASON_REQUIRED")]),
        (SUSPEND, "tenantSuspend", "acme", "r" * 1001, [(["reason"], "REASON_TOO_LONG")]),
        (RESUME, "tenantResume", "acme", "why not", [(["slug"], "WRONG_STATE")]),
        (RESUME, "tenantResume", "nobody", "r", [(["slug"], "NOT_FOUND")]),
        (RESUME, "tenantResume", "globex", "", [(["reason"], "REASON_REQUIRED")]),
        (DELETE, "tenantDelete", "acme", "active tenants are not deleted",
         [(["slug"], "WRONG_STATE")]),
        (DELETE, "tenantDelete", "nobody", "r", [(["slug"], "NOT_FOUND")]),
        (DELETE, "tenantDelete", "globex", "", [(["reason"], "REASON_REQUIRED")]),
    ]  # fmt: skip
    for query, field, slug, reason, expected in cases:
        data = await alice.data(query, slug=slug, reason=reason)
        assert payload_errors(data, field) == expected, (field, slug, reason)
        assert next(v for k, v in data[field].items() if k != "errors") is None
    assert await registry_state() == before
    assert (await running.graphql(SETTINGS_QUERY, url="/t/acme/graphql")).status_code == 200


# --- the tenant's owner ----------------------------------------------------------------------

OWNER_CREATE = """mutation Owner($tenantSlug: String!, $email: String!, $fullName: String!) {
  tenantOwnerCreate(tenantSlug: $tenantSlug, email: $email, fullName: $fullName) {
    owner { id email fullName } errors { field message code } } }"""


async def tenant_people(running: RunningApp, slug: str) -> dict[str, Any]:
    """Who the tenant has, which roles they hold and which mails are queued."""
    tenant = await running.tenancy.registry.by_slug(slug)
    async with tenant_scope(tenant):
        users = (
            await User.all()
            .order_by("id")
            .values_list("id", "email", "full_name", "user_type", "password_hash")
        )
        roles = (
            await RoleAssignment.all()
            .order_by("id")
            .values_list("user_id", "role__key", "merchant_id", "granted_by")
        )
        mails = [
            (job.decoded_args()["to"], job.decoded_args()["template"])
            for job in await JobOutbox.filter(actor=MAIL_ACTOR).order_by("id")
        ]
    return {"users": users, "roles": roles, "mails": mails}


async def test_an_operator_makes_a_tenant_s_owners(
    running: RunningApp, alice: OperatorClient
) -> None:
    await alice.data(CREATE, slug="acme", name="Acme Ltd")
    data = await alice.data(
        OWNER_CREATE, tenantSlug="acme", email=" Ada@Example.com", fullName="Ada Lovelace"
    )
    owner = data["tenantOwnerCreate"]["owner"]
    assert data["tenantOwnerCreate"]["errors"] == []
    assert (owner["email"], owner["fullName"]) == ("ada@example.com", "Ada Lovelace")
    people = await tenant_people(running, "acme")
    [(ada_id, *ada)] = people["users"]
    assert owner["id"] == to_global_id("User", ada_id)
    assert ada == ["ada@example.com", "Ada Lovelace", "tenant_staff", None]
    # The access service grants it as "the operator" (the audit trail names which one).
    assert people["roles"] == [(ada_id, "owner", None, "system:operator")]
    assert people["mails"] == [("ada@example.com", "set_password")]

    # A second owner is added, not refused: the first may have left.
    data = await alice.data(OWNER_CREATE, tenantSlug="acme", email="bob@example.com",
                            fullName="Bob")  # fmt: skip
    assert data["tenantOwnerCreate"]["errors"] == []
    people = await tenant_people(running, "acme")
    assert [role[1] for role in people["roles"]] == ["owner", "owner"]
    assert people["mails"][-1] == ("bob@example.com", "set_password")


async def test_tenant_owner_create_refuses_bad_input_and_changes_nothing(
    running: RunningApp, alice: OperatorClient
) -> None:
    await alice.data(CREATE, slug="acme", name="Acme Ltd")
    await alice.data(CREATE, slug="globex", name="Globex")
    await alice.data(OWNER_CREATE, tenantSlug="acme", email="ada@example.com", fullName="Ada")
    await alice.data(SUSPEND, slug="globex", reason="unpaid")
    before = await tenant_people(running, "acme")
    cases = [
        ("nobody", "x@example.com", "X", [(["tenantSlug"], "TENANT_NOT_FOUND")]),
        ("globex", "x@example.com", "X", [(["tenantSlug"], "TENANT_NOT_ACTIVE")]),
        ("acme", "ADA@example.com", "Ada again", [(["email"], "EMAIL_TAKEN")]),
        ("acme", "not-an-address", "X", [(["email"], "INVALID")]),
        ("acme", "x@example.com", "  ", [(["fullName"], "REQUIRED")]),
        ("acme", "x@example.com", "n" * 201, [(["fullName"], "TOO_LONG")]),
        ("acme", "", "", [(["email"], "REQUIRED"), (["fullName"], "REQUIRED")]),
    ]
    for slug, email, name, expected in cases:
        data = await alice.data(OWNER_CREATE, tenantSlug=slug, email=email, fullName=name)
        assert data["tenantOwnerCreate"]["owner"] is None, (slug, email, name)
        assert payload_errors(data, "tenantOwnerCreate") == expected, (slug, email, name)
    assert await tenant_people(running, "acme") == before


# --- the command line -------------------------------------------------------------------------


def _in_registry(job: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        async with make_tenancy(load_settings()):
            return await job()

    return asyncio.run(main())


async def _rows() -> list[dict[str, Any]]:
    return await Operator.all().order_by("name").values()


def test_the_cli_prints_a_key_once_and_keeps_only_its_hash(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "operators", "create", "Alice")
    assert code == 0
    key = out.strip()
    assert out == key + "\n"  # stdout is the key alone: `KEY=$(saas operators create x)`
    assert re.fullmatch(r"sop_[A-Za-z0-9_-]{43}", key)
    assert "shown once" in err

    [row] = _in_registry(_rows)
    assert (row["name"], row["status"], row["created_by"]) == ("alice", "active", _actor())
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert row["key_prefix"] == key[:12]
    assert not any(key in str(value) for value in row.values())

    code, out, _ = run(capsys, "operators", "list", "--json")
    [listed] = json.loads(out)
    assert (listed["name"], listed["key_prefix"], listed["last_used_at"]) == (
        "alice",
        key[:12],
        None,
    )
    assert key not in out
    assert row["key_hash"] not in out

    code, _, err = run(capsys, "operators", "create", "alice")
    assert (code, err) == (1, "error: name: an operator named 'alice' exists\n")

    code, out, _ = run(capsys, "operators", "rotate", "alice")
    new_key = out.strip()
    assert code == 0
    assert new_key != key
    assert _in_registry(lambda: authenticate(key)) is None
    assert _in_registry(lambda: authenticate(new_key)) is not None

    assert run(capsys, "operators", "disable", "alice")[0] == 0
    assert _in_registry(lambda: authenticate(new_key)) is None
    code, _, err = run(capsys, "operators", "rotate", "alice")
    assert (code, err) == (1, "error: name: operator 'alice' is disabled\n")
    code, _, err = run(capsys, "operators", "create", "not valid!")
    assert code == 1
    assert "1-100 characters" in err
