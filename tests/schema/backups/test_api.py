"""The tenant's backups API: its own backups only, nothing of the platform's, and asking
for a backup at most once per window, through the real engine on both backends."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schema.audit.models import AuditRecord
from schema.backups.service import BACKUP_ACTOR, MIN_INTERVAL
from schema.core.nodes import to_global_id
from tenants.models import Backup, BackupKind, BackupStatus, VerifyStatus
from tenants.outbox import JobOutbox
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.identity.test_api import run
from tests.schema.principals import user_with

FIELDS = (
    "id status verifyStatus verifiedAt createdAt finishedAt schemaVersion rawSize storedSize "
    "requestedBy error"
)
BACKUPS = f"""query B($first: Int, $after: String, $status: BackupStatus) {{
  backups(first: $first, after: $after, status: $status) {{
    nodes {{ {FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
NODE = "query N($id: ID!) { node(id: $id) { __typename ... on Backup { id requestedBy } } }"
CREATE = """mutation C($input: BackupCreateInput) {
  backupCreate(input: $input) { requested errors { field message code } }
}"""
READER = user_with("backups:read", user_id=3)
CREATOR = user_with("backups:create", user_id=7)
_keys = itertools.count(1)


async def add_backup(tenant: TenantRecord, age: timedelta = timedelta(0), **fields: Any) -> Backup:
    """A backup row as the worker leaves it, ``age`` old."""
    key = next(_keys)
    row = await Backup.create(
        tenant_id=tenant.id,
        slug=tenant.slug,
        kind=BackupKind.TENANT,
        engine="sqlite",
        source_schema=f"secret_schema_{key}",
        store_key=f"tenants/{tenant.id}/secret-{key}.dump",
        key_id="secret-key-id",
        requested_by="scheduler",
        started_at=datetime.now(UTC) - age,
        **fields,
    )
    await Backup.filter(id=row.id).update(created_at=datetime.now(UTC) - age)
    return row


async def jobs_and_records(tenant: TenantRecord) -> tuple[list[JobOutbox], list[AuditRecord]]:
    async with tenant_scope(tenant):
        jobs = await JobOutbox.all().order_by("id")
        records = await AuditRecord.filter(operation="backupCreate").order_by("id")
    return jobs, records


@pytest.fixture
async def globex(acme: TenantRecord) -> TenantRecord:
    return await create_tenant("globex", "Globex Corp", actor="test")


async def test_lists_only_this_tenants_backups_newest_first(
    acme: TenantRecord, globex: TenantRecord
) -> None:
    old = await add_backup(
        acme,
        timedelta(days=1),
        status=BackupStatus.COMPLETED,
        verify_status=VerifyStatus.VERIFIED,
        schema_version="t0009",
        raw_size=5_000_000_000,
        stored_size=1234,
    )
    failed = await add_backup(
        acme, status=BackupStatus.FAILED, error="OSError: /var/lib/store/secret-key-id broke"
    )
    await add_backup(globex)
    await Backup.create(  # the registry's own: no tenant's
        kind=BackupKind.REGISTRY, engine="sqlite", source_schema="registry",
        store_key="registry/1.dump", key_id="k", requested_by="scheduler",
        started_at=datetime.now(UTC),
    )  # fmt: skip

    payload = await run(acme, BACKUPS, READER)

    nodes = payload["data"]["backups"]["nodes"]
    assert [n["id"] for n in nodes] == [
        to_global_id("Backup", failed.id),
        to_global_id("Backup", old.id),
    ]
    assert nodes[0]["status"] == "FAILED"
    assert nodes[0]["error"] == "the backup failed; the platform's operators have the details"
    assert nodes[1] | {"createdAt": None, "verifiedAt": None, "finishedAt": None} == {
        "id": to_global_id("Backup", old.id),
        "status": "COMPLETED",
        "verifyStatus": "VERIFIED",
        "verifiedAt": None,
        "createdAt": None,
        "finishedAt": None,
        "schemaVersion": "t0009",
        "rawSize": 5_000_000_000,
        "storedSize": 1234,
        "requestedBy": "scheduler",
        "error": None,
    }
    assert "secret" not in orjson.dumps(payload).decode()
    assert [n["id"] for n in (await run(globex, BACKUPS, READER))["data"]["backups"]["nodes"]] == [
        to_global_id("Backup", (await Backup.get(slug="globex")).id)
    ]
    only_failed = await run(acme, BACKUPS, READER, status="FAILED")
    assert [n["id"] for n in only_failed["data"]["backups"]["nodes"]] == [nodes[0]["id"]]


async def test_pages_by_cursor(acme: TenantRecord) -> None:
    rows = [await add_backup(acme) for _ in range(3)]
    first = (await run(acme, BACKUPS, READER, first=2))["data"]["backups"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await run(acme, BACKUPS, READER, first=2, after=first["pageInfo"]["endCursor"])
    ids = [n["id"] for n in first["nodes"] + rest["data"]["backups"]["nodes"]]
    assert ids == [to_global_id("Backup", r.id) for r in reversed(rows)]


async def test_the_platforms_fields_are_not_in_the_schema(acme: TenantRecord) -> None:
    payload = await run(acme, '{ __type(name: "Backup") { fields { name } } }', READER)
    names = {f["name"] for f in payload["data"]["__type"]["fields"]}
    assert names == set(FIELDS.split())
    refused = await run(acme, "{ backups { nodes { storeKey keyId } } }", READER)
    assert refused.get("data") is None
    assert len(refused["errors"]) == 2


async def test_node_fetch_needs_the_permission_and_the_tenant(
    acme: TenantRecord, globex: TenantRecord
) -> None:
    own, other = await add_backup(acme), await add_backup(globex)
    fetched = await run(acme, NODE, READER, id=to_global_id("Backup", own.id))
    assert fetched["data"]["node"] == {
        "__typename": "Backup",
        "id": to_global_id("Backup", own.id),
        "requestedBy": "scheduler",
    }
    assert (await run(acme, NODE, READER, id=to_global_id("Backup", other.id)))["data"] == {
        "node": None
    }
    assert (await run(acme, NODE, READER, id=to_global_id("Backup", "x9")))["data"] == {
        "node": None
    }
    refused = await run(acme, NODE, CREATOR, id=to_global_id("Backup", own.id))
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]


async def test_backup_create_enqueues_one_job_and_one_audit_record(acme: TenantRecord) -> None:
    payload = await run(acme, CREATE, CREATOR, input={"reason": "before the import"})

    assert payload == {"data": {"backupCreate": {"requested": True, "errors": []}}}
    [job], [audit] = await jobs_and_records(acme)
    args = job.decoded_args()
    assert (job.actor, job.queue, job.status) == (BACKUP_ACTOR, "maintenance", "pending")
    assert args["requested_by"] == "user:7"
    assert args["request_key"].startswith(f"{acme.id}:")
    assert (audit.outcome, audit.actor_subject) == ("success", "user:7")
    assert orjson.loads(audit.targets) == [f"Job:{job.id}"]
    assert orjson.loads(audit.summary) == {"reason": "before the import"}


async def test_a_second_request_in_the_window_is_too_soon(acme: TenantRecord) -> None:
    assert (await run(acme, CREATE, CREATOR))["data"]["backupCreate"]["requested"] is True
    before = await jobs_and_records(acme)

    payload = await run(acme, CREATE, CREATOR)

    assert payload["data"]["backupCreate"] == {
        "requested": None,
        "errors": [
            {
                "field": None,
                "message": "a backup was asked for in the last 10 minutes",
                "code": "TOO_SOON",
            }
        ],
    }
    jobs, records = await jobs_and_records(acme)
    assert [j.id for j in jobs] == [j.id for j in before[0]]
    assert [r.outcome for r in records] == ["success", "TOO_SOON"]


async def test_a_recent_backup_of_the_tenant_is_too_soon(
    acme: TenantRecord, globex: TenantRecord
) -> None:
    await add_backup(acme, MIN_INTERVAL - timedelta(minutes=1), status=BackupStatus.COMPLETED)
    await add_backup(globex)  # another tenant's does not count

    payload = await run(acme, CREATE, CREATOR)

    assert [e["code"] for e in payload["data"]["backupCreate"]["errors"]] == ["TOO_SOON"]
    assert (await jobs_and_records(acme))[0] == []
    assert (await run(globex, CREATE, CREATOR))["data"]["backupCreate"]["errors"] == [
        {"field": None, "message": "a backup was asked for in the last 10 minutes",
         "code": "TOO_SOON"}
    ]  # fmt: skip


async def test_an_older_backup_does_not_stop_a_request(acme: TenantRecord) -> None:
    await add_backup(acme, MIN_INTERVAL + timedelta(minutes=1), status=BackupStatus.COMPLETED)
    assert (await run(acme, CREATE, CREATOR))["data"]["backupCreate"]["requested"] is True
    assert len((await jobs_and_records(acme))[0]) == 1


async def test_a_long_reason_is_refused_and_changes_nothing(acme: TenantRecord) -> None:
    payload = await run(acme, CREATE, CREATOR, input={"reason": "x" * 501})
    assert payload["data"]["backupCreate"] == {
        "requested": None,
        "errors": [{"field": ["reason"], "message": "at most 500 characters", "code": "TOO_LONG"}],
    }
    jobs, records = await jobs_and_records(acme)
    assert (jobs, [r.outcome for r in records]) == ([], ["TOO_LONG"])


async def test_without_the_permission_nothing_is_written(acme: TenantRecord) -> None:
    payload = await run(acme, CREATE, READER, input={"reason": "x"})
    assert payload["data"] is None
    assert [e["extensions"]["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    jobs, records = await jobs_and_records(acme)
    assert (jobs, [r.outcome for r in records]) == ([], ["FORBIDDEN"])
    assert [e["extensions"]["code"] for e in (await run(acme, BACKUPS, CREATOR))["errors"]] == [
        "FORBIDDEN"
    ]
